using System.Buffers.Binary;
using Certgate.Ike.Auth;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Pki.Identity;

namespace Certgate.Ike.Sa.Tasks;

/// <summary>
/// IKE_AUTH (RFC 7296 §1.2), strongSwan's ike_auth with the first child_create folded in: identities, certificates,
/// AUTH over the IKE_SA_INIT messages (§2.15), and the first CHILD_SA. Message ID 1, SK-protected (fragmented by the
/// <see cref="TaskManager"/> when both announced RFC 7383).
/// <code>
///   I: IDi, [CERT, CERTREQ], AUTH, SA(ESP offer), TSi, TSr
///   R: IDr, [CERT], AUTH, SA(ESP choice), TSi, TSr      (or N(AUTHENTICATION_FAILED) / N(NO_PROPOSAL_CHOSEN): the SA closes)
/// </code>
/// The peer's certificate is validated (chain, validity, revocation, identity) before its AUTH is checked, and the
/// initiator acts on a CHILD_SA error in the response (IDr, [CERT,] AUTH, N(TS_UNACCEPTABLE)…: delete the IKE SA)
/// only after that check passed: a bad AUTH is an AUTH failure, whatever error notify came with it.
/// </summary>
internal sealed class IkeAuth(IkeConnection connection, IkeSetup setup, bool initiator) : IkeTask(connection, initiator)
{
    private uint _inboundSpi;
    private AuthMethod _method;
    private PeerAuthentication.PeerProof? _proof;
    private SaSuite? _esp;
    private Proposal? _espReply;
    private NarrowedSelectors? _ts;
    private IkeIdentity? _localId;

    public override ExchangeType Exchange => ExchangeType.IkeAuth;

    public override string Name => "IKE_AUTH";

    public override bool Build(IkeSa sa, List<(PayloadType Type, ReadOnlyMemory<byte> Body)> message)
    {
        if (sa.State != IkeSaState.Connecting)
        {
            return false;
        }
        IkePeerConfig config = setup.Config;
        if (!IsInitiator)
        {
            BuildResponse(sa, message);
            return true;
        }
        _inboundSpi = Connection.NewEspSpi();
        _localId = IkeIdentities.Local(config, setup.Local.Address);
        byte[] idi = IkeIdentities.Encode(_localId);
        (_method, byte[] auth) = PeerAuthentication.Authenticate(config, sa.Kd, AuthPayload.SignedOctets(sa.Kd, setup.Request, setup.Nr, sa.Keys.Skpi, idi), setup.PeerHashes);
        message.Add((PayloadType.IdInitiator, idi));
        if (config.Certificate is not null)
        {
            message.Add((PayloadType.Certificate, Payloads.WriteCert(PeerAuthentication.CertX509Signature, config.Certificate.RawData)));
            message.Add((PayloadType.CertificateRequest, PeerAuthentication.CertificateRequest(config)));
        }
        // RFC 7296 §1.2: HDR, SK {IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, SAi2, TSi, TSr}.
        if (IkeIdentities.Requested(config) is { } requested)
        {
            message.Add((PayloadType.IdResponder, IkeIdentities.Encode(requested)));
        }
        message.Add((PayloadType.Authentication, Payloads.WriteTyped4((byte)_method, auth)));
        message.Add((PayloadType.SecurityAssociation, Payloads.WriteSa(Negotiation.EspOffer(MessagePayloads.Spi(_inboundSpi), config.EspProposals))));
        message.Add((PayloadType.TsInitiator, Payloads.WriteTs(config.LocalTs)));
        message.Add((PayloadType.TsResponder, Payloads.WriteTs(config.RemoteTs)));
        return true;
    }

    public override void Process(IkeSa sa, IReadOnlyList<RawPayload> message)
    {
        if (IsInitiator)
        {
            ProcessResponse(sa, message);
        }
        else
        {
            ProcessRequest(sa, message);
        }
    }

