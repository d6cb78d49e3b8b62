using System.Net;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Auth;
using Certgate.Ike.Sa;
using Certgate.Ike.Wire;
using Certgate.Pki.Identity;
using Certgate.Pki.Validation;

namespace Certgate.Ike.Sessions;

/// <summary>What one side of an IKEv2 SA needs: a certificate with its key, or a pre-shared key (<see cref="PreSharedKey"/>).</summary>
/// <param name="Certificate">The local certificate with its private key (RSA or ECDSA); null with a pre-shared key.</param>
/// <param name="TrustAnchors">CA certificates the peer's certificate must chain to.</param>
/// <param name="Crls">Revocation information (null: revocation not checked).</param>
/// <param name="LocalTs">This side's traffic selectors (strongSwan's local_ts): offered as TSi when initiating, the TSr
/// of a request is narrowed to them when responding (RFC 7296 §2.9).</param>
/// <param name="RemoteTs">The peer side's traffic selectors (remote_ts).</param>
public sealed record IkePeerConfig(X509Certificate2? Certificate, IReadOnlyList<X509Certificate2> TrustAnchors, ICrlSource? Crls,
    IReadOnlyList<Payloads.TrafficSelector> LocalTs, IReadOnlyList<Payloads.TrafficSelector> RemoteTs)
{
    /// <summary>One traffic selector on each side.</summary>
    public IkePeerConfig(X509Certificate2? certificate, IReadOnlyList<X509Certificate2> trustAnchors, ICrlSource? crls,
        Payloads.TrafficSelector localTs, Payloads.TrafficSelector remoteTs)
        : this(certificate, trustAnchors, crls, [localTs], [remoteTs])
    {
    }

    /// <summary>How long to wait for each answer before retransmitting (3 tries).</summary>
    public TimeSpan RetransmitTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Accept SHA-1 signatures on the peer's chain, its CRLs and its AUTH (legacy switch <c>security pki
    /// allow-sha1-signatures</c>); refused by default.</summary>
    public bool AllowSha1Signatures { get; init; }

    /// <summary>
    /// The identity this side sends in IDi/IDr (Junos <c>local-id</c>); null: the certificate's subject DN, or with a
    /// pre-shared key the local gateway address (the IKE socket's address). With a certificate it must be the
    /// subject or a subjectAltName entry of it (<see cref="IkeIdentities.LocalProblem"/>).
    /// </summary>
    public IkeIdentity? LocalId { get; init; }

    /// <summary>
    /// The identities the peer may have (Junos <c>remote-id</c>, any match; DN container/wildcard/exact-match). Empty:
    /// any identity its validated certificate proves when that certificate names <see cref="RemoteGateway"/> (if set),
    /// or with a pre-shared key its gateway address (reference §3.6).
    /// </summary>
    public IReadOnlyList<RemoteIdentity> RemoteIds { get; init; } = [];

    /// <summary>
    /// The tunnel's configured remote-gateway (Junos <c>remote-gateway</c>): without <see cref="RemoteIds"/> the peer's
    /// certificate must carry it as an iPAddress subjectAltName (<see cref="PeerCertificatePolicy.GatewayProblem"/>),
    /// so that another certificate of the same CA does not pass for this peer. Null: no such binding (diagnostics).
    /// </summary>
    public IPAddress? RemoteGateway { get; init; }

    /// <summary>
    /// Shared-key authentication (AUTH method 2, RFC 7296 §2.15) instead of certificates: both sides prove the key.
    /// </summary>
    public byte[]? PreSharedKey { get; init; }

    /// <summary>
    /// Whether to announce IKE fragmentation (RFC 7383, N(IKEV2_FRAGMENTATION_SUPPORTED) in IKE_SA_INIT) and, when
    /// the peer announces it too, send encrypted messages larger than <see cref="FragmentSize"/> as Encrypted
    /// Fragments. On by default, as in strongSwan (<c>fragmentation = yes</c>).
    /// </summary>
    public bool Fragmentation { get; init; } = true;

    /// <summary>
    /// The largest IP datagram an IKE message may make before it is fragmented, IP and UDP headers (and the non-ESP
    /// marker on port 4500) included, in octets. 1280 like strongSwan's <c>charon.fragment_size</c>, for IPv4 and
    /// IPv6 alike: the IPv6 minimum MTU, which IPv4 paths also carry in practice (RFC 7383 §2.5.1 recommends 576 for
    /// IPv4 when nothing is known about the path). At least 512.
    /// </summary>
    public int FragmentSize { get; init; } = 1280;

    /// <summary>
    /// The IKE proposals to offer and accept, in preference order (Junos <c>ike policy proposals</c>); null: the
    /// defaults of <see cref="Negotiation"/>. The first one's group is the IKE_SA_INIT KE group.
    /// </summary>
    public IReadOnlyList<SaSuite>? IkeProposals { get; init; }

    /// <summary>The ESP proposals to offer and accept (Junos <c>ipsec policy proposals</c>); null: the defaults.</summary>
    public IReadOnlyList<SaSuite>? EspProposals { get; init; }

    /// <summary>Where the session counts fragments and cookies (null: not counted).</summary>
    public IkeCounters? Counters { get; init; }

    /// <summary>
    /// The responder's half-open count and cookie secret (RFC 7296 §2.6); by default the process-wide
    /// <see cref="IkeCookies.Shared"/> (threshold <see cref="IkeCookies.DefaultThreshold"/>).
    /// </summary>
    public IkeCookies Cookies { get; init; } = IkeCookies.Shared;

    /// <summary>
    /// Test hook, never set in production: flips one bit of this side's AUTH data after it is computed, so interop
    /// and unit tests can show that the peer refuses a bad AUTH signature (<c>debug ike-tunnel corrupt-auth</c>).
    /// </summary>
    public bool TestHookCorruptAuth { get; init; }

    /// <summary>The smallest <see cref="FragmentSize"/> (RFC 7383 §2.5.1: 576 recommended for IPv4; 512 leaves room below it).</summary>
    internal const int MinFragmentSize = 512;

    /// <summary>What every use of a configuration needs: credentials, a valid local-id, traffic selectors, a fragment size in range.</summary>
    /// <exception cref="ArgumentException">One of them is missing or wrong (parameter <c>config</c>).</exception>
    internal static void Check(IkePeerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.PreSharedKey is null && config.Certificate is null)
        {
            throw new ArgumentException("an IKE peer needs a certificate with its key, or a pre-shared key", nameof(config));
        }
        if (IkeIdentities.LocalProblem(config) is { } problem)
        {
            throw new ArgumentException(problem, nameof(config));
        }
        if (config.LocalTs is not { Count: > 0 } || config.RemoteTs is not { Count: > 0 })
        {
            throw new ArgumentException("an IKE peer needs at least one local and one remote traffic selector", nameof(config));
        }
        if (config.LocalTs.Concat(config.RemoteTs).Select(TrafficSelectorNarrowing.Validate).FirstOrDefault(e => e is not null) is { } badTs)
        {
            throw new ArgumentException(badTs, nameof(config));
        }
        if (config.FragmentSize is < MinFragmentSize or > ushort.MaxValue)
        {
            throw new ArgumentException($"the IKE fragment size is {config.FragmentSize} octets; it must be {MinFragmentSize} to 65535 (IP datagram size, headers included)", nameof(config));
        }
    }
}
