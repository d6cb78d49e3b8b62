using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Sa.Tasks;

/// <summary>
/// One exchange of an IKE SA, in one role chosen at construction (strongSwan's task_t). The initiator
/// builds the request and processes the response; the responder processes the request and builds the response.
/// Runs under the connection's lock; a format or protocol error is thrown as <see cref="Sessions.IkeException"/> or
/// <see cref="IkeFormatException"/> and answered or logged by the <see cref="TaskManager"/>.
/// </summary>
internal abstract class IkeTask(IkeConnection connection, bool initiator)
{
    protected IkeConnection Connection { get; } = connection;

    /// <summary>Whether this side sends the request.</summary>
    public bool IsInitiator { get; } = initiator;

    public abstract ExchangeType Exchange { get; }

    /// <summary>The task's name in logs (strongSwan's task names).</summary>
    public abstract string Name { get; }

    /// <summary>Initiator: the request; false when the task has nothing to do any more. Responder: the response.</summary>
    public abstract bool Build(IkeSa sa, List<(PayloadType Type, ReadOnlyMemory<byte> Body)> message);

    /// <summary>Initiator: the response. Responder: the request.</summary>
    public abstract void Process(IkeSa sa, IReadOnlyList<RawPayload> message);

    /// <summary>
    /// Initiator, set by <see cref="Process"/>: the responder wants the request again, rebuilt (IKE_SA_INIT after
    /// N(COOKIE) or N(INVALID_KE_PAYLOAD), RFC 7296 §2.6, §1.2); the task runs again with the same Message ID.
    /// </summary>
    public bool Again { get; set; }

    /// <summary>Responder: the response has left (state that must wait for it changes here).</summary>
    public virtual void Sent(IkeSa sa)
    {
    }

    /// <summary>Initiator: the exchange failed (an invalid response, or no answer); undo what <see cref="Build"/> started.</summary>
    public virtual void Fail(IkeSa sa, string reason)
    {
    }

    /// <summary>
    /// §2.8.1: "the SA created with the lowest of the four nonces used in the two exchanges SHOULD be closed";
    /// "lowest" octet by octet, a nonce that is a prefix of another being lower. True when <paramref name="ours"/>
    /// holds the lowest of the four (simultaneous rekeys of a CHILD_SA or of the IKE SA, §2.8.2).
    /// </summary>
    protected static bool OursHasLowestNonce((byte[] Ni, byte[] Nr) ours, (byte[] Ni, byte[] Nr) theirs)
    {
        byte[] lowestOurs = ours.Ni.AsSpan().SequenceCompareTo(ours.Nr) <= 0 ? ours.Ni : ours.Nr;
        byte[] lowestTheirs = theirs.Ni.AsSpan().SequenceCompareTo(theirs.Nr) <= 0 ? theirs.Ni : theirs.Nr;
        return lowestOurs.AsSpan().SequenceCompareTo(lowestTheirs) < 0;
    }
}