    private void ProcessResponse(IkeSa sa, IReadOnlyList<RawPayload> inner)
    {
        IkePeerConfig config = setup.Config;
        // An error notify is acted on only once the responder has proved who it is: a response that carries AUTH is
        // checked (certificate, identity, AUTH) first, and a bad AUTH is an AUTH failure whatever notify came with it.
        // A response without AUTH is a refusal nobody vouches for: the SA fails with it, and nothing more is done.
        Payloads.Notify? error = MessagePayloads.Error(inner);
        if (error is { } unauthenticated && !inner.Any(p => p.Type == PayloadType.Authentication))
        {
            throw new IkeException(Refusal(unauthenticated, config, authenticated: null));
        }
        PeerAuthentication.PeerProof proof;
        try
        {
            // §2.21.2: with a CHILD_SA error the responder still sends IDr, [CERT,] AUTH — but no SA, TSi or TSr (the
            // payload table, checked before, waives those of a refusal; its IDr is demanded here).
            byte[] idr = MessagePayloads.Find(inner, PayloadType.IdResponder, "the IKE_AUTH response").Body.ToArray();
            proof = PeerAuthentication.VerifyPeer(inner, idr, config, "responder", sa.Remote.Address, sa.Kd, AuthPayload.SignedOctets(sa.Kd, setup.Response, setup.Ni, sa.Keys.Skpr, idr));
        }
        catch (Exception e) when (e is IkeException or IkeFormatException)
        {
            // §2.21.2: the initiator that rejects the responder's AUTH tells it so in an INFORMATIONAL exchange (the
            // TaskManager sends the notify).
            throw new IkeException(e.Message, NotifyType.AUTHENTICATION_FAILED);
        }
        if (error is { } refused)
        {
            // The responder set up the IKE SA without the CHILD_SA (§1.2); without one it is of no use here.
            DeleteIkeSa(sa);
            throw new IkeException(Refusal(refused, config, proof));
        }
        IReadOnlyList<Proposal> espAnswer = MessagePayloads.ReadSa(inner, "IKE_AUTH response");
        SaSuite esp = Negotiation.Accept(espAnswer, Proposal.Esp, "IKE_AUTH", config.EspProposals);
        if (espAnswer[0].Spi.Length != 4)
        {
            throw new IkeException($"the responder's ESP SPI is {espAnswer[0].Spi.Length} octets, not 4");
        }
        uint outboundSpi = BinaryPrimitives.ReadUInt32BigEndian(espAnswer[0].Spi.Span);
        // §2.9: the responder may narrow, never widen; an answer outside the offer is refused and the IKE SA,
        // which carries no other CHILD_SA, deleted (strongSwan's close_ike_on_child_failure).
        NarrowedSelectors ts = ChildSelectors.Read(inner, "the IKE_AUTH response");
        if (TrafficSelectorNarrowing.CheckAnswer(ts, new NarrowedSelectors(config.LocalTs, config.RemoteTs)) is { } badTs)
        {
            DeleteIkeSa(sa);
            throw new IkeException($"CHILD_SA refused, IKE SA deleted: {badTs}");
        }
        int half = esp.EncryptionKeyLength + esp.IntegrityKeyLength;
        byte[] keymat = sa.Kd.ChildKeymat(sa.Keys.Skd, [], setup.Ni, setup.Nr, 2 * half);
        var child = new ChildSa(_inboundSpi, outboundSpi, keymat[half..], keymat[..half], proof.Certificate, esp, sa.Suite)
        {
            PeerIdentity = IkeIdentities.Value(proof.Identity),
            PeerId = proof.Identity,
            LocalId = _localId,
            NatDetected = setup.NatDetected,
            LocalAuthMethod = _method,
            PeerAuthMethod = proof.Method,
            LocalTs = ts.Tsi,
            RemoteTs = ts.Tsr,
        };
        Connection.Establish(sa, child, config.LocalTs, config.RemoteTs);
    }

