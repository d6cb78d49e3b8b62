namespace Certgate.Ike.Sessions;

/// <summary>
/// What the IKE_SA_INIT / IKE_AUTH exchanges of one or more sessions did with fragments and cookies, for
/// diagnostics (<c>certgate debug ike-tunnel</c> prints them) and tests. Shared between sessions through
/// <see cref="IkePeerConfig.Counters"/>; updated atomically.
/// </summary>
public sealed class IkeCounters
{
    private long _messagesFragmented;
    private long _fragmentsSent;
    private long _fragmentsReceived;
    private long _fragmentsDropped;
    private long _messagesReassembled;
    private long _cookiesSent;
    private long _cookiesRetried;

    /// <summary>Messages this side sent as Encrypted Fragments (RFC 7383) rather than one SK message.</summary>
    public long MessagesFragmented => Interlocked.Read(ref _messagesFragmented);

    /// <summary>Encrypted Fragment datagrams sent (retransmissions included).</summary>
    public long FragmentsSent => Interlocked.Read(ref _fragmentsSent);

    /// <summary>Encrypted Fragments received whose ICV verified.</summary>
    public long FragmentsReceived => Interlocked.Read(ref _fragmentsReceived);

    /// <summary>Encrypted Fragments dropped: bad ICV or numbers, duplicates, older messages, over the limits.</summary>
    public long FragmentsDropped => Interlocked.Read(ref _fragmentsDropped);

    /// <summary>Messages reassembled from fragments.</summary>
    public long MessagesReassembled => Interlocked.Read(ref _messagesReassembled);

    /// <summary>IKE_SA_INIT requests the responder answered with N(COOKIE) (RFC 7296 §2.6) instead of creating state.</summary>
    public long CookiesSent => Interlocked.Read(ref _cookiesSent);

    /// <summary>IKE_SA_INIT requests the initiator repeated with the responder's cookie.</summary>
    public long CookiesRetried => Interlocked.Read(ref _cookiesRetried);

    internal void Fragmented(int fragments)
    {
        Interlocked.Increment(ref _messagesFragmented);
        Interlocked.Add(ref _fragmentsSent, fragments);
    }

    internal void FragmentsResent(int fragments) => Interlocked.Add(ref _fragmentsSent, fragments);

    internal void FragmentReceived() => Interlocked.Increment(ref _fragmentsReceived);

    internal void FragmentDropped() => Interlocked.Increment(ref _fragmentsDropped);

    internal void Reassembled() => Interlocked.Increment(ref _messagesReassembled);

    internal void CookieSent() => Interlocked.Increment(ref _cookiesSent);

    internal void CookieRetried() => Interlocked.Increment(ref _cookiesRetried);

    /// <summary>One line: "fragments sent 3 (1 message), received 2 (1 reassembled, 0 dropped); cookies sent 0, retried 0".</summary>
    public override string ToString() =>
        $"fragments sent {FragmentsSent} ({MessagesFragmented} messages), received {FragmentsReceived} ({MessagesReassembled} reassembled, {FragmentsDropped} dropped); "
        + $"cookies sent {CookiesSent}, retried {CookiesRetried}";
}
