using System.Buffers.Binary;
using System.Net;
using Certgate.Ike.Auth;
using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;

namespace Certgate.Ike.Sa.Tasks;

/// <summary>
/// IKE_SA_INIT (RFC 7296 §1.2), strongSwan's ike_init: negotiates the IKE suite, exchanges nonces and KE, derives the
/// keys (§2.14) and decides NAT traversal (§2.23) and fragmentation (RFC 7383 §2.3). Unencrypted; Message ID 0.
/// <code>
///   I: [N(COOKIE)], SA, KEi, Ni, N(NAT_DETECTION_*)?, N(SIGNATURE_HASH_ALGORITHMS), N(IKEV2_FRAGMENTATION_SUPPORTED)?
///   R: SA, KEr, Nr, N(NAT_DETECTION_*)?, N(SIGNATURE_HASH_ALGORITHMS), N(IKEV2_FRAGMENTATION_SUPPORTED)?, CERTREQ?
///      (or N(COOKIE) / N(INVALID_KE_PAYLOAD): the initiator builds the request again, same Message ID, §2.6 / §1.2;
///       those refusals keep no state on the responder: <see cref="Screen"/>)
/// </code>
/// </summary>
internal sealed class IkeInit : IkeTask
{
    private readonly IkeSetup _setup;
    private DhGroup _group;
    private DhGroup _firstGroup;
    private KeyExchange? _dh;
    private byte[]? _cookie;
    private int _cookies;
    private IkeMessage? _request;

    /// <summary>Initiator.</summary>
    public IkeInit(IkeConnection connection, IkeSetup setup)
        : base(connection, initiator: true)
    {
        _setup = setup;
        _group = _firstGroup = Negotiation.FirstGroup(setup.Config.IkeProposals);
    }

    /// <summary>Responder to <paramref name="request"/>, which <see cref="Screen"/> let through.</summary>
    public IkeInit(IkeConnection connection, IkeSetup setup, IkeMessage request)
        : base(connection, initiator: false)
    {
        _setup = setup;
        _request = request;
    }

    public override ExchangeType Exchange => ExchangeType.IkeSaInit;

    public override string Name => "IKE_INIT";

    /// <summary>
    /// The responder's checks before it keeps any state for an IKE_SA_INIT request: the payload table, the cookie
    /// under half-open load (§2.6), a proposal, and the KE group (§1.2). Returns when the request may make an SA.
    /// </summary>
    /// <exception cref="IkeException">The request is refused: send <see cref="Refusal(IkeHeader, IkeException)"/>
    /// (INVALID_SYNTAX, COOKIE, INVALID_KE_PAYLOAD: the initiator may try again; NO_PROPOSAL_CHOSEN: the configurations
    /// cannot agree, the message says why).</exception>
    public static void Screen(IkeMessage request, IPEndPoint from, IkePeerConfig config)
    {
        IReadOnlyList<Proposal> offered;
        ushort keGroup;
        try
        {
            PayloadRules.Check(ExchangeType.IkeSaInit, response: false, request.Payloads);
            offered = MessagePayloads.ReadSa(request.Payloads, "IKE_SA_INIT request");
            (keGroup, _) = Payloads.ReadKe(MessagePayloads.Find(request.Payloads, PayloadType.KeyExchange, "IKE_SA_INIT request").Body);
            Payloads.ReadNonce(MessagePayloads.Find(request.Payloads, PayloadType.Nonce, "IKE_SA_INIT request").Body);
        }
        catch (IkeFormatException e)
        {
            // A broken or incomplete first message is answered with INVALID_SYNTAX; nothing is kept for it.
            throw new IkeException($"the IKE_SA_INIT request is malformed: {e.Message}", NotifyType.INVALID_SYNTAX);
        }
        if (config.Cookies.Required && !HasValidCookie(request, from, config.Cookies))
        {
            // §2.6: under half-open load the responder answers with a cookie made from the request alone and keeps
            // nothing; only a repeat that carries it, as its first payload, creates state.
            byte[] fresh = config.Cookies.Generate(MessagePayloads.Find(request.Payloads, PayloadType.Nonce, "IKE_SA_INIT request").Body.Span, from.Address, request.Header.InitiatorSpi);
            config.Counters?.CookieSent();
            throw new IkeException("half-open SAs at the threshold: a COOKIE is required (RFC 7296 §2.6)", NotifyType.COOKIE, fresh);
        }
        if (Negotiation.Choose(offered, Proposal.Ike, config.IkeProposals) is not { } choice)
        {
            throw new IkeException($"NO_PROPOSAL_CHOSEN in IKE_SA_INIT: {Negotiation.Mismatch(offered, Proposal.Ike, config.IkeProposals)}", NotifyType.NO_PROPOSAL_CHOSEN);
        }
        if (keGroup != (ushort)choice.Suite.Group)
        {
            // §1.2: "If the guess turns out to be wrong, the responder will indicate the correct group in the response".
            byte[] wanted = new byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(wanted, (ushort)choice.Suite.Group);
            throw new IkeException($"the KE is of group {keGroup}, the chosen proposal's is {choice.Suite.Group}", NotifyType.INVALID_KE_PAYLOAD, wanted);
        }
    }

