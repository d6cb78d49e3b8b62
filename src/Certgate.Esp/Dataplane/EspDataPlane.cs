using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Certgate.Esp.Tun;
using Certgate.Ipsec;

namespace Certgate.Esp.Dataplane;

/// <summary>
/// The userspace ESP data plane of one gateway address: a TUN device (what is routed into it is protected) and one
/// UDP socket on port 4500 shared with IKE (RFC 3948 §2.2: a lone 0xFF octet is a NAT keepalive, four zero octets
/// start an IKE message, anything else is ESP). Two threads: TUN → <see cref="EspPacketPath.Protect"/> → socket,
/// and socket → <see cref="EspPacketPath.Unprotect"/> → TUN. SAs and policies come through the
/// <see cref="IIpsecDataPlane"/> contract, which this class forwards to its <see cref="Path"/>.
/// </summary>
public sealed class EspDataPlane : IIpsecDataPlane, IDisposable
{
    private const int MaxPacket = 65535;
    private readonly TunDevice _tun;
    private readonly Socket _socket;
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
        Path = new EspPacketPath(time);
        _toPeer = new Thread(TunToPeer) { IsBackground = true, Name = $"esp-out {tun.Name}" };
        _fromPeer = new Thread(PeerToTun) { IsBackground = true, Name = $"esp-in {tun.Name}" };
    }

    /// <summary>The tables and per-packet work.</summary>
    public EspPacketPath Path { get; }

    public EspCounters Counters => Path.Counters;

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

    public void Start()
    {
        _toPeer.Start();
        _fromPeer.Start();
    }

    /// <summary>Sends an IKE message from this port with the non-ESP marker (RFC 3948 §2.2, RFC 7296 §2.23).</summary>
    public void SendIke(ReadOnlySpan<byte> message, IPEndPoint to)
    {
        byte[] datagram = new byte[message.Length + 4];
        message.CopyTo(datagram.AsSpan(4));
        _socket.SendTo(datagram, SocketFlags.None, to);
    }

    public uint AllocateSpi() => Path.AllocateSpi();

    public void AddSa(SaSpec sa) => Path.AddSa(sa);

    public bool DeleteSa(uint spi, SaDirection direction) => Path.DeleteSa(spi, direction);

    public SaUsage? QuerySa(uint spi, SaDirection direction) => Path.QuerySa(spi, direction);

    public void AddPolicy(IpsecPolicy policy) => Path.AddPolicy(policy);

    public bool DeletePolicy(uint reqId) => Path.DeletePolicy(reqId);

    private void TunToPeer()
    {
        byte[] inner = new byte[MaxPacket];
        byte[] packet = new byte[MaxPacket + EspPacketPath.MaxOverhead];
        // The peer's address serialized once, not per packet (SendTo with an EndPoint serializes it every call).
        IPEndPoint? lastRemote = null;
        SocketAddress? lastAddress = null;
        while (!_stopping)
        {
            int n;
            try
            {
                n = _tun.Read(inner);
            }
            catch (IOException)
            {
                return;
            }
            if (n <= 0 || _stopping)
            {
                return;
            }
            try
            {
                int length = Path.Protect(inner.AsSpan(0, n), packet, out IPEndPoint? remote, out _);
                if (length == 0)
                {
                    continue;
                }
                if (!ReferenceEquals(remote, lastRemote))
                {
                    lastRemote = remote;
                    lastAddress = remote!.Serialize();
                }
                _socket.SendTo(packet.AsSpan(0, length), SocketFlags.None, lastAddress!);
            }
            catch (SocketException)
            {
                // The peer is unreachable for now (ICMP errors surface here); ESP is best effort like IP.
            }
            catch (ObjectDisposedException)
            {
                return;
            }
        }
    }

    private void PeerToTun()
    {
        byte[] datagram = new byte[MaxPacket];
        byte[] inner = new byte[MaxPacket];
        var any = new IPEndPoint(_socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        // Received into one SocketAddress: no endpoint object per packet; one is made only for IKE messages.
        var from = new SocketAddress(_socket.AddressFamily);
        while (!_stopping)
        {
            int n;
            try
            {
                n = _socket.ReceiveFrom(datagram, SocketFlags.None, from);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
            {
                continue;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            ReadOnlySpan<byte> d = datagram.AsSpan(0, n);
            if (n == 1 && d[0] == 0xFF)
            {
                Counters.CountKeepalive();
                continue;
            }
            if (n >= 4 && BinaryPrimitives.ReadUInt32BigEndian(d) == 0)
            {
                Counters.CountIke();
                IkeHandler?.Invoke(d[4..].ToArray(), (IPEndPoint)any.Create(from));
                continue;
            }
            try
            {
                int length = Path.Unprotect(d, inner, out _);
                if (length > 0)
                {
                    _tun.Write(inner.AsSpan(0, length));
                }
            }
            catch (IOException)
            {
                // The interface is down; the packet is lost like any other on a down link.
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
        _tun.Dispose();
        // The TUN reader notices the disposed device within one idle poll (TunDevice), the socket reader at once.
        foreach (Thread t in (Thread[])[_toPeer, _fromPeer])
        {
            if (t.IsAlive)
            {
                t.Join(TimeSpan.FromSeconds(2));
            }
        }
        Path.Dispose();
    }
}
