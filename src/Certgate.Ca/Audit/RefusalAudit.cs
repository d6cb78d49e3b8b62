using Certgate.Ca.Settings;
using Certgate.Ca.Storage;

namespace Certgate.Ca.Audit;

/// <summary>
/// Audits refused requests so that a flood cannot fill the disk (issue #14 §5). Time is cut into intervals
/// (<see cref="RefusalAuditLimits.Interval"/>, one minute by default); within an interval:
/// <code>
///   first refusal of (address, reason)   → written in full at once (what the operator needs to debug a client)
///   later refusals of that pair          → counted; one "refusal-summary" row with the count when the interval ends
///   pairs past RowsPerInterval / 2       → counted together; one "refusals-not-recorded" row when the interval ends
/// </code>
/// so an interval holds at most <see cref="RefusalAuditLimits.RowsPerInterval"/> + 1 refusal rows however many
/// addresses send however many bad requests, and memory holds at most RowsPerInterval / 2 pairs. Summary rows are
/// ordinary rows of the hash chain (<see cref="AuditChain"/>). Issued certificates and operator actions never go
/// through here: they are audited one by one.
/// </summary>
/// <remarks>
/// The summaries of an interval are written by the first refusal after it, by <see cref="FlushAsync"/> (which
/// <c>ca serve</c> calls on a timer and at stop), whichever comes first. With several CA frontends on one database each
/// aggregates its own refusals.
/// </remarks>
public sealed class RefusalAudit
{
    /// <summary>Event of the per-pair count row.</summary>
    public const string SummaryEvent = "refusal-summary";

    /// <summary>Event of the row counting refusals past the per-interval cap.</summary>
    public const string OverflowEvent = "refusals-not-recorded";

    private readonly ICaStore _store;
    private readonly TimeProvider _time;
    private readonly RefusalAuditLimits _limits;
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _writeOrder = new(1, 1);
    private Window _window;

