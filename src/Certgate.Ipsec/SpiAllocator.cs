using System.Security.Cryptography;

namespace Certgate.Ipsec;

/// <summary>Random inbound SPIs, unique among those handed out and not yet released (thread-safe).</summary>
public sealed class SpiAllocator
{
    private readonly HashSet<uint> _inUse = [];
    private readonly Lock _lock = new();

    /// <summary>A random SPI above 255 (RFC 4303 §2.1 reserves 1–255, 0 is "no SA").</summary>
    public uint Allocate()
    {
        lock (_lock)
        {
            while (true)
            {
                uint spi = (uint)RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue);
                if (spi > 255 && _inUse.Add(spi))
                {
                    return spi;
                }
            }
        }
    }

    /// <summary>Marks <paramref name="spi"/> used (an SA installed with an SPI not from <see cref="Allocate"/>).</summary>
    public bool Reserve(uint spi)
    {
        lock (_lock)
        {
            return _inUse.Add(spi);
        }
    }

    public void Release(uint spi)
    {
        lock (_lock)
        {
            _inUse.Remove(spi);
        }
    }
}
