using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Certgate.Esp.Io;
using Certgate.Esp.Tun;
using Certgate.Ipsec;

namespace Certgate.Esp.Dataplane;

/// <summary>
/// The userspace ESP data plane of one gateway address: a TUN device (what is routed into it is protected) and one
/// UDP socket on port 4500 shared with IKE (RFC 3948 §2.2: a lone 0xFF octet is a NAT keepalive, four zero octets
/// start an IKE message, anything else is ESP), and, where the process may open one, a raw socket for ESP without
/// UDP (IP protocol 50) for SAs with <see cref="SaSpec.UdpEncapsulation"/> false.
/// <para>Outbound, one thread: read a burst from the TUN device (a TCP super-packet is cut into segments first when the
/// device has offloads) → <c>EspPacketPath.Protect</c> each packet straight into the send batch → one
/// <c>sendmmsg</c> per burst (runs to one peer as one UDP GSO message).</para>
/// <para>Inbound, one thread per socket: <c>recvmmsg</c> (UDP GRO runs cut into datagrams) → classify →
/// <c>EspPacketPath.Unprotect</c> → coalesce in-order TCP segments (device offloads) → write to the device.</para>
/// SAs and policies come through the <see cref="IIpsecDataPlane"/> contract, which this class forwards to its
/// <see cref="Path"/>.
/// </summary>
public sealed class EspDataPlane : IIpsecDataPlane, IDisposable
{
    private const int MaxPacket = 65535;

    /// <summary>Packets read from the device before the batch is sent (latency stays one burst's worth of work).</summary>
    private const int MaxBurst = 128;
    private readonly TunDevice _tun;
    private readonly Socket _socket;
    private readonly SafeHandle? _raw;
    private readonly string? _rawError;
    private readonly Thread? _fromPeerRaw;
    private UdpBatchSocket _io = null!;
    private UdpBatchSocket? _rawIo;
    private readonly Thread _toPeer;
    private readonly Thread _fromPeer;
    private volatile bool _stopping;

    /// <summary>Binds <paramref name="local"/> (port 4500 normally) and serves <paramref name="tun"/>; call <see cref="Start"/>.</summary>
    /// <exception cref="SocketException">The address cannot be bound.</exception>
    public EspDataPlane(TunDevice tun, IPEndPoint local, TimeProvider? time = null)
    {
        _tun = tun ?? throw new ArgumentNullException(nameof(tun));
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
        Path = new EspPacketPath(time);
        _toPeer = new Thread(TunToPeer) { IsBackground = true, Name = $"esp-out {tun.Name}" };
        _fromPeer = new Thread(() => PeerToTun(_io, udp: true)) { IsBackground = true, Name = $"esp-in {tun.Name}" };
        _fromPeerRaw = _raw is null ? null : new Thread(() => PeerToTun(_rawIo!, udp: false)) { IsBackground = true, Name = $"esp-raw-in {tun.Name}" };
    }

    /// <summary>The tables and per-packet work.</summary>
    public EspPacketPath Path { get; }

    public EspCounters Counters => Path.Counters;

    /// <summary>How packets move (batching and which kernel offloads are on), for the log; after <see cref="Start"/>.</summary>
    public string IoDescription => _io.Describe() + (_tun.Offloads ? ", TUN TSO/GRO on" : ", TUN offloads off") +
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
        _toPeer.Start();
        _fromPeer.Start();
        _fromPeerRaw?.Start();
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
    /// TUN → peer. A burst is one blocking read and then whatever else the device has queued (up to
    /// <see cref="MaxBurst"/> packets); each packet is protected straight into the send batch, and the batch goes out
    /// in one <c>sendmmsg</c> (runs to one peer as one UDP GSO message where the kernel allows).
    /// </summary>
    private void TunToPeer()
    {
        byte[] inner = GC.AllocateArray<byte>(VirtioNetHeader.Length + MaxPacket, pinned: true);
        byte[] segment = _tun.Offloads ? GC.AllocateArray<byte>(MaxPacket, pinned: true) : [];
        EspDataPlane self = this;
        while (!_stopping)
        {
            try
            {
                int n = _tun.Read(inner);
                if (n <= 0 || _stopping)
                {
                    return;
                }
                int burst = 0;
                do
                {
                    if (!_tun.Offloads)
                    {
                        ProtectOne(inner.AsSpan(0, n));
                    }
                    else if (n <= VirtioNetHeader.Length ||
                             !TcpSegmentation.Split(VirtioNetHeader.Read(inner), inner.AsSpan(VirtioNetHeader.Length, n - VirtioNetHeader.Length), segment, ref self,
                                 static (ref EspDataPlane plane, Span<byte> packet) => plane.ProtectOne(packet)))
                    {
                        Counters.CountDrop(EspDrop.NotIp);
                    }
                }
                while (++burst < MaxBurst && (n = _tun.ReadQueued(inner)) > 0);
                // Refused datagrams (an ICMP error pending for the peer, say) are lost like any packet on a bad path.
                _io.Flush();
                _rawIo?.Flush();
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

    private void ProtectOne(ReadOnlySpan<byte> inner)
    {
        // The room comes from the UDP batch; a raw-ESP packet (rare next to UDP, where NAT is the rule) is moved over.
        Span<byte> room = _io.SendBuffer(inner.Length + EspPacketPath.MaxOverhead);
        int length = Path.Protect(inner, room, out IPEndPoint? remote, out bool udp, out _);
        if (length == 0)
        {
            return;
        }
        if (udp)
        {
            _io.Commit(length, remote!);
        }
        else if (_rawIo is not null)
        {
            room[..length].CopyTo(_rawIo.SendBuffer(length));
            _rawIo.Commit(length, new IPEndPoint(remote!.Address, 0));
        }
    }

    /// <summary>
    /// Peer → TUN. One <c>recvmmsg</c> returns up to <see cref="UdpBatchSocket.ReceiveSlots"/> messages; with UDP GRO a
    /// message is a run of equal-sized datagrams, cut here. Each datagram is classified (RFC 3948 §2.2) and ESP is
    /// unprotected and written to the device.
    /// </summary>
    private void PeerToTun(UdpBatchSocket io, bool udp)
    {
        byte[] inner = GC.AllocateArray<byte>(VirtioNetHeader.Length + MaxPacket, pinned: true);
        // With offloads the decrypted packet lands behind room for its virtio header, so it is written without a copy.
        int at0 = _tun.Offloads ? VirtioNetHeader.Length : 0;
        TcpCoalescer? gro = _tun.Offloads ? new TcpCoalescer(_tun.Write) : null;
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
            if (messages == 0)
            {
                return;
            }
            try
            {
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
                        int length = Path.Unprotect(d, inner.AsSpan(at0), udp, out _);
                        if (length > 0)
                        {
                            if (gro is null)
                            {
                                _tun.Write(inner.AsSpan(0, length));
                            }
                            else
                            {
                                gro.Add(inner.AsSpan(0, at0 + length));
                            }
                        }
                    }
                }
                gro?.Flush();
            }
            catch (IOException)
            {
                // The interface is down; the packets are lost like any others on a down link.
            }
            catch (ObjectDisposedException)
            {
                return;
            }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _socket.Dispose();
        _raw?.Dispose();
        _tun.Dispose();
        // The TUN reader notices the disposed device within one idle poll (TunDevice), the socket reader at once.
        foreach (Thread? t in (Thread?[])[_toPeer, _fromPeer, _fromPeerRaw])
        {
            if (t is null)
            {
                continue;
            }
            if (t.IsAlive)
            {
                t.Join(TimeSpan.FromSeconds(2));
            }
        }
        Path.Dispose();
    }
}
