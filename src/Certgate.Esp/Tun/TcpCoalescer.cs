using System.Buffers.Binary;

namespace Certgate.Esp.Tun;

/// <summary>
/// Receive-side coalescing (GRO) for a TUN device with offloads: consecutive in-order TCP segments of one flow, as
/// they come out of ESP, are joined into one packet with a virtio header that says "TSO, segments of N octets", and
/// written with one system call; the kernel's TCP stack takes it as it takes a GRO packet from a NIC. Anything else
/// (other protocols, other flows, flags beyond ACK/PSH, IPv4 options or fragments, IPv6 extension headers) goes
/// out as it came, after whatever was being coalesced, so the order of packets is kept.
/// </summary>
/// <remarks>
/// The rules are the kernel's own for TCP GRO (net/ipv4/tcp_offload.c): same addresses, ports, ACK number, window,
/// options and IP fields, the next sequence number, every segment the size of the first except a shorter last one,
/// and a PSH ends the run. Unlike the kernel, the segments' TCP checksums are not verified first: ESP has just
/// authenticated them as the peer sent them, and the joined packet is handed over as CHECKSUM_PARTIAL.
/// </remarks>
internal sealed class TcpCoalescer
{
    private const int MaxSegments = 64;
    private const byte TcpAck = 0x10;
    private const byte TcpPsh = 0x08;
    private readonly byte[] _head = GC.AllocateArray<byte>(VirtioNetHeader.Length + 65535, pinned: true);
    private readonly PacketWriter _write;
    private int _length;
    private int _ipLength;
    private int _headers;
    private int _segment;
    private int _count;
    private bool _closed;
    private uint _nextSequence;

    /// <summary>Coalesces into <paramref name="write"/> (a TUN device's <see cref="TunDevice.Write"/>).</summary>
    public TcpCoalescer(PacketWriter write) => _write = write ?? throw new ArgumentNullException(nameof(write));

    /// <summary>Writes made (for tests and the benchmark: fewer than packets when coalescing works).</summary>
    public long Writes { get; private set; }

    /// <summary>
    /// Adds one decrypted packet, which must sit at <c>buffer[VirtioNetHeader.Length..]</c> so that it can be written
    /// as it is, behind a plain header, when it cannot be coalesced.
    /// </summary>
    /// <exception cref="IOException">A write to the device failed.</exception>
    public void Add(Span<byte> buffer)
    {
        Span<byte> packet = buffer[VirtioNetHeader.Length..];
        if (_count > 0 && TryAppend(packet))
        {
            return;
        }
        Flush();
        if (Candidate(packet, out int ipLength, out int headers) && packet.Length > headers)
        {
            packet.CopyTo(_head.AsSpan(VirtioNetHeader.Length));
            _length = packet.Length;
            _ipLength = ipLength;
            _headers = headers;
            _segment = packet.Length - headers;
            _count = 1;
            _closed = (packet[ipLength + 13] & TcpPsh) != 0;
            _nextSequence = BinaryPrimitives.ReadUInt32BigEndian(packet[(ipLength + 4)..]) + (uint)_segment;
            return;
        }
        buffer[..VirtioNetHeader.Length].Clear();
        Write(buffer);
    }

    /// <summary>Writes the packet being coalesced, if any (at the end of every receive batch).</summary>
    /// <exception cref="IOException">A write to the device failed.</exception>
    public void Flush()
    {
        if (_count == 0)
        {
            return;
        }
        Span<byte> buffer = _head.AsSpan(0, VirtioNetHeader.Length + _length);
        Span<byte> packet = buffer[VirtioNetHeader.Length..];
        if (_count == 1)
        {
            buffer[..VirtioNetHeader.Length].Clear();
        }
        else
        {
            bool v4 = packet[0] >> 4 == 4;
            if (v4)
            {
                BinaryPrimitives.WriteUInt16BigEndian(packet[2..], (ushort)_length);
                packet[10] = 0;
                packet[11] = 0;
                BinaryPrimitives.WriteUInt16BigEndian(packet[10..], (ushort)~InternetChecksum.Sum(packet[.._ipLength]));
            }
            else
            {
                BinaryPrimitives.WriteUInt16BigEndian(packet[4..], (ushort)(_length - 40));
            }
            // CHECKSUM_PARTIAL: the field holds the pseudo-header sum, the rest is summed by whoever needs it.
            uint pseudo = InternetChecksum.PseudoHeader(packet, !v4, 6, _length - _ipLength);
            BinaryPrimitives.WriteUInt16BigEndian(packet[(_ipLength + 16)..], InternetChecksum.Sum([], pseudo));
            new VirtioNetHeader(VirtioNetHeader.NeedsChecksum, v4 ? VirtioNetHeader.GsoTcpV4 : VirtioNetHeader.GsoTcpV6,
                (ushort)_headers, (ushort)_segment, (ushort)_ipLength, 16).Write(buffer);
        }
        _count = 0;
        Write(buffer);
    }