    /// <summary>
    /// The responder's side. Whatever goes wrong up to the initiator's proof is answered AUTHENTICATION_FAILED (the
    /// <see cref="TaskManager"/>'s default for IKE_AUTH, §2.21.2: "the notification is returned in the protected
    /// response"); a CHILD_SA that cannot be made is answered with its own error. Either way the SA closes.
    /// </summary>
    private void ProcessRequest(IkeSa sa, IReadOnlyList<RawPayload> inner)
    {
        byte[] idi = MessagePayloads.Find(inner, PayloadType.IdInitiator, "the IKE_AUTH request").Body.ToArray();
        _proof = Choose(sa, inner, idi);
        IkePeerConfig config = setup.Config;
        IReadOnlyList<Proposal> espOffered = MessagePayloads.ReadSa(inner, "IKE_AUTH request");
        if (Negotiation.Choose(espOffered, Proposal.Esp, config.EspProposals) is not { } espChoice)
        {
            throw new IkeException($"NO_PROPOSAL_CHOSEN for the IKE_AUTH CHILD_SA (no PFS there): {Negotiation.Mismatch(espOffered, Proposal.Esp, config.EspProposals)}",
                NotifyType.NO_PROPOSAL_CHOSEN);
        }
        (_esp, _espReply) = espChoice;
        // §2.9: the initiator's TSi is narrowed to the peer's side as configured here, its TSr to this side's.
        NarrowedSelectors offeredTs = ChildSelectors.Read(inner, "the IKE_AUTH request");
        if (TrafficSelectorNarrowing.Respond(offeredTs.Tsi, offeredTs.Tsr, config.RemoteTs, config.LocalTs) is not { } ts)
        {
            throw new IkeException($"{TrafficSelectorNarrowing.Unacceptable(offeredTs.Tsi, offeredTs.Tsr, config.RemoteTs, config.LocalTs)} (IKE_AUTH CHILD_SA)",
                NotifyType.TS_UNACCEPTABLE);
        }
        _ts = ts;
    }

    /// <summary>
    /// The initiator's account of a refused IKE_AUTH: which error, for TS_UNACCEPTABLE what was offered, and — when the
    /// responder authenticated — as whom and that its IKE SA was deleted.
    /// </summary>
    private static string Refusal(Payloads.Notify error, IkePeerConfig config, PeerAuthentication.PeerProof? authenticated)
    {
        string name = MessagePayloads.Name(error.Type);
        string what = error.Type == (ushort)NotifyType.TS_UNACCEPTABLE
            ? $"the peer refused IKE_AUTH's CHILD_SA: TS_UNACCEPTABLE for the offered TSi {TrafficSelectorNarrowing.Describe(config.LocalTs)}, TSr {TrafficSelectorNarrowing.Describe(config.RemoteTs)}"
            : $"the peer refused IKE_AUTH: {name}";
        return authenticated is null ? what
            : $"{what} (the responder authenticated as {IkeIdentities.Describe(authenticated.Identity)} with AUTH method {(byte)authenticated.Method}; its IKE SA deleted)";
    }

    /// <summary>
    /// The initiator gives up an IKE SA whose first CHILD_SA failed: one INFORMATIONAL with Delete(IKE), not waited for
    /// (the responder may have kept the IKE SA without the CHILD_SA, §1.2).
    /// </summary>
    private void DeleteIkeSa(IkeSa sa)
    {
        byte[] delete = sa.Out.Seal(new IkeHeader(sa.SpiI, sa.SpiR, PayloadType.None, ExchangeType.Informational, false, true, sa.Tasks.NextRequestId, 0),
            [(PayloadType.Delete, new byte[] { Proposal.Ike, 0, 0, 0 })]);
        Connection.Sender.Send(delete, sa.Remote, sa.Encapsulated);
    }

