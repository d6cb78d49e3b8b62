namespace Certgate.Esp;

/// <summary>
/// The ESP anti-replay window (RFC 4303 §3.4.3) kept as RFC 6479 does it: a ring of 64-bit blocks, so advancing
/// the window zeroes whole blocks instead of shifting a bitmap. The right edge is the highest <em>authenticated</em>
/// sequence number: <see cref="Check"/> runs before the ICV, <see cref="Accept"/> only after it passed.
/// Sequence numbers are 64-bit (ESN-capable); with 32-bit sequence numbers the high half is simply zero.
/// </summary>
public sealed class ReplayWindow
{
    private const int BitsPerBlock = 64;
    private const int BlockShift = 6;
    private readonly ulong[] _blocks;
    private readonly ulong _window;
    private ulong _top;

    /// <summary>A window guaranteeing at least <paramref name="size"/> positions (default 1024; minimum 64).</summary>
    public ReplayWindow(int size = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 64);
        // One extra block: the current one is only partly usable (RFC 6479).
        int blocks = (int)Math.Min(1 << 16, (size + BitsPerBlock - 1) / BitsPerBlock + 1);
        _blocks = new ulong[blocks];
        _window = (ulong)(blocks - 1) * BitsPerBlock;
    }

    /// <summary>The highest sequence number accepted so far (0 before the first).</summary>
    public ulong Highest => _top;

    /// <summary>How many positions behind <see cref="Highest"/> are still tracked.</summary>
    public ulong Size => _window;

    /// <summary>Whether <paramref name="sequence"/> may be new (a cheap check before spending an ICV computation).</summary>
    public ReplayCheck Check(ulong sequence)
    {
        if (sequence == 0)
        {
            // The first packet carries 1 (RFC 4303 §3.3.3): 0 never arrives from a correct sender.
            return ReplayCheck.TooOld;
        }
        if (sequence > _top)
        {
            return ReplayCheck.New;
        }
        if (_top - sequence >= _window)
        {
            return ReplayCheck.TooOld;
        }
        ulong block = _blocks[(int)((sequence >> BlockShift) % (ulong)_blocks.Length)];
        return (block & (1UL << (int)(sequence & (BitsPerBlock - 1)))) != 0 ? ReplayCheck.Replayed : ReplayCheck.New;
    }

    /// <summary>Records <paramref name="sequence"/> after its ICV verified; false if it was a replay after all.</summary>
    public bool Accept(ulong sequence)
    {
        if (Check(sequence) != ReplayCheck.New)
        {
            return false;
        }
        if (sequence > _top)
        {
            ulong oldBlock = _top >> BlockShift;
            ulong newBlock = sequence >> BlockShift;
            ulong steps = Math.Min(newBlock - oldBlock, (ulong)_blocks.Length);
            for (ulong i = 1; i <= steps; i++)
            {
                _blocks[(int)((oldBlock + i) % (ulong)_blocks.Length)] = 0;
            }
            _top = sequence;
        }
        _blocks[(int)((sequence >> BlockShift) % (ulong)_blocks.Length)] |= 1UL << (int)(sequence & (BitsPerBlock - 1));
        return true;
    }
}

/// <summary>What the window says about a sequence number.</summary>
public enum ReplayCheck
{
    /// <summary>Not seen and inside or right of the window.</summary>
    New,

    /// <summary>Already received.</summary>
    Replayed,

    /// <summary>Left of the window (or 0): can no longer be told apart from a replay.</summary>
    TooOld,
}
