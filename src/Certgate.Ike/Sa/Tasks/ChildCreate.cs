using System.Buffers.Binary;
using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;

namespace Certgate.Ike.Sa.Tasks;

/// <summary>
/// CREATE_CHILD_SA for a CHILD_SA (RFC 7296 §1.3.1), new or — with N(REKEY_SA) naming the old SA by the sender's
/// inbound SPI — rekeying one (strongSwan's child_create and child_rekey):
/// <code>
///   I: HDR, SK {[N(REKEY_SA)], SA, Ni, [KEi], TSi, TSr}  →  R: HDR, SK {SA, Nr, [KEr], TSi, TSr}
/// </code>
/// KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) (§2.17), initiator-to-responder keys first. Both sides install the
/// new SA (inbound, then outbound) at once; the rekey initiator then deletes the old one. A simultaneous rekey of
/// the same SA by both sides (§2.8.1) is settled by nonces: the new SA of the exchange holding the lowest of the four
/// is deleted by the side that initiated that exchange, and the other side deletes the old SA.
/// </summary>
internal sealed class ChildCreate : IkeTask
{
    private readonly ChildSaEntry? _rekeyed;
    private readonly DhGroup _group;
    private KeyExchange? _dh;
    private byte[] _ni = [];
    private byte[] _nr = [];
    private uint _inboundSpi;
    private Proposal? _reply;
    private ChildSaEntry? _rekeyTarget;
    private NarrowedSelectors? _ts;

    /// <summary>Initiator: a new CHILD_SA, or the successor of <paramref name="rekeyed"/>; PFS with <paramref name="group"/> unless NONE.</summary>
    public ChildCreate(IkeConnection connection, ChildSaEntry? rekeyed, DhGroup group)
        : base(connection, initiator: true)
    {
        _rekeyed = rekeyed;
        _group = group;
    }

    /// <summary>Responder.</summary>
    public ChildCreate(IkeConnection connection)
        : base(connection, initiator: false)
    {
    }

    public override ExchangeType Exchange => ExchangeType.CreateChildSa;

    public override string Name => (IsInitiator ? _rekeyed : _rekeyTarget) is null ? "CHILD_CREATE" : "CHILD_REKEY";

    /// <summary>The SA this task rekeys (either role).</summary>
    public ChildSaEntry? Rekeyed => IsInitiator ? _rekeyed : _rekeyTarget;