    private void Write(ReadOnlySpan<byte> buffer)
    {
        Writes++;
        _write(buffer);
    }

    private bool TryAppend(ReadOnlySpan<byte> p)
    {
        if (_closed || _count >= MaxSegments || !Candidate(p, out int ipLength, out int headers) || ipLength != _ipLength || headers != _headers)
        {
            return false;
        }
        int payload = p.Length - headers;
        if (payload == 0 || payload > _segment || _length + payload > 65535)
        {
            return false;
        }
        ReadOnlySpan<byte> head = _head.AsSpan(VirtioNetHeader.Length, _headers);
        bool v4 = p[0] >> 4 == 4;
        if (v4)
        {
            // TOS; flags and fragment offset (DF alike, never a fragment: Candidate checked); TTL and protocol; addresses.
            if (p[1] != head[1] || p[6] != head[6] || p[8] != head[8] || !p.Slice(12, 8).SequenceEqual(head.Slice(12, 8)))
            {
                return false;
            }
        }
        else if (!p[..4].SequenceEqual(head[..4]) || p[7] != head[7] || !p.Slice(8, 32).SequenceEqual(head.Slice(8, 32)))
        {
            return false;
        }
        ReadOnlySpan<byte> tcp = p[ipLength..headers];
        ReadOnlySpan<byte> headTcp = head[ipLength..];
        // Ports; ACK number, data offset, window; urgent pointer and options. Flags are checked apart (PSH may differ).
        if (!tcp[..4].SequenceEqual(headTcp[..4]) || !tcp.Slice(8, 5).SequenceEqual(headTcp.Slice(8, 5)) ||
            !tcp.Slice(14, 2).SequenceEqual(headTcp.Slice(14, 2)) || !tcp[18..].SequenceEqual(headTcp[18..]) ||
            BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]) != _nextSequence)
        {
            return false;
        }
        p[headers..].CopyTo(_head.AsSpan(VirtioNetHeader.Length + _length));
        _length += payload;
        _count++;
        _nextSequence += (uint)payload;
        // A shorter segment is the last of a run (all but the last are gso_size long); PSH ends it too.
        if ((tcp[13] & TcpPsh) != 0)
        {
            _head[VirtioNetHeader.Length + ipLength + 13] |= TcpPsh;
            _closed = true;
        }
        _closed |= payload < _segment;
        return true;
    }

    /// <summary>TCP over IPv4 without options or fragmentation, or over IPv6 without extension headers; flags ACK or ACK|PSH.</summary>
    private static bool Candidate(ReadOnlySpan<byte> p, out int ipLength, out int headers)
    {
        ipLength = 0;
        headers = 0;
        if (p.Length < 40)
        {
            return false;
        }
        int version = p[0] >> 4;
        if (version == 4)
        {
            // IHL 5, protocol TCP, MF clear and offset 0, total length equal to what we hold.
            if (p[0] != 0x45 || p[9] != 6 || (BinaryPrimitives.ReadUInt16BigEndian(p[6..]) & 0x3FFF) != 0 || BinaryPrimitives.ReadUInt16BigEndian(p[2..]) != p.Length)
            {
                return false;
            }
            ipLength = 20;
        }
        else if (version == 6)
        {
            if (p.Length < 60 || p[6] != 6 || BinaryPrimitives.ReadUInt16BigEndian(p[4..]) != p.Length - 40)
            {
                return false;
            }
            ipLength = 40;
        }
        else
        {
            return false;
        }
        int tcpLength = (p[ipLength + 12] >> 4) * 4;
        byte flags = p[ipLength + 13];
        if (tcpLength < 20 || p.Length < ipLength + tcpLength || (flags & ~TcpPsh) != TcpAck)
        {
            return false;
        }
        headers = ipLength + tcpLength;
        return true;
    }
}

/// <summary>Writes one packet (behind its virtio header) to a device.</summary>
internal delegate void PacketWriter(ReadOnlySpan<byte> packet);
