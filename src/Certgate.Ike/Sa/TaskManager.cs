using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using Certgate.Ike.Registry;
using Certgate.Ike.Sa.Tasks;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;

namespace Certgate.Ike.Sa;

/// <summary>
/// Runs the exchanges of one IKE SA, keeping the two directions apart by Message ID (RFC 7296 §2.2): this side's
/// requests (one at a time: window size 1, §2.3) with their retransmits, and the peer's requests with the cached
/// last response. Flow of an incoming message:
/// <code>
///   response: Message ID of the outstanding request? → open SK → payload table → task.Process → next queued task
///   request:  Message ID = expected − 1? → resend the cached response, nothing else (§2.1)
///             Message ID = expected?     → open SK → payload table → responder task: Process, Build → seal, send, cache
/// </code>
/// Every member runs under the connection's lock.
/// </summary>
internal sealed class TaskManager(IkeSa sa) : IDisposable
{
    private readonly List<IkeTask> _queue = [];
    private IkeTask? _active;
    private byte[]? _activeMessage;
    private int _retransmits;
    private ITimer? _retransmitTimer;

    public uint NextRequestId { get; set; }

    public uint ExpectedRequestId { get; set; }

    /// <summary>The response to resend when the request of <see cref="ExpectedRequestId"/> − 1 comes again.</summary>
    public IReadOnlyList<byte[]>? LastResponse { get; set; }

    /// <summary>This side's outstanding exchange.</summary>
    public IkeTask? Active => _active;

    public IReadOnlyList<IkeTask> Queued => _queue;

    private IkeConnection Connection => sa.Connection;

    public void Queue(IkeTask task)
    {
        _queue.Add(task);
        Initiate();
    }

    /// <summary>The queued tasks that must run on the SA that replaces this one (§2.18); deletes of this SA stay.</summary>
    public List<IkeTask> TakeMovable()
    {
        List<IkeTask> moving = [.. _queue.Where(t => t is not IkeDelete)];
        _queue.RemoveAll(t => t is not IkeDelete);
        return moving;
    }

    /// <summary>Starts the next queued exchange when none is outstanding.</summary>
    public void Initiate()
    {
        while (_active is null && _queue.Count > 0 && sa.State != IkeSaState.Closed)
        {
            IkeTask task = _queue[0];
            _queue.RemoveAt(0);
            var payloads = new List<(PayloadType, ReadOnlyMemory<byte>)>();
            if (!task.Build(sa, payloads))
            {
                // Overtaken (the CHILD_SA went, the IKE SA is being replaced): nothing to send.
                continue;
            }
            _active = task;
            _activeMessage = sa.Out.Seal(new IkeHeader(sa.SpiI, sa.SpiR, PayloadType.None, task.Exchange, false, sa.IsOriginalInitiator, NextRequestId, 0), payloads);
            NextRequestId++;
            _retransmits = 0;
            Connection.Log($"{sa.Name}: sending {task.Name} request (message ID {NextRequestId - 1})");
            Send(_activeMessage);
            ArmRetransmit();
        }
    }

    public void OnMessage(IkeMessage message, IPEndPoint from)
    {
        if (message.Header.IsResponse)
        {
            OnResponse(message);
        }
        else
        {
            OnRequest(message, from);
        }
    }

    private void OnResponse(IkeMessage message)
    {
        if (_active is not { } task || message.Header.MessageId != NextRequestId - 1 || message.Header.Exchange != task.Exchange)
        {
            return;
        }
        if (Open(message) is not { } payloads)
        {
            return;
        }
        _retransmitTimer?.Dispose();
        _retransmitTimer = null;
        _active = null;
        _activeMessage = null;
        string? problem = PayloadRules.Problem(payloads, task.Exchange == ExchangeType.CreateChildSa ? PayloadRules.CreateChildSaResponse : PayloadRules.InformationalResponse);
        try
        {
            if (problem is not null)
            {
                throw new IkeException(problem);
            }
            task.Process(sa, payloads);
        }
        catch (Exception e) when (e is IkeException or IkeFormatException)
        {
            Connection.Log($"{sa.Name}: {task.Name} failed: {e.Message}");
            task.Fail(sa, e.Message);
        }
        Initiate();
    }

    private void OnRequest(IkeMessage message, IPEndPoint from)
    {
        uint id = message.Header.MessageId;
        if (ExpectedRequestId > 0 && id == ExpectedRequestId - 1)
        {
            // §2.1: a retransmitted request is answered with the same response, and nothing else is done.
            if (LastResponse is not null && (IsFirstFragment(message) ? VerifiesAsFragment(message) : Open(message) is not null))
            {
                Connection.Log($"{sa.Name}: retransmitted request (message ID {id}): resending the response");
                foreach (byte[] datagram in LastResponse)
                {
                    Connection.Sender.Send(datagram, sa.Remote, sa.Encapsulated);
                }
            }
            return;
        }
        if (id != ExpectedRequestId || Open(message) is not { } payloads)
        {
            return;
        }
        sa.Remote = from;
        var response = new List<(PayloadType, ReadOnlyMemory<byte>)>();
        IkeTask? task = null;
        bool fatal = false;
        try
        {
            // The payload table is checked before any task sees the message.
            if (message.Header.Exchange is not (ExchangeType.CreateChildSa or ExchangeType.Informational))
            {
                // IKE_SA_INIT and IKE_AUTH are over; an established SA runs no other exchange.
                throw new IkeException($"a {message.Header.Exchange} request on an established SA");
            }
            if (PayloadRules.Problem(payloads, message.Header.Exchange == ExchangeType.CreateChildSa ? PayloadRules.CreateChildSaRequest : PayloadRules.InformationalRequest) is { } problem)
            {
                throw new IkeException(problem);
            }
            task = message.Header.Exchange == ExchangeType.CreateChildSa ? CreateChildResponder(payloads) : InformationalResponder(payloads);
            task.Process(sa, payloads);
            task.Build(sa, response);
        }
        catch (Exception e) when (e is IkeException or IkeFormatException)
        {
            // §2.21.4: INVALID_SYNTAX is fatal to the IKE SA; it is sent only for a message whose ICV was valid.
            Connection.Log($"{sa.Name}: {(task is null ? "request" : task.Name + " request")} (message ID {id}) refused: {e.Message}; answering INVALID_SYNTAX and closing");
            response.Clear();
            response.Add(SaPayloads.Notify(NotifyType.INVALID_SYNTAX));
            fatal = true;
        }
        byte[] sealedResponse = sa.Out.Seal(new IkeHeader(sa.SpiI, sa.SpiR, PayloadType.None, message.Header.Exchange, true, sa.IsOriginalInitiator, id, 0), response);
        LastResponse = [sealedResponse];
        ExpectedRequestId++;
        Send(sealedResponse);
        if (fatal)
        {
            Connection.CloseSa(sa, "the peer sent a malformed request");
            return;
        }
        task!.Sent(sa);
    }

