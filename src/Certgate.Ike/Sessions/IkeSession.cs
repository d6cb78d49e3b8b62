using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Auth;
using Certgate.Ike.Crypto;
using Certgate.Ike.Registry;
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

    /// <summary>
    /// The identity this side sends in IDi/IDr (Junos <c>local-id</c>); null: the certificate's subject DN, or with a
    /// pre-shared key the local gateway address (the IKE socket's address). With a certificate it must be the
    /// subject or a subjectAltName entry of it (<see cref="IkeIdentities.LocalProblem"/>).
    /// </summary>
    public IkeIdentity? LocalId { get; init; }

    /// <summary>
    /// The identities the peer may have (Junos <c>remote-id</c>, any match; DN container/wildcard/exact-match). Empty:
    /// any identity its validated certificate proves, or with a pre-shared key its gateway address (reference §3.6).
    /// </summary>
    public IReadOnlyList<RemoteIdentity> RemoteIds { get; init; } = [];

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
/// A minimal IKEv2 (RFC 7296) initiator and responder for certificate authentication, one child SA.
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
/// revocation, identity) before its AUTH is checked. Retransmits requests, answers a retransmitted IKE_SA_INIT.
/// </summary>
public static class IkeSession
{
    private const byte CertX509Signature = 4;
    private const int NonceLength = 32;
    private const int MinFragmentSize = 512;

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
        ulong spiI = NewIkeSpi();
        byte[] ni = RandomNumberGenerator.GetBytes(NonceLength);
        DhGroup group = Negotiation.FirstGroup(config.IkeProposals);
        DhGroup firstGroup = group;
        KeyExchange dh = KeyExchange.Create(group);
        byte[] msg1;
        IkeMessage reply1;
        byte[]? cookie = null;
        int cookies = 0;
        try
        {
            while (true)
            {
                List<(PayloadType, ReadOnlyMemory<byte>)> payloads =
                [
                    (PayloadType.SecurityAssociation, Payloads.WriteSa(Negotiation.IkeOffer(config.IkeProposals))),
                    (PayloadType.KeyExchange, Payloads.WriteKe((ushort)group, dh.PublicValue)),
                    (PayloadType.Nonce, ni),
                ];
                if (cookie is not null)
                {
                    // §2.6: the retry carries N(COOKIE) with the responder's cookie data as its first payload and all
                    // other payloads unchanged (same SPIi, Ni, and KE unless INVALID_KE_PAYLOAD changed the group).
                    payloads.Insert(0, Notify(NotifyType.COOKIE, cookie));
                }
                if (transport.CanFloat)
                {
                    payloads.Add(Notify(NotifyType.NAT_DETECTION_SOURCE_IP, IkeTransport.NatHash(spiI, 0, transport.LocalIke)));
                    payloads.Add(Notify(NotifyType.NAT_DETECTION_DESTINATION_IP, IkeTransport.NatHash(spiI, 0, remote)));
                }
                payloads.Add(SignatureHashes());
                if (config.Fragmentation)
                {
                    payloads.Add(Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED, ReadOnlyMemory<byte>.Empty));
                }
                msg1 = IkeMessage.Build(new IkeHeader(spiI, 0, PayloadType.None, ExchangeType.IkeSaInit, false, true, 0, 0), payloads);
                reply1 = await RequestAsync(transport, remote, false, [msg1], spiI, 0, config, m => m, cancellationToken).ConfigureAwait(false);
                if (FindNotify(reply1.Payloads, NotifyType.COOKIE) is { } cookieNotify)
                {
                    if (cookieNotify.Data.Length is < 1 or > 64)
                    {
                        throw new IkeException($"the responder's COOKIE has {cookieNotify.Data.Length} octets; RFC 7296 §3.10.1 allows 1 to 64");
                    }
                    // Bounded: a responder that keeps refusing its own cookies is not going to let this initiator in.
                    if (++cookies > 3)
                    {
                        throw new IkeException("the responder asked for a new COOKIE 4 times; it does not accept the ones it made (RFC 7296 §2.6)");
                    }
                    cookie = cookieNotify.Data.ToArray();
                    config.Counters?.CookieRetried();
                    continue;
                }                // RFC 7296 §1.2: "the responder will indicate the correct group in the response and the initiator SHOULD
                // pick an element of that group for its KE value when retrying the first message". Once only.
                if (FindNotify(reply1.Payloads, NotifyType.INVALID_KE_PAYLOAD) is { } invalidKe && dh.Group == firstGroup)
                {
                    ushort wanted = invalidKe.Data.Length == 2 ? BinaryPrimitives.ReadUInt16BigEndian(invalidKe.Data.Span) : (ushort)0;
                    if (!Negotiation.Offers(config.IkeProposals, wanted) || !KeyExchange.IsSupported(wanted) || wanted == (ushort)group)
                    {
                        throw new IkeException($"the responder asked for Diffie-Hellman group {wanted} (INVALID_KE_PAYLOAD), which Certgate does not offer");
                    }
                    group = (DhGroup)wanted;
                    dh.Dispose();
                    dh = KeyExchange.Create(group);
                    continue;
                }
                break;
            }
            FailOnErrorNotify(reply1.Payloads, "IKE_SA_INIT");
            PayloadRules.Require(reply1.Payloads, "the IKE_SA_INIT response", PayloadRules.IkeSaInitRequest);
            ulong spiR = reply1.Header.ResponderSpi;
            SaSuite ike = Negotiation.Accept(ReadSa(reply1.Payloads, "IKE_SA_INIT response"), Proposal.Ike, "IKE_SA_INIT", config.IkeProposals);
            byte[] nr = Payloads.ReadNonce(Find(reply1.Payloads, PayloadType.Nonce, "IKE_SA_INIT response").Body).ToArray();
            (ushort keGroup, ReadOnlyMemory<byte> keData) = Payloads.ReadKe(Find(reply1.Payloads, PayloadType.KeyExchange, "IKE_SA_INIT response").Body);
            if (keGroup != (ushort)group || ike.Group != group)
            {
                throw new IkeException($"the responder answered with Diffie-Hellman group {keGroup} (SA: {ike.Group}), not the {group} of the request");
            }
            // §2.23: "If none of the NAT_DETECTION_SOURCE_IP payload(s) received matches the expected value ... the other
            // end is behind a NAT"; a DESTINATION mismatch means this end is. Either way the initiator moves to 4500.
            bool nat = transport.CanFloat && NatDetected(reply1.Payloads, spiI, spiR, remote, transport.LocalIke);
            IPEndPoint peer = nat ? new IPEndPoint(remote.Address, 4500) : remote;
            IReadOnlyCollection<SignatureHash>? peerHashes = SignatureHashesOf(reply1.Payloads);
            // RFC 7383 §2.3: fragmentation is used only when both sides announced it in IKE_SA_INIT.
            bool fragment = config.Fragmentation && FindNotify(reply1.Payloads, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) is not null;

