using System.Net;
using Certgate.Ca.Http.Limits;
using Certgate.Ca.Settings;

namespace Certgate.Interop.Tests.Scep;

/// <summary>The per-address token buckets of <c>ca serve</c> on a manual clock: refill, Retry-After, the bounded
/// least-recently-seen table, IPv6 per /64. (No Ca.Http unit project exists; the HTTP behaviour is in CaAbuseTests.)</summary>
public sealed class AddressRateLimiterTests
{
    private sealed class ManualClock : TimeProvider
    {
        public long Ticks { get; set; } = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Ticks;
    }

    [Fact]
    public void Burst_then_refill_at_the_rate_with_the_wait_until_the_next_token()
    {
        var clock = new ManualClock();
        var limiter = new AddressRateLimiter(new TokenBucket(PerMinute: 30, Burst: 3), 100, clock);
        IPAddress a = IPAddress.Parse("192.0.2.1");
        for (int i = 0; i < 3; i++)
        {
            Assert.True(limiter.TryAcquire(a, out _));
        }
        Assert.False(limiter.TryAcquire(a, out TimeSpan wait));
        Assert.Equal(TimeSpan.FromSeconds(2), wait);
        Assert.True(limiter.TryAcquire(IPAddress.Parse("192.0.2.2"), out _)); // another address: its own bucket
        clock.Ticks += TimeSpan.FromSeconds(2).Ticks;
        Assert.True(limiter.TryAcquire(a, out _));
        Assert.False(limiter.TryAcquire(a, out _));
        // Refill never exceeds the burst.
        clock.Ticks += TimeSpan.FromHours(1).Ticks;
        for (int i = 0; i < 3; i++)
        {
            Assert.True(limiter.TryAcquire(a, out _));
        }
        Assert.False(limiter.TryAcquire(a, out _));
    }

    [Fact]
    public void The_table_is_bounded_and_forgets_the_least_recently_seen()
    {
        var clock = new ManualClock();
        var limiter = new AddressRateLimiter(new TokenBucket(1, 1), 16, clock);
        IPAddress kept = IPAddress.Parse("198.51.100.1");
        Assert.True(limiter.TryAcquire(kept, out _));
        for (int i = 0; i < 100_000; i++)
        {
            limiter.TryAcquire(new IPAddress([10, (byte)(i >> 16), (byte)(i >> 8), (byte)i]), out _);
            if (i % 8 == 0)
            {
                Assert.False(limiter.TryAcquire(kept, out _)); // seen often: stays tracked, stays empty
            }
        }
        Assert.Equal(16, limiter.Tracked);
        // An address not seen for 16 others is forgotten and starts with a full bucket.
        IPAddress once = IPAddress.Parse("198.51.100.2");
        Assert.True(limiter.TryAcquire(once, out _));
        for (int i = 0; i < 16; i++)
        {
            limiter.TryAcquire(new IPAddress([172, 16, 0, (byte)i]), out _);
        }
        Assert.True(limiter.TryAcquire(once, out _));
    }

    [Fact]
    public void IPv6_addresses_of_one_64_share_a_bucket_and_mapped_IPv4_is_IPv4()
    {
        var limiter = new AddressRateLimiter(new TokenBucket(1, 1), 100, new ManualClock());
        Assert.True(limiter.TryAcquire(IPAddress.Parse("2001:db8:1:2::1"), out _));
        Assert.False(limiter.TryAcquire(IPAddress.Parse("2001:db8:1:2:ffff::99"), out _));
        Assert.True(limiter.TryAcquire(IPAddress.Parse("2001:db8:1:3::1"), out _));
        Assert.True(limiter.TryAcquire(IPAddress.Parse("192.0.2.9"), out _));
        Assert.False(limiter.TryAcquire(IPAddress.Parse("::ffff:192.0.2.9"), out _));
    }
}
