using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Certgate.Esp.Tun;

namespace Certgate.Esp.Tunnel;

/// <summary>Packet counters of one tunnel (read while it runs).</summary>
public sealed class EspTunnelCounters
{
    internal long SentPackets;
    internal long ReceivedPackets;
    internal long Keepalives;
    internal long IkePackets;
    internal long UnknownSpi;
    internal long InnerMismatch;
    internal readonly long[] Drops = new long[Enum.GetValues<EspResult>().Length];

    public long Sent => Interlocked.Read(ref SentPackets);

    public long Received => Interlocked.Read(ref ReceivedPackets);

    public long Dropped(EspResult reason) => Interlocked.Read(ref Drops[(int)reason]);

    public override string ToString() =>
        $"sent {Sent}, received {Received}, keepalives {Interlocked.Read(ref Keepalives)}, IKE {Interlocked.Read(ref IkePackets)}, " +
        $"unknown SPI {Interlocked.Read(ref UnknownSpi)}, inner mismatch {Interlocked.Read(ref InnerMismatch)}, " +
        string.Join(", ", Enum.GetValues<EspResult>().Where(r => r is not (EspResult.Ok or EspResult.Dummy)).Select(r => $"{r} {Dropped(r)}"));
}

/// <summary>
/// The data plane of one tunnel: IP packets routed into a TUN device leave ESP-in-UDP (RFC 3948) towards the
/// peer; ESP-in-UDP from the peer is verified, decrypted and written to the TUN device. Port 4500 traffic is
/// demultiplexed as RFC 3948 says: one 0xFF octet is a NAT keepalive, four zero octets start an IKE message
/// (handed to <see cref="IkeHandler"/> when set), anything else is ESP. Two threads, blocking I/O, no per-packet
/// allocation.
/// </summary>
public sealed class EspUdpTunnel : IDisposable
{
    private const int MaxPacket = 65535;
    private readonly TunDevice _tun;
    private readonly Socket _socket;
    private readonly EndPoint _remote;
    private readonly EspSa _outbound;
    private readonly EspSa _inbound;
    private readonly Thread _toPeer;
    private readonly Thread _fromPeer;
    private volatile bool _stopping;

    public EspUdpTunnel(TunDevice tun, IPEndPoint local, IPEndPoint remote, EspSa outbound, EspSa inbound)
    {
        _tun = tun ?? throw new ArgumentNullException(nameof(tun));
        ArgumentNullException.ThrowIfNull(local);
        _remote = remote ?? throw new ArgumentNullException(nameof(remote));
        _outbound = outbound ?? throw new ArgumentNullException(nameof(outbound));
        _inbound = inbound ?? throw new ArgumentNullException(nameof(inbound));
        _socket = new Socket(local.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(local);
        _toPeer = new Thread(TunToPeer) { IsBackground = true, Name = $"esp-out {tun.Name}" };
        _fromPeer = new Thread(PeerToTun) { IsBackground = true, Name = $"esp-in {tun.Name}" };
    }

    public EspTunnelCounters Counters { get; } = new();

    /// <summary>Receives IKE messages that arrive on the ESP port (marker stripped), when set.</summary>
    public Action<ReadOnlyMemory<byte>, EndPoint>? IkeHandler { get; init; }

    public void Start()
    {
        _toPeer.Start();
        _fromPeer.Start();
    }

    private void TunToPeer()
    {
        byte[] inner = new byte[MaxPacket];
        byte[] packet = new byte[MaxPacket + 256];
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
            if (n <= 0)
            {
                return;
            }
            byte nextHeader = (inner[0] >> 4) switch
            {
                4 => 4,
                6 => 41,
                _ => 0,
            };
            if (nextHeader == 0 || _outbound.MaxPacketLength(n) > packet.Length)
            {
                continue;
            }
            try
            {
                int length = _outbound.Encapsulate(inner.AsSpan(0, n), nextHeader, packet);
                _socket.SendTo(packet.AsSpan(0, length), SocketFlags.None, _remote);
                Interlocked.Increment(ref Counters.SentPackets);
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
        EndPoint from = new IPEndPoint(_remote.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!_stopping)
        {
            int n;
            try
            {
                n = _socket.ReceiveFrom(datagram, ref from);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
            {
                continue;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            Deliver(datagram.AsSpan(0, n), inner, from);
        }
    }

    private void Deliver(ReadOnlySpan<byte> datagram, byte[] inner, EndPoint from)
    {
        if (datagram.Length == 1 && datagram[0] == 0xFF)
        {
            Interlocked.Increment(ref Counters.Keepalives);
            return;
        }
        if (datagram.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(datagram) == 0)
        {
            Interlocked.Increment(ref Counters.IkePackets);
            IkeHandler?.Invoke(datagram[4..].ToArray(), from);
            return;
        }
        if (datagram.Length < 8 || BinaryPrimitives.ReadUInt32BigEndian(datagram) != _inbound.Spi)
        {
            Interlocked.Increment(ref Counters.UnknownSpi);
            return;
        }
        EspResult result = _inbound.Decapsulate(datagram, inner, out int length, out byte nextHeader);
        if (result != EspResult.Ok)
        {
            Interlocked.Increment(ref Counters.Drops[(int)result]);
            return;
        }
        // Tunnel mode: the inner packet must be the IP version the next header says (RFC 4303 §3.4.4.1 step 4).
        int version = length > 0 ? inner[0] >> 4 : 0;
        if (!((nextHeader == 4 && version == 4) || (nextHeader == 41 && version == 6)))
        {
            Interlocked.Increment(ref Counters.InnerMismatch);
            return;
        }
        try
        {
            _tun.Write(inner.AsSpan(0, length));
            Interlocked.Increment(ref Counters.ReceivedPackets);
        }
        catch (IOException)
        {
            // The interface is down; the packet is lost like any other on a down link.
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _socket.Dispose();
        _tun.Dispose();
        _fromPeer.Join(TimeSpan.FromSeconds(2));
    }
}