    /// <summary>
    /// The unprotected answer to an IKE_SA_INIT request that <see cref="Screen"/> refused: its notify alone, SPIr 0
    /// (§2.6, §1.2; INVALID_SYNTAX when the exception names none).
    /// </summary>
    public static byte[] Refusal(IkeHeader request, IkeException refused) =>
        IkeMessage.Build(new IkeHeader(request.InitiatorSpi, 0, PayloadType.None, ExchangeType.IkeSaInit, true, false, 0, 0),
            [MessagePayloads.Notify(refused.Notify ?? NotifyType.INVALID_SYNTAX, refused.NotifyData)]);

    /// <summary>Whether the request's first payload is N(COOKIE) with a cookie this responder made for it (RFC 7296 §2.6).</summary>
    private static bool HasValidCookie(IkeMessage request, IPEndPoint from, IkeCookies cookies)
    {
        if (request.Payloads[0].Type != PayloadType.Notify)
        {
            return false;
        }
        Payloads.Notify first = Payloads.ReadNotify(request.Payloads[0].Body);
        return first.Type == (ushort)NotifyType.COOKIE
            && cookies.Verify(first.Data.Span, MessagePayloads.Find(request.Payloads, PayloadType.Nonce, "IKE_SA_INIT request").Body.Span, from.Address, request.Header.InitiatorSpi);
    }

