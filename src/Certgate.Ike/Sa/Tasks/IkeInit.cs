using System.Buffers.Binary;
using System.Net;
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
    /// The responder's checks before it keeps any state for an IKE_SA_INIT request: its payloads, the cookie under
    /// half-open load (§2.6), a proposal, and the KE group (§1.2). Returns the refusal to send (null: go on) and,
    /// for a refusal that ends the negotiation, why.
    /// </summary>
    public static (byte[]? Refusal, string? Error) Screen(IkeMessage request, IPEndPoint from, IkePeerConfig config)
    {
        IReadOnlyList<Proposal> offered;
        ushort keGroup;
        try
        {
            PayloadRules.Require(request.Payloads, "the IKE_SA_INIT request", PayloadRules.IkeSaInitRequest);
            offered = IkeSession.ReadSa(request.Payloads, "IKE_SA_INIT request");
            (keGroup, _) = Payloads.ReadKe(IkeSession.Find(request.Payloads, PayloadType.KeyExchange, "IKE_SA_INIT request").Body);
            Payloads.ReadNonce(IkeSession.Find(request.Payloads, PayloadType.Nonce, "IKE_SA_INIT request").Body);
        }
        catch (Exception e) when (e is IkeException or IkeFormatException)
        {
            // A broken or incomplete first message is answered with INVALID_SYNTAX; nothing is kept for it.
            return (IkeSession.Refusal(request.Header, NotifyType.INVALID_SYNTAX, ReadOnlyMemory<byte>.Empty), null);
        }
        if (config.Cookies.Required && !IkeSession.HasValidCookie(request, from, config.Cookies))
        {
            // §2.6: under half-open load the responder answers with a cookie made from the request alone and keeps
            // nothing; only a repeat that carries it, as its first payload, creates state.
            byte[] fresh = config.Cookies.Generate(IkeSession.Find(request.Payloads, PayloadType.Nonce, "IKE_SA_INIT request").Body.Span, from.Address, request.Header.InitiatorSpi);
            config.Counters?.CookieSent();
            return (IkeSession.Refusal(request.Header, NotifyType.COOKIE, fresh), null);
        }
        if (Negotiation.Choose(offered, Proposal.Ike, config.IkeProposals) is not { } choice)
        {
            return (IkeSession.Refusal(request.Header, NotifyType.NO_PROPOSAL_CHOSEN, ReadOnlyMemory<byte>.Empty),
                $"NO_PROPOSAL_CHOSEN in IKE_SA_INIT: {Negotiation.Mismatch(offered, Proposal.Ike, config.IkeProposals)}");
        }
        if (keGroup != (ushort)choice.Suite.Group)
        {
            // §1.2: "If the guess turns out to be wrong, the responder will indicate the correct group in the response".
            byte[] wanted = new byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(wanted, (ushort)choice.Suite.Group);
            return (IkeSession.Refusal(request.Header, NotifyType.INVALID_KE_PAYLOAD, wanted), null);
        }
        return (null, null);
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
            message.Insert(0, IkeSession.Notify(NotifyType.COOKIE, _cookie));
        }
        if (_setup.NatTraversal)
        {
            message.Add(IkeSession.Notify(NotifyType.NAT_DETECTION_SOURCE_IP, IkeTransport.NatHash(sa.SpiI, 0, _setup.Local)));
            message.Add(IkeSession.Notify(NotifyType.NAT_DETECTION_DESTINATION_IP, IkeTransport.NatHash(sa.SpiI, 0, sa.Remote)));
        }
        message.Add(IkeSession.SignatureHashes());
        if (config.Fragmentation)
        {
            message.Add(IkeSession.Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED, ReadOnlyMemory<byte>.Empty));
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
        if (IkeSession.FindNotify(reply, NotifyType.COOKIE) is { } cookieNotify)
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
        if (IkeSession.FindNotify(reply, NotifyType.INVALID_KE_PAYLOAD) is { } invalidKe && _group == _firstGroup)
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
        IkeSession.FailOnErrorNotify(reply, "IKE_SA_INIT");
        PayloadRules.Require(reply, "the IKE_SA_INIT response", PayloadRules.IkeSaInitRequest);
        ulong spiR = _setup.ResponderSpi;
        if (spiR == 0)
        {
            throw new IkeException("the responder's IKE_SA_INIT response has SPIr 0 (RFC 7296 §3.1: the responder's SPI is never zero)");
        }
        SaSuite ike = Negotiation.Accept(IkeSession.ReadSa(reply, "IKE_SA_INIT response"), Proposal.Ike, "IKE_SA_INIT", config.IkeProposals);
        byte[] nr = Payloads.ReadNonce(IkeSession.Find(reply, PayloadType.Nonce, "IKE_SA_INIT response").Body).ToArray();
        (ushort keGroup, ReadOnlyMemory<byte> keData) = Payloads.ReadKe(IkeSession.Find(reply, PayloadType.KeyExchange, "IKE_SA_INIT response").Body);
        if (keGroup != (ushort)_group || ike.Group != _group)
        {
            throw new IkeException($"the responder answered with Diffie-Hellman group {keGroup} (SA: {ike.Group}), not the {_group} of the request");
        }
        _setup.Nr = nr;
        _setup.PeerHashes = IkeSession.SignatureHashesOf(reply);
        // §2.23: "If none of the NAT_DETECTION_SOURCE_IP payload(s) received matches the expected value ... the other
        // end is behind a NAT"; a DESTINATION mismatch means this end is. Either way the initiator moves to 4500.
        _setup.NatDetected = _setup.NatTraversal && IkeSession.NatDetected(reply, sa.SpiI, spiR, sa.Remote, _setup.Local);
        // RFC 7383 §2.3: fragmentation is used only when both sides announced it in IKE_SA_INIT.
        sa.Fragmentation = config.Fragmentation && IkeSession.FindNotify(reply, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) is not null;
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
        IReadOnlyList<Proposal> offered = IkeSession.ReadSa(request.Payloads, "IKE_SA_INIT request");
        // Screen let the request through, so a proposal is chosen and the KE group is that proposal's.
        (SaSuite ike, Proposal chosen) = Negotiation.Choose(offered, Proposal.Ike, config.IkeProposals)
            ?? throw new IkeException("NO_PROPOSAL_CHOSEN in IKE_SA_INIT");
        byte[] ni = Payloads.ReadNonce(IkeSession.Find(request.Payloads, PayloadType.Nonce, "IKE_SA_INIT request").Body).ToArray();
        (_, ReadOnlyMemory<byte> keData) = Payloads.ReadKe(IkeSession.Find(request.Payloads, PayloadType.KeyExchange, "IKE_SA_INIT request").Body);
        _setup.PeerHashes = IkeSession.SignatureHashesOf(request.Payloads);
        bool peerDoesNatT = _setup.NatTraversal && IkeSession.FindNotify(request.Payloads, NotifyType.NAT_DETECTION_SOURCE_IP) is not null;
        // RFC 7383 §2.3: the responder announces fragmentation only to an initiator that announced it.
        sa.Fragmentation = config.Fragmentation && IkeSession.FindNotify(request.Payloads, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) is not null;
        byte[] nr = Connection.Nonce();
        using KeyExchange dh = KeyExchange.Create(ike.Group);
        message.Add((PayloadType.SecurityAssociation, Payloads.WriteSa([chosen])));
        message.Add((PayloadType.KeyExchange, Payloads.WriteKe((ushort)ike.Group, dh.PublicValue)));
        message.Add((PayloadType.Nonce, nr));
        if (peerDoesNatT)
        {
            message.Add(IkeSession.Notify(NotifyType.NAT_DETECTION_SOURCE_IP, IkeTransport.NatHash(sa.SpiI, sa.SpiR, _setup.Local)));
            message.Add(IkeSession.Notify(NotifyType.NAT_DETECTION_DESTINATION_IP, IkeTransport.NatHash(sa.SpiI, sa.SpiR, sa.Remote)));
        }
        message.Add(IkeSession.SignatureHashes());
        if (sa.Fragmentation)
        {
            message.Add(IkeSession.Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED, ReadOnlyMemory<byte>.Empty));
        }
        if (config.Certificate is not null)
        {
            message.Add((PayloadType.CertificateRequest, IkeSession.CertificateRequest(config)));
        }
        _setup.Ni = ni;
        _setup.Nr = nr;
        _setup.Request = request.Raw.ToArray();
        var kd = new KeyDerivation(ike.PrfHash);
        sa.SetKeys(ike, kd.DeriveIkeSa(ni, nr, dh.SharedSecret(keData.Span), sa.SpiI, sa.SpiR, ike.IntegrityKeyLength, ike.EncryptionKeyLength));
        _request = null;
    }

    public override void Fail(IkeSa sa, string reason)
    {
        _dh?.Dispose();
        _dh = null;
        Connection.CloseSa(sa, reason);
    }
}
