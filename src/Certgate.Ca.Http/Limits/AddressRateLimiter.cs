using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Certgate.Ca.Settings;

namespace Certgate.Ca.Http.Limits;

/// <summary>
/// A token bucket per client address (an IPv4 address, or the /64 of an IPv6 address: one host's SLAAC addresses
/// and privacy extensions are one client), in a table of at most <c>capacity</c> addresses that forgets the least
/// recently seen first.
/// </summary>
/// <remarks>
/// Why not <c>System.Threading.RateLimiting</c>'s <c>PartitionedRateLimiter</c>: its partitions are only dropped
/// when idle, so an attacker with many source addresses grows the table without bound until they go quiet, and a
/// self-replenishing <c>TokenBucketRateLimiter</c> runs a timer per partition. Here a bucket is two numbers refilled
/// when looked at (wireguard-go's <c>ratelimiter</c> works the same way), and the table is bounded: a forgotten
/// address starts again with a full bucket, which never hurts a legitimate client.
/// </remarks>
internal sealed class AddressRateLimiter
{
    private readonly double _perTick;
    private readonly double _burst;
    private readonly int _capacity;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<UInt128, LinkedListNode<Bucket>> _table = [];
    private readonly LinkedList<Bucket> _recency = new(); // most recently seen first

    public AddressRateLimiter(TokenBucket bucket, int capacity, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(bucket);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _perTick = bucket.PerMinute / 60.0 / time.TimestampFrequency;
        _burst = bucket.Burst;
        _capacity = capacity;
        Limit = bucket;
    }

    /// <summary>The configured bucket.</summary>
    public TokenBucket Limit { get; }

    /// <summary>Addresses tracked now (never more than the capacity).</summary>
    public int Tracked
    {
        get
        {
            lock (_lock)
            {
                return _table.Count;
            }
        }
    }

    /// <summary>Takes one token for <paramref name="address"/>; false with the time until the next token when empty.</summary>
    public bool TryAcquire(IPAddress address, out TimeSpan retryAfter)
    {
        ArgumentNullException.ThrowIfNull(address);
        UInt128 key = Key(address);
        long now = _time.GetTimestamp();
        lock (_lock)
        {
            if (_table.TryGetValue(key, out LinkedListNode<Bucket>? node))
            {
                _recency.Remove(node);
                _recency.AddFirst(node);
            }
            else
            {
                if (_table.Count >= _capacity)
                {
                    LinkedListNode<Bucket> oldest = _recency.Last!;
                    _recency.RemoveLast();
                    _table.Remove(oldest.Value.Key);
                    node = oldest; // reuse the node: no allocation per new address once full
                    node.Value = new Bucket(key, _burst, now);
                }
                else
                {
                    node = new LinkedListNode<Bucket>(new Bucket(key, _burst, now));
                }
                _recency.AddFirst(node);
                _table[key] = node;
            }
            Bucket b = node.Value;
            double tokens = Math.Min(_burst, b.Tokens + (now - b.Stamp) * _perTick);
            if (tokens >= 1)
            {
                node.Value = b with { Tokens = tokens - 1, Stamp = now };
                retryAfter = TimeSpan.Zero;
                return true;
            }
            node.Value = b with { Tokens = tokens, Stamp = now };
            retryAfter = TimeSpan.FromSeconds(Math.Ceiling((1 - tokens) / (_perTick * _time.TimestampFrequency)));
            return false;
        }
    }

    /// <summary>IPv4 (and IPv4-mapped IPv6) → the address; IPv6 → its /64.</summary>
    internal static UInt128 Key(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        Span<byte> b = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(b[12..], out _);
            b[10] = b[11] = 0xFF;
            return BinaryPrimitives.ReadUInt128BigEndian(b);
        }
        address.TryWriteBytes(b, out _);
        b[8..].Clear();
        return BinaryPrimitives.ReadUInt128BigEndian(b);
    }

    private readonly record struct Bucket(UInt128 Key, double Tokens, long Stamp);
}
