using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Certgate.Esp.Io;
using Certgate.Esp.Tun;
using Certgate.Ipsec;

namespace Certgate.Esp.Dataplane;

/// <summary>
/// The userspace ESP data plane of one gateway address: one UDP socket on port 4500 shared with IKE (RFC 3948 §2.2: a
/// lone 0xFF octet is a NAT keepalive, four zero octets start an IKE message, anything else is ESP), where the process
/// may open one a raw socket for ESP without UDP (IP protocol 50) for SAs with <see cref="SaSpec.UdpEncapsulation"/>
/// false, and the TUN devices it serves (what is routed into one is protected): one per service set on this address
/// (<see cref="Attach"/>), each numbered, with its ReqIds bound to it (<see cref="Bind"/>).
/// <para>Outbound, one thread per device: read a burst from the device (a TCP super-packet is cut into segments first
/// when the device has offloads) → <c>EspPacketPath.Protect</c> against that device's policies, each packet straight
/// into the device's own send batch → one <c>sendmmsg</c> per burst (runs to one peer as one UDP GSO message).</para>
/// <para>Inbound, one thread per socket: <c>recvmmsg</c> (UDP GRO runs cut into datagrams) → classify →
/// <c>EspPacketPath.Unprotect</c> (which names the SA's device) → coalesce in-order TCP segments per device (device
/// offloads) → write to that device.</para>
/// SAs and policies come through the <see cref="IIpsecDataPlane"/> contract, which this class forwards to its
/// <see cref="Path"/>; ReqIds not bound to a device belong to device 0 (the first attached).
/// </summary>
public sealed class EspDataPlane : IIpsecDataPlane, IDisposable
{
    private const int MaxPacket = 65535;

    /// <summary>Packets read from the device before the batch is sent (latency stays one burst's worth of work).</summary>
    private const int MaxBurst = 128;
    private readonly Socket _socket;
    private readonly SafeHandle? _raw;
    private readonly string? _rawError;
    private readonly Thread _fromPeer;
    private readonly Thread? _fromPeerRaw;
    private readonly Lock _devicesLock = new();
    private UdpBatchSocket _io = null!;
    private UdpBatchSocket? _rawIo;

    /// <summary>Attached devices by number (null: a free number); replaced whole, read by the inbound threads without locking.</summary>
    private EspDevice?[] _devices = [];
    private volatile bool _started;
    private volatile bool _stopping;

    /// <summary>Binds <paramref name="local"/> (port 4500 normally) and serves <paramref name="tun"/> as device 0; call <see cref="Start"/>.</summary>
    /// <exception cref="SocketException">The address cannot be bound.</exception>
    public EspDataPlane(TunDevice tun, IPEndPoint local, TimeProvider? time = null)
        : this(local, time)
    {
        ArgumentNullException.ThrowIfNull(tun);
        Attach(tun);
    }

