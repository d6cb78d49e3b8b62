using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sa.Tasks;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;

namespace Certgate.Ike.Sa;

/// <summary>
/// Runs the exchanges of one IKE SA, keeping the two directions apart by Message ID (RFC 7296 §2.2): this side's
/// requests (one at a time: window size 1, §2.3) with their retransmits, and the peer's requests with the cached
/// last response. Flow of an incoming message:
/// <code>
///   response: Message ID of the outstanding request? → open SK (or reassemble) → payload table → task.Process → next queued task
///             (IKE_SA_INIT: not encrypted; a task that must repeat its request — COOKIE, INVALID_KE_PAYLOAD — runs again with the same ID)
///   request:  Message ID = expected − 1? → resend the cached response, nothing else (§2.1)
///             Message ID = expected?     → open SK (or reassemble) → payload table → responder task: Process, Build → seal, send, cache
///             (a refusal — IkeException with its notify, or the exchange's default — is answered here, Refuse)
///   send:     an SK message larger than the fragment size goes as RFC 7383 Encrypted Fragments when both announced them
/// </code>
/// While the SA is <see cref="IkeSaState.Connecting"/> the peer's only request is IKE_AUTH (IKE_SA_INIT is answered by
/// <see cref="RespondToInit"/> when the responder's connection is made). Every member runs under the connection's lock.
/// </summary>
internal sealed class TaskManager(IkeSa sa) : IDisposable
{
    private readonly List<IkeTask> _queue = [];
    private IkeTask? _active;
    private IReadOnlyList<byte[]>? _activeMessage;
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
            var header = new IkeHeader(sa.SpiI, sa.SpiR, PayloadType.None, task.Exchange, false, sa.IsOriginalInitiator, NextRequestId, 0);
            if (task.Exchange == ExchangeType.IkeSaInit)
            {
                byte[] request = IkeMessage.Build(header, payloads);
                // IKE_AUTH signs the request as sent (§2.15).
                Connection.Setup!.Request = request;
                _activeMessage = [request];
            }
            else
            {
                _activeMessage = Protect(header, payloads);
            }
            NextRequestId++;
            _retransmits = 0;
            Connection.Log($"{sa.Name}: sending {task.Name} request (message ID {NextRequestId - 1})");
            Send(_activeMessage);
            ArmRetransmit();
        }
    }

    public void OnMessage(IkeMessage message, IPEndPoint from, bool? encapsulated)
    {
        if (message.Header.IsResponse)
        {
            OnResponse(message);
        }
        else
        {
            OnRequest(message, from, encapsulated);
        }
    }

    /// <summary>
    /// The responder's answer to the IKE_SA_INIT request that made its connection (<see cref="IkeInit.Screen"/> let it
    /// through): not encrypted, cached for retransmissions of the request, which carry Message ID 0 and SPIr 0.
    /// </summary>
    public void RespondToInit(IkeMessage request)
    {
        var task = new IkeInit(Connection, Connection.Setup!, request);
        var response = new List<(PayloadType, ReadOnlyMemory<byte>)>();
        task.Build(sa, response);
        byte[] message = IkeMessage.Build(new IkeHeader(sa.SpiI, sa.SpiR, PayloadType.None, ExchangeType.IkeSaInit, true, false, 0, 0), response);
        Connection.Setup!.Response = message;
        LastResponse = [message];
        ExpectedRequestId = 1;
        Connection.Log($"{sa.Name}: sending IKE_INIT response");
        Send([message]);
    }

    private void OnResponse(IkeMessage message)
    {
        if (_active is not { } task || message.Header.MessageId != NextRequestId - 1 || message.Header.Exchange != task.Exchange)
        {
            return;
        }
        IReadOnlyList<RawPayload> payloads;
        if (task.Exchange == ExchangeType.IkeSaInit)
        {
            // Not encrypted (§1.2); IKE_AUTH signs the response as received.
            payloads = message.Payloads;
            Connection.Setup!.Response = message.Raw.ToArray();
            Connection.Setup.ResponderSpi = message.Header.ResponderSpi;
        }
        else if (Open(message, request: false) is { } opened)
        {
            payloads = opened;
        }
        else
        {
            return;
        }
        _retransmitTimer?.Dispose();
        _retransmitTimer = null;
        _active = null;
        _activeMessage = null;
        try
        {
            // The payload table is checked before any task sees the message.
            PayloadRules.Check(task.Exchange, response: true, payloads);
            task.Process(sa, payloads);
        }
        catch (Exception e) when (e is IkeException or IkeFormatException or CryptographicException)
        {
            Connection.Log($"{sa.Name}: {task.Name} failed: {e.Message}");
            if (e is IkeException { Notify: { } notify } refused)
            {
                // §2.21.2: "If the error occurs on the initiator, the notification MAY be returned in a separate
                // INFORMATIONAL exchange" (the exception to never answering a response); sent, not waited for.
                Connection.Log($"{sa.Name}: telling the peer {notify} in an INFORMATIONAL (message ID {NextRequestId})");
                byte[] info = sa.Out.Seal(new IkeHeader(sa.SpiI, sa.SpiR, PayloadType.None, ExchangeType.Informational, false, sa.IsOriginalInitiator, NextRequestId, 0),
                    [MessagePayloads.Notify(notify, refused.NotifyData)]);
                Connection.Sender.Send(info, sa.Remote, sa.Encapsulated);
            }
            task.Fail(sa, e.Message);
        }
        if (task.Again)
        {
            // The responder asked for the request again (COOKIE, INVALID_KE_PAYLOAD): same exchange, same Message ID.
            task.Again = false;
            NextRequestId--;
            _queue.Insert(0, task);
        }
        Initiate();
    }

    private void OnRequest(IkeMessage message, IPEndPoint from, bool? encapsulated)
    {
        uint id = message.Header.MessageId;
        if (ExpectedRequestId > 0 && id == ExpectedRequestId - 1)
        {
            // §2.1: a retransmitted request is answered with the same response, and nothing else is done. (A
            // retransmitted IKE_SA_INIT is not protected; it reaches this SA only by its SPIi and the peer's address.)
            bool genuine = message.Header.Exchange == ExchangeType.IkeSaInit
                ? sa.State == IkeSaState.Connecting
                : IsFirstFragment(message) ? VerifiesAsFragment(message) : Open(message, request: true) is not null;
            if (LastResponse is not null && genuine)
            {
                Connection.Log($"{sa.Name}: retransmitted request (message ID {id}): resending the response");
                Send(LastResponse);
                if (LastResponse.Count > 1)
                {
                    Connection.Options.Counters?.FragmentsResent(LastResponse.Count);
                }
            }
            return;
        }
        if (id != ExpectedRequestId || message.Header.Exchange == ExchangeType.IkeSaInit || Open(message, request: true) is not { } payloads)
        {
            return;
        }
        if (sa.State == IkeSaState.Connecting)
        {
            if (message.Header.Exchange != ExchangeType.IkeAuth)
            {
                // §1.2: nothing but IKE_AUTH before the SA is authenticated.
                return;
            }
            if (encapsulated == true)
            {
                // §2.23: the initiator floated to 4500 (it saw a NAT); the responder answers there from now on.
                sa.Encapsulated = true;
                Connection.Setup!.NatDetected = true;
            }
        }
        sa.Remote = from;
        var response = new List<(PayloadType, ReadOnlyMemory<byte>)>();
        IkeTask? task = null;
        bool connecting = sa.State == IkeSaState.Connecting;
        try
        {
            if (!connecting && message.Header.Exchange is not (ExchangeType.CreateChildSa or ExchangeType.Informational))
            {
                // IKE_SA_INIT and IKE_AUTH are over; an established SA runs no other exchange.
                throw new IkeException($"a {message.Header.Exchange} request on an established SA");
            }
            // The payload table is checked before any task sees the message.
            PayloadRules.Check(message.Header.Exchange, response: false, payloads);
            task = connecting ? new IkeAuth(Connection, Connection.Setup!, initiator: false)
                : message.Header.Exchange == ExchangeType.CreateChildSa ? CreateChildResponder(payloads) : InformationalResponder(payloads);
            task.Process(sa, payloads);
            task.Build(sa, response);
        }
        catch (Exception e) when (e is IkeException or IkeFormatException)
        {
            Refuse(message, e, task, connecting);
            return;
        }
        IReadOnlyList<byte[]> sealedResponse = Protect(new IkeHeader(sa.SpiI, sa.SpiR, PayloadType.None, message.Header.Exchange, true, sa.IsOriginalInitiator, id, 0), response);
        LastResponse = sealedResponse;
        ExpectedRequestId++;
        Send(sealedResponse);
        task!.Sent(sa);
    }

    /// <summary>
    /// The answer to a request that a task or the payload table refused: a response with the exception's notify, or
    /// the exchange's default (§2.21.2: "All errors that occur in an IKE_AUTH exchange ... SHOULD result in an
    /// AUTHENTICATION_FAILED notification"; after it, a badly formatted request gets INVALID_SYNTAX, §2.21). A
    /// refused IKE_AUTH closes the SA (Certgate keeps no IKE SA without its first CHILD_SA), and so does INVALID_SYNTAX
    /// ("considered fatal in both peers"); a refused CREATE_CHILD_SA (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE,
    /// TEMPORARY_FAILURE…) leaves the IKE SA as it was.
    /// </summary>
    private void Refuse(IkeMessage request, Exception e, IkeTask? task, bool connecting)
    {
        uint id = request.Header.MessageId;
        NotifyType notify = (e as IkeException)?.Notify ?? (connecting ? NotifyType.AUTHENTICATION_FAILED : NotifyType.INVALID_SYNTAX);
        bool fatal = connecting || notify == NotifyType.INVALID_SYNTAX;
        string what = $"{(task is null ? PayloadRule.Name(request.Header.Exchange) : task.Name)} request (message ID {id})";
        Connection.Log(fatal
            ? $"{sa.Name}: {what} refused: {e.Message}; answering {notify} and closing"
            : $"{sa.Name}: {what} refused: {e.Message}; answering {notify}");
        IReadOnlyList<byte[]> sealedResponse = Protect(new IkeHeader(sa.SpiI, sa.SpiR, PayloadType.None, request.Header.Exchange, true, sa.IsOriginalInitiator, id, 0),
            [e is IkeException { ChildSpi: { } spi } ? MessagePayloads.EspNotify(notify, spi) : MessagePayloads.Notify(notify, (e as IkeException)?.NotifyData ?? default)]);
        LastResponse = sealedResponse;
        ExpectedRequestId++;
        Send(sealedResponse);
        if (fatal)
        {
            Connection.CloseSa(sa, connecting ? e.Message : "the peer sent a malformed request");
        }
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

    /// <summary>
    /// The inner payloads of an SK message, or of a whole fragmented one once its last fragment is in (RFC 7383 §2.6,
    /// any exchange; null until then); null also when it does not verify.
    /// </summary>
    private IReadOnlyList<RawPayload>? Open(IkeMessage message, bool request)
    {
        try
        {
            FragmentReassembler? fragments = sa.Fragmentation ? request ? sa.RequestFragments : sa.ResponseFragments : null;
            if (SkProtection.Open(sa.In, fragments, message, Connection.Options.Counters, "peer") is not { } payloads)
            {
                // A fragment kept until the others come, or one dropped (forged, duplicate, not negotiated).
                return null;
            }
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

    private void Send(IReadOnlyList<byte[]> datagrams)
    {
        foreach (byte[] datagram in datagrams)
        {
            Connection.Sender.Send(datagram, sa.Remote, sa.Encapsulated);
        }
    }

    /// <summary>An SK message, or its Encrypted Fragments when both sides announced them and it is too large (RFC 7383 §2.5).</summary>
    private IReadOnlyList<byte[]> Protect(IkeHeader header, IReadOnlyList<(PayloadType, ReadOnlyMemory<byte>)> payloads) =>
        SkProtection.Protect(sa.Out, sa.Fragmentation, Connection.Options.FragmentSize, Connection.Options.Counters, sa.Remote, sa.Encapsulated, header, payloads);

    private void ArmRetransmit()
    {
        IkeSaOptions o = Connection.Options;
        TimeSpan timeout = o.RetransmitTimeout * Math.Pow(o.RetransmitBase, _retransmits);
        _retransmitTimer?.Dispose();
        IReadOnlyList<byte[]>? expected = _activeMessage;
        _retransmitTimer = Connection.Time.CreateTimer(_ => Connection.Run(() => OnRetransmitTimeout(expected)), null, timeout, Timeout.InfiniteTimeSpan);
    }

    private void OnRetransmitTimeout(IReadOnlyList<byte[]>? message)
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
            task.Fail(sa, sa.State == IkeSaState.Connecting ? $"no answer from {sa.Remote} to {task.Name} after {_retransmits + 1} tries" : "no answer");
            Connection.CloseSa(sa, $"the peer did not answer {task.Name} (message ID {NextRequestId - 1}) after {_retransmits} retransmits");
            return;
        }
        _retransmits++;
        Connection.Log($"{sa.Name}: retransmit {_retransmits} of {task.Name} (message ID {NextRequestId - 1})");
        // §2.1: the retransmission is the same octets (all fragments again, RFC 7383 §2.6).
        Send(message!);
        if (message!.Count > 1)
        {
            Connection.Options.Counters?.FragmentsResent(message.Count);
        }
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