    public override bool Build(IkeSa sa, List<(PayloadType Type, ReadOnlyMemory<byte> Body)> message)
    {
        if (!IsInitiator)
        {
            BuildResponse(message);
            return true;
        }
        if (_rekeyed is { State: not ChildSaState.Installed } || sa.State != IkeSaState.Established)
        {
            // Deleted or replaced meanwhile; or the IKE SA is being rekeyed (§2.8: no new exchanges on it).
            return false;
        }
        _rekeyed?.State = ChildSaState.Rekeying;
        _inboundSpi = Connection.Plane.AllocateSpi();
        _ni = Connection.Nonce();
        if (_rekeyed is not null)
        {
            message.Add(MessagePayloads.EspNotify(NotifyType.REKEY_SA, _rekeyed.InboundSpi));
        }
        message.Add((PayloadType.SecurityAssociation, Payloads.WriteSa(Negotiation.EspOfferWithPfs(_inboundSpi, _group, Connection.Options.EspProposals, _rekeyed?.Esp.Esn ?? true))));
        message.Add((PayloadType.Nonce, _ni));
        if (_group != DhGroup.NONE)
        {
            _dh = KeyExchange.Create(_group);
            message.Add((PayloadType.KeyExchange, Payloads.WriteKe((ushort)_group, _dh.PublicValue)));
        }
        // A rekey offers the SA's own negotiated selectors (strongSwan's child_rekey), a new CHILD_SA the configured ones.
        _ts = _rekeyed is null ? new NarrowedSelectors(Connection.LocalTs, Connection.RemoteTs) : new NarrowedSelectors(_rekeyed.LocalTs, _rekeyed.RemoteTs);
        message.Add((PayloadType.TsInitiator, Payloads.WriteTs(_ts.Tsi)));
        message.Add((PayloadType.TsResponder, Payloads.WriteTs(_ts.Tsr)));
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
        using KeyExchange? dh = _dh;
        if (MessagePayloads.Error(message) is { } error)
        {
            Refused(sa, error);
            return;
        }
        IReadOnlyList<Proposal> answer = Payloads.ReadSa(MessagePayloads.Find(message, PayloadType.SecurityAssociation, "the CREATE_CHILD_SA response").Body.Span);
        SaSuite esp = Negotiation.AcceptEsp(answer, _group, Connection.Options.EspProposals);
        uint outboundSpi = BinaryPrimitives.ReadUInt32BigEndian(answer[0].Spi.Span);
        _nr = Payloads.ReadNonce(MessagePayloads.Find(message, PayloadType.Nonce, "the CREATE_CHILD_SA response").Body).ToArray();
        byte[] secret = [];
        if (dh is not null)
        {
            (ushort group, ReadOnlyMemory<byte> data) = Payloads.ReadKe(MessagePayloads.Find(message, PayloadType.KeyExchange, "the CREATE_CHILD_SA response").Body);
            if (group != (ushort)_group)
            {
                throw new IkeException($"the responder's KE is of group {group}, not the {_group} it chose");
            }
            secret = dh.SharedSecret(data.Span);
        }
        int half = esp.EncryptionKeyLength + esp.IntegrityKeyLength;
        byte[] keymat = sa.Kd.ChildKeymat(sa.Keys.Skd, secret, _ni, _nr, 2 * half);
        NarrowedSelectors answered = ChildSelectors.Read(message, "the CREATE_CHILD_SA response");
        if (TrafficSelectorNarrowing.CheckAnswer(answered, _ts!) is { } badTs)
        {
            // §2.9: the responder narrows, never widens. The peer has the SA: it is deleted by its SPIs, never installed here.
            ChildSaEntry refused = new(_inboundSpi, outboundSpi, esp, _group != DhGroup.NONE, Connection.Time.GetUtcNow());
            Connection.Log($"{Name}{(_rekeyed is null ? "" : " of " + _rekeyed.Name)}: {refused.Name} refused, deleting it: {badTs}");
            if (_rekeyed is { State: ChildSaState.Rekeying } kept)
            {
                Settle(kept);
            }
            sa.Tasks.Queue(new ChildDelete(Connection, refused));
            return;
        }
        ChildSaEntry created = Connection.InstallChild(_inboundSpi, outboundSpi, esp, _group != DhGroup.NONE, keymat[half..], keymat[..half], answered.Tsi, answered.Tsr);
        if (_rekeyed is not { } old)
        {
            return;
        }
        if (old.State == ChildSaState.Deleted)
        {
            // The peer deleted the old SA meanwhile (its simultaneous rekey finished first): nothing to retire.
            old.PeerRekey = null;
            Connection.Log($"{old.Name}: rekeyed to {created.Name} (the old SA is gone already)");
            return;
        }
        old.State = ChildSaState.Rekeyed;
        if (old.PeerRekey is { } peer)
        {
            old.PeerRekey = null;
            if (OursHasLowestNonce((_ni, _nr), (peer.Ni, peer.Nr)))
            {
                // §2.8.1: ours holds the lowest nonce: ours goes (we delete it), the peer deletes the old SA.
                Connection.Log($"{old.Name}: simultaneous rekey lost on nonces; deleting the redundant {created.Name}");
                sa.Tasks.Queue(new ChildDelete(Connection, created));
                Connection.AwaitPeerDelete(old);
                return;
            }
            Connection.Log($"{old.Name}: simultaneous rekey won on nonces; the peer deletes its redundant {peer.Child.Name}");
        }
        Connection.Log($"{old.Name}: rekeyed to {created.Name}");
        sa.Tasks.Queue(new ChildDelete(Connection, old));
    }