    /// <summary>Binds <paramref name="local"/> (port 4500 normally) with no device yet (<see cref="Attach"/>); call <see cref="Start"/>.</summary>
    /// <exception cref="SocketException">The address cannot be bound.</exception>
    public EspDataPlane(IPEndPoint local, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(local);
        _socket = new Socket(local.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            // IKE may open a socket on this port connected to one peer while it negotiates (NAT traversal).
            _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _socket.Bind(local);
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
        // ESP without UDP (IP protocol 50, RFC 4303 over IP) for SAs with UdpEncapsulation false; where the process may
        // not open a raw socket (no CAP_NET_RAW) only UDP-encapsulated SAs can be installed.
        _raw = UdpBatchSocket.OpenRaw(local.Address, 50, out _rawError);
        // Both sockets carry every tunnel of this address: their receive queues must ride out the receive thread
        // losing the CPU for a while, or packets are lost in the kernel without any ESP counter seeing them.
        ReceiveBufferLength = UdpBatchSocket.EnlargeKernelBuffers(_socket.SafeHandle);
        if (_raw is not null)
        {
            UdpBatchSocket.EnlargeKernelBuffers(_raw);
        }
        Path = new EspPacketPath(time);
        Local = local;
        _fromPeer = new Thread(() => PeerToTun(_io, udp: true)) { IsBackground = true, Name = $"esp-in {local}" };
        _fromPeerRaw = _raw is null ? null : new Thread(() => PeerToTun(_rawIo!, udp: false)) { IsBackground = true, Name = $"esp-raw-in {local}" };
    }

    /// <summary>The smallest default inside MTU: IPv6's minimum link MTU (RFC 8200 §5), below which the kernel
    /// takes IPv6 off the device.</summary>
    public const int MinimumDefaultInnerMtu = 1280;

    /// <summary>
    /// The inside (TUN) MTU that keeps every ESP packet within <paramref name="outerMtu"/>: less the outer IP header
    /// (20 octets IPv4, 40 IPv6, for <paramref name="outer"/>), the UDP header of ESP in UDP (8, RFC 3948 §2.1; raw
    /// ESP needs 8 less) and <see cref="EspPacketPath.MaxOverhead"/> (ESP header 8, IV 16, padding up to 15, pad
    /// length and next header 2, ICV up to 32: the worst transform the data plane has, since the device exists before
    /// any SA is negotiated and a rekey may choose another). 1399 for IPv4 and 1379 for IPv6 over 1500; never below
    /// <see cref="MinimumDefaultInnerMtu"/> (over a smaller outer path the outer layer then fragments).
    /// </summary>
    public static int InnerMtu(int outerMtu, AddressFamily outer) =>
        Math.Max(MinimumDefaultInnerMtu, outerMtu - (outer == AddressFamily.InterNetworkV6 ? 40 : 20) - 8 - EspPacketPath.MaxOverhead);

    /// <summary>The UDP socket's kernel receive buffer in octets, as the kernel reports it (twice what was set).</summary>
    public int ReceiveBufferLength { get; }

    /// <summary>The tables and per-packet work.</summary>
    public EspPacketPath Path { get; }

    public EspCounters Counters => Path.Counters;

    /// <summary>The address and port the data plane is bound to.</summary>
    public IPEndPoint Local { get; }

    /// <summary>The devices attached now.</summary>
    public IReadOnlyList<EspDevice> Devices => [.. Volatile.Read(ref _devices).OfType<EspDevice>()];

    /// <summary>How packets move (batching and which kernel offloads are on), for the log; after <see cref="Start"/>.</summary>
    public string IoDescription => _io.Describe() + $", receive buffer {ReceiveBufferLength / 1024} KiB" +
        (Devices.All(d => d.Tun.Offloads) ? ", TUN TSO/GRO on" : Devices.Any(d => d.Tun.Offloads) ? ", TUN TSO/GRO on some devices" : ", TUN offloads off") +
        (_raw is null ? $", no raw ESP ({_rawError})" : ", raw ESP socket open");

    /// <summary>Receives IKE messages that arrive on this port (non-ESP marker stripped), when set.</summary>
    public Action<ReadOnlyMemory<byte>, IPEndPoint>? IkeHandler { get; init; }

    public event Action<SaExpiry>? Expired
    {
        add => Path.Expired += value;
        remove => Path.Expired -= value;
    }

    public event Action<SaAcquire>? Acquire
    {
        add => Path.Acquire += value;
        remove => Path.Acquire -= value;
    }

    /// <summary>
    /// Use UDP GSO/GRO on the socket where the kernel has them (default); off measures or works around them. The
    /// TUN device's offloads are chosen when it is opened (<see cref="TunDevice.Open(string, bool)"/>).
    /// </summary>
    public bool UdpOffloads { get; init; } = true;

    public void Start()
    {
        _io = new UdpBatchSocket(_socket, UdpOffloads);
        _rawIo = _raw is null ? null : new UdpBatchSocket(_raw, _socket.AddressFamily, allowOffloads: false);
        lock (_devicesLock)
        {
            _started = true;
            foreach (EspDevice? d in _devices)
            {
                d?.Start(this);
            }
        }
        _fromPeer.Start();
        _fromPeerRaw?.Start();
    }

    /// <summary>
    /// Serves <paramref name="tun"/> from now on (its reader starts at once when the data plane runs) under the lowest
    /// free device number; the data plane owns the device until <see cref="Detach"/>.
    /// </summary>
    public EspDevice Attach(TunDevice tun)
    {
        ArgumentNullException.ThrowIfNull(tun);
        ObjectDisposedException.ThrowIf(_stopping, this);
        lock (_devicesLock)
        {
            EspDevice?[] devices = _devices;
            int id = Array.IndexOf(devices, null);
            if (id < 0)
            {
                id = devices.Length;
                Array.Resize(ref devices, id + 1);
            }
            else
            {
                devices = (EspDevice?[])devices.Clone();
            }
            var device = new EspDevice(id, tun);
            devices[id] = device;
            Volatile.Write(ref _devices, devices);
            if (_started)
            {
                device.Start(this);
            }
            return device;
        }
    }

    /// <summary>Makes <paramref name="reqId"/>'s policy and SAs belong to <paramref name="device"/> (see <see cref="EspPacketPath.BindDevice"/>).</summary>
    public void Bind(uint reqId, EspDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        Path.BindDevice(reqId, device.Id);
    }

    /// <summary>
    /// Stops serving <paramref name="device"/>: its ReqId bindings go, its reader ends and the TUN device is closed.
    /// Delete the interface first (a blocking read(2) ends when the interface goes, not when the descriptor closes).
    /// Packets still arriving for its SAs are counted as <see cref="EspDrop.NoDevice"/>.
    /// </summary>
    public void Detach(EspDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        lock (_devicesLock)
        {
            EspDevice?[] devices = _devices;
            if (device.Id >= devices.Length || !ReferenceEquals(devices[device.Id], device))
            {
                return;
            }
            devices = (EspDevice?[])devices.Clone();
            devices[device.Id] = null;
            Volatile.Write(ref _devices, devices);
            Path.UnbindDevice(device.Id);
        }
        device.Stop();
    }

    /// <summary>Sends an IKE message from this port with the non-ESP marker (RFC 3948 §2.2, RFC 7296 §2.23).</summary>
    public void SendIke(ReadOnlySpan<byte> message, IPEndPoint to)
    {
        byte[] datagram = new byte[message.Length + 4];
        message.CopyTo(datagram.AsSpan(4));
        _socket.SendTo(datagram, SocketFlags.None, to);
    }

    public uint AllocateSpi() => Path.AllocateSpi();

    /// <exception cref="ArgumentException">The SA cannot be installed (see <see cref="EspPacketPath.AddSa"/>), or it is raw ESP and this process may not open a raw socket.</exception>
    public void AddSa(SaSpec sa)
    {
        ArgumentNullException.ThrowIfNull(sa);
        if (!sa.UdpEncapsulation && _raw is null)
        {
            throw new ArgumentException($"SA 0x{sa.Spi:x8}: raw ESP (IP protocol 50, no UDP encapsulation) needs a raw socket, which could not be opened: {_rawError}", nameof(sa));
        }
        Path.AddSa(sa);
    }

    public bool DeleteSa(uint spi, SaDirection direction) => Path.DeleteSa(spi, direction);

    public SaUsage? QuerySa(uint spi, SaDirection direction) => Path.QuerySa(spi, direction);

    public void AddPolicy(IpsecPolicy policy) => Path.AddPolicy(policy);

    public bool DeletePolicy(uint reqId) => Path.DeletePolicy(reqId);

    /// <summary>
    /// TUN → peer for one device. A burst is one blocking read and then whatever else the device has queued (up to
    /// <see cref="MaxBurst"/> packets); each packet is protected straight into the device's send batch, and the batch
    /// goes out in one <c>sendmmsg</c> (runs to one peer as one UDP GSO message where the kernel allows).
    /// </summary>
    internal void TunToPeer(EspDevice device)
    {
        TunDevice tun = device.Tun;
        byte[] inner = GC.AllocateArray<byte>(VirtioNetHeader.Length + MaxPacket, pinned: true);
        byte[] segment = tun.Offloads ? GC.AllocateArray<byte>(MaxPacket, pinned: true) : [];
        // Each device sends through its own batch on the shared socket, so the readers of two devices never share one.
        var sender = new Sender(this, device.Id, new UdpBatchSocket(_socket, UdpOffloads, sendOnly: true));
        while (!_stopping && !device.Stopping)
        {
            try
            {
                int n = tun.Read(inner);
                if (n <= 0 || _stopping || device.Stopping)
                {
                    return;
                }
                int burst = 0;
                do
                {
                    if (!tun.Offloads)
                    {
                        sender.ProtectOne(inner.AsSpan(0, n));
                    }
                    else if (n <= VirtioNetHeader.Length ||
                             !TcpSegmentation.Split(VirtioNetHeader.Read(inner), inner.AsSpan(VirtioNetHeader.Length, n - VirtioNetHeader.Length), segment, ref sender,
                                 static (ref Sender s, Span<byte> packet) => s.ProtectOne(packet)))
                    {
                        Counters.CountDrop(EspDrop.NotIp);
                    }
                }
                while (++burst < MaxBurst && (n = tun.ReadQueued(inner)) > 0);
                // Refused datagrams (an ICMP error pending for the peer, say) are lost like any packet on a bad path.
                sender.Io.Flush();
                sender.RawIo?.Flush();
            }
            catch (IOException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
        }
    }

    /// <summary>One device's outbound state: its number and its send batches (the raw one made with its first packet:
    /// raw ESP is rare next to UDP, and a data plane may serve many devices).</summary>
    private sealed class Sender(EspDataPlane plane, int device, UdpBatchSocket io)
    {
        public UdpBatchSocket Io { get; } = io;

        public UdpBatchSocket? RawIo { get; private set; }

        public void ProtectOne(ReadOnlySpan<byte> inner)
        {
            // The room comes from the UDP batch; a raw-ESP packet (rare next to UDP, where NAT is the rule) is moved over.
            Span<byte> room = Io.SendBuffer(inner.Length + EspPacketPath.MaxOverhead);
            int length = plane.Path.Protect(inner, device, room, out IPEndPoint? remote, out bool udp, out _);
            if (length == 0)
            {
                return;
            }
            if (udp)
            {
                Io.Commit(length, remote!);
            }
            else if (plane._raw is not null)
            {
                RawIo ??= new UdpBatchSocket(plane._raw, plane._socket.AddressFamily, allowOffloads: false, sendOnly: true);
                room[..length].CopyTo(RawIo.SendBuffer(length));
                RawIo.Commit(length, new IPEndPoint(remote!.Address, 0));
            }
        }
    }

    /// <summary>
    /// Peer → TUN. One <c>recvmmsg</c> returns up to <see cref="UdpBatchSocket.ReceiveSlots"/> messages; with UDP GRO a
    /// message is a run of equal-sized datagrams, cut here. Each datagram is classified (RFC 3948 §2.2) and ESP is
    /// unprotected and written to the device of its SA.
    /// </summary>
    private void PeerToTun(UdpBatchSocket io, bool udp)
    {
        // The decrypted packet always lands behind room for a virtio header, so a device with offloads gets it
        // without a copy; a device without them is written from behind that room.
        byte[] inner = GC.AllocateArray<byte>(VirtioNetHeader.Length + MaxPacket, pinned: true);
        const int at0 = VirtioNetHeader.Length;
        // This thread's coalescers, one per device with offloads it wrote to (checked against the device now
        // attached under that number, which a commit may have replaced).
        var gro = new Dictionary<EspDevice, TcpCoalescer>();
        uint overflows = 0;
        while (!_stopping)
        {
            int messages;
            try
            {
                messages = io.Receive();
            }
            catch (SocketException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            if (messages == 0)
            {
                return;
            }
            if (io.Overflows != overflows)
            {
                // The kernel's count is cumulative and wraps at 2^32: the difference, modulo 2^32, is what is new.
                Counters.CountDrops(EspDrop.ReceiveQueueOverflow, unchecked(io.Overflows - overflows));
                overflows = io.Overflows;
            }
            EspDevice?[] devices = Volatile.Read(ref _devices);
            for (int i = 0; i < messages; i++)
            {
                ReadOnlySpan<byte> run = io.Received(i, out int segment);
                if (!udp && _socket.AddressFamily == AddressFamily.InterNetwork)
                {
                    // A raw IPv4 socket hands over the IP header too (IPv6 raw sockets do not).
                    int header = run.IsEmpty ? 0 : (run[0] & 0xF) * 4;
                    run = run.Length > header ? run[header..] : [];
                    segment = run.Length;
                }
                if (run.IsEmpty)
                {
                    continue;
                }
                for (int at = 0; at < run.Length; at += segment)
                {
                    ReadOnlySpan<byte> d = run.Slice(at, Math.Min(segment, run.Length - at));
                    if (udp && d.Length == 1 && d[0] == 0xFF)
                    {
                        Counters.CountKeepalive();
                        continue;
                    }
                    if (udp && d.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(d) == 0)
                    {
                        Counters.CountIke();
                        IkeHandler?.Invoke(d[4..].ToArray(), io.ReceivedFrom(i));
                        continue;
                    }
                    int length = Path.Unprotect(d, inner.AsSpan(at0), udp, out int id, out _);
                    if (length == 0)
                    {
                        continue;
                    }
                    if (id >= devices.Length || devices[id] is not { Stopping: false } device)
                    {
                        Counters.CountDrop(EspDrop.NoDevice);
                        continue;
                    }
                    try
                    {
                        if (!device.Tun.Offloads)
                        {
                            device.Tun.Write(inner.AsSpan(at0, length));
                        }
                        else
                        {
                            if (!gro.TryGetValue(device, out TcpCoalescer? c))
                            {
                                gro[device] = c = new TcpCoalescer(device.Tun.Write);
                            }
                            c.Add(inner.AsSpan(0, at0 + length));
                        }
                    }
                    catch (Exception e) when (e is IOException or ObjectDisposedException)
                    {
                        // The interface is down or was just removed; the packet is lost like any other on a down link.
                    }
                }
            }
            foreach ((EspDevice device, TcpCoalescer c) in gro)
            {
                try
                {
                    c.Flush();
                }
                catch (Exception e) when (e is IOException or ObjectDisposedException)
                {
                    // As above: a device that went away loses what was being coalesced for it.
                }
            }
            if (gro.Count > 0 && gro.Keys.Any(d => d.Stopping))
            {
                foreach (EspDevice gone in gro.Keys.Where(d => d.Stopping).ToList())
                {
                    gro.Remove(gone);
                }
            }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _socket.Dispose();
        _raw?.Dispose();
        EspDevice?[] devices;
        lock (_devicesLock)
        {
            devices = _devices;
            _devices = [];
        }
        // A device's reader notices the disposed device within one idle poll (TunDevice), the socket readers at once.
        foreach (EspDevice? d in devices)
        {
            d?.Stop();
        }
        foreach (Thread? t in (Thread?[])[_fromPeer, _fromPeerRaw])
        {
            if (t is { IsAlive: true })
            {
                t.Join(TimeSpan.FromSeconds(2));
            }
        }
        Path.Dispose();
    }
}

/// <summary>A TUN device served by an <see cref="EspDataPlane"/>, under its device number.</summary>
public sealed class EspDevice
{
    private Thread? _reader;
    private volatile bool _stopping;

    internal EspDevice(int id, TunDevice tun)
    {
        Id = id;
        Tun = tun;
    }

    /// <summary>The device number the data plane's tables know it by.</summary>
    public int Id { get; }

    /// <summary>The TUN device (owned by the data plane while attached).</summary>
    public TunDevice Tun { get; }

    internal bool Stopping => _stopping;

    internal void Start(EspDataPlane plane)
    {
        _reader = new Thread(() => plane.TunToPeer(this)) { IsBackground = true, Name = $"esp-out {Tun.Name}" };
        _reader.Start();
    }

    /// <summary>Ends the reader and closes the device.</summary>
    internal void Stop()
    {
        _stopping = true;
        Tun.Dispose();
        if (_reader is { IsAlive: true } r && r != Thread.CurrentThread)
        {
            r.Join(TimeSpan.FromSeconds(2));
        }
    }
}
