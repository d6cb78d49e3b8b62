namespace Certgate.Esp.Tests;

/// <summary>The RFC 6479 window against a plain set-based model on random arrival orders.</summary>
public sealed class ReplayWindowTests
{
    [Fact]
    public void MatchesAReferenceModel_OnRandomArrivals()
    {
        var rng = new Random(42);
        var window = new ReplayWindow(256);
        var seen = new HashSet<ulong>();
        ulong top = 0;
        for (int i = 0; i < 200_000; i++)
        {
            ulong seq = (ulong)Math.Max(1, (long)top + rng.Next(-400, 60));
            ReplayCheck expected = seq > top ? ReplayCheck.New
                : top - seq >= window.Size ? ReplayCheck.TooOld
                : seen.Contains(seq) ? ReplayCheck.Replayed : ReplayCheck.New;
            Assert.Equal(expected, window.Check(seq));
            if (expected == ReplayCheck.New && rng.Next(4) != 0)
            {
                Assert.True(window.Accept(seq));
                seen.Add(seq);
                top = Math.Max(top, seq);
            }
        }
        Assert.True(window.Size >= 256);
    }

    [Fact]
    public void BigJump_ClearsEverything_AndZeroIsNeverValid()
    {
        var w = new ReplayWindow(64);
        Assert.Equal(ReplayCheck.TooOld, w.Check(0));
        Assert.True(w.Accept(5));
        Assert.True(w.Accept(1_000_000));
        Assert.Equal(ReplayCheck.TooOld, w.Check(5));
        Assert.Equal(ReplayCheck.New, w.Check(999_990));
        Assert.False(w.Accept(1_000_000));
    }
}