    private void Refused(IkeSa sa, Payloads.Notify error)
    {
        ChildSaEntry? old = _rekeyed;
        // A simultaneous rekey by the peer that this side answered stands in for ours.
        if (old is { State: ChildSaState.Rekeying })
        {
            Settle(old);
        }
        Connection.Log($"{Name}{(old is null ? "" : " of " + old.Name)} refused with {MessagePayloads.Name(error.Type)}");
        switch ((NotifyType)error.Type)
        {
            case NotifyType.INVALID_KE_PAYLOAD when error.Data.Length == 2 && BinaryPrimitives.ReadUInt16BigEndian(error.Data.Span) is var g
                && KeyExchange.IsSupported(g) && g != (ushort)_group && Connection.Options.PfsGroup == DhGroup.NONE:
                // §1.3: retry with the group the responder asks for, unless a PFS group is configured (then only that one).
                sa.Tasks.Queue(new ChildCreate(Connection, old, (DhGroup)g));
                break;
            case NotifyType.TEMPORARY_FAILURE when old is { State: ChildSaState.Installed }:
                // §2.25: "the initiator ... SHOULD retry ... after some time".
                Connection.RetryChildRekey(old);
                break;
            default:
                // CHILD_SA_NOT_FOUND (§2.25: the SA is gone on the peer's side, "ignore"), NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE…
                break;
        }
    }

    public override void Fail(IkeSa sa, string reason)
    {
        _dh?.Dispose();
        if (_rekeyed is { State: ChildSaState.Rekeying } old)
        {
            Settle(old);
        }
    }

    /// <summary>This side's rekey of <paramref name="old"/> failed: back to installed, or — when the peer's simultaneous
    /// rekey was answered — replaced by the peer's SA, waiting for the peer's DELETE.</summary>
    private void Settle(ChildSaEntry old)
    {
        old.State = old.PeerRekey is null ? ChildSaState.Installed : ChildSaState.Rekeyed;
        if (old.PeerRekey is not null)
        {
            Connection.AwaitPeerDelete(old);
        }
        old.PeerRekey = null;
    }

