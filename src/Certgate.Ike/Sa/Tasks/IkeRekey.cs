using System.Buffers.Binary;
using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;

namespace Certgate.Ike.Sa.Tasks;

/// <summary>
/// Rekeys the IKE SA (RFC 7296 §1.3.2, §2.18):
/// <code>
///   I: HDR, SK {SA (new SPIi), Ni, KEi}  →  R: HDR, SK {SA (new SPIr), Nr, KEr}
///   SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr); the keys as in §2.14 with the new SPIs
/// </code>
/// The new SA inherits every CHILD_SA, starts with Message IDs 0, and its initiator counts as its original
/// initiator; the rekey initiator then deletes the old SA. Simultaneous rekeys (§2.8.2): the new SA of the exchange
/// holding the lowest nonce is deleted by the side that initiated that exchange; the other new SA takes the children.
/// </summary>
internal sealed class IkeRekey : IkeTask
{
    private readonly DhGroup _group;
    private KeyExchange? _dh;
    private ulong _spi;
    private byte[] _ni = [];
    private byte[] _nr = [];
    private Proposal? _reply;
    private IkeSa? _created;

    /// <summary>Responder, or initiator in the current IKE group.</summary>
    public IkeRekey(IkeConnection connection, bool initiator)
        : this(connection, initiator, DhGroup.NONE)
    {
    }

    /// <summary>Initiator with the KE in <paramref name="group"/> (NONE: the current SA's group).</summary>
    public IkeRekey(IkeConnection connection, bool initiator, DhGroup group)
        : base(connection, initiator) => _group = group;

    public override ExchangeType Exchange => ExchangeType.CreateChildSa;

    public override string Name => "IKE_REKEY";

