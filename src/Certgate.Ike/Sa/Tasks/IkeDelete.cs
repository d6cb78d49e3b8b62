using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Sa.Tasks;

/// <summary>
/// Deletes an IKE SA (RFC 7296 §1.4.1): INFORMATIONAL with D(protocol 1); "the response ... is empty" and every
/// CHILD_SA of the SA goes with it. The rekey initiator uses it to retire the old SA (§2.18), whose children have
/// moved on; then nothing but the SA itself goes.
/// </summary>
internal sealed class IkeDelete(IkeConnection connection, bool initiator) : IkeTask(connection, initiator)
{
    public override ExchangeType Exchange => ExchangeType.Informational;

    public override string Name => "IKE_DELETE";

    public override bool Build(IkeSa sa, List<(PayloadType Type, ReadOnlyMemory<byte> Body)> message)
    {
        if (!IsInitiator)
        {
            return true;
        }
        if (sa.State == IkeSaState.Closed)
        {
            return false;
        }
        sa.State = IkeSaState.Deleting;
        message.Add(MessagePayloads.Delete(Proposal.Ike, []));
        return true;
    }

    public override void Process(IkeSa sa, IReadOnlyList<RawPayload> message)
    {
        if (IsInitiator)
        {
            Connection.CloseSa(sa, "deleted");
            return;
        }
        if (sa == Connection.Current && sa.PeerRekey is { } peer)
        {
            // Both sides rekeyed and the peer, done first, deletes the old SA (§2.8.2): its new SA, which this side
            // answered, stands; this side's own rekey is moot.
            sa.PeerRekey = null;
            Connection.Log($"{sa.Name}: the peer finished its simultaneous rekey first; {peer.Sa.Name} takes over");
            Connection.SwitchTo(sa, peer.Sa);
        }
    }

    public override void Sent(IkeSa sa) => Connection.CloseSa(sa, "deleted by the peer");

    public override void Fail(IkeSa sa, string reason) => Connection.CloseSa(sa, $"deleted ({reason})");
}
