using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Auth;
using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sa;
using Certgate.Ike.Sa.Tasks;
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
}

/// <summary>
/// The child SA both sides agreed on: SPIs, KEYMAT per direction (encryption key [‖ salt] then integrity key,
/// RFC 7296 §2.17), the ESP and IKE algorithms, and the peer's certificate.
/// </summary>
public sealed record ChildSa(uint InboundSpi, uint OutboundSpi, byte[] InboundKeymat, byte[] OutboundKeymat, X509Certificate2? PeerCertificate,
    SaSuite Esp, SaSuite Ike)
{
    /// <summary>The identity the peer proved, as people write it (<see cref="IkeIdentities.Value"/>): a DN, address, FQDN or e-mail.</summary>
    public string PeerIdentity { get; init; } = "";

    /// <summary>The peer's IDi/IDr as received and checked.</summary>
    public IkeIdentity? PeerId { get; init; }

    /// <summary>The IDi/IDr this side sent.</summary>
    public IkeIdentity? LocalId { get; init; }

    /// <summary>Whether IKE moved to UDP 4500 because a NAT was detected (or faked, as strongSwan's libipsec does).</summary>
    public bool NatDetected { get; init; }

    /// <summary>The AUTH method this side used (RFC 7296 §3.8 / RFC 7427).</summary>
    public AuthMethod LocalAuthMethod { get; init; }

    /// <summary>The AUTH method the peer used.</summary>
    public AuthMethod PeerAuthMethod { get; init; }

    /// <summary>The IKE SA that carries this child, for CREATE_CHILD_SA and INFORMATIONAL after establishment.</summary>
    public EstablishedIkeSa? IkeSa { get; init; }

    /// <summary>This side's traffic selectors as negotiated (narrowed, RFC 7296 §2.9): TSi on the initiator, TSr on the responder.</summary>
    public IReadOnlyList<Payloads.TrafficSelector> LocalTs { get; init; } = [];

    /// <summary>The peer side's traffic selectors as negotiated.</summary>
    public IReadOnlyList<Payloads.TrafficSelector> RemoteTs { get; init; } = [];
}

/// <summary>IKE failed; the message says which step and why (e.g. the peer certificate is revoked).</summary>
public sealed class IkeException(string message) : Exception(message);

/// <summary>
/// One-shot IKEv2 (RFC 7296) initiator and responder on given sockets, one child SA: a façade over an
/// <see cref="IkeConnection"/> that only negotiates (its <see cref="Sa.Tasks.IkeInit"/> and
/// <see cref="Sa.Tasks.IkeAuth"/> tasks do the work; the result's <see cref="ChildSa.IkeSa"/> is for a long-lived
/// connection to take over). The helpers below (identity, AUTH, proofs, cookies, fragments) are the tasks' too.
/// <code>
/// IKE_SA_INIT  I: SA(offer), KE, Ni, N(NAT_DETECTION_*)?, N(SIGNATURE_HASH_ALGORITHMS), N(IKEV2_FRAGMENTATION_SUPPORTED)?
///              R: SA(choice), KE, Nr, N(NAT_DETECTION_*)?, N(SIGNATURE_HASH_ALGORITHMS), N(IKEV2_FRAGMENTATION_SUPPORTED)?, CERTREQ
///                 (or N(INVALID_KE_PAYLOAD): the initiator retries once with the group named there)
///                 (or, with IkeCookies.Threshold half-open SAs, N(COOKIE): the initiator repeats its request with the
///                 cookie first, RFC 7296 §2.6; the responder keeps no state until a valid cookie comes)
///   NAT detected and a 4500 socket given: IKE moves to UDP 4500 with the non-ESP marker (§2.23)
/// IKE_AUTH     I: IDi, CERT, CERTREQ, AUTH, SA(ESP offer), TSi, TSr
///              R: IDr, CERT, AUTH, SA(ESP choice), TSi, TSr      (or N(AUTHENTICATION_FAILED))
/// </code>
/// When both announced fragmentation, an IKE_AUTH message larger than <see cref="IkePeerConfig.FragmentSize"/> goes as
/// Encrypted Fragments (RFC 7383), each with its own ICV, and incoming fragments are reassembled (bounded) before the
/// payloads are checked. Algorithms are those of <see cref="Negotiation"/>. The peer's certificate is validated (chain, validity,
/// revocation, identity) before its AUTH is checked. Retransmits requests (3 tries at <see cref="IkePeerConfig.RetransmitTimeout"/>),
/// answers a retransmitted IKE_SA_INIT; the responder waits 4 timeouts for IKE_AUTH.
/// </summary>
public static class IkeSession
{
    internal const byte CertX509Signature = 4;
    internal const int NonceLength = 32;
    internal const int MinFragmentSize = 512;

