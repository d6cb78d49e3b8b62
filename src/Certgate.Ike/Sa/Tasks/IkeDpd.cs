using Certgate.Ike.Wire;

namespace Certgate.Ike.Sa.Tasks;

/// <summary>
/// Liveness check (RFC 7296 §2.4): an INFORMATIONAL request with an empty SK payload; the peer "MUST" answer. The
/// responder side also takes INFORMATIONAL requests carrying only notifies (status ones are logged and ignored).
/// </summary>
internal sealed class IkeDpd(IkeConnection connection, bool initiator) : IkeTask(connection, initiator)
{
    public override ExchangeType Exchange => ExchangeType.Informational;

    public override string Name => "IKE_DPD";

    public override bool Build(IkeSa sa, List<(PayloadType Type, ReadOnlyMemory<byte> Body)> message) => sa.State != IkeSaState.Closed;

    public override void Process(IkeSa sa, IReadOnlyList<RawPayload> message)
    {
        foreach (Payloads.Notify n in SaPayloads.Notifies(message))
        {
            Connection.Log($"{sa.Name}: INFORMATIONAL {(IsInitiator ? "response" : "request")} carries {SaPayloads.Name(n.Type)}; ignored");
        }
    }
}
