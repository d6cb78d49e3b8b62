using System.Buffers.Binary;
using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Sa.Tasks;

/// <summary>
/// Deletes CHILD_SAs (RFC 7296 §1.4.1): the request names the SPIs the sender receives with; "the responder ...
/// will send a Delete payload for the paired SAs" with its own inbound SPIs. When both sides delete the same SA at
/// once, each answers without it ("it MUST NOT include ... the SA it already deleted"). The data plane loses both
/// directions once the exchange is done.
/// </summary>
internal sealed class ChildDelete : IkeTask
{
    private readonly ChildSaEntry? _child;
    private readonly List<uint> _answer = [];

    /// <summary>Initiator: delete <paramref name="child"/>.</summary>
    public ChildDelete(IkeConnection connection, ChildSaEntry child)
        : base(connection, initiator: true) => _child = child;

    /// <summary>Responder.</summary>
    public ChildDelete(IkeConnection connection)
        : base(connection, initiator: false)
    {
    }

    public override ExchangeType Exchange => ExchangeType.Informational;

    public override string Name => "CHILD_DELETE";

    public override bool Build(IkeSa sa, List<(PayloadType Type, ReadOnlyMemory<byte> Body)> message)
    {
        if (!IsInitiator)
        {
            if (_answer.Count > 0)
            {
                message.Add(MessagePayloads.Delete(Proposal.Esp, _answer));
            }
            return true;
        }
        if (_child!.State == ChildSaState.Deleted)
        {
            return false;
        }
        _child.State = ChildSaState.Deleting;
        message.Add(MessagePayloads.Delete(Proposal.Esp, [_child.InboundSpi]));
        return true;
    }

    public override void Process(IkeSa sa, IReadOnlyList<RawPayload> message)
    {
        if (IsInitiator)
        {
            Connection.RemoveChild(_child!, "deleted");
            return;
        }
        foreach (RawPayload p in message.Where(p => p.Type == PayloadType.Delete))
        {
            (byte protocol, IReadOnlyList<ReadOnlyMemory<byte>> spis) = Payloads.ReadDelete(p.Body);
            if (protocol != Proposal.Esp)
            {
                continue;
            }
            foreach (ReadOnlyMemory<byte> spi in spis)
            {
                if (spi.Length != 4)
                {
                    throw new IkeFormatException($"an ESP Delete SPI is 4 octets, not {spi.Length}");
                }
                uint outbound = BinaryPrimitives.ReadUInt32BigEndian(spi.Span);
                if (Connection.ChildByOutbound(outbound) is not { } child)
                {
                    // An SA this side no longer has (deleted at the same time): nothing to answer for it.
                    continue;
                }
                if (child.State != ChildSaState.Deleting)
                {
                    _answer.Add(child.InboundSpi);
                }
                Connection.RemoveChild(child, "deleted by the peer");
            }
        }
    }

    public override void Fail(IkeSa sa, string reason) => Connection.RemoveChild(_child!, $"deleted ({reason})");
}
