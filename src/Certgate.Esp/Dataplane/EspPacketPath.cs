using System.Buffers.Binary;
using System.Net;
using Certgate.Ipsec;
using Certgate.Ipsec.Registry;

namespace Certgate.Esp.Dataplane;

/// <summary>
/// The userspace ESP data plane without its I/O: the SA and policy tables behind the <see cref="IIpsecDataPlane"/>
/// contract, and the per-packet work.
/// <para>Outbound (<c>Protect</c>): read the inner header → first policy whose selectors cover it → that
/// policy's newest outbound SA (none: count NoSa and raise Acquire) → sequence number and encrypt → count traffic
/// against the lifetime → the peer's endpoint for the caller to send to.</para>
/// <para>Inbound (<c>Unprotect</c>): SPI → SA → replay pre-check → ICV → decrypt → window update (all in
/// <see cref="EspSa"/>) → inner version check → the inner packet must lie inside the SA's selectors → count.</para>
/// Tables are immutable snapshots replaced whole under a lock, so the packet threads read them without locking.
/// <para>Devices: a data plane may serve several TUN devices (one per service set on the same local address). Each
/// ReqId belongs to one device (<see cref="BindDevice"/>; unbound ReqIds belong to device 0): outbound, a packet read
/// from a device is matched only against that device's policies, because two service sets may negotiate the same
/// selectors (next-hop sets commonly use 0.0.0.0/0 both ways) and first-match over all policies would send one set's
/// traffic into the other's SA; inbound, <c>Unprotect</c> names the device of the SA's ReqId.</para>
/// One thread per device may call <c>Protect</c> and one thread <c>Unprotect</c> at a time (an EspSa's send side
/// and receive side each have one owner).
/// </summary>
public sealed class EspPacketPath : IIpsecDataPlane, IDisposable
{
    private static readonly TimeSpan AcquireInterval = TimeSpan.FromSeconds(1);
    private readonly Lock _writeLock = new();
    private readonly SpiAllocator _spis = new();
    private readonly TimeProvider _time;
    private Tables _tables = Tables.Empty;

    public EspPacketPath(TimeProvider? time = null) => _time = time ?? TimeProvider.System;

    public EspCounters Counters { get; } = new();

    public event Action<SaExpiry>? Expired;

    public event Action<SaAcquire>? Acquire;

    /// <summary>The most octets ESP adds to an inner packet here (header, IV, padding, trailer, the longest ICV).</summary>
    public static int MaxOverhead => 8 + 16 + 15 + 2 + 32;

    public uint AllocateSpi() => _spis.Allocate();

    public void AddSa(SaSpec sa)
    {
        ArgumentNullException.ThrowIfNull(sa);
        var installed = new InstalledSa(sa, new EspSa(ToParameters(sa), sa.ReplayWindow));
        lock (_writeLock)
        {
            Tables t = _tables;
            if (sa.Direction == SaDirection.Inbound)
            {
                if (t.Inbound.ContainsKey(sa.Spi))
                {
                    installed.Esp.Dispose();
                    throw new ArgumentException($"an inbound SA with SPI 0x{sa.Spi:x8} is installed already", nameof(sa));
                }
                Volatile.Write(ref _tables, t with { Inbound = new Dictionary<uint, InstalledSa>(t.Inbound) { [sa.Spi] = installed } });
            }
            else
            {
                if (t.Outbound.ContainsKey(sa.Spi))
                {
                    installed.Esp.Dispose();
                    throw new ArgumentException($"an outbound SA with SPI 0x{sa.Spi:x8} is installed already", nameof(sa));
                }
                Volatile.Write(ref _tables, t with
                {
                    Outbound = new Dictionary<uint, InstalledSa>(t.Outbound) { [sa.Spi] = installed },
                    Current = new Dictionary<uint, InstalledSa>(t.Current) { [sa.ReqId] = installed },
                });
            }
            _spis.Reserve(sa.Spi);
        }
    }

    public bool DeleteSa(uint spi, SaDirection direction)
    {
        InstalledSa? removed;
        lock (_writeLock)
        {
            removed = RemoveLocked(spi, direction);
        }
        // Not disposed here: a packet thread may still be using the old snapshot for one packet. The SA's crypto
        // objects hold their native state in SafeHandles, which release it when collected.
        return removed is not null;
    }