            var kd = new KeyDerivation(ike.PrfHash);
            IkeSaKeys keys = kd.DeriveIkeSa(ni, nr, dh.SharedSecret(keData.Span), spiI, spiR, ike.IntegrityKeyLength, ike.EncryptionKeyLength);
            using SkCipher toResponder = Cipher(ike, keys.Skei, keys.Skai);
            using SkCipher fromResponder = Cipher(ike, keys.Sker, keys.Skar);

            uint inboundSpi = NewEspSpi();
            IkeIdentity localId = IkeIdentities.Local(config, transport.LocalIke.Address);
            byte[] idi = IkeIdentities.Encode(localId);
            (AuthMethod method, byte[] auth) = Authenticate(config, kd, AuthPayload.SignedOctets(kd, msg1, nr, keys.Skpi, idi), peerHashes);
            IReadOnlyList<byte[]> msg3 = Protect(toResponder, fragment, config, peer, nat, new IkeHeader(spiI, spiR, PayloadType.None, ExchangeType.IkeAuth, false, true, 1, 0), [
                (PayloadType.IdInitiator, idi),
                .. config.Certificate is null ? [] : new (PayloadType, ReadOnlyMemory<byte>)[]
                {
                    (PayloadType.Certificate, Payloads.WriteCert(CertX509Signature, config.Certificate.RawData)),
                    (PayloadType.CertificateRequest, CertificateRequest(config)),
                },
                // RFC 7296 §1.2: HDR, SK {IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, SAi2, TSi, TSr}.
                .. IkeIdentities.Requested(config) is { } requested ? new (PayloadType, ReadOnlyMemory<byte>)[] { (PayloadType.IdResponder, IkeIdentities.Encode(requested)) } : [],
                (PayloadType.Authentication, Payloads.WriteTyped4((byte)method, auth)),
                (PayloadType.SecurityAssociation, Payloads.WriteSa(Negotiation.EspOffer(Spi(inboundSpi), config.EspProposals))),
                (PayloadType.TsInitiator, Payloads.WriteTs(config.LocalTs)),
                (PayloadType.TsResponder, Payloads.WriteTs(config.RemoteTs)),
            ]);
            var fragments = new FragmentReassembler();
            IReadOnlyList<RawPayload> inner = await RequestAsync(transport, peer, nat, msg3, spiI, 1, config,
                m => ReceiveResponse(fromResponder, fragment ? fragments : null, m, config.Counters), cancellationToken).ConfigureAwait(false);
            if (FindNotify(inner, NotifyType.TS_UNACCEPTABLE) is not null)
            {
                // The responder may have set up the IKE SA without the CHILD_SA (§1.2); without one it is of no use here.
                byte[] delete = toResponder.Seal(new IkeHeader(spiI, spiR, PayloadType.None, ExchangeType.Informational, false, true, 2, 0),
                    [(PayloadType.Delete, new byte[] { Proposal.Ike, 0, 0, 0 })]);
                await transport.SendAsync(delete, peer, nat, cancellationToken).ConfigureAwait(false);
                throw new IkeException($"the peer refused IKE_AUTH's CHILD_SA: TS_UNACCEPTABLE for the offered TSi {TrafficSelectorNarrowing.Describe(config.LocalTs)}, TSr {TrafficSelectorNarrowing.Describe(config.RemoteTs)}");
            }
            FailOnErrorNotify(inner, "IKE_AUTH");
            PeerProof proof;
            try
            {
                PayloadRules.Require(inner, "the IKE_AUTH response", PayloadRules.IkeAuthResponse);
                byte[] idr = Find(inner, PayloadType.IdResponder, "IKE_AUTH response").Body.ToArray();
                proof = VerifyPeer(inner, idr, config, "responder", remote.Address, kd, AuthPayload.SignedOctets(kd, reply1.Raw.Span, ni, keys.Skpr, idr));
            }
            catch (Exception e) when (e is IkeException or IkeFormatException)
            {
                // §2.21.2: the initiator that rejects the responder's AUTH tells it so in an INFORMATIONAL exchange.
                byte[] info = toResponder.Seal(new IkeHeader(spiI, spiR, PayloadType.None, ExchangeType.Informational, false, true, 2, 0),
                    [Notify(NotifyType.AUTHENTICATION_FAILED, ReadOnlyMemory<byte>.Empty)]);
                await transport.SendAsync(info, peer, nat, cancellationToken).ConfigureAwait(false);
                throw;
            }
            IReadOnlyList<Proposal> espAnswer = ReadSa(inner, "IKE_AUTH response");
            SaSuite esp = Negotiation.Accept(espAnswer, Proposal.Esp, "IKE_AUTH", config.EspProposals);
            if (espAnswer[0].Spi.Length != 4)
            {
                throw new IkeException($"the responder's ESP SPI is {espAnswer[0].Spi.Length} octets, not 4");
            }
            uint outboundSpi = BinaryPrimitives.ReadUInt32BigEndian(espAnswer[0].Spi.Span);
            // §2.9: the responder may narrow, never widen; an answer outside the offer is refused and the IKE SA,
            // which carries no other CHILD_SA, deleted (strongSwan's close_ike_on_child_failure).
            NarrowedSelectors ts = ReadTs(inner, "IKE_AUTH response");
            if (TrafficSelectorNarrowing.CheckAnswer(ts, new NarrowedSelectors(config.LocalTs, config.RemoteTs)) is { } badTs)
            {
                byte[] delete = toResponder.Seal(new IkeHeader(spiI, spiR, PayloadType.None, ExchangeType.Informational, false, true, 2, 0),
                    [(PayloadType.Delete, new byte[] { Proposal.Ike, 0, 0, 0 })]);
                await transport.SendAsync(delete, peer, nat, cancellationToken).ConfigureAwait(false);
                throw new IkeException($"CHILD_SA refused, IKE SA deleted: {badTs}");
            }
            int half = esp.EncryptionKeyLength + esp.IntegrityKeyLength;
            byte[] keymat = kd.ChildKeymat(keys.Skd, [], ni, nr, 2 * half);
            return new ChildSa(inboundSpi, outboundSpi, keymat[half..], keymat[..half], proof.Certificate, esp, ike)
            {
                PeerIdentity = IkeIdentities.Value(proof.Identity),
                PeerId = proof.Identity,
                LocalId = localId,
                NatDetected = nat,
                LocalAuthMethod = method,
                PeerAuthMethod = proof.Method,
                IkeSa = new EstablishedIkeSa(spiI, spiR, true, ike, keys, ni, nr, nat ? transport.LocalNatt! : transport.LocalIke, peer, nat, 2, 0, null,
                    config.LocalTs, config.RemoteTs),
                LocalTs = ts.Tsi,
                RemoteTs = ts.Tsr,
            };
        }
        finally
        {
            dh.Dispose();
        }
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
        IPEndPoint from;
        IkeMessage msg1;
        SaSuite ike;
        Proposal chosen;
        int invalidKe = 0;
        while (true)
        {
            bool encapsulated;
            (msg1, from, encapsulated) = await transport.ReceiveAsync(cancellationToken).ConfigureAwait(false);
            if (msg1.Header.Exchange != ExchangeType.IkeSaInit || msg1.Header.IsResponse || msg1.Header.ResponderSpi != 0 || encapsulated)
            {
                continue;
            }
            // A broken or incomplete first message is answered with INVALID_SYNTAX and does not end the wait for a
            // real initiator (nothing is kept for it).
            IReadOnlyList<Proposal> offered;
            ushort keGroup;
            try
            {
                PayloadRules.Require(msg1.Payloads, "the IKE_SA_INIT request", PayloadRules.IkeSaInitRequest);
                offered = ReadSa(msg1.Payloads, "IKE_SA_INIT request");
                (keGroup, _) = Payloads.ReadKe(Find(msg1.Payloads, PayloadType.KeyExchange, "IKE_SA_INIT request").Body);
                Payloads.ReadNonce(Find(msg1.Payloads, PayloadType.Nonce, "IKE_SA_INIT request").Body);
            }
            catch (Exception e) when (e is IkeException or IkeFormatException)
            {
                await transport.SendAsync(Refusal(msg1.Header, NotifyType.INVALID_SYNTAX, ReadOnlyMemory<byte>.Empty), from, false, cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (config.Cookies.Required && !HasValidCookie(msg1, from, config.Cookies))
            {
                // §2.6: under half-open load the responder answers with a cookie made from the request alone and keeps
                // nothing; only a repeat that carries it, as its first payload, creates state.
                byte[] fresh = config.Cookies.Generate(Find(msg1.Payloads, PayloadType.Nonce, "IKE_SA_INIT request").Body.Span, from.Address, msg1.Header.InitiatorSpi);
                await transport.SendAsync(Refusal(msg1.Header, NotifyType.COOKIE, fresh), from, false, cancellationToken).ConfigureAwait(false);
                config.Counters?.CookieSent();
                continue;
            }
            if (Negotiation.Choose(offered, Proposal.Ike, config.IkeProposals) is not { } choice)
            {
                await transport.SendAsync(Refusal(msg1.Header, NotifyType.NO_PROPOSAL_CHOSEN, ReadOnlyMemory<byte>.Empty), from, false, cancellationToken).ConfigureAwait(false);
                throw new IkeException($"NO_PROPOSAL_CHOSEN in IKE_SA_INIT: {Negotiation.Mismatch(offered, Proposal.Ike, config.IkeProposals)}");
            }
            (ike, chosen) = choice;
            if (keGroup != (ushort)ike.Group)
            {
                // §1.2: "If the guess turns out to be wrong, the responder will indicate the correct group in the response".
                byte[] wanted = new byte[2];
                BinaryPrimitives.WriteUInt16BigEndian(wanted, (ushort)ike.Group);
                await transport.SendAsync(Refusal(msg1.Header, NotifyType.INVALID_KE_PAYLOAD, wanted), from, false, cancellationToken).ConfigureAwait(false);
                if (++invalidKe > 3)
                {
                    throw new IkeException($"the initiator kept sending KE payloads for group {keGroup} after INVALID_KE_PAYLOAD asked for {ike.Group}");
                }
                continue;
            }
            break;
        }
        ulong spiI = msg1.Header.InitiatorSpi;
        ulong spiR = NewIkeSpi();
        byte[] ni = Payloads.ReadNonce(Find(msg1.Payloads, PayloadType.Nonce, "IKE_SA_INIT request").Body).ToArray();
        (_, ReadOnlyMemory<byte> keData) = Payloads.ReadKe(Find(msg1.Payloads, PayloadType.KeyExchange, "IKE_SA_INIT request").Body);
        IReadOnlyCollection<SignatureHash>? peerHashes = SignatureHashesOf(msg1.Payloads);
        bool peerDoesNatT = transport.CanFloat && FindNotify(msg1.Payloads, NotifyType.NAT_DETECTION_SOURCE_IP) is not null;
        // RFC 7383 §2.3: the responder announces fragmentation only to an initiator that announced it.
        bool fragment = config.Fragmentation && FindNotify(msg1.Payloads, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) is not null;
        byte[] nr = RandomNumberGenerator.GetBytes(NonceLength);
        using KeyExchange dh = KeyExchange.Create(ike.Group);
        List<(PayloadType, ReadOnlyMemory<byte>)> payloads =
        [
            (PayloadType.SecurityAssociation, Payloads.WriteSa([chosen])),
            (PayloadType.KeyExchange, Payloads.WriteKe((ushort)ike.Group, dh.PublicValue)),
            (PayloadType.Nonce, nr),
        ];
        if (peerDoesNatT)
        {
            payloads.Add(Notify(NotifyType.NAT_DETECTION_SOURCE_IP, IkeTransport.NatHash(spiI, spiR, transport.LocalIke)));
            payloads.Add(Notify(NotifyType.NAT_DETECTION_DESTINATION_IP, IkeTransport.NatHash(spiI, spiR, from)));
        }
        payloads.Add(SignatureHashes());
        if (fragment)
        {
            payloads.Add(Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED, ReadOnlyMemory<byte>.Empty));
        }
        if (config.Certificate is not null)
        {
            payloads.Add((PayloadType.CertificateRequest, CertificateRequest(config)));
        }
        byte[] msg2 = IkeMessage.Build(new IkeHeader(spiI, spiR, PayloadType.None, ExchangeType.IkeSaInit, true, false, 0, 0), payloads);
        // Half-open from here (state kept, the peer not yet authenticated) until this method ends.
        using IDisposable halfOpen = config.Cookies.Enter();
        await transport.SendAsync(msg2, from, false, cancellationToken).ConfigureAwait(false);
        var kd = new KeyDerivation(ike.PrfHash);
        IkeSaKeys keys = kd.DeriveIkeSa(ni, nr, dh.SharedSecret(keData.Span), spiI, spiR, ike.IntegrityKeyLength, ike.EncryptionKeyLength);
        using SkCipher fromInitiator = Cipher(ike, keys.Skei, keys.Skai);
        using SkCipher toInitiator = Cipher(ike, keys.Sker, keys.Skar);

        IkeMessage msg3;
        IPEndPoint peer;
        bool nat;
        IReadOnlyList<RawPayload>? inner;
        var fragments = new FragmentReassembler();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(config.RetransmitTimeout * 4);
        while (true)
        {
            (IkeMessage m, IPEndPoint f, bool encapsulated) = await transport.ReceiveAsync(deadline.Token).ConfigureAwait(false);
            if (m.Header.InitiatorSpi != spiI || m.Header.IsResponse)
            {
                continue;
            }
            if (m.Header.Exchange == ExchangeType.IkeSaInit && m.Header.ResponderSpi == 0)
            {
                await transport.SendAsync(msg2, from, false, cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (m.Header.Exchange == ExchangeType.IkeAuth && m.Header.ResponderSpi == spiR && m.Header.MessageId == 1)
            {
                try
                {
                    inner = Receive(fromInitiator, fragment ? fragments : null, m, config.Counters, "initiator");
                }
                catch (Exception e) when (e is CryptographicException or IkeFormatException)
                {
                    // §3.14: a message whose integrity check fails "MUST be discarded"; the real one may still come.
                    continue;
                }
                if (inner is null)
                {
                    // A fragment kept (or dropped) while the others are awaited.
                    continue;
                }
                (msg3, peer, nat) = (m, f, encapsulated);
                break;
            }
        }
        PeerProof proof;
        try
        {
            PayloadRules.Require(inner, "the IKE_AUTH request", PayloadRules.IkeAuthRequest);
            byte[] idi = Find(inner, PayloadType.IdInitiator, "IKE_AUTH request").Body.ToArray();
            proof = VerifyPeer(inner, idi, config, "initiator", from.Address, kd, AuthPayload.SignedOctets(kd, msg1.Raw.Span, nr, keys.Skpi, idi));
        }
        catch (Exception e) when (e is IkeException or IkeFormatException)
        {
            // §2.21.2: "If the error occurred on the responder, the notification is returned in the protected response".
            byte[] fail = toInitiator.Seal(new IkeHeader(spiI, spiR, PayloadType.None, ExchangeType.IkeAuth, true, false, 1, 0),
                [Notify(NotifyType.AUTHENTICATION_FAILED, ReadOnlyMemory<byte>.Empty)]);
            await transport.SendAsync(fail, peer, nat, cancellationToken).ConfigureAwait(false);
            throw;
        }
        IReadOnlyList<Proposal> espOffered = ReadSa(inner, "IKE_AUTH request");
        if (Negotiation.Choose(espOffered, Proposal.Esp, config.EspProposals) is not { } espChoice)
        {
            byte[] refuse = toInitiator.Seal(new IkeHeader(spiI, spiR, PayloadType.None, ExchangeType.IkeAuth, true, false, 1, 0),
                [Notify(NotifyType.NO_PROPOSAL_CHOSEN, ReadOnlyMemory<byte>.Empty)]);
            await transport.SendAsync(refuse, peer, nat, cancellationToken).ConfigureAwait(false);
            throw new IkeException($"NO_PROPOSAL_CHOSEN for the IKE_AUTH CHILD_SA (no PFS there): {Negotiation.Mismatch(espOffered, Proposal.Esp, config.EspProposals)}");
        }
        (SaSuite esp, Proposal espReply) = espChoice;
        // §2.9: the initiator's TSi is narrowed to the peer's side as configured here, its TSr to this side's.
        NarrowedSelectors offeredTs = ReadTs(inner, "IKE_AUTH request");
        if (TrafficSelectorNarrowing.Respond(offeredTs.Tsi, offeredTs.Tsr, config.RemoteTs, config.LocalTs) is not { } ts)
        {
            byte[] refuse = toInitiator.Seal(new IkeHeader(spiI, spiR, PayloadType.None, ExchangeType.IkeAuth, true, false, 1, 0),
                [Notify(NotifyType.TS_UNACCEPTABLE, ReadOnlyMemory<byte>.Empty)]);
            await transport.SendAsync(refuse, peer, nat, cancellationToken).ConfigureAwait(false);
            throw new IkeException($"{TrafficSelectorNarrowing.Unacceptable(offeredTs.Tsi, offeredTs.Tsr, config.RemoteTs, config.LocalTs)} (IKE_AUTH CHILD_SA)");
        }
        uint outboundSpi = BinaryPrimitives.ReadUInt32BigEndian(espReply.Spi.Span);
        uint inboundSpi = NewEspSpi();
        // The initiator's optional IDr (RFC 7296 §3.5) is not used to choose: this side has one identity to offer.
        IkeIdentity localId = IkeIdentities.Local(config, transport.LocalIke.Address);
        byte[] idr = IkeIdentities.Encode(localId);
        (AuthMethod method, byte[] auth) = Authenticate(config, kd, AuthPayload.SignedOctets(kd, msg2, ni, keys.Skpr, idr), peerHashes);
        IReadOnlyList<byte[]> msg4 = Protect(toInitiator, fragment, config, peer, nat, new IkeHeader(spiI, spiR, PayloadType.None, ExchangeType.IkeAuth, true, false, 1, 0), [
            (PayloadType.IdResponder, idr),
            .. config.Certificate is null ? [] : new (PayloadType, ReadOnlyMemory<byte>)[] { (PayloadType.Certificate, Payloads.WriteCert(CertX509Signature, config.Certificate.RawData)) },
            (PayloadType.Authentication, Payloads.WriteTyped4((byte)method, auth)),
            (PayloadType.SecurityAssociation, Payloads.WriteSa([espReply with { Spi = Spi(inboundSpi) }])),
            (PayloadType.TsInitiator, Payloads.WriteTs(ts.Tsi)),
            (PayloadType.TsResponder, Payloads.WriteTs(ts.Tsr)),
        ]);
        foreach (byte[] datagram in msg4)
        {
            await transport.SendAsync(datagram, peer, nat, cancellationToken).ConfigureAwait(false);
        }
        int half = esp.EncryptionKeyLength + esp.IntegrityKeyLength;
        byte[] keymat = kd.ChildKeymat(keys.Skd, [], ni, nr, 2 * half);
        return new ChildSa(inboundSpi, outboundSpi, keymat[..half], keymat[half..], proof.Certificate, esp, ike)
        {
            PeerIdentity = IkeIdentities.Value(proof.Identity),
            PeerId = proof.Identity,
            LocalId = localId,
            NatDetected = nat,
            LocalAuthMethod = method,
            PeerAuthMethod = proof.Method,
            IkeSa = new EstablishedIkeSa(spiI, spiR, false, ike, keys, ni, nr, nat ? transport.LocalNatt! : transport.LocalIke, peer, nat, 0, 2, msg4,
                config.LocalTs, config.RemoteTs),
            LocalTs = ts.Tsr,
            RemoteTs = ts.Tsi,
        };
    }

    /// <summary>Whether the request's first payload is N(COOKIE) with a cookie this responder made for it (RFC 7296 §2.6).</summary>
    private static bool HasValidCookie(IkeMessage request, IPEndPoint from, IkeCookies cookies)
    {
        if (request.Payloads[0].Type != PayloadType.Notify)
        {
            return false;
        }
        Payloads.Notify first = Payloads.ReadNotify(request.Payloads[0].Body);
        return first.Type == (ushort)NotifyType.COOKIE
            && cookies.Verify(first.Data.Span, Find(request.Payloads, PayloadType.Nonce, "IKE_SA_INIT request").Body.Span, from.Address, request.Header.InitiatorSpi);
    }

    private sealed record PeerProof(X509Certificate2? Certificate, AuthMethod Method, IkeIdentity Identity);

    private static void CheckConfig(IkePeerConfig config)
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

    private static (AuthMethod Method, byte[] Data) Authenticate(IkePeerConfig config, KeyDerivation kd, byte[] signedOctets, IReadOnlyCollection<SignatureHash>? peerHashes)
    {
        (AuthMethod method, byte[] data) = config.PreSharedKey is { } psk
            ? (AuthMethod.SharedKey, AuthPayload.SharedKeyMic(kd, psk, signedOctets))
            : AuthPayload.Sign(PrivateKey(config.Certificate!), signedOctets, peerHashes);
        if (config.TestHookCorruptAuth)
        {
            // The last octet: for RFC 7427 AUTH data it lies in the signature, not in the AlgorithmIdentifier before it.
            data[^1] ^= 0x01;
        }
        return (method, data);
    }

    /// <summary>Checks the peer's identity (<see cref="IkeIdentities.CheckPeer"/>) and AUTH the way this side authenticates (certificate or pre-shared key).</summary>
    private static PeerProof VerifyPeer(IReadOnlyList<RawPayload> inner, byte[] idBody, IkePeerConfig config, string role, IPAddress peerAddress, KeyDerivation kd, byte[] signedOctets)
    {
        (byte authMethod, ReadOnlyMemory<byte> authData) = Payloads.ReadTyped4(Find(inner, PayloadType.Authentication, $"the {role}'s IKE_AUTH").Body, "AUTH");
        var method = (AuthMethod)authMethod;
        IkeIdentity identity = IkeIdentities.Decode(idBody, role);
        if (config.PreSharedKey is { } psk)
        {
            // §2.15: the MIC is compared in constant time so that a wrong key leaks nothing about the right one. It is
            // checked before the identity, so only a peer that knows the key learns which identity was refused.
            if (method != AuthMethod.SharedKey || !CryptographicOperations.FixedTimeEquals(authData.Span, AuthPayload.SharedKeyMic(kd, psk, signedOctets)))
            {
                throw new IkeException(method != AuthMethod.SharedKey
                    ? $"the {role} used AUTH method {authMethod}, but this side is configured for a pre-shared key (2)"
                    : $"the {role}'s shared-key AUTH does not verify (a different pre-shared key)");
            }
            IkeIdentities.CheckPeer(identity, null, config, peerAddress, role);
            return new PeerProof(null, method, identity);
        }
        X509Certificate2 peer = ValidatePeer(inner, config, role);
        IkeIdentities.CheckPeer(identity, peer, config, peerAddress, role);
        if (AuthPayload.Verify(peer, method, authData.Span, signedOctets) is { } why)
        {
            throw new IkeException($"the {role}'s AUTH does not verify: {why}");
        }
        return new PeerProof(peer, method, identity);
    }

    /// <summary>
    /// The peer's CERT must be an X.509 certificate that chains to a trust anchor, is valid now and not revoked; its
    /// ID is then checked against it (RFC 4945 §3.1: "the ID MUST match ... the certificate", <see cref="IkeIdentities.CheckPeer"/>).
    /// </summary>
    private static X509Certificate2 ValidatePeer(IReadOnlyList<RawPayload> inner, IkePeerConfig config, string role)
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
        });
        if (!result.IsValid)
        {
            throw new IkeException($"the {role}'s certificate ({peer.Subject}) is not accepted: {result.Failure!.Message}");
        }
        return peer;
    }

    /// <summary>
    /// Sends <paramref name="request"/> (all its datagrams: one message, or all fragments of one, RFC 7383 §2.5) and
    /// waits for the response; retransmits it whole up to 3 times. <paramref name="accept"/> gets each response with
    /// this SPI and Message ID and returns null to keep waiting (a fragment while others are missing).
    /// </summary>
    private static async Task<T> RequestAsync<T>(IkeTransport transport, IPEndPoint remote, bool encapsulated, IReadOnlyList<byte[]> request,
        ulong spiI, uint messageId, IkePeerConfig config, Func<IkeMessage, T?> accept, CancellationToken cancellationToken) where T : class
    {
        for (int attempt = 0; attempt < 3; attempt++)
        {
            foreach (byte[] datagram in request)
            {
                await transport.SendAsync(datagram, remote, encapsulated, cancellationToken).ConfigureAwait(false);
            }
            if (attempt > 0 && request.Count > 1)
            {
                config.Counters?.FragmentsResent(request.Count);
            }
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(config.RetransmitTimeout);
            try
            {
                while (true)
                {
                    (IkeMessage m, _, _) = await transport.ReceiveAsync(wait.Token).ConfigureAwait(false);
                    if (m.Header.IsResponse && m.Header.InitiatorSpi == spiI && m.Header.MessageId == messageId && accept(m) is { } answer)
                    {
                        return answer;
                    }
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Retransmit.
            }
        }
        throw new IkeException($"no answer from {remote} after 3 tries");
    }

    /// <summary>
    /// The message as datagrams: one SK message, or — fragmentation negotiated and the message larger than the
    /// configured fragment size allows — its Encrypted Fragments (RFC 7383 §2.5).
    /// </summary>
    private static IReadOnlyList<byte[]> Protect(SkCipher cipher, bool fragment, IkePeerConfig config, IPEndPoint to, bool encapsulated,
        IkeHeader header, IReadOnlyList<(PayloadType, ReadOnlyMemory<byte>)> inner)
    {
        if (!fragment)
        {
            return [cipher.Seal(header, inner)];
        }
        // The fragment size counts the whole IP datagram, as strongSwan's does: IP header, UDP header, non-ESP marker.
        int ipHeader = to.Address.AddressFamily == AddressFamily.InterNetworkV6 && !to.Address.IsIPv4MappedToIPv6 ? 40 : 20;
        int maxMessage = config.FragmentSize - ipHeader - 8 - (encapsulated ? 4 : 0);
        IReadOnlyList<byte[]> datagrams = cipher.SealFragments(header, inner, maxMessage);
        if (datagrams.Count > 1)
        {
            config.Counters?.Fragmented(datagrams.Count);
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
    private static IReadOnlyList<RawPayload>? Receive(SkCipher cipher, FragmentReassembler? fragments, IkeMessage message, IkeCounters? counters, string role)
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

    private static bool NatDetected(IReadOnlyList<RawPayload> payloads, ulong spiI, ulong spiR, IPEndPoint peer, IPEndPoint local)
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

    private static IReadOnlyCollection<SignatureHash>? SignatureHashesOf(IReadOnlyList<RawPayload> payloads)
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
    private static (PayloadType, ReadOnlyMemory<byte>) SignatureHashes() =>
        Notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, new byte[] { 0, (byte)SignatureHash.SHA2_256, 0, (byte)SignatureHash.SHA2_384, 0, (byte)SignatureHash.SHA2_512 });

    /// <summary>CERTREQ (§3.7): encoding 4 and the SHA-1 hashes of the trust anchors' SubjectPublicKeyInfo.</summary>
    private static byte[] CertificateRequest(IkePeerConfig config)
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

    private static SkCipher Cipher(SaSuite suite, byte[] encryptionKey, byte[] integrityKey) =>
        suite.IsAead ? SkCipher.Gcm(encryptionKey) : SkCipher.CbcHmac(encryptionKey, integrityKey, suite.IntegrityHash);

    private static byte[] Refusal(IkeHeader request, NotifyType type, ReadOnlyMemory<byte> data) =>
        IkeMessage.Build(new IkeHeader(request.InitiatorSpi, 0, PayloadType.None, ExchangeType.IkeSaInit, true, false, 0, 0), [Notify(type, data)]);

    private static (PayloadType, ReadOnlyMemory<byte>) Notify(NotifyType type, ReadOnlyMemory<byte> data) =>
        (PayloadType.Notify, Payloads.WriteNotify(new Payloads.Notify(0, (ushort)type, ReadOnlyMemory<byte>.Empty, data)));

    private static IEnumerable<Payloads.Notify> Notifies(IReadOnlyList<RawPayload> payloads, NotifyType type) =>
        payloads.Where(p => p.Type == PayloadType.Notify).Select(p => Payloads.ReadNotify(p.Body)).Where(n => n.Type == (ushort)type);

    private static Payloads.Notify? FindNotify(IReadOnlyList<RawPayload> payloads, NotifyType type) => Notifies(payloads, type).FirstOrDefault();

    private static IReadOnlyList<Proposal> ReadSa(IReadOnlyList<RawPayload> payloads, string where) =>
        Payloads.ReadSa(Find(payloads, PayloadType.SecurityAssociation, where).Body.Span);

    private static void FailOnErrorNotify(IReadOnlyList<RawPayload> payloads, string exchange)
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
    private static IReadOnlyList<RawPayload>? ReceiveResponse(SkCipher cipher, FragmentReassembler? fragments, IkeMessage message, IkeCounters? counters)
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
    private static NarrowedSelectors ReadTs(IReadOnlyList<RawPayload> payloads, string where) =>
        new(Payloads.ReadTs(Find(payloads, PayloadType.TsInitiator, where).Body.Span), Payloads.ReadTs(Find(payloads, PayloadType.TsResponder, where).Body.Span));

    private static RawPayload Find(IReadOnlyList<RawPayload> payloads, PayloadType type, string where) =>
        payloads.FirstOrDefault(p => p.Type == type) ?? throw new IkeException($"{where} has no {type} payload");

    private static AsymmetricAlgorithm PrivateKey(X509Certificate2 certificate) =>
        (AsymmetricAlgorithm?)certificate.GetRSAPrivateKey() ?? certificate.GetECDsaPrivateKey()
        ?? throw new ArgumentException("the local certificate has no RSA or ECDSA private key", nameof(certificate));

    private static ulong NewIkeSpi() => BinaryPrimitives.ReadUInt64BigEndian(RandomNumberGenerator.GetBytes(8)) | 1;

    private static uint NewEspSpi() => BinaryPrimitives.ReadUInt32BigEndian(RandomNumberGenerator.GetBytes(4)) | 0x1000;

    private static byte[] Spi(uint spi)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, spi);
        return b;
    }
}
