using System.Buffers.Binary;

namespace Certgate.Esp.Tun;

/// <summary>
/// What a TUN device with offloads hands over, made into plain IP packets: a TCP "super-packet" (TSO, up to 64 KiB
/// with one set of headers) is cut into segments of gso_size octets, each with its own IP length, IPv4 ID and header
/// checksum, TCP sequence number and checksum; a packet whose checksum the kernel left to us (NEEDS_CSUM) gets it.
/// The segments are what the peer would have received from a device without offloads, so ESP protects exactly those.
/// </summary>
internal static class TcpSegmentation
{
    private const byte TcpFin = 0x01;
    private const byte TcpPsh = 0x08;

    /// <summary>
    /// Cuts <paramref name="packet"/> (after its virtio header <paramref name="h"/>) and calls
    /// <paramref name="segment"/> with each segment, built in <paramref name="scratch"/> (at least the packet's length).
    /// Returns false, without calling it, when the header and the packet do not agree (the packet is then dropped).
    /// </summary>
    public static bool Split<TState>(VirtioNetHeader h, Span<byte> packet, Span<byte> scratch, ref TState state, SegmentAction<TState> segment)
    {
        byte gso = (byte)(h.GsoType & ~VirtioNetHeader.GsoEcn);
        if (gso == VirtioNetHeader.GsoNone)
        {
            if ((h.Flags & VirtioNetHeader.NeedsChecksum) != 0 && !CompleteChecksum(packet, h.ChecksumStart, h.ChecksumOffset))
            {
                return false;
            }
            segment(ref state, packet);
            return true;
        }
        bool v4 = gso == VirtioNetHeader.GsoTcpV4;
        if (!v4 && gso != VirtioNetHeader.GsoTcpV6)
        {
            return false;
        }
        int ipLength = h.ChecksumStart;
        if (packet.Length < 1 || (packet[0] >> 4) != (v4 ? 4 : 6) || ipLength < (v4 ? 20 : 40) || packet.Length < ipLength + 20 ||
            (v4 && ipLength != (packet[0] & 0xF) * 4) || h.GsoSize == 0)
        {
            return false;
        }
        // hdr_len from the kernel is not reliable (it can span the whole first segment on a forwarding path): the TCP
        // header length is read from the data offset instead.
        int tcpLength = (packet[ipLength + 12] >> 4) * 4;
        int headers = ipLength + tcpLength;
        if (tcpLength < 20 || packet.Length <= headers || scratch.Length < headers + h.GsoSize)
        {
            return false;
        }
        uint firstSequence = BinaryPrimitives.ReadUInt32BigEndian(packet[(ipLength + 4)..]);
        ushort firstId = v4 ? BinaryPrimitives.ReadUInt16BigEndian(packet[4..]) : (ushort)0;
        int i = 0;
        for (int at = headers; at < packet.Length; at += h.GsoSize, i++)
        {
            int end = Math.Min(at + h.GsoSize, packet.Length);
            int total = headers + end - at;
            Span<byte> s = scratch[..total];
            packet[..headers].CopyTo(s);
            packet[at..end].CopyTo(s[headers..]);
            if (v4)
            {
                // Each IPv4 segment gets the next ID, its own total length and header checksum.
                BinaryPrimitives.WriteUInt16BigEndian(s[4..], (ushort)(firstId + i));
                BinaryPrimitives.WriteUInt16BigEndian(s[2..], (ushort)total);
                s[10] = 0;
                s[11] = 0;
                BinaryPrimitives.WriteUInt16BigEndian(s[10..], (ushort)~InternetChecksum.Sum(s[..ipLength]));
            }
            else
            {
                BinaryPrimitives.WriteUInt16BigEndian(s[4..], (ushort)(total - 40));
            }
            Span<byte> tcp = s[ipLength..];
            BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], firstSequence + (uint)(i * h.GsoSize));
            if (end != packet.Length)
            {
                // FIN and PSH belong to the last segment only.
                tcp[13] &= unchecked((byte)~(TcpFin | TcpPsh));
            }
            tcp[16] = 0;
            tcp[17] = 0;
            uint pseudo = InternetChecksum.PseudoHeader(s, !v4, 6, total - ipLength);
            BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], (ushort)~InternetChecksum.Sum(tcp, pseudo));
            segment(ref state, s);
        }
        return true;
    }

    /// <summary>NEEDS_CSUM without GSO: the field holds the pseudo-header sum; the sum over the rest completes it.</summary>
    private static bool CompleteChecksum(Span<byte> packet, int start, int offset)
    {
        int at = start + offset;
        if (at + 2 > packet.Length || start >= packet.Length)
        {
            return false;
        }
        ushort initial = BinaryPrimitives.ReadUInt16BigEndian(packet[at..]);
        packet[at] = 0;
        packet[at + 1] = 0;
        ushort sum = (ushort)~InternetChecksum.Sum(packet[start..], initial);
        // RFC 768: a computed UDP checksum of zero is sent as all ones (zero means "no checksum").
        BinaryPrimitives.WriteUInt16BigEndian(packet[at..], offset == 6 && sum == 0 ? (ushort)0xFFFF : sum);
        return true;
    }
}

/// <summary>Receives one plain IP packet cut by <see cref="TcpSegmentation.Split"/>.</summary>
internal delegate void SegmentAction<TState>(ref TState state, Span<byte> packet);
