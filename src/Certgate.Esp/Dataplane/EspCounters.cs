namespace Certgate.Esp.Dataplane;

/// <summary>Packet counters of a data plane (read while it runs; updated without locks).</summary>
public sealed class EspCounters
{
    private long _sent;
    private long _received;
    private long _keepalives;
    private long _ike;
    private readonly long[] _drops = new long[Enum.GetValues<EspDrop>().Length];

    public long Sent => Interlocked.Read(ref _sent);

    public long Received => Interlocked.Read(ref _received);

    public long Keepalives => Interlocked.Read(ref _keepalives);

    public long IkePackets => Interlocked.Read(ref _ike);

    public long Dropped(EspDrop reason) => Interlocked.Read(ref _drops[(int)reason]);

    internal void CountSent() => Interlocked.Increment(ref _sent);

    internal void CountReceived() => Interlocked.Increment(ref _received);

    internal void CountKeepalive() => Interlocked.Increment(ref _keepalives);

    internal void CountIke() => Interlocked.Increment(ref _ike);

    internal void CountDrop(EspDrop reason) => Interlocked.Increment(ref _drops[(int)reason]);

    internal void CountDrops(EspDrop reason, long packets) => Interlocked.Add(ref _drops[(int)reason], packets);

    /// <inheritdoc />
    public override string ToString() =>
        $"sent {Sent}, received {Received}, keepalives {Keepalives}, IKE {IkePackets}, " +
        string.Join(", ", Enum.GetValues<EspDrop>().Select(r => $"{r} {Dropped(r)}"));
}
