using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Certgate.Esp.Tun;

/// <summary>
/// <c>struct virtio_net_hdr</c> (include/uapi/linux/virtio_net.h), the 10 octets in front of every packet on a TUN
/// device opened with <c>IFF_VNET_HDR</c>. Multi-octet fields are in the machine's order (little-endian here).
/// <code>
///   u8 flags; u8 gso_type; u16 hdr_len; u16 gso_size; u16 csum_start; u16 csum_offset;
/// </code>
/// </summary>
internal readonly record struct VirtioNetHeader(byte Flags, byte GsoType, ushort HeaderLength, ushort GsoSize, ushort ChecksumStart, ushort ChecksumOffset)
{
    public const int Length = 10;

    /// <summary>VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksum at csum_start + csum_offset holds only the pseudo-header sum.</summary>
    public const byte NeedsChecksum = 1;

    public const byte GsoNone = 0;
    public const byte GsoTcpV4 = 1;
    public const byte GsoTcpV6 = 4;

    /// <summary>VIRTIO_NET_HDR_GSO_ECN, or-ed into gso_type.</summary>
    public const byte GsoEcn = 0x80;

    public static VirtioNetHeader Read(ReadOnlySpan<byte> b) => new(
        b[0], b[1],
        BinaryPrimitives.ReadUInt16LittleEndian(b[2..]), BinaryPrimitives.ReadUInt16LittleEndian(b[4..]),
        BinaryPrimitives.ReadUInt16LittleEndian(b[6..]), BinaryPrimitives.ReadUInt16LittleEndian(b[8..]));

    public void Write(Span<byte> b)
    {
        b[0] = Flags;
        b[1] = GsoType;
        BinaryPrimitives.WriteUInt16LittleEndian(b[2..], HeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(b[4..], GsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(b[6..], ChecksumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(b[8..], ChecksumOffset);
    }
}

/// <summary>The Internet checksum (RFC 1071) and the TCP/UDP pseudo-header sum (RFC 793 §3.1, RFC 8200 §8.1).</summary>
internal static class InternetChecksum
{
    /// <summary>
    /// The 16-bit one's-complement sum of <paramref name="data"/> added to <paramref name="initial"/>, folded, not
    /// complemented, as a big-endian number.
    /// </summary>
    public static ushort Sum(ReadOnlySpan<byte> data, uint initial = 0)
    {
        // RFC 1071 §2(B): the sum does not depend on byte order if the result is swapped at the end; so the words are
        // added in the machine's order, 32 bits at a time into 64 bits (no carry is lost).
        ulong sum = 0;
        ReadOnlySpan<uint> words = MemoryMarshal.Cast<byte, uint>(data);
        foreach (uint w in words)
        {
            sum += w;
        }
        int i = words.Length * 4;
        if (data.Length - i >= 2)
        {
            sum += MemoryMarshal.Read<ushort>(data[i..]);
            i += 2;
        }
        if (i < data.Length)
        {
            // An odd last octet is the high octet of a big-endian word, the low octet of a little-endian one.
            sum += BitConverter.IsLittleEndian ? data[i] : (uint)data[i] << 8;
        }
        sum = Fold(sum);
        ulong total = (BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness((ushort)sum) : (ushort)sum) + (ulong)initial;
        return (ushort)Fold(total);
    }

    /// <summary>Sum of the pseudo-header: source and destination address (IPv4 at 12, IPv6 at 8), protocol, length.</summary>
    public static uint PseudoHeader(ReadOnlySpan<byte> ipPacket, bool ipv6, byte protocol, int transportLength)
    {
        ReadOnlySpan<byte> addresses = ipv6 ? ipPacket.Slice(8, 32) : ipPacket.Slice(12, 8);
        uint sum = (uint)protocol + (uint)transportLength;
        for (int i = 0; i < addresses.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(addresses[i..]);
        }
        return sum;
    }

    private static ulong Fold(ulong sum)
    {
        while (sum >> 16 != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return sum;
    }
}