    /// <summary>
    /// The responder's final choice of configuration among those for the peer's address (strongSwan: the ike_cfg by
    /// addresses at IKE_SA_INIT, the peer_cfg by identities and the child_cfg by traffic selectors here): the first
    /// whose identity check and AUTH pass, preferring one that can narrow the initiator's TSi/TSr (RFC 7296 §2.9). With one
    /// candidate the selectors are not compared (a mismatch is the CHILD_SA's business, not the IKE SA's).
    /// </summary>
    /// <exception cref="IkeException">No candidate accepts the initiator (the first candidate's reason).</exception>
    private PeerAuthentication.PeerProof Choose(IkeSa sa, IReadOnlyList<RawPayload> inner, byte[] idi)
    {
        IReadOnlyList<IkeProfile> candidates = setup.Candidates;
        byte[] signed = AuthPayload.SignedOctets(sa.Kd, setup.Request, setup.Nr, sa.Keys.Skpi, idi);
        if (candidates.Count <= 1)
        {
            return PeerAuthentication.VerifyPeer(inner, idi, setup.Config, "initiator", sa.Remote.Address, sa.Kd, signed);
        }
        (IReadOnlyList<Payloads.TrafficSelector> tsi, IReadOnlyList<Payloads.TrafficSelector> tsr) = ChildSelectors.Read(inner, "the IKE_AUTH request");
        (IkeProfile Profile, PeerAuthentication.PeerProof Proof)? byIdentity = null;
        IkeException? first = null;
        foreach (IkeProfile candidate in candidates)
        {
            PeerAuthentication.PeerProof proof;
            try
            {
                proof = PeerAuthentication.VerifyPeer(inner, idi, candidate.Config, "initiator", sa.Remote.Address, sa.Kd, signed);
            }
            catch (IkeException e)
            {
                first ??= e;
                continue;
            }
            if (TrafficSelectorNarrowing.Respond(tsi, tsr, candidate.Config.RemoteTs, candidate.Config.LocalTs) is not null)
            {
                Connection.Choose(candidate);
                return proof;
            }
            byIdentity ??= (candidate, proof);
        }
        if (byIdentity is { } chosen)
        {
            Connection.Choose(chosen.Profile);
            return chosen.Proof;
        }
        throw first!;
    }

    private void BuildResponse(IkeSa sa, List<(PayloadType Type, ReadOnlyMemory<byte> Body)> message)
    {
        IkePeerConfig config = setup.Config;
        _inboundSpi = Connection.NewEspSpi();
        // The initiator's optional IDr (RFC 7296 §3.5) is not used to choose: this side has one identity to offer.
        _localId = IkeIdentities.Local(config, setup.Local.Address);
        byte[] idr = IkeIdentities.Encode(_localId);
        (_method, byte[] auth) = PeerAuthentication.Authenticate(config, sa.Kd, AuthPayload.SignedOctets(sa.Kd, setup.Response, setup.Ni, sa.Keys.Skpr, idr), setup.PeerHashes);
        message.Add((PayloadType.IdResponder, idr));
        if (config.Certificate is not null)
        {
            message.Add((PayloadType.Certificate, Payloads.WriteCert(PeerAuthentication.CertX509Signature, config.Certificate.RawData)));
        }
        message.Add((PayloadType.Authentication, Payloads.WriteTyped4((byte)_method, auth)));
        message.Add((PayloadType.SecurityAssociation, Payloads.WriteSa([_espReply! with { Spi = MessagePayloads.Spi(_inboundSpi) }])));
        message.Add((PayloadType.TsInitiator, Payloads.WriteTs(_ts!.Tsi)));
        message.Add((PayloadType.TsResponder, Payloads.WriteTs(_ts.Tsr)));
    }

    public override void Sent(IkeSa sa)
    {
        IkePeerConfig config = setup.Config;
        SaSuite esp = _esp!;
        uint outboundSpi = BinaryPrimitives.ReadUInt32BigEndian(_espReply!.Spi.Span);
        int half = esp.EncryptionKeyLength + esp.IntegrityKeyLength;
        byte[] keymat = sa.Kd.ChildKeymat(sa.Keys.Skd, [], setup.Ni, setup.Nr, 2 * half);
        var child = new ChildSa(_inboundSpi, outboundSpi, keymat[..half], keymat[half..], _proof!.Certificate, esp, sa.Suite)
        {
            PeerIdentity = IkeIdentities.Value(_proof.Identity),
            PeerId = _proof.Identity,
            LocalId = _localId,
            NatDetected = setup.NatDetected,
            LocalAuthMethod = _method,
            PeerAuthMethod = _proof.Method,
            LocalTs = _ts!.Tsr,
            RemoteTs = _ts.Tsi,
        };
        Connection.Establish(sa, child, config.LocalTs, config.RemoteTs);
    }

    public override void Fail(IkeSa sa, string reason) => Connection.CloseSa(sa, reason);
}
