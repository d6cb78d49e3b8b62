namespace Certgate.Ipsec;

/// <summary>
/// The data-plane contract kept in memory, for IKE exchange tests: it records SAs and policies, and
/// <see cref="Carry"/> stands in for traffic so that lifetimes and acquires fire as the real data plane fires them.
/// </summary>
public sealed class MemoryDataPlane(TimeProvider? time = null) : IIpsecDataPlane
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly SpiAllocator _spis = new();
    private readonly Dictionary<(uint, SaDirection), Entry> _sas = [];
    private readonly List<IpsecPolicy> _policies = [];
    private readonly Lock _lock = new();

    public event Action<SaExpiry>? Expired;

    public event Action<SaAcquire>? Acquire;

    /// <summary>The installed SAs.</summary>
    public IReadOnlyList<SaSpec> Sas
    {
        get
        {
            lock (_lock)
            {
                return [.. _sas.Values.Select(e => e.Spec)];
            }
        }
    }

    /// <summary>The installed policies, in match order.</summary>
    public IReadOnlyList<IpsecPolicy> Policies
    {
        get
        {
            lock (_lock)
            {
                return [.. _policies];
            }
        }
    }

    public uint AllocateSpi() => _spis.Allocate();

    public void AddSa(SaSpec sa)
    {
        ArgumentNullException.ThrowIfNull(sa);
        lock (_lock)
        {
            if (!_sas.TryAdd((sa.Spi, sa.Direction), new Entry(sa)))
            {
                throw new ArgumentException($"an {sa.Direction.ToString().ToLowerInvariant()} SA with SPI 0x{sa.Spi:x8} is installed already", nameof(sa));
            }
            _spis.Reserve(sa.Spi);
        }
    }

    public bool DeleteSa(uint spi, SaDirection direction)
    {
        lock (_lock)
        {
            return _sas.Remove((spi, direction));
        }
    }

    public SaUsage? QuerySa(uint spi, SaDirection direction)
    {
        lock (_lock)
        {
            return _sas.TryGetValue((spi, direction), out Entry? e) ? new SaUsage(e.Bytes, e.Packets, e.LastUsed) : null;
        }
    }

    public void AddPolicy(IpsecPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        lock (_lock)
        {
            int at = _policies.FindIndex(p => p.ReqId == policy.ReqId);
            if (at >= 0)
            {
                _policies[at] = policy;
            }
            else
            {
                _policies.Add(policy);
            }
        }
    }

    public bool DeletePolicy(uint reqId)
    {
        lock (_lock)
        {
            return _policies.RemoveAll(p => p.ReqId == reqId) > 0;
        }
    }

    /// <summary>
    /// Accounts <paramref name="packets"/> packets of <paramref name="bytes"/> octets in all to an SA, raising
    /// soft and hard expiry as the ESP data plane does; for an outbound <paramref name="reqId"/> without an SA
    /// (spi 0) raises an acquire. Returns false when the SA is not (or no longer) installed.
    /// </summary>
    public bool Carry(uint spi, SaDirection direction, ulong bytes, ulong packets = 1, uint reqId = 0)
    {
        SaExpiry? soft = null, hard = null;
        lock (_lock)
        {
            if (!_sas.TryGetValue((spi, direction), out Entry? e))
            {
                if (spi == 0 && direction == SaDirection.Outbound && _policies.Any(p => p.ReqId == reqId))
                {
                    Acquire?.Invoke(new SaAcquire(reqId));
                }
                return false;
            }
            e.Bytes += bytes;
            e.Packets += packets;
            e.LastUsed = _time.GetUtcNow();
            SaLifetime l = e.Spec.Lifetime;
            if (!e.SoftFired && ((l.SoftBytes > 0 && e.Bytes >= l.SoftBytes) || (l.SoftPackets > 0 && e.Packets >= l.SoftPackets)))
            {
                e.SoftFired = true;
                soft = new SaExpiry(spi, direction, e.Spec.ReqId, ExpiryKind.Soft, $"soft limit reached after {e.Bytes} bytes, {e.Packets} packets");
            }
            if ((l.HardBytes > 0 && e.Bytes >= l.HardBytes) || (l.HardPackets > 0 && e.Packets >= l.HardPackets))
            {
                _sas.Remove((spi, direction));
                hard = new SaExpiry(spi, direction, e.Spec.ReqId, ExpiryKind.Hard, $"hard limit reached after {e.Bytes} bytes, {e.Packets} packets");
            }
        }
        if (soft is not null)
        {
            Expired?.Invoke(soft);
        }
        if (hard is not null)
        {
            Expired?.Invoke(hard);
        }
        return hard is null;
    }

    private sealed class Entry(SaSpec spec)
    {
        public SaSpec Spec { get; } = spec;

        public ulong Bytes { get; set; }

        public ulong Packets { get; set; }

        public DateTimeOffset? LastUsed { get; set; }

        public bool SoftFired { get; set; }
    }
}