    public SaUsage? QuerySa(uint spi, SaDirection direction)
    {
        Tables t = Volatile.Read(ref _tables);
        Dictionary<uint, InstalledSa> table = direction == SaDirection.Inbound ? t.Inbound : t.Outbound;
        return table.TryGetValue(spi, out InstalledSa? sa) ? sa.Usage() : null;
    }

    public void AddPolicy(IpsecPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        lock (_writeLock)
        {
            Tables t = _tables;
            var policies = t.Policies.Where(p => p.ReqId != policy.ReqId).ToList();
            int at = Array.FindIndex(t.Policies, p => p.ReqId == policy.ReqId);
            policies.Insert(at < 0 ? policies.Count : at, policy);
            Volatile.Write(ref _tables, t with { Policies = [.. policies] });
        }
    }

    /// <summary>
    /// Makes <paramref name="reqId"/>'s policy and SAs belong to <paramref name="device"/> (a data plane's device
    /// number): its policy matches only packets read from that device, and packets its inbound SAs decrypt go to it.
    /// </summary>
    public void BindDevice(uint reqId, int device)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(device);
        lock (_writeLock)
        {
            Tables t = _tables;
            Volatile.Write(ref _tables, t with { Devices = new Dictionary<uint, int>(t.Devices) { [reqId] = device } });
        }
    }

    /// <summary>Forgets the ReqIds bound to <paramref name="device"/> (it was removed); returns how many.</summary>
    public int UnbindDevice(int device)
    {
        lock (_writeLock)
        {
            Tables t = _tables;
            var devices = t.Devices.Where(kv => kv.Value != device).ToDictionary(kv => kv.Key, kv => kv.Value);
            Volatile.Write(ref _tables, t with { Devices = devices });
            return t.Devices.Count - devices.Count;
        }
    }

    /// <summary>The device <paramref name="reqId"/> belongs to (0 when it was never bound).</summary>
    public int DeviceOf(uint reqId) => Volatile.Read(ref _tables).Devices.GetValueOrDefault(reqId);

    public bool DeletePolicy(uint reqId)
    {
        lock (_writeLock)
        {
            Tables t = _tables;
            if (!Array.Exists(t.Policies, p => p.ReqId == reqId))
            {
                return false;
            }
            Volatile.Write(ref _tables, t with { Policies = [.. t.Policies.Where(p => p.ReqId != reqId)] });
            return true;
        }
    }

    /// <summary>
    /// Protects one inner packet into <paramref name="packet"/> (at least inner length + <see cref="MaxOverhead"/>).
    /// On success returns the ESP packet's length and the peer to send it to; otherwise 0 and the counted reason.
    /// </summary>
    public int Protect(ReadOnlySpan<byte> inner, Span<byte> packet, out IPEndPoint? remote, out EspDrop drop) =>
        Protect(inner, packet, out remote, out _, out drop);

    /// <summary>
    /// <see cref="Protect(ReadOnlySpan{byte}, Span{byte}, out IPEndPoint?, out EspDrop)"/>, and whether the SA sends
    /// ESP in UDP (<paramref name="udpEncapsulation"/>) or as IP protocol 50.
    /// </summary>
    public int Protect(ReadOnlySpan<byte> inner, Span<byte> packet, out IPEndPoint? remote, out bool udpEncapsulation, out EspDrop drop) =>
        Protect(inner, 0, packet, out remote, out udpEncapsulation, out drop);

    /// <summary>
    /// <see cref="Protect(ReadOnlySpan{byte}, Span{byte}, out IPEndPoint?, out bool, out EspDrop)"/> for a packet read
    /// from <paramref name="device"/>: only the policies of ReqIds bound to that device are matched.
    /// </summary>
    public int Protect(ReadOnlySpan<byte> inner, int device, Span<byte> packet, out IPEndPoint? remote, out bool udpEncapsulation, out EspDrop drop)
    {
        remote = null;
        udpEncapsulation = true;
        drop = default;
        if (!InnerPacket.TryRead(inner, out InnerPacket header))
        {
            return Drop(EspDrop.NotIp, out drop);
        }
        Tables t = Volatile.Read(ref _tables);
        IpsecPolicy? policy = null;
        foreach (IpsecPolicy p in t.Policies)
        {
            if (t.Devices.GetValueOrDefault(p.ReqId) == device && header.MatchesAny(p.LocalSelectors, p.RemoteSelectors))
            {
                policy = p;
                break;
            }
        }
        if (policy is null)
        {
            return Drop(EspDrop.NoPolicy, out drop);
        }
        if (!t.Current.TryGetValue(policy.ReqId, out InstalledSa? sa) || sa.HardExpired)
        {
            RaiseAcquire(policy.ReqId);
            return Drop(EspDrop.NoSa, out drop);
        }
        if (sa.Esp.MaxPacketLength(inner.Length) > packet.Length)
        {
            return Drop(EspDrop.TooBig, out drop);
        }
        int length;
        try
        {
            length = sa.Esp.Encapsulate(inner, header.IsIPv6 ? (byte)41 : (byte)4, packet);
        }
        catch (EspSequenceExhaustedException)
        {
            Expire(sa, ExpiryKind.Hard, "its sequence numbers are used up");
            return Drop(EspDrop.Expired, out drop);
        }
        Account(sa, inner.Length);
        remote = sa.Spec.Remote;
        udpEncapsulation = sa.Spec.UdpEncapsulation;
        Counters.CountSent();
        return length;
    }

    /// <summary>
    /// Verifies and decrypts one ESP packet (SPI first) into <paramref name="inner"/> (at least the packet's length).
    /// Returns the inner packet's length, or 0 and the counted reason.
    /// </summary>
    public int Unprotect(ReadOnlySpan<byte> packet, Span<byte> inner, out EspDrop drop) => Unprotect(packet, inner, null, out drop);

    /// <summary>
    /// <see cref="Unprotect(ReadOnlySpan{byte}, Span{byte}, out EspDrop)"/> for a packet that arrived in UDP
    /// (<paramref name="udpEncapsulated"/> true) or as IP protocol 50 (false): the SA must have been set up that way.
    /// This also keeps each SA's receive side on one thread when a data plane reads the two sockets on two threads.
    /// </summary>
    public int Unprotect(ReadOnlySpan<byte> packet, Span<byte> inner, bool? udpEncapsulated, out EspDrop drop) =>
        Unprotect(packet, inner, udpEncapsulated, out _, out drop);

    /// <summary>
    /// <see cref="Unprotect(ReadOnlySpan{byte}, Span{byte}, bool?, out EspDrop)"/>, and the device the inner packet
    /// goes to: the one the SA's ReqId is bound to (<see cref="BindDevice"/>).
    /// </summary>
    public int Unprotect(ReadOnlySpan<byte> packet, Span<byte> inner, bool? udpEncapsulated, out int device, out EspDrop drop)
    {
        drop = default;
        device = 0;
        if (packet.Length < 8)
        {
            return Drop(EspDrop.Malformed, out drop);
        }
        Tables t = Volatile.Read(ref _tables);
        if (!t.Inbound.TryGetValue(BinaryPrimitives.ReadUInt32BigEndian(packet), out InstalledSa? sa) || sa.HardExpired)
        {
            return Drop(EspDrop.UnknownSpi, out drop);
        }
        if (udpEncapsulated is bool udp && udp != sa.Spec.UdpEncapsulation)
        {
            return Drop(EspDrop.WrongEncapsulation, out drop);
        }
        if (inner.Length < packet.Length)
        {
            return Drop(EspDrop.TooBig, out drop);
        }
        EspResult result = sa.Esp.Decapsulate(packet, inner, out int length, out byte nextHeader);
        switch (result)
        {
            case EspResult.Ok:
                break;
            case EspResult.Dummy:
                Account(sa, 0);
                return 0;
            default:
                return Drop(result switch
                {
                    EspResult.Replayed => EspDrop.Replayed,
                    EspResult.TooOld => EspDrop.TooOld,
                    EspResult.AuthenticationFailed => EspDrop.AuthenticationFailed,
                    EspResult.BadPadding => EspDrop.BadPadding,
                    _ => EspDrop.Malformed,
                }, out drop);
        }
        ReadOnlySpan<byte> plain = inner[..length];
        int version = length > 0 ? plain[0] >> 4 : 0;
        if (!((nextHeader == 4 && version == 4) || (nextHeader == 41 && version == 6)) || !InnerPacket.TryRead(plain, out InnerPacket header))
        {
            return Drop(EspDrop.InnerMismatch, out drop);
        }
        // RFC 4301 §5.2 step 4: "the receiver MUST verify that the packet is consistent with the selectors of the SA".
        if (!header.MatchesAny(sa.Spec.RemoteSelectors, sa.Spec.LocalSelectors))
        {
            return Drop(EspDrop.PolicyMismatch, out drop);
        }
        Account(sa, length);
        Counters.CountReceived();
        device = t.Devices.GetValueOrDefault(sa.Spec.ReqId);
        return length;
    }

    public void Dispose()
    {
        lock (_writeLock)
        {
            foreach (InstalledSa sa in _tables.Inbound.Values.Concat(_tables.Outbound.Values))
            {
                sa.Esp.Dispose();
            }
            _tables = Tables.Empty;
        }
    }

    private int Drop(EspDrop reason, out EspDrop drop)
    {
        drop = reason;
        Counters.CountDrop(reason);
        return 0;
    }

    private void Account(InstalledSa sa, int bytes)
    {
        (ulong total, ulong packets) = sa.Add(bytes, _time.GetUtcNow());
        SaLifetime l = sa.Spec.Lifetime;
        if ((l.HardBytes > 0 && total >= l.HardBytes) || (l.HardPackets > 0 && packets >= l.HardPackets))
        {
            Expire(sa, ExpiryKind.Hard, $"hard limit reached after {total} bytes, {packets} packets");
        }
        else if ((l.SoftBytes > 0 && total >= l.SoftBytes) || (l.SoftPackets > 0 && packets >= l.SoftPackets))
        {
            Expire(sa, ExpiryKind.Soft, $"soft limit reached after {total} bytes, {packets} packets");
        }
    }

    private void Expire(InstalledSa sa, ExpiryKind kind, string reason)
    {
        if (!sa.MarkExpired(kind))
        {
            return;
        }
        if (kind == ExpiryKind.Hard)
        {
            lock (_writeLock)
            {
                RemoveLocked(sa.Spec.Spi, sa.Spec.Direction);
            }
        }
        var expiry = new SaExpiry(sa.Spec.Spi, sa.Spec.Direction, sa.Spec.ReqId, kind, reason);
        Action<SaExpiry>? handler = Expired;
        if (handler is not null)
        {
            // Off the packet path: IKE's handler may take locks or send messages.
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Handler(s.Expiry), (Handler: handler, Expiry: expiry), preferLocal: false);
        }
    }

    private void RaiseAcquire(uint reqId)
    {
        Action<SaAcquire>? handler = Acquire;
        if (handler is null)
        {
            return;
        }
        long now = _time.GetTimestamp();
        Tables t = Volatile.Read(ref _tables);
        lock (t.LastAcquire)
        {
            if (t.LastAcquire.TryGetValue(reqId, out long last) && _time.GetElapsedTime(last, now) < AcquireInterval)
            {
                return;
            }
            t.LastAcquire[reqId] = now;
        }
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.Handler(new SaAcquire(s.ReqId)), (Handler: handler, ReqId: reqId), preferLocal: false);
    }

    private InstalledSa? RemoveLocked(uint spi, SaDirection direction)
    {
        Tables t = _tables;
        if (direction == SaDirection.Inbound)
        {
            if (!t.Inbound.TryGetValue(spi, out InstalledSa? sa))
            {
                return null;
            }
            var inbound = new Dictionary<uint, InstalledSa>(t.Inbound);
            inbound.Remove(spi);
            Volatile.Write(ref _tables, t with { Inbound = inbound });
            _spis.Release(spi);
            return sa;
        }
        if (!t.Outbound.TryGetValue(spi, out InstalledSa? outSa))
        {
            return null;
        }
        var outbound = new Dictionary<uint, InstalledSa>(t.Outbound);
        outbound.Remove(spi);
        var current = new Dictionary<uint, InstalledSa>(t.Current);
        if (current.TryGetValue(outSa.Spec.ReqId, out InstalledSa? cur) && ReferenceEquals(cur, outSa))
        {
            // Fall back to the newest remaining outbound SA of the same policy, if a rekey left one.
            current.Remove(outSa.Spec.ReqId);
            InstalledSa? next = outbound.Values.Where(s => s.Spec.ReqId == outSa.Spec.ReqId && !s.HardExpired).MaxBy(s => s.Installed);
            if (next is not null)
            {
                current[outSa.Spec.ReqId] = next;
            }
        }
        Volatile.Write(ref _tables, t with { Outbound = outbound, Current = current });
        return outSa;
    }

    private static EspSaParameters ToParameters(SaSpec sa)
    {
        EspCipher cipher = (sa.Encryption, sa.Integrity) switch
        {
            (EncryptionAlgorithm.ENCR_AES_GCM_16, IntegrityAlgorithm.NONE) => EspCipher.AesGcm16,
            (EncryptionAlgorithm.ENCR_AES_CBC, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128) => EspCipher.AesCbcHmacSha256,
            (EncryptionAlgorithm.ENCR_AES_CBC, IntegrityAlgorithm.AUTH_HMAC_SHA2_384_192) => EspCipher.AesCbcHmacSha384,
            (EncryptionAlgorithm.ENCR_AES_CBC, IntegrityAlgorithm.AUTH_HMAC_SHA2_512_256) => EspCipher.AesCbcHmacSha512,
            _ => throw new ArgumentException($"ESP transform {sa.Encryption} with {sa.Integrity} is not supported (AES-GCM-16 alone, or AES-CBC with HMAC-SHA2)", nameof(sa)),
        };
        if (sa.ReplayWindow is < 64 or > 4096)
        {
            throw new ArgumentException($"the replay window is 64 to 4096 packets, not {sa.ReplayWindow}", nameof(sa));
        }
        return EspSaParameters.FromKeymat(sa.Spi, cipher, sa.KeyBits, sa.Keymat, sa.ExtendedSequenceNumbers);
    }

    private sealed record Tables(
        Dictionary<uint, InstalledSa> Inbound,
        Dictionary<uint, InstalledSa> Outbound,
        Dictionary<uint, InstalledSa> Current,
        IpsecPolicy[] Policies,
        Dictionary<uint, long> LastAcquire,
        Dictionary<uint, int> Devices)
    {
        public static Tables Empty => new([], [], [], [], [], []);
    }

    private sealed class InstalledSa(SaSpec spec, EspSa esp)
    {
        private static long s_order;
        private long _bytes;
        private long _packets;
        private long _lastUsedTicks;
        private int _expired;

        public SaSpec Spec { get; } = spec;

        public EspSa Esp { get; } = esp;

        /// <summary>Install order, to find the newest SA of a policy.</summary>
        public long Installed { get; } = Interlocked.Increment(ref s_order);

        public bool HardExpired => Volatile.Read(ref _expired) >= 2;

        public (ulong Bytes, ulong Packets) Add(int bytes, DateTimeOffset now)
        {
            Volatile.Write(ref _lastUsedTicks, now.UtcTicks);
            return ((ulong)Interlocked.Add(ref _bytes, bytes), (ulong)Interlocked.Increment(ref _packets));
        }

        /// <summary>Records a soft (1) or hard (2) expiry; false when it was recorded before.</summary>
        public bool MarkExpired(ExpiryKind kind)
        {
            int level = kind == ExpiryKind.Hard ? 2 : 1;
            while (true)
            {
                int seen = Volatile.Read(ref _expired);
                if (seen >= level)
                {
                    return false;
                }
                if (Interlocked.CompareExchange(ref _expired, level, seen) == seen)
                {
                    return true;
                }
            }
        }

        public SaUsage Usage()
        {
            long ticks = Volatile.Read(ref _lastUsedTicks);
            return new SaUsage((ulong)Interlocked.Read(ref _bytes), (ulong)Interlocked.Read(ref _packets), ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero));
        }
    }
}