    public override bool Build(IkeSa sa, List<(PayloadType Type, ReadOnlyMemory<byte> Body)> message)
    {
        if (!IsInitiator)
        {
            BuildResponse(sa, message);
            return true;
        }
        IkePeerConfig config = _setup.Config;
        _dh ??= KeyExchange.Create(_group);
        if (_setup.Ni.Length == 0)
        {
            _setup.Ni = Connection.Nonce();
        }
        message.Add((PayloadType.SecurityAssociation, Payloads.WriteSa(Negotiation.IkeOffer(config.IkeProposals))));
        message.Add((PayloadType.KeyExchange, Payloads.WriteKe((ushort)_group, _dh.PublicValue)));
        message.Add((PayloadType.Nonce, _setup.Ni));
        if (_cookie is not null)
        {
            // §2.6: the retry carries N(COOKIE) with the responder's cookie data as its first payload and all
            // other payloads unchanged (same SPIi, Ni, and KE unless INVALID_KE_PAYLOAD changed the group).
            message.Insert(0, MessagePayloads.Notify(NotifyType.COOKIE, _cookie));
        }
        if (_setup.NatTraversal)
        {
            message.Add(MessagePayloads.Notify(NotifyType.NAT_DETECTION_SOURCE_IP, IkeTransport.NatHash(sa.SpiI, 0, _setup.Local)));
            message.Add(MessagePayloads.Notify(NotifyType.NAT_DETECTION_DESTINATION_IP, IkeTransport.NatHash(sa.SpiI, 0, sa.Remote)));
        }
        message.Add(PeerAuthentication.SignatureHashes());
        if (config.Fragmentation)
        {
            message.Add(MessagePayloads.Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED, ReadOnlyMemory<byte>.Empty));
        }
        return true;
    }

    public override void Process(IkeSa sa, IReadOnlyList<RawPayload> message)
    {
        if (IsInitiator)
        {
            ProcessResponse(sa, message);
        }
    }

    private void ProcessResponse(IkeSa sa, IReadOnlyList<RawPayload> reply)
    {
        IkePeerConfig config = _setup.Config;
        if (MessagePayloads.FindNotify(reply, NotifyType.COOKIE) is { } cookieNotify)
        {
            if (cookieNotify.Data.Length is < 1 or > 64)
            {
                throw new IkeException($"the responder's COOKIE has {cookieNotify.Data.Length} octets; RFC 7296 §3.10.1 allows 1 to 64");
            }
            // Bounded: a responder that keeps refusing its own cookies is not going to let this initiator in.
            if (++_cookies > 3)
            {
                throw new IkeException("the responder asked for a new COOKIE 4 times; it does not accept the ones it made (RFC 7296 §2.6)");
            }
            _cookie = cookieNotify.Data.ToArray();
            config.Counters?.CookieRetried();
            Again = true;
            return;
        }
        // RFC 7296 §1.2: "the responder will indicate the correct group in the response and the initiator SHOULD
        // pick an element of that group for its KE value when retrying the first message". Once only.
        if (MessagePayloads.FindNotify(reply, NotifyType.INVALID_KE_PAYLOAD) is { } invalidKe && _group == _firstGroup)
        {
            ushort wanted = invalidKe.Data.Length == 2 ? BinaryPrimitives.ReadUInt16BigEndian(invalidKe.Data.Span) : (ushort)0;
            if (!Negotiation.Offers(config.IkeProposals, wanted) || !KeyExchange.IsSupported(wanted) || wanted == (ushort)_group)
            {
                throw new IkeException($"the responder asked for Diffie-Hellman group {wanted} (INVALID_KE_PAYLOAD), which Certgate does not offer");
            }
            _group = (DhGroup)wanted;
            _dh?.Dispose();
            _dh = null;
            Again = true;
            return;
        }
        using KeyExchange dh = _dh!;
        _dh = null;
        FailOnErrorNotify(reply);
        ulong spiR = _setup.ResponderSpi;
        if (spiR == 0)
        {
            throw new IkeException("the responder's IKE_SA_INIT response has SPIr 0 (RFC 7296 §3.1: the responder's SPI is never zero)");
        }
        SaSuite ike = Negotiation.Accept(MessagePayloads.ReadSa(reply, "IKE_SA_INIT response"), Proposal.Ike, "IKE_SA_INIT", config.IkeProposals);
        byte[] nr = Payloads.ReadNonce(MessagePayloads.Find(reply, PayloadType.Nonce, "IKE_SA_INIT response").Body).ToArray();
        (ushort keGroup, ReadOnlyMemory<byte> keData) = Payloads.ReadKe(MessagePayloads.Find(reply, PayloadType.KeyExchange, "IKE_SA_INIT response").Body);
        if (keGroup != (ushort)_group || ike.Group != _group)
        {
            throw new IkeException($"the responder answered with Diffie-Hellman group {keGroup} (SA: {ike.Group}), not the {_group} of the request");
        }
        _setup.Nr = nr;
        _setup.PeerHashes = PeerAuthentication.SignatureHashesOf(reply);
        // §2.23: "If none of the NAT_DETECTION_SOURCE_IP payload(s) received matches the expected value ... the other
        // end is behind a NAT"; a DESTINATION mismatch means this end is. Either way the initiator moves to 4500.
        _setup.NatDetected = _setup.NatTraversal && NatDetected(reply, sa.SpiI, spiR, sa.Remote, _setup.Local);
        // RFC 7383 §2.3: fragmentation is used only when both sides announced it in IKE_SA_INIT.
        sa.Fragmentation = config.Fragmentation && MessagePayloads.FindNotify(reply, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) is not null;
        var kd = new KeyDerivation(ike.PrfHash);
        sa.SpiR = spiR;
        sa.SetKeys(ike, kd.DeriveIkeSa(_setup.Ni, nr, dh.SharedSecret(keData.Span), sa.SpiI, spiR, ike.IntegrityKeyLength, ike.EncryptionKeyLength));
        if (_setup.NatDetected)
        {
            sa.Remote = new IPEndPoint(sa.Remote.Address, 4500);
            sa.Encapsulated = true;
        }
    }

    private void BuildResponse(IkeSa sa, List<(PayloadType Type, ReadOnlyMemory<byte> Body)> message)
    {
        IkePeerConfig config = _setup.Config;
        IkeMessage request = _request!;
        IReadOnlyList<Proposal> offered = MessagePayloads.ReadSa(request.Payloads, "IKE_SA_INIT request");
        // Screen let the request through, so a proposal is chosen and the KE group is that proposal's.
        (SaSuite ike, Proposal chosen) = Negotiation.Choose(offered, Proposal.Ike, config.IkeProposals)
            ?? throw new IkeException("NO_PROPOSAL_CHOSEN in IKE_SA_INIT");
        byte[] ni = Payloads.ReadNonce(MessagePayloads.Find(request.Payloads, PayloadType.Nonce, "IKE_SA_INIT request").Body).ToArray();
        (_, ReadOnlyMemory<byte> keData) = Payloads.ReadKe(MessagePayloads.Find(request.Payloads, PayloadType.KeyExchange, "IKE_SA_INIT request").Body);
        _setup.PeerHashes = PeerAuthentication.SignatureHashesOf(request.Payloads);
        bool peerDoesNatT = _setup.NatTraversal && MessagePayloads.FindNotify(request.Payloads, NotifyType.NAT_DETECTION_SOURCE_IP) is not null;
        // RFC 7383 §2.3: the responder announces fragmentation only to an initiator that announced it.
        sa.Fragmentation = config.Fragmentation && MessagePayloads.FindNotify(request.Payloads, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) is not null;
        byte[] nr = Connection.Nonce();
        using KeyExchange dh = KeyExchange.Create(ike.Group);
        message.Add((PayloadType.SecurityAssociation, Payloads.WriteSa([chosen])));
        message.Add((PayloadType.KeyExchange, Payloads.WriteKe((ushort)ike.Group, dh.PublicValue)));
        message.Add((PayloadType.Nonce, nr));
        if (peerDoesNatT)
        {
            message.Add(MessagePayloads.Notify(NotifyType.NAT_DETECTION_SOURCE_IP, IkeTransport.NatHash(sa.SpiI, sa.SpiR, _setup.Local)));
            message.Add(MessagePayloads.Notify(NotifyType.NAT_DETECTION_DESTINATION_IP, IkeTransport.NatHash(sa.SpiI, sa.SpiR, sa.Remote)));
        }
        message.Add(PeerAuthentication.SignatureHashes());
        if (sa.Fragmentation)
        {
            message.Add(MessagePayloads.Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED, ReadOnlyMemory<byte>.Empty));
        }
        if (config.Certificate is not null)
        {
            message.Add((PayloadType.CertificateRequest, PeerAuthentication.CertificateRequest(config)));
        }
        _setup.Ni = ni;
        _setup.Nr = nr;
        _setup.Request = request.Raw.ToArray();
        var kd = new KeyDerivation(ike.PrfHash);
        sa.SetKeys(ike, kd.DeriveIkeSa(ni, nr, dh.SharedSecret(keData.Span), sa.SpiI, sa.SpiR, ike.IntegrityKeyLength, ike.EncryptionKeyLength));
        _request = null;
    }

    /// <summary>An error notify in the IKE_SA_INIT response (NO_PROPOSAL_CHOSEN…) ends the negotiation.</summary>
    private static void FailOnErrorNotify(IReadOnlyList<RawPayload> payloads)
    {
        if (MessagePayloads.Error(payloads) is { } n)
        {
            throw new IkeException($"the peer refused IKE_SA_INIT: {(Enum.IsDefined((NotifyType)n.Type) ? ((NotifyType)n.Type).ToString() : "error " + n.Type)}");
        }
    }

    /// <summary>
    /// §2.23: whether the NAT_DETECTION_* notifies of <paramref name="payloads"/> show a NAT between here and
    /// <paramref name="peer"/> (either hash differs); false when the peer sent none.
    /// </summary>
    private static bool NatDetected(IReadOnlyList<RawPayload> payloads, ulong spiI, ulong spiR, IPEndPoint peer, IPEndPoint local)
    {
        List<Payloads.Notify> sources = [.. MessagePayloads.Notifies(payloads, NotifyType.NAT_DETECTION_SOURCE_IP)];
        List<Payloads.Notify> destinations = [.. MessagePayloads.Notifies(payloads, NotifyType.NAT_DETECTION_DESTINATION_IP)];
        if (sources.Count == 0 || destinations.Count == 0)
        {
            // §2.23: without the notifications the peer does not support NAT traversal; stay on port 500.
            return false;
        }
        byte[] expectedSource = IkeTransport.NatHash(spiI, spiR, peer);
        byte[] expectedDestination = IkeTransport.NatHash(spiI, spiR, local);
        return !sources.Any(n => n.Data.Span.SequenceEqual(expectedSource)) || !destinations.Any(n => n.Data.Span.SequenceEqual(expectedDestination));
    }

    public override void Fail(IkeSa sa, string reason)
    {
        _dh?.Dispose();
        _dh = null;
        Connection.CloseSa(sa, reason);
    }
}