    /// <summary>Creates the aggregator.</summary>
    public RefusalAudit(ICaStore store, TimeProvider time, RefusalAuditLimits limits)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _limits = limits ?? throw new ArgumentNullException(nameof(limits));
        _window = new Window(IntervalStart(_time.GetUtcNow()));
    }

    /// <summary>Refusals counted but not written individually since this process started (for tests and the bench).</summary>
    public long Aggregated => Interlocked.Read(ref _aggregated);

    private long _aggregated;

    /// <summary>Audits one refusal of a network request whose event is also its reason class: actor
    /// <c>scep:ADDRESS</c>, outcome <c>refused</c>, the time now.</summary>
    public Task<bool> RecordAsync(string address, string evt, string? transactionId, string detail, CancellationToken cancellationToken = default) =>
        RecordAsync(address, evt, new AuditEntry(_time.GetUtcNow(), "scep:" + address, evt, "refused", null, null, transactionId, detail), cancellationToken);

    /// <summary>Audits one refusal of <paramref name="reason"/> from <paramref name="address"/>.</summary>
    /// <param name="address">The requester's address (the aggregation key with the reason).</param>
    /// <param name="reason">A short, fixed reason class, e.g. <c>rate-limited</c>, <c>enrollment-refused:badRequest</c>;
    /// never attacker-chosen text, since it is a key of the aggregation.</param>
    /// <param name="entry">The row to write when this is the pair's first refusal of the interval.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>True when the refusal was written in full, false when it was only counted.</returns>
    public async Task<bool> RecordAsync(string address, string reason, AuditEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(reason);
        ArgumentNullException.ThrowIfNull(entry);
        Window? ended;
        bool write;
        lock (_lock)
        {
            ended = RollLocked(_time.GetUtcNow());
            var key = (address, reason);
            if (_window.Counts.TryGetValue(key, out int seen))
            {
                _window.Counts[key] = seen + 1;
                write = false;
            }
            else if (_window.Counts.Count < Math.Max(1, _limits.RowsPerInterval / 2))
            {
                _window.Counts[key] = 1;
                write = true;
            }
            else
            {
                _window.Overflow++;
                _window.OverflowAddresses.Add(address, _limits.RowsPerInterval);
                write = false;
            }
            if (!write)
            {
                _aggregated++;
            }
        }
        await _writeOrder.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (ended is not null)
            {
                await WriteSummariesAsync(ended, cancellationToken).ConfigureAwait(false);
            }
            if (write)
            {
                await _store.AppendAuditAsync(entry, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _writeOrder.Release();
        }
        return write;
    }

    /// <summary>Writes the summaries of an interval that has ended (or, with <paramref name="all"/>, of the current one
    /// too: at shutdown).</summary>
    public async Task FlushAsync(bool all = false, CancellationToken cancellationToken = default)
    {
        Window? ended;
        lock (_lock)
        {
            ended = RollLocked(_time.GetUtcNow());
            if (ended is null && all && (_window.Counts.Count > 0 || _window.Overflow > 0))
            {
                ended = _window;
                ended.Flushed = true;
                _window = new Window(_window.Start);
            }
        }
        if (ended is null)
        {
            return;
        }
        await _writeOrder.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await WriteSummariesAsync(ended, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeOrder.Release();
        }
    }

    /// <summary>Starts a new window when the current one's interval is over; returns the old one to summarise.</summary>
    private Window? RollLocked(DateTimeOffset now)
    {
        DateTimeOffset start = IntervalStart(now);
        if (start <= _window.Start)
        {
            return null;
        }
        Window old = _window;
        _window = new Window(start);
        return old.Counts.Count > 0 || old.Overflow > 0 ? old : null;
    }

    private async Task WriteSummariesAsync(Window w, CancellationToken ct)
    {
        DateTimeOffset now = _time.GetUtcNow();
        DateTimeOffset end = w.Flushed ? now : w.Start + _limits.Interval;
        string span = $"{w.Start:u} to {end:u}";
        foreach (((string address, string reason), int count) in w.Counts)
        {
            if (count > 1)
            {
                await _store.AppendAuditAsync(new AuditEntry(now, "scep:" + address, SummaryEvent, "refused", null, null, null,
                    $"{count - 1} further refusals ({reason}) from {address} between {span} not recorded individually"), ct).ConfigureAwait(false);
            }
        }
        if (w.Overflow > 0)
        {
            await _store.AppendAuditAsync(new AuditEntry(now, "scep", OverflowEvent, "refused", null, null, null,
                $"{w.Overflow} further refusals from {w.OverflowAddresses.Describe()} between {span} not recorded individually " +
                $"(the cap of {_limits.RowsPerInterval} refusal rows per {_limits.Interval.TotalSeconds:0} s was reached)"), ct).ConfigureAwait(false);
        }
    }

    private DateTimeOffset IntervalStart(DateTimeOffset t)
    {
        long ticks = _limits.Interval.Ticks;
        return new DateTimeOffset(t.UtcTicks - (t.UtcTicks % ticks), TimeSpan.Zero);
    }

    private sealed class Window(DateTimeOffset start)
    {
        public DateTimeOffset Start { get; } = start;

        public Dictionary<(string Address, string Reason), int> Counts { get; } = [];

        public long Overflow { get; set; }

        public AddressSample OverflowAddresses { get; } = new();

        /// <summary>Summarised before its interval ended (shutdown): the summary names the real end.</summary>
        public bool Flushed { get; set; }
    }

    /// <summary>A bounded count of distinct addresses: exact up to the cap, then "at least".</summary>
    private sealed class AddressSample
    {
        private readonly HashSet<string> _seen = [];
        private bool _saturated;

        public void Add(string address, int cap)
        {
            if (_seen.Count < cap)
            {
                _seen.Add(address);
            }
            else if (!_seen.Contains(address))
            {
                _saturated = true;
            }
        }

        public string Describe() => _saturated ? $"more than {_seen.Count} addresses" : _seen.Count == 1 ? $"{_seen.First()}" : $"{_seen.Count} addresses";
    }
}