    private void ProcessRequest(IkeSa sa, IReadOnlyList<RawPayload> message)
    {
        if (sa.State != IkeSaState.Established || sa.Tasks.Active is IkeRekey)
        {
            // §2.25: "a CREATE_CHILD_SA ... while the IKE SA is being rekeyed" gets TEMPORARY_FAILURE.
            throw new IkeException($"{Name}: the IKE SA is being rekeyed or closed", NotifyType.TEMPORARY_FAILURE);
        }
        if (MessagePayloads.FindNotify(message, NotifyType.REKEY_SA) is { } rekey)
        {
            uint spi = rekey.Spi.Length == 4 ? BinaryPrimitives.ReadUInt32BigEndian(rekey.Spi.Span) : 0;
            ChildSaEntry? old = Connection.ChildByOutbound(spi);
            if (old is null or { State: ChildSaState.Deleted })
            {
                throw new IkeException($"CHILD_REKEY: no CHILD_SA with outbound SPI {spi:x8}", NotifyType.CHILD_SA_NOT_FOUND) { ChildSpi = spi };
            }
            if (old.State is ChildSaState.Deleting or ChildSaState.Rekeyed)
            {
                // §2.25: the SA is being closed (or already replaced): "TEMPORARY_FAILURE".
                throw new IkeException($"CHILD_REKEY of {old.Name}: the SA is being deleted or was replaced", NotifyType.TEMPORARY_FAILURE);
            }
            _rekeyTarget = old;
        }
        if (!message.Any(p => p.Type == PayloadType.TsInitiator) || !message.Any(p => p.Type == PayloadType.TsResponder))
        {
            throw new IkeException("a CREATE_CHILD_SA request for a CHILD_SA has no TSi/TSr");
        }
        IReadOnlyList<Proposal> offered = Payloads.ReadSa(MessagePayloads.Find(message, PayloadType.SecurityAssociation, "the CREATE_CHILD_SA request").Body.Span);
        RawPayload? ke = message.FirstOrDefault(p => p.Type == PayloadType.KeyExchange);
        (ushort Group, ReadOnlyMemory<byte> Data)? keyExchange = ke is null ? null : Payloads.ReadKe(ke.Body);
        _ni = Payloads.ReadNonce(MessagePayloads.Find(message, PayloadType.Nonce, "the CREATE_CHILD_SA request").Body).ToArray();
        if (Negotiation.ChooseEsp(offered, keyExchange?.Group, Connection.Options.EspProposals, Connection.Options.PfsGroup, _rekeyTarget?.Esp.Esn ?? true) is not { } choice)
        {
            throw new IkeException($"{Name}: NO_PROPOSAL_CHOSEN: {Negotiation.Mismatch(offered, Proposal.Esp, Connection.Options.EspProposals)}"
                + (Connection.Options.PfsGroup == DhGroup.NONE ? "" : $", PFS {Connection.Options.PfsGroup}"), NotifyType.NO_PROPOSAL_CHOSEN);
        }
        if (choice.Group != DhGroup.NONE && keyExchange?.Group != (ushort)choice.Group)
        {
            // §1.3: the KEi group is not the chosen one: tell the initiator which group to use.
            byte[] wanted = new byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(wanted, (ushort)choice.Group);
            throw new IkeException($"{Name}: the KE is of group {keyExchange?.Group.ToString() ?? "none"}, the chosen proposal's is {choice.Group}", NotifyType.INVALID_KE_PAYLOAD, wanted);
        }
        NarrowedSelectors ts = ChildSelectors.Respond(Connection, _rekeyTarget, ChildSelectors.Read(message, "the CREATE_CHILD_SA request"), Name);
        _ts = ts;
        byte[] secret = [];
        if (choice.Group != DhGroup.NONE)
        {
            _dh = KeyExchange.Create(choice.Group);
            secret = _dh.SharedSecret(keyExchange!.Value.Data.Span);
        }
        uint outboundSpi = BinaryPrimitives.ReadUInt32BigEndian(choice.Reply.Spi.Span);
        _inboundSpi = Connection.Plane.AllocateSpi();
        _nr = Connection.Nonce();
        _reply = choice.Reply with { Spi = MessagePayloads.Spi(_inboundSpi) };
        int half = choice.Suite.EncryptionKeyLength + choice.Suite.IntegrityKeyLength;
        byte[] keymat = sa.Kd.ChildKeymat(sa.Keys.Skd, secret, _ni, _nr, 2 * half);
        // A plain rekey by the peer: the outbound SA goes in when the peer deletes the old one (see InstallChild).
        bool outboundLater = _rekeyTarget is { State: not ChildSaState.Rekeying };
        ChildSaEntry created = Connection.InstallChild(_inboundSpi, outboundSpi, choice.Suite, choice.Group != DhGroup.NONE, keymat[..half], keymat[half..],
            ts.Tsr, ts.Tsi, outboundLater);
        if (_rekeyTarget is { } target)
        {
            if (target.State == ChildSaState.Rekeying)
            {
                // Both sides rekey it (§2.8.1): decided when this side's own response comes.
                target.PeerRekey = (created, _ni, _nr);
                Connection.Log($"{target.Name}: simultaneous rekey; the peer's {created.Name} is kept until ours is answered");
            }
            else
            {
                // The rekey initiator deletes the old SA (§2.8).
                target.State = ChildSaState.Rekeyed;
                target.Successor = created;
                Connection.AwaitPeerDelete(target);
                Connection.Log($"{target.Name}: rekeyed by the peer to {created.Name}");
            }
        }
    }

    private void BuildResponse(List<(PayloadType Type, ReadOnlyMemory<byte> Body)> message)
    {
        using KeyExchange? dh = _dh;
        message.Add((PayloadType.SecurityAssociation, Payloads.WriteSa([_reply!])));
        message.Add((PayloadType.Nonce, _nr));
        if (dh is not null)
        {
            message.Add((PayloadType.KeyExchange, Payloads.WriteKe((ushort)dh.Group, dh.PublicValue)));
        }
        // TSi is the initiator's side, the peer's here, narrowed (§2.9).
        message.Add((PayloadType.TsInitiator, Payloads.WriteTs(_ts!.Tsi)));
        message.Add((PayloadType.TsResponder, Payloads.WriteTs(_ts.Tsr)));
    }
}
