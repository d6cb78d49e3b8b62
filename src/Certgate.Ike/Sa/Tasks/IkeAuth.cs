using System.Buffers.Binary;
using Certgate.Ike.Auth;
using Certgate.Ike.Registry;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;

namespace Certgate.Ike.Sa.Tasks;

/// <summary>
/// IKE_AUTH (RFC 7296 §1.2), strongSwan's ike_auth with the first child_create folded in: identities, certificates,
/// AUTH over the IKE_SA_INIT messages (§2.15), and the first CHILD_SA. Message ID 1, SK-protected (fragmented by the
/// <see cref="TaskManager"/> when both announced RFC 7383).
/// <code>
///   I: IDi, [CERT, CERTREQ], AUTH, SA(ESP offer), TSi, TSr
///   R: IDr, [CERT], AUTH, SA(ESP choice), TSi, TSr      (or N(AUTHENTICATION_FAILED) / N(NO_PROPOSAL_CHOSEN): the SA closes)
/// </code>
/// The peer's certificate is validated (chain, validity, revocation, identity) before its AUTH is checked.
/// </summary>
internal sealed class IkeAuth(IkeConnection connection, IkeSetup setup, bool initiator) : IkeTask(connection, initiator)
{
    private uint _inboundSpi;
    private AuthMethod _method;
    private (PayloadType, ReadOnlyMemory<byte>)? _refusal;
    private string? _error;
    private IkeSession.PeerProof? _proof;
    private SaSuite? _esp;
    private Proposal? _espReply;

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
        byte[] idi = IkeSession.LocalId(config);
        (_method, byte[] auth) = IkeSession.Authenticate(config, sa.Kd, AuthPayload.SignedOctets(sa.Kd, setup.Request, setup.Nr, sa.Keys.Skpi, idi), setup.PeerHashes);
        message.Add((PayloadType.IdInitiator, idi));
        if (config.Certificate is not null)
        {
            message.Add((PayloadType.Certificate, Payloads.WriteCert(IkeSession.CertX509Signature, config.Certificate.RawData)));
            message.Add((PayloadType.CertificateRequest, IkeSession.CertificateRequest(config)));
        }
        message.Add((PayloadType.Authentication, Payloads.WriteTyped4((byte)_method, auth)));
        message.Add((PayloadType.SecurityAssociation, Payloads.WriteSa(Negotiation.EspOffer(IkeSession.Spi(_inboundSpi), config.EspProposals))));
        message.Add((PayloadType.TsInitiator, Payloads.WriteTs([config.LocalTs])));
        message.Add((PayloadType.TsResponder, Payloads.WriteTs([config.RemoteTs])));
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
        IkeSession.FailOnErrorNotify(inner, "IKE_AUTH");
        IkeSession.PeerProof proof;
        try
        {
            PayloadRules.Require(inner, "the IKE_AUTH response", PayloadRules.IkeAuthResponse);
            byte[] idr = IkeSession.Find(inner, PayloadType.IdResponder, "IKE_AUTH response").Body.ToArray();
            proof = IkeSession.VerifyPeer(inner, idr, config, "responder", sa.Kd, AuthPayload.SignedOctets(sa.Kd, setup.Response, setup.Ni, sa.Keys.Skpr, idr));
        }
        catch (Exception e) when (e is IkeException or IkeFormatException)
        {
            // §2.21.2: the initiator that rejects the responder's AUTH tells it so in an INFORMATIONAL exchange.
            byte[] info = sa.Out.Seal(new IkeHeader(sa.SpiI, sa.SpiR, PayloadType.None, ExchangeType.Informational, false, true, sa.Tasks.NextRequestId, 0),
                [IkeSession.Notify(NotifyType.AUTHENTICATION_FAILED, ReadOnlyMemory<byte>.Empty)]);
            Connection.Sender.Send(info, sa.Remote, sa.Encapsulated);
            throw;
        }
        IReadOnlyList<Proposal> espAnswer = IkeSession.ReadSa(inner, "IKE_AUTH response");
        SaSuite esp = Negotiation.Accept(espAnswer, Proposal.Esp, "IKE_AUTH", config.EspProposals);
        if (espAnswer[0].Spi.Length != 4)
        {
            throw new IkeException($"the responder's ESP SPI is {espAnswer[0].Spi.Length} octets, not 4");
        }
        uint outboundSpi = BinaryPrimitives.ReadUInt32BigEndian(espAnswer[0].Spi.Span);
        int half = esp.EncryptionKeyLength + esp.IntegrityKeyLength;
        byte[] keymat = sa.Kd.ChildKeymat(sa.Keys.Skd, [], setup.Ni, setup.Nr, 2 * half);
        var child = new ChildSa(_inboundSpi, outboundSpi, keymat[half..], keymat[..half], proof.Certificate, esp, sa.Suite)
        {
            PeerIdentity = proof.Identity,
            NatDetected = setup.NatDetected,
            LocalAuthMethod = _method,
            PeerAuthMethod = proof.Method,
        };
        Connection.Establish(sa, child, config.LocalTs, config.RemoteTs);
    }

    private void ProcessRequest(IkeSa sa, IReadOnlyList<RawPayload> inner)
    {
        byte[] idi;
        try
        {
            PayloadRules.Require(inner, "the IKE_AUTH request", PayloadRules.IkeAuthRequest);
            idi = IkeSession.Find(inner, PayloadType.IdInitiator, "IKE_AUTH request").Body.ToArray();
            _proof = Choose(sa, inner, idi);
        }
        catch (Exception e) when (e is IkeException or IkeFormatException)
        {
            // §2.21.2: "If the error occurred on the responder, the notification is returned in the protected response".
            _refusal = IkeSession.Notify(NotifyType.AUTHENTICATION_FAILED, ReadOnlyMemory<byte>.Empty);
            _error = e.Message;
            return;
        }
        IkePeerConfig config = setup.Config;
        IReadOnlyList<Proposal> espOffered = IkeSession.ReadSa(inner, "IKE_AUTH request");
        if (Negotiation.Choose(espOffered, Proposal.Esp, config.EspProposals) is not { } espChoice)
        {
            _refusal = IkeSession.Notify(NotifyType.NO_PROPOSAL_CHOSEN, ReadOnlyMemory<byte>.Empty);
            _error = $"NO_PROPOSAL_CHOSEN for the IKE_AUTH CHILD_SA (no ESN, no PFS there): {Negotiation.Mismatch(espOffered, Proposal.Esp, config.EspProposals)}";
            return;
        }
        (_esp, _espReply) = espChoice;
    }

    /// <summary>
    /// The responder's final choice of configuration among those for the peer's address (strongSwan: the ike_cfg by
    /// addresses at IKE_SA_INIT, the peer_cfg by identities and the child_cfg by traffic selectors here): the first
    /// whose identity check and AUTH pass, preferring one whose selectors hold the initiator's TSi/TSr. With one
    /// candidate the selectors are not compared (a mismatch is the CHILD_SA's business, not the IKE SA's).
    /// </summary>
    /// <exception cref="IkeException">No candidate accepts the initiator (the first candidate's reason).</exception>
    private IkeSession.PeerProof Choose(IkeSa sa, IReadOnlyList<RawPayload> inner, byte[] idi)
    {
        IReadOnlyList<IkeProfile> candidates = setup.Candidates;
        byte[] signed = AuthPayload.SignedOctets(sa.Kd, setup.Request, setup.Nr, sa.Keys.Skpi, idi);
        if (candidates.Count <= 1)
        {
            return IkeSession.VerifyPeer(inner, idi, setup.Config, "initiator", sa.Kd, signed);
        }
        Payloads.TrafficSelector? tsi = Payloads.ReadTs(IkeSession.Find(inner, PayloadType.TsInitiator, "IKE_AUTH request").Body.Span).FirstOrDefault();
        Payloads.TrafficSelector? tsr = Payloads.ReadTs(IkeSession.Find(inner, PayloadType.TsResponder, "IKE_AUTH request").Body.Span).FirstOrDefault();
        (IkeProfile Profile, IkeSession.PeerProof Proof)? byIdentity = null;
        IkeException? first = null;
        foreach (IkeProfile candidate in candidates)
        {
            IkeSession.PeerProof proof;
            try
            {
                proof = IkeSession.VerifyPeer(inner, idi, candidate.Config, "initiator", sa.Kd, signed);
            }
            catch (IkeException e)
            {
                first ??= e;
                continue;
            }
            if (tsi is not null && tsr is not null && Holds(candidate.Config.RemoteTs, tsi) && Holds(candidate.Config.LocalTs, tsr))
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

    /// <summary>Whether <paramref name="outer"/> holds all of <paramref name="inner"/> (addresses, protocol, ports).</summary>
    private static bool Holds(Payloads.TrafficSelector outer, Payloads.TrafficSelector inner) =>
        (outer.IpProtocol == 0 || outer.IpProtocol == inner.IpProtocol) && outer.StartPort <= inner.StartPort && inner.EndPort <= outer.EndPort
        && outer.Start.AddressFamily == inner.Start.AddressFamily
        && Compare(outer.Start, inner.Start) <= 0 && Compare(inner.End, outer.End) <= 0;

    private static int Compare(System.Net.IPAddress a, System.Net.IPAddress b) => a.GetAddressBytes().AsSpan().SequenceCompareTo(b.GetAddressBytes());

    private void BuildResponse(IkeSa sa, List<(PayloadType Type, ReadOnlyMemory<byte> Body)> message)
    {
        if (_refusal is { } refusal)
        {
            message.Add(refusal);
            return;
        }
        IkePeerConfig config = setup.Config;
        _inboundSpi = Connection.NewEspSpi();
        byte[] idr = IkeSession.LocalId(config);
        (_method, byte[] auth) = IkeSession.Authenticate(config, sa.Kd, AuthPayload.SignedOctets(sa.Kd, setup.Response, setup.Ni, sa.Keys.Skpr, idr), setup.PeerHashes);
        message.Add((PayloadType.IdResponder, idr));
        if (config.Certificate is not null)
        {
            message.Add((PayloadType.Certificate, Payloads.WriteCert(IkeSession.CertX509Signature, config.Certificate.RawData)));
        }
        message.Add((PayloadType.Authentication, Payloads.WriteTyped4((byte)_method, auth)));
        message.Add((PayloadType.SecurityAssociation, Payloads.WriteSa([_espReply! with { Spi = IkeSession.Spi(_inboundSpi) }])));
        message.Add((PayloadType.TsInitiator, Payloads.WriteTs([config.RemoteTs])));
        message.Add((PayloadType.TsResponder, Payloads.WriteTs([config.LocalTs])));
    }

    public override void Sent(IkeSa sa)
    {
        if (_error is { } error)
        {
            Connection.CloseSa(sa, error);
            return;
        }
        IkePeerConfig config = setup.Config;
        SaSuite esp = _esp!;
        uint outboundSpi = BinaryPrimitives.ReadUInt32BigEndian(_espReply!.Spi.Span);
        int half = esp.EncryptionKeyLength + esp.IntegrityKeyLength;
        byte[] keymat = sa.Kd.ChildKeymat(sa.Keys.Skd, [], setup.Ni, setup.Nr, 2 * half);
        var child = new ChildSa(_inboundSpi, outboundSpi, keymat[..half], keymat[half..], _proof!.Certificate, esp, sa.Suite)
        {
            PeerIdentity = _proof.Identity,
            NatDetected = setup.NatDetected,
            LocalAuthMethod = _method,
            PeerAuthMethod = _proof.Method,
        };
        Connection.Establish(sa, child, config.LocalTs, config.RemoteTs);
    }

    public override void Fail(IkeSa sa, string reason) => Connection.CloseSa(sa, reason);
}
