using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Sa.Tasks;

/// <summary>
/// Liveness check (RFC 7296 §2.4): an INFORMATIONAL request with an empty SK payload; the peer "MUST" answer. The
/// responder side also takes INFORMATIONAL requests carrying only notifies: status ones are logged and ignored,
/// AUTHENTICATION_FAILED closes the SA.
/// </summary>
internal sealed class IkeDpd(IkeConnection connection, bool initiator) : IkeTask(connection, initiator)
{
    private bool _authenticationFailed;

    public override ExchangeType Exchange => ExchangeType.Informational;

    public override string Name => "IKE_DPD";

    public override bool Build(IkeSa sa, List<(PayloadType Type, ReadOnlyMemory<byte> Body)> message) => sa.State != IkeSaState.Closed;

    public override void Process(IkeSa sa, IReadOnlyList<RawPayload> message)
    {
        foreach (Payloads.Notify n in MessagePayloads.Notifies(message))
        {
            // §2.21.2: an initiator that rejects the responder's AUTH "MAY send ... INFORMATIONAL ... AUTHENTICATION_FAILED";
            // the IKE SA is then dead on its side.
            _authenticationFailed |= !IsInitiator && n.Type == (ushort)NotifyType.AUTHENTICATION_FAILED;
            Connection.Log($"{sa.Name}: INFORMATIONAL {(IsInitiator ? "response" : "request")} carries {MessagePayloads.Name(n.Type)}{(_authenticationFailed ? "" : "; ignored")}");
        }
    }

    public override void Sent(IkeSa sa)
    {
        if (_authenticationFailed)
        {
            Connection.CloseSa(sa, "the peer rejected this side's authentication (AUTHENTICATION_FAILED)");
        }
    }
}