    /// <summary>Initiates to <paramref name="remote"/> from <paramref name="socket"/> (no NAT traversal) and returns the child SA.</summary>
    public static Task<ChildSa> InitiateAsync(UdpClient socket, IPEndPoint remote, IkePeerConfig config, CancellationToken cancellationToken = default) =>
        InitiateAsync(socket, null, remote, config, cancellationToken);

    /// <summary>
    /// Initiates to <paramref name="remote"/> from <paramref name="socket"/>; with <paramref name="natTraversal"/> (a
    /// socket on port 4500 of the same address) NAT detection is announced and IKE floats to 4500 when a NAT is seen.
    /// </summary>
    /// <exception cref="IkeException">The exchange failed; the message says where and why.</exception>
    public static async Task<ChildSa> InitiateAsync(UdpClient socket, UdpClient? natTraversal, IPEndPoint remote, IkePeerConfig config, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(remote);
        CheckConfig(config);
        try
        {
            return await InitiateCoreAsync(socket, natTraversal, remote, config, cancellationToken).ConfigureAwait(false);
        }
        catch (IkeFormatException e)
        {
            // Format errors are translated once, here, into the session's error.
            throw new IkeException($"the responder sent a malformed message: {e.Message}");
        }
    }

    private static async Task<ChildSa> InitiateCoreAsync(UdpClient socket, UdpClient? natTraversal, IPEndPoint remote, IkePeerConfig config, CancellationToken cancellationToken)
    {
        using var transport = new IkeTransport(socket, natTraversal);
        using IkeConnection connection = IkeConnection.Initiate(config, null, new TransportSender(transport), NegotiateOnly(config), transport.LocalIke, remote, transport.CanFloat);
        return await NegotiateAsync(transport, connection, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for one initiator on <paramref name="socket"/> (no NAT traversal), completes IKE_SA_INIT and IKE_AUTH.</summary>
    public static Task<ChildSa> RespondAsync(UdpClient socket, IkePeerConfig config, CancellationToken cancellationToken = default) =>
        RespondAsync(socket, null, config, cancellationToken);

    /// <summary>
    /// Waits for one initiator on <paramref name="socket"/>, completes IKE_SA_INIT and IKE_AUTH, returns the child SA.
    /// With <paramref name="natTraversal"/> (port 4500 of the same address) NAT detection is answered and IKE_AUTH
    /// is also accepted there, answered where it came from.
    /// </summary>
    /// <exception cref="IkeException">The exchange failed; the message says where and why.</exception>
    public static async Task<ChildSa> RespondAsync(UdpClient socket, UdpClient? natTraversal, IkePeerConfig config, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        CheckConfig(config);
        try
        {
            return await RespondCoreAsync(socket, natTraversal, config, cancellationToken).ConfigureAwait(false);
        }
        catch (IkeFormatException e)
        {
            throw new IkeException($"the initiator sent a malformed message: {e.Message}");
        }
    }

    private static async Task<ChildSa> RespondCoreAsync(UdpClient socket, UdpClient? natTraversal, IkePeerConfig config, CancellationToken cancellationToken)
    {
        using var transport = new IkeTransport(socket, natTraversal);
        var sender = new TransportSender(transport);
        while (true)
        {
            (IkeMessage request, IPEndPoint from, bool encapsulated) = await transport.ReceiveAsync(cancellationToken).ConfigureAwait(false);
            if (request.Header.Exchange != ExchangeType.IkeSaInit || request.Header.IsResponse || request.Header.ResponderSpi != 0 || encapsulated)
            {
                continue;
            }
            // A refusal keeps no state (INVALID_SYNTAX, COOKIE, INVALID_KE_PAYLOAD) and the wait for a real initiator
            // goes on; only NO_PROPOSAL_CHOSEN ends it (the configurations cannot agree).
            (byte[]? refusal, string? error) = IkeInit.Screen(request, from, config);
            if (refusal is not null)
            {
                sender.Send(refusal, from, false);
                if (error is not null)
                {
                    throw new IkeException(error);
                }
                continue;
            }
            using IkeConnection connection = IkeConnection.Respond(config, null, sender, NegotiateOnly(config), request, from, transport.LocalIke, transport.CanFloat);
            return await NegotiateAsync(transport, connection, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The one-shot calls' IKE SA settings: the configured retransmit timeout, 3 tries at that fixed interval, IKE_AUTH
    /// awaited for 4 timeouts; no data plane (the caller hands <see cref="ChildSa.IkeSa"/> to its own connection).
    /// </summary>
    private static IkeSaOptions NegotiateOnly(IkePeerConfig config) => new()
    {
        ReqId = 0,
        EspLocal = new IPEndPoint(IPAddress.Any, 0),
        EspRemote = new IPEndPoint(IPAddress.Any, 0),
        RetransmitTimeout = config.RetransmitTimeout,
        RetransmitBase = 1,
        RetransmitTries = 2,
        HalfOpenTimeout = config.RetransmitTimeout * 4,
        FragmentSize = config.FragmentSize,
        Counters = config.Counters,
        IkeProposals = config.IkeProposals,
        EspProposals = config.EspProposals,
    };

    /// <summary>Feeds <paramref name="connection"/> what arrives on the transport until IKE_AUTH is done (its first CHILD_SA) or it closes (why, as the exception).</summary>
    private static async Task<ChildSa> NegotiateAsync(IkeTransport transport, IkeConnection connection, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<ChildSa>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Established += child => done.TrySetResult(child);
        connection.Closed += reason => done.TrySetException(new IkeException(reason));
        if (connection.FirstChild is { } already)
        {
            done.TrySetResult(already);
        }
        else if (connection.CloseReason is { } reason)
        {
            done.TrySetException(new IkeException(reason));
        }
        using var receiving = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        while (!done.Task.IsCompleted)
        {
            Task<(IkeMessage Message, IPEndPoint From, bool Encapsulated)> receive = transport.ReceiveAsync(receiving.Token);
            if (await Task.WhenAny(receive, done.Task).ConfigureAwait(false) == done.Task)
            {
                await receiving.CancelAsync().ConfigureAwait(false);
                try
                {
                    await receive.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // The exchange ended first.
                }
                break;
            }
            (IkeMessage m, IPEndPoint from, bool encapsulated) = await receive.ConfigureAwait(false);
            connection.Receive(m.Raw, from, encapsulated);
        }
        return await done.Task.ConfigureAwait(false);
    }

    /// <summary>The one-shot calls' messages leave from their sockets: 500, or 4500 with the non-ESP marker.</summary>
    private sealed class TransportSender(IkeTransport transport) : Sa.IIkeSender
    {
        public void Send(ReadOnlyMemory<byte> message, IPEndPoint to, bool encapsulated) => transport.Send(message.Span, to, encapsulated);
    }

    /// <summary>Whether the request's first payload is N(COOKIE) with a cookie this responder made for it (RFC 7296 §2.6).</summary>
    internal static bool HasValidCookie(IkeMessage request, IPEndPoint from, IkeCookies cookies)
    {
        if (request.Payloads[0].Type != PayloadType.Notify)
        {
            return false;
        }
        Payloads.Notify first = Payloads.ReadNotify(request.Payloads[0].Body);
        return first.Type == (ushort)NotifyType.COOKIE
            && cookies.Verify(first.Data.Span, Find(request.Payloads, PayloadType.Nonce, "IKE_SA_INIT request").Body.Span, from.Address, request.Header.InitiatorSpi);
    }

    internal sealed record PeerProof(X509Certificate2? Certificate, AuthMethod Method, IkeIdentity Identity);

    internal static void CheckConfig(IkePeerConfig config)
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

    internal static (AuthMethod Method, byte[] Data) Authenticate(IkePeerConfig config, KeyDerivation kd, byte[] signedOctets, IReadOnlyCollection<SignatureHash>? peerHashes)
    {
        (AuthMethod method, byte[] data) = config.PreSharedKey is { } psk
            ? (AuthMethod.SHARED_KEY_MESSAGE_INTEGRITY_CODE, AuthPayload.SharedKeyMic(kd, psk, signedOctets))
            : AuthPayload.Sign(PrivateKey(config.Certificate!), signedOctets, peerHashes);
        if (config.TestHookCorruptAuth)
        {
            // The last octet: for RFC 7427 AUTH data it lies in the signature, not in the AlgorithmIdentifier before it.
            data[^1] ^= 0x01;
        }
        return (method, data);
    }

    /// <summary>Checks the peer's identity (<see cref="IkeIdentities.CheckPeer"/>) and AUTH the way this side authenticates (certificate or pre-shared key).</summary>
    internal static PeerProof VerifyPeer(IReadOnlyList<RawPayload> inner, byte[] idBody, IkePeerConfig config, string role, IPAddress peerAddress, KeyDerivation kd, byte[] signedOctets)
    {
        (byte authMethod, ReadOnlyMemory<byte> authData) = Payloads.ReadTyped4(Find(inner, PayloadType.Authentication, $"the {role}'s IKE_AUTH").Body, "AUTH");
        var method = (AuthMethod)authMethod;
        IkeIdentity identity = IkeIdentities.Decode(idBody, role);
        if (config.PreSharedKey is { } psk)
        {
            // §2.15: the MIC is compared in constant time so that a wrong key leaks nothing about the right one. It is
            // checked before the identity, so only a peer that knows the key learns which identity was refused.
            if (method != AuthMethod.SHARED_KEY_MESSAGE_INTEGRITY_CODE || !CryptographicOperations.FixedTimeEquals(authData.Span, AuthPayload.SharedKeyMic(kd, psk, signedOctets)))
            {
                throw new IkeException(method != AuthMethod.SHARED_KEY_MESSAGE_INTEGRITY_CODE
                    ? $"the {role} used AUTH method {authMethod}, but this side is configured for a pre-shared key (2)"
                    : $"the {role}'s shared-key AUTH does not verify (a different pre-shared key)");
            }
            IkeIdentities.CheckPeer(identity, null, config, peerAddress, role);
            return new PeerProof(null, method, identity);
        }
        X509Certificate2 peer = ValidatePeer(inner, config, role);
        IkeIdentities.CheckPeer(identity, peer, config, peerAddress, role);
        if (AuthPayload.Verify(peer, method, authData.Span, signedOctets, config.AllowSha1Signatures) is { } why)
        {
            throw new IkeException($"the {role}'s AUTH does not verify: {why}");
        }
        return new PeerProof(peer, method, identity);
    }

    /// <summary>
    /// The peer's CERT must be an X.509 certificate that chains to a trust anchor, is valid now and not revoked; its
    /// ID is then checked against it (RFC 4945 §3.1: "the ID MUST match ... the certificate", <see cref="IkeIdentities.CheckPeer"/>).
    /// </summary>
    internal static X509Certificate2 ValidatePeer(IReadOnlyList<RawPayload> inner, IkePeerConfig config, string role)
    {
        (byte encoding, ReadOnlyMemory<byte> der) = Payloads.ReadCert(Find(inner, PayloadType.Certificate, $"the {role}'s IKE_AUTH").Body);
        if (encoding != CertX509Signature)
        {
            throw new IkeException($"the {role} sent certificate encoding {encoding}, expected 4 (X.509 signature)");
        }
        X509Certificate2 peer;
        try
        {
            peer = X509CertificateLoader.LoadCertificate(der.Span);
        }
        catch (CryptographicException)
        {
            throw new IkeException($"the {role}'s CERT payload is not a certificate");
        }
        ChainValidationResult result = new ChainValidator().Validate(peer, new ChainValidationPolicy
        {
            TrustAnchors = config.TrustAnchors,
            CrlSource = config.Crls,
            RevocationMode = config.Crls is null ? RevocationMode.Disabled : RevocationMode.Check,
            AllowSha1Signatures = config.AllowSha1Signatures,
        });
        if (!result.IsValid)
        {
            throw new IkeException($"the {role}'s certificate ({peer.Subject}) is not accepted: {result.Failure!.Message}");
        }
        if (PeerCertificatePolicy.UsageProblem(peer) is { } usage)
        {
            throw new IkeException($"the {role}'s certificate is not accepted for IKE: {usage}");
        }
        return peer;
    }

    /// <summary>
    /// The message as datagrams: one SK message, or — fragmentation negotiated and the message larger than the
    /// configured fragment size allows — its Encrypted Fragments (RFC 7383 §2.5).
    /// </summary>
    internal static IReadOnlyList<byte[]> Protect(SkCipher cipher, bool fragment, int fragmentSize, IkeCounters? counters, IPEndPoint to, bool encapsulated,
        IkeHeader header, IReadOnlyList<(PayloadType, ReadOnlyMemory<byte>)> inner)
    {
        if (!fragment)
        {
            return [cipher.Seal(header, inner)];
        }
        // The fragment size counts the whole IP datagram, as strongSwan's does: IP header, UDP header, non-ESP marker.
        int ipHeader = to.Address.AddressFamily == AddressFamily.InterNetworkV6 && !to.Address.IsIPv4MappedToIPv6 ? 40 : 20;
        int maxMessage = fragmentSize - ipHeader - 8 - (encapsulated ? 4 : 0);
        IReadOnlyList<byte[]> datagrams = cipher.SealFragments(header, inner, maxMessage);
        if (datagrams.Count > 1)
        {
            counters?.Fragmented(datagrams.Count);
        }
        return datagrams;
    }

    /// <summary>
    /// The inner payloads of a protected message: an SK message is opened at once; an Encrypted Fragment (only with
    /// fragmentation negotiated, else dropped) has its own ICV checked and is kept until all of its message's
    /// fragments are there (RFC 7383 §2.6) — null until then. A fragment whose ICV fails is dropped, not fatal.
    /// </summary>
    /// <exception cref="CryptographicException">An SK message's ICV does not verify.</exception>
    /// <exception cref="IkeFormatException">An SK message or a reassembled chain is malformed.</exception>
    internal static IReadOnlyList<RawPayload>? Receive(SkCipher cipher, FragmentReassembler? fragments, IkeMessage message, IkeCounters? counters, string role)
    {
        if (!message.Payloads.Any(p => p.Type == PayloadType.EncryptedFragment))
        {
            return cipher.Open(message);
        }
        if (fragments is null)
        {
            // RFC 7383 §2.3: without both announcements no fragments are exchanged; one that comes anyway is ignored.
            counters?.FragmentDropped();
            return null;
        }
        DecryptedFragment piece;
        try
        {
            piece = cipher.OpenFragment(message);
        }
        catch (Exception e) when (e is CryptographicException or IkeFormatException)
        {
            // §2.6: a fragment that fails its integrity check is discarded; the genuine one may still come.
            counters?.FragmentDropped();
            return null;
        }
        counters?.FragmentReceived();
        if (fragments.Add(piece, out FragmentOutcome outcome) is not { } whole)
        {
            if (outcome is not FragmentOutcome.Stored)
            {
                counters?.FragmentDropped();
            }
            return null;
        }
        counters?.Reassembled();
        try
        {
            return IkeMessage.ParseChain(whole.Chain, 0, whole.FirstInner, allowEncrypted: false);
        }
        catch (IkeFormatException e)
        {
            throw new IkeFormatException($"the {role}'s reassembled message: {e.Message}");
        }
    }

    internal static bool NatDetected(IReadOnlyList<RawPayload> payloads, ulong spiI, ulong spiR, IPEndPoint peer, IPEndPoint local)
    {
        List<Payloads.Notify> sources = [.. Notifies(payloads, NotifyType.NAT_DETECTION_SOURCE_IP)];
        List<Payloads.Notify> destinations = [.. Notifies(payloads, NotifyType.NAT_DETECTION_DESTINATION_IP)];
        if (sources.Count == 0 || destinations.Count == 0)
        {
            // §2.23: without the notifications the peer does not support NAT traversal; stay on port 500.
            return false;
        }
        byte[] expectedSource = IkeTransport.NatHash(spiI, spiR, peer);
        byte[] expectedDestination = IkeTransport.NatHash(spiI, spiR, local);
        return !sources.Any(n => n.Data.Span.SequenceEqual(expectedSource)) || !destinations.Any(n => n.Data.Span.SequenceEqual(expectedDestination));
    }

    internal static IReadOnlyCollection<SignatureHash>? SignatureHashesOf(IReadOnlyList<RawPayload> payloads)
    {
        if (FindNotify(payloads, NotifyType.SIGNATURE_HASH_ALGORITHMS) is not { } n)
        {
            return null;
        }
        var hashes = new HashSet<SignatureHash>();
        for (int i = 0; i + 1 < n.Data.Length; i += 2)
        {
            hashes.Add((SignatureHash)BinaryPrimitives.ReadUInt16BigEndian(n.Data.Span[i..]));
        }
        return hashes;
    }

    /// <summary>RFC 7427 §4: the hashes Certgate verifies, announced in IKE_SA_INIT.</summary>
    internal static (PayloadType, ReadOnlyMemory<byte>) SignatureHashes() =>
        Notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, new byte[] { 0, (byte)SignatureHash.SHA2_256, 0, (byte)SignatureHash.SHA2_384, 0, (byte)SignatureHash.SHA2_512 });

    /// <summary>CERTREQ (§3.7): encoding 4 and the SHA-1 hashes of the trust anchors' SubjectPublicKeyInfo.</summary>
    internal static byte[] CertificateRequest(IkePeerConfig config)
    {
        var hashes = new List<byte>();
        foreach (X509Certificate2 anchor in config.TrustAnchors)
        {
#pragma warning disable CA5350 // SHA-1 is the CA identifier RFC 7296 §3.7 prescribes.
            hashes.AddRange(SHA1.HashData(anchor.PublicKey.ExportSubjectPublicKeyInfo()));
#pragma warning restore CA5350
        }
        return Payloads.WriteCert(CertX509Signature, [.. hashes]);
    }

    internal static SkCipher Cipher(SaSuite suite, byte[] encryptionKey, byte[] integrityKey) =>
        suite.IsAead ? SkCipher.Gcm(encryptionKey) : SkCipher.CbcHmac(encryptionKey, integrityKey, suite.IntegrityHash);

    internal static byte[] Refusal(IkeHeader request, NotifyType type, ReadOnlyMemory<byte> data) =>
        IkeMessage.Build(new IkeHeader(request.InitiatorSpi, 0, PayloadType.None, ExchangeType.IkeSaInit, true, false, 0, 0), [Notify(type, data)]);

    internal static (PayloadType, ReadOnlyMemory<byte>) Notify(NotifyType type, ReadOnlyMemory<byte> data) =>
        (PayloadType.Notify, Payloads.WriteNotify(new Payloads.Notify(0, (ushort)type, ReadOnlyMemory<byte>.Empty, data)));

    internal static IEnumerable<Payloads.Notify> Notifies(IReadOnlyList<RawPayload> payloads, NotifyType type) =>
        payloads.Where(p => p.Type == PayloadType.Notify).Select(p => Payloads.ReadNotify(p.Body)).Where(n => n.Type == (ushort)type);

    internal static Payloads.Notify? FindNotify(IReadOnlyList<RawPayload> payloads, NotifyType type) => Notifies(payloads, type).FirstOrDefault();

    internal static IReadOnlyList<Proposal> ReadSa(IReadOnlyList<RawPayload> payloads, string where) =>
        Payloads.ReadSa(Find(payloads, PayloadType.SecurityAssociation, where).Body.Span);

    internal static void FailOnErrorNotify(IReadOnlyList<RawPayload> payloads, string exchange)
    {
        foreach (RawPayload p in payloads.Where(p => p.Type == PayloadType.Notify))
        {
            Payloads.Notify n = Payloads.ReadNotify(p.Body);
            if (n.IsError)
            {
                throw new IkeException($"the peer refused {exchange}: {(Enum.IsDefined((NotifyType)n.Type) ? ((NotifyType)n.Type).ToString() : "error " + n.Type)}");
            }
        }
    }

    /// <summary><see cref="Receive"/> for the initiator: a response whose SK payload does not verify ends the exchange.</summary>
    internal static IReadOnlyList<RawPayload>? ReceiveResponse(SkCipher cipher, FragmentReassembler? fragments, IkeMessage message, IkeCounters? counters)
    {
        try
        {
            return Receive(cipher, fragments, message, counters, "responder");
        }
        catch (CryptographicException)
        {
            throw new IkeException("the peer's encrypted payload does not verify (different keys: a man in the middle, or a bug)");
        }
    }

    /// <summary>The TSi and TSr payloads of an IKE_AUTH message (PayloadRules requires them).</summary>
    internal static NarrowedSelectors ReadTs(IReadOnlyList<RawPayload> payloads, string where) =>
        new(Payloads.ReadTs(Find(payloads, PayloadType.TsInitiator, where).Body.Span), Payloads.ReadTs(Find(payloads, PayloadType.TsResponder, where).Body.Span));

    internal static RawPayload Find(IReadOnlyList<RawPayload> payloads, PayloadType type, string where) =>
        payloads.FirstOrDefault(p => p.Type == type) ?? throw new IkeException($"{where} has no {type} payload");

    internal static AsymmetricAlgorithm PrivateKey(X509Certificate2 certificate) =>
        (AsymmetricAlgorithm?)certificate.GetRSAPrivateKey() ?? certificate.GetECDsaPrivateKey()
        ?? throw new ArgumentException("the local certificate has no RSA or ECDSA private key", nameof(certificate));

    internal static ulong NewIkeSpi() => BinaryPrimitives.ReadUInt64BigEndian(RandomNumberGenerator.GetBytes(8)) | 1;

    internal static uint NewEspSpi() => BinaryPrimitives.ReadUInt32BigEndian(RandomNumberGenerator.GetBytes(4)) | 0x1000;

    internal static byte[] Spi(uint spi)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, spi);
        return b;
    }
}