    public override bool Build(IkeSa sa, List<(PayloadType Type, ReadOnlyMemory<byte> Body)> message)
    {
        if (!IsInitiator)
        {
            using KeyExchange? dh = _dh;
            message.Add((PayloadType.SecurityAssociation, Payloads.WriteSa([_reply!])));
            message.Add((PayloadType.Nonce, _nr));
            message.Add((PayloadType.KeyExchange, Payloads.WriteKe((ushort)dh!.Group, dh.PublicValue)));
            return true;
        }
        if (sa.State != IkeSaState.Established || sa != Connection.Current)
        {
            return false;
        }
        sa.State = IkeSaState.Rekeying;
        DhGroup group = _group == DhGroup.NONE ? sa.Suite.Group : _group;
        _spi = Connection.NewIkeSpi();
        _ni = Connection.Nonce();
        _dh = KeyExchange.Create(group);
        message.Add((PayloadType.SecurityAssociation, Payloads.WriteSa(Negotiation.RekeyIkeOffer(_spi, group, Connection.Options.IkeProposals))));
        message.Add((PayloadType.Nonce, _ni));
        message.Add((PayloadType.KeyExchange, Payloads.WriteKe((ushort)group, _dh.PublicValue)));
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

    private void ProcessResponse(IkeSa sa, IReadOnlyList<RawPayload> message)
    {
        using KeyExchange dh = _dh!;
        if (MessagePayloads.Error(message) is { } error)
        {
            Connection.Log($"{sa.Name}: IKE_REKEY refused with {MessagePayloads.Name(error.Type)}");
            Undo(sa);
            if ((NotifyType)error.Type == NotifyType.INVALID_KE_PAYLOAD && error.Data.Length == 2
                && BinaryPrimitives.ReadUInt16BigEndian(error.Data.Span) is var g && KeyExchange.IsSupported(g) && g != (ushort)dh.Group
                && Negotiation.Offers(Connection.Options.IkeProposals, g))
            {
                sa.Tasks.Queue(new IkeRekey(Connection, true, (DhGroup)g));
            }
            else if ((NotifyType)error.Type == NotifyType.TEMPORARY_FAILURE && sa.State == IkeSaState.Established)
            {
                Connection.RetryIkeRekey(sa);
            }
            return;
        }
        IReadOnlyList<Proposal> answer = Payloads.ReadSa(MessagePayloads.Find(message, PayloadType.SecurityAssociation, "the IKE_REKEY response").Body.Span);
        SaSuite suite = Negotiation.Accept(answer, Proposal.Ike, "IKE_REKEY", Connection.Options.IkeProposals);
        if (answer[0].Spi.Length != 8 || suite.Group != dh.Group)
        {
            throw new IkeException($"the IKE_REKEY response has a {answer[0].Spi.Length}-octet SPI and group {suite.Group}; expected 8 octets and {dh.Group}");
        }
        ulong spiR = BinaryPrimitives.ReadUInt64BigEndian(answer[0].Spi.Span);
        _nr = Payloads.ReadNonce(MessagePayloads.Find(message, PayloadType.Nonce, "the IKE_REKEY response").Body).ToArray();
        (ushort keGroup, ReadOnlyMemory<byte> keData) = Payloads.ReadKe(MessagePayloads.Find(message, PayloadType.KeyExchange, "the IKE_REKEY response").Body);
        if (keGroup != (ushort)dh.Group)
        {
            throw new IkeException($"the IKE_REKEY response's KE is of group {keGroup}, not {dh.Group}");
        }
        IkeSaKeys keys = sa.Kd.DeriveRekeyedIkeSa(sa.Keys.Skd, dh.SharedSecret(keData.Span), _ni, _nr, _spi, spiR, suite.IntegrityKeyLength, suite.EncryptionKeyLength,
            new KeyDerivation(suite.PrfHash));
        IkeSa ours = Connection.AddSa(_spi, spiR, true, suite, keys, sa);
        if (sa.PeerRekey is { } peer)
        {
            sa.PeerRekey = null;
            if (OursHasLowestNonce((_ni, _nr), (peer.Ni, peer.Nr)))
            {
                // §2.8.2: ours holds the lowest nonce: the peer's new SA takes the children, we delete ours; the
                // peer deletes the old one.
                Connection.Log($"{sa.Name}: simultaneous IKE rekey lost on nonces; {peer.Sa.Name} takes over, deleting the redundant {ours.Name}");
                Connection.SwitchTo(sa, peer.Sa);
                ours.State = IkeSaState.Rekeyed;
                ours.Tasks.Queue(new IkeDelete(Connection, initiator: true));
                return;
            }
            Connection.Log($"{sa.Name}: simultaneous IKE rekey won on nonces; the peer deletes its redundant {peer.Sa.Name}");
            peer.Sa.State = IkeSaState.Rekeyed;
        }
        Connection.Log($"{sa.Name}: rekeyed to {ours.Name}");
        Connection.SwitchTo(sa, ours);
        sa.Tasks.Queue(new IkeDelete(Connection, initiator: true));
    }

    private void Undo(IkeSa sa)
    {
        if (sa.State != IkeSaState.Rekeying)
        {
            return;
        }
        sa.State = IkeSaState.Established;
        if (sa.PeerRekey is { } peer)
        {
            // Ours failed; the peer's simultaneous rekey, which this side answered, stands.
            sa.PeerRekey = null;
            Connection.Log($"{sa.Name}: rekeyed by the peer to {peer.Sa.Name}");
            Connection.SwitchTo(sa, peer.Sa);
        }
    }

    public override void Fail(IkeSa sa, string reason)
    {
        _dh?.Dispose();
        Undo(sa);
    }

    private void ProcessRequest(IkeSa sa, IReadOnlyList<RawPayload> message)
    {
        if (sa.State is not (IkeSaState.Established or IkeSaState.Rekeying) || sa.Tasks.Active is ChildCreate or ChildDelete || sa != Connection.Current)
        {
            // §2.25: rekeying or closing, or one of this side's CHILD_SA exchanges is outstanding: "TEMPORARY_FAILURE".
            throw new IkeException("IKE_REKEY: the IKE SA is busy (being rekeyed or closed, or a CHILD_SA exchange of this side is outstanding)", NotifyType.TEMPORARY_FAILURE);
        }
        IReadOnlyList<Proposal> offered = Payloads.ReadSa(MessagePayloads.Find(message, PayloadType.SecurityAssociation, "the IKE_REKEY request").Body.Span);
        if (Negotiation.Choose(offered, Proposal.Ike, Connection.Options.IkeProposals) is not { } choice || choice.Reply.Spi.Length != 8)
        {
            throw new IkeException($"IKE_REKEY NO_PROPOSAL_CHOSEN: {Negotiation.Mismatch(offered, Proposal.Ike, Connection.Options.IkeProposals)}", NotifyType.NO_PROPOSAL_CHOSEN);
        }
        (ushort keGroup, ReadOnlyMemory<byte> keData) = Payloads.ReadKe(MessagePayloads.Find(message, PayloadType.KeyExchange, "the IKE_REKEY request").Body);
        if (keGroup != (ushort)choice.Suite.Group)
        {
            byte[] wanted = new byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(wanted, (ushort)choice.Suite.Group);
            throw new IkeException($"IKE_REKEY: the KE is of group {keGroup}, the chosen proposal's is {choice.Suite.Group}", NotifyType.INVALID_KE_PAYLOAD, wanted);
        }
        _ni = Payloads.ReadNonce(MessagePayloads.Find(message, PayloadType.Nonce, "the IKE_REKEY request").Body).ToArray();
        ulong spiI = BinaryPrimitives.ReadUInt64BigEndian(choice.Reply.Spi.Span);
        _spi = Connection.NewIkeSpi();
        _nr = Connection.Nonce();
        _dh = KeyExchange.Create(choice.Suite.Group);
        IkeSaKeys keys = sa.Kd.DeriveRekeyedIkeSa(sa.Keys.Skd, _dh.SharedSecret(keData.Span), _ni, _nr, spiI, _spi,
            choice.Suite.IntegrityKeyLength, choice.Suite.EncryptionKeyLength, new KeyDerivation(choice.Suite.PrfHash));
        _reply = choice.Reply with { Spi = MessagePayloads.Spi(_spi) };
        _created = Connection.AddSa(spiI, _spi, false, choice.Suite, keys, sa);
        if (sa.State == IkeSaState.Rekeying)
        {
            sa.PeerRekey = (_created, _ni, _nr);
            Connection.Log($"{sa.Name}: simultaneous IKE rekey; the peer's {_created.Name} is kept until ours is answered");
        }
    }

    public override void Sent(IkeSa sa)
    {
        if (_created is { } created && sa.State == IkeSaState.Established)
        {
            // The rekey initiator deletes the old SA (§2.18); the children move now.
            Connection.Log($"{sa.Name}: rekeyed by the peer to {created.Name}");
            Connection.SwitchTo(sa, created);
        }
    }
}