    private IkeTask CreateChildResponder(IReadOnlyList<RawPayload> payloads)
    {
        // The proposal's protocol tells an IKE SA rekey (§1.3.2) from a CHILD_SA create or rekey (§1.3.1, N(REKEY_SA)).
        RawPayload? saPayload = payloads.FirstOrDefault(p => p.Type == PayloadType.SecurityAssociation);
        bool ike = saPayload is not null && Payloads.ReadSa(saPayload.Body.Span) is { Count: > 0 } offered && offered[0].ProtocolId == Proposal.Ike;
        return ike ? new IkeRekey(Connection, initiator: false) : new ChildCreate(Connection);
    }

    private IkeTask InformationalResponder(IReadOnlyList<RawPayload> payloads)
    {
        List<byte> protocols = [.. payloads.Where(p => p.Type == PayloadType.Delete).Select(p => Payloads.ReadDelete(p.Body).ProtocolId)];
        if (protocols.Contains(Proposal.Ike))
        {
            return new IkeDelete(Connection, initiator: false);
        }
        return protocols.Contains(Proposal.Esp) ? new ChildDelete(Connection) : new IkeDpd(Connection, initiator: false);
    }

    /// <summary>
    /// A retransmitted IKE_AUTH request that went as RFC 7383 fragments: the first fragment stands for the whole
    /// retransmission (the initiator resends all of them, §2.6), so only it triggers the resend.
    /// </summary>
    private static bool IsFirstFragment(IkeMessage message) =>
        message.Payloads.Count > 0 && message.Payloads[^1] is { Type: PayloadType.EncryptedFragment } skf
        && skf.Body.Length >= EncryptedFragment.CounterSize && BinaryPrimitives.ReadUInt16BigEndian(skf.Body.Span) == 1;

    /// <summary>Whether a fragment's ICV verifies (§3.14: a message that does not verify is discarded unanswered).</summary>
    private bool VerifiesAsFragment(IkeMessage message)
    {
        try
        {
            sa.In.OpenFragment(message);
            return true;
        }
        catch (Exception e) when (e is CryptographicException or IkeFormatException)
        {
            return false;
        }
    }

    private IReadOnlyList<RawPayload>? Open(IkeMessage message)
    {
        try
        {
            IReadOnlyList<RawPayload> payloads = sa.In.Open(message);
            Connection.Heard(sa);
            return payloads;
        }
        catch (Exception e) when (e is CryptographicException or IkeFormatException)
        {
            // §3.14: a message whose ICV does not verify "MUST be discarded" (and is not answered).
            Connection.Log($"{sa.Name}: message ID {message.Header.MessageId} does not verify; dropped");
            return null;
        }
    }

    private void Send(byte[] message) => Connection.Sender.Send(message, sa.Remote, sa.Encapsulated);

    private void ArmRetransmit()
    {
        IkeSaOptions o = Connection.Options;
        TimeSpan timeout = o.RetransmitTimeout * Math.Pow(o.RetransmitBase, _retransmits);
        _retransmitTimer?.Dispose();
        byte[]? expected = _activeMessage;
        _retransmitTimer = Connection.Time.CreateTimer(_ => Connection.Run(() => OnRetransmitTimeout(expected)), null, timeout, Timeout.InfiniteTimeSpan);
    }

    private void OnRetransmitTimeout(byte[]? message)
    {
        if (_active is not { } task || !ReferenceEquals(message, _activeMessage) || sa.State == IkeSaState.Closed)
        {
            return;
        }
        if (_retransmits >= Connection.Options.RetransmitTries)
        {
            _active = null;
            _activeMessage = null;
            _retransmitTimer?.Dispose();
            _retransmitTimer = null;
            Connection.Log($"{sa.Name}: no answer to {task.Name} after {_retransmits} retransmits; the peer is dead");
            task.Fail(sa, "no answer");
            Connection.CloseSa(sa, $"the peer did not answer {task.Name} (message ID {NextRequestId - 1}) after {_retransmits} retransmits");
            return;
        }
        _retransmits++;
        Connection.Log($"{sa.Name}: retransmit {_retransmits} of {task.Name} (message ID {NextRequestId - 1})");
        // §2.1: the retransmission is the same octets.
        Send(message!);
        ArmRetransmit();
    }

    public void Dispose()
    {
        _retransmitTimer?.Dispose();
        _retransmitTimer = null;
        _queue.Clear();
        _active = null;
    }
}
