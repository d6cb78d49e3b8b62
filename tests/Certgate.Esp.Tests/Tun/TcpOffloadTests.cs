using System.Buffers.Binary;
using Certgate.Esp.Tun;

namespace Certgate.Esp.Tests.Tun;

/// <summary>
/// The TUN offload arithmetic without a device: the Internet checksum, cutting a TSO super-packet into segments
/// (what the peer must receive), and coalescing segments back (what the kernel is handed), checked by cutting the
/// coalesced packet again.
/// </summary>
public sealed class TcpOffloadTests
{
    private static readonly byte[] V4Source = [10, 1, 0, 1];
    private static readonly byte[] V4Destination = [10, 2, 0, 1];

    [Fact]
    public void Checksum_OfAnIpv4Header_IsTheKnownValue()
    {
        // A header with a known checksum (0xb861), the checksum field zeroed.
        byte[] header = Convert.FromHexString("450000730000400040110000c0a80001c0a800c7");
        Assert.Equal(0xb861, (ushort)~InternetChecksum.Sum(header));
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(10), 0xb861);
        Assert.Equal(0xFFFF, InternetChecksum.Sum(header));
    }

    [Fact]
    public void Checksum_OddLengths_PadTheLastOctetOnTheRight()
    {
        // RFC 1071 §4.1: the last odd octet counts as the high octet of a word padded with zero.
        Assert.Equal(0x0102 + 0x0300, InternetChecksum.Sum([1, 2, 3]));
        Assert.Equal(0x0100, InternetChecksum.Sum([1]));
        Assert.Equal(0x0102 + 0x0304 + 0x0500, InternetChecksum.Sum([1, 2, 3, 4, 5]));
    }

    [Theory]
    [InlineData(false, 3000, 1000, 3)]
    [InlineData(false, 2500, 1000, 3)]
    [InlineData(true, 4000, 1220, 4)]
    public void Split_CutsASuperPacket_IntoValidSegments(bool ipv6, int payload, int gsoSize, int expected)
    {
        byte[] super = TcpPacket(ipv6, seq: 1_000_000, id: 7, payload: Payload(payload), flags: 0x18);
        int ipLength = ipv6 ? 40 : 20;
        var h = new VirtioNetHeader(VirtioNetHeader.NeedsChecksum, ipv6 ? VirtioNetHeader.GsoTcpV6 : VirtioNetHeader.GsoTcpV4,
            (ushort)(ipLength + 32), (ushort)gsoSize, (ushort)ipLength, 16);
        List<byte[]> segments = Split(h, super);
        Assert.Equal(expected, segments.Count);
        int offset = 0;
        for (int i = 0; i < segments.Count; i++)
        {
            byte[] s = segments[i];
            int data = s.Length - ipLength - 32;
            Assert.Equal(Math.Min(gsoSize, payload - offset), data);
            AssertValid(s, ipv6);
            Assert.Equal(1_000_000u + (uint)offset, BinaryPrimitives.ReadUInt32BigEndian(s.AsSpan(ipLength + 4)));
            // PSH only on the last segment.
            Assert.Equal(i == segments.Count - 1 ? 0x18 : 0x10, s[ipLength + 13]);
            Assert.Equal(Payload(payload).AsSpan(offset, data).ToArray(), s[(ipLength + 32)..]);
            if (!ipv6)
            {
                Assert.Equal(7 + i, BinaryPrimitives.ReadUInt16BigEndian(s.AsSpan(4)));
            }
            offset += data;
        }
    }

    [Fact]
    public void Split_WithoutGso_FinishesAChecksumTheKernelLeftPartial()
    {
        byte[] packet = TcpPacket(false, seq: 5, id: 1, payload: Payload(333), flags: 0x18);
        // CHECKSUM_PARTIAL: the TCP checksum field holds the folded pseudo-header sum only.
        packet[36] = 0;
        packet[37] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(36), InternetChecksum.Sum([], InternetChecksum.PseudoHeader(packet, false, 6, packet.Length - 20)));
        List<byte[]> segments = Split(new VirtioNetHeader(VirtioNetHeader.NeedsChecksum, 0, 0, 0, 20, 16), packet);
        Assert.Single(segments);
        AssertValid(segments[0], false);
    }

    [Fact]
    public void Split_RefusesAHeaderThatDoesNotMatchThePacket()
    {
        byte[] v4 = TcpPacket(false, seq: 1, id: 1, payload: Payload(3000), flags: 0x10);
        Assert.Null(SplitOrNull(new VirtioNetHeader(0, VirtioNetHeader.GsoTcpV6, 72, 1000, 40, 16), v4));
        Assert.Null(SplitOrNull(new VirtioNetHeader(0, VirtioNetHeader.GsoTcpV4, 52, 1000, 24, 16), v4));
        Assert.Null(SplitOrNull(new VirtioNetHeader(0, VirtioNetHeader.GsoTcpV4, 52, 0, 20, 16), v4));
        Assert.Null(SplitOrNull(new VirtioNetHeader(0, 3, 52, 1000, 20, 16), v4));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Coalescer_JoinsInOrderSegments_AndCuttingTheResultGivesThemBack(bool ipv6)
    {
        byte[] super = TcpPacket(ipv6, seq: 42, id: 100, payload: Payload(5000), flags: 0x18);
        int ipLength = ipv6 ? 40 : 20;
        var h = new VirtioNetHeader(VirtioNetHeader.NeedsChecksum, ipv6 ? VirtioNetHeader.GsoTcpV6 : VirtioNetHeader.GsoTcpV4,
            (ushort)(ipLength + 32), 1200, (ushort)ipLength, 16);
        List<byte[]> segments = Split(h, super);
        var written = new List<byte[]>();
        var gro = new TcpCoalescer(p => written.Add(p.ToArray()));
        foreach (byte[] s in segments)
        {
            gro.Add([.. new byte[VirtioNetHeader.Length], .. s]);
        }
        gro.Flush();
        byte[] joined = Assert.Single(written);
        var header = VirtioNetHeader.Read(joined);
        Assert.Equal(ipv6 ? VirtioNetHeader.GsoTcpV6 : VirtioNetHeader.GsoTcpV4, header.GsoType);
        Assert.Equal(1200, header.GsoSize);
        Assert.Equal(VirtioNetHeader.NeedsChecksum, header.Flags);
        Assert.Equal(super.Length, joined.Length - VirtioNetHeader.Length);
        List<byte[]> again = Split(header, joined[VirtioNetHeader.Length..]);
        Assert.Equal(segments.Count, again.Count);
        for (int i = 0; i < segments.Count; i++)
        {
            Assert.Equal(segments[i], again[i]);
        }
    }

    [Fact]
    public void Coalescer_KeepsOrder_AndDoesNotJoinOtherFlowsGapsOrOtherProtocols()
    {
        byte[] a1 = TcpPacket(false, seq: 0, id: 1, payload: Payload(1000), flags: 0x10);
        byte[] a2 = TcpPacket(false, seq: 1000, id: 2, payload: Payload(1000), flags: 0x10);
        byte[] gap = TcpPacket(false, seq: 5000, id: 3, payload: Payload(1000), flags: 0x10);
        byte[] otherPort = TcpPacket(false, seq: 6000, id: 4, payload: Payload(1000), flags: 0x10, sourcePort: 999);
        byte[] udp = [.. a1];
        udp[9] = 17;
        byte[] syn = TcpPacket(false, seq: 7000, id: 5, payload: Payload(1000), flags: 0x12);
        var written = new List<byte[]>();
        var gro = new TcpCoalescer(p => written.Add(p.ToArray()));
        foreach (byte[] p in (byte[][])[a1, a2, gap, otherPort, udp, syn])
        {
            gro.Add([.. new byte[VirtioNetHeader.Length], .. p]);
        }
        gro.Flush();
        Assert.Equal(5, written.Count);
        Assert.Equal(VirtioNetHeader.GsoTcpV4, written[0][1]);
        Assert.Equal(20 + 32 + 2000, written[0].Length - VirtioNetHeader.Length);
        foreach ((byte[] w, byte[] original) in written.Skip(1).Zip((byte[][])[gap, otherPort, udp, syn]))
        {
            // Written as they came, behind a header that asks for nothing.
            Assert.Equal(new byte[VirtioNetHeader.Length], w[..VirtioNetHeader.Length]);
            Assert.Equal(original, w[VirtioNetHeader.Length..]);
        }
    }

    [Fact]
    public void Coalescer_EndsARunAtPshAndAtAShortSegment()
    {
        var written = new List<byte[]>();
        var gro = new TcpCoalescer(p => written.Add(p.ToArray()));
        byte[][] packets =
        [
            TcpPacket(false, seq: 0, id: 1, payload: Payload(1000), flags: 0x10),
            TcpPacket(false, seq: 1000, id: 2, payload: Payload(1000), flags: 0x18),
            TcpPacket(false, seq: 2000, id: 3, payload: Payload(1000), flags: 0x10),
            TcpPacket(false, seq: 3000, id: 4, payload: Payload(500), flags: 0x10),
            TcpPacket(false, seq: 3500, id: 5, payload: Payload(500), flags: 0x10),
        ];
        foreach (byte[] p in packets)
        {
            gro.Add([.. new byte[VirtioNetHeader.Length], .. p]);
        }
        gro.Flush();
        Assert.Equal([2 * 1000, 1500, 500], written.Select(w => w.Length - VirtioNetHeader.Length - 52).ToArray());
        Assert.Equal(0x18, written[0][VirtioNetHeader.Length + 33]);
    }

    private static List<byte[]> Split(VirtioNetHeader h, byte[] packet) =>
        SplitOrNull(h, packet) ?? throw new InvalidOperationException("Split refused the packet");

    private static List<byte[]>? SplitOrNull(VirtioNetHeader h, byte[] packet)
    {
        var segments = new List<byte[]>();
        byte[] scratch = new byte[65536];
        return TcpSegmentation.Split(h, packet.ToArray(), scratch, ref segments, static (ref List<byte[]> list, Span<byte> s) => list.Add(s.ToArray()))
            ? segments
            : null;
    }

    private static void AssertValid(byte[] s, bool ipv6)
    {
        int ipLength = ipv6 ? 40 : 20;
        if (ipv6)
        {
            Assert.Equal(s.Length - 40, BinaryPrimitives.ReadUInt16BigEndian(s.AsSpan(4)));
        }
        else
        {
            Assert.Equal(s.Length, BinaryPrimitives.ReadUInt16BigEndian(s.AsSpan(2)));
            Assert.Equal(0xFFFF, InternetChecksum.Sum(s.AsSpan(0, 20)));
        }
        uint pseudo = InternetChecksum.PseudoHeader(s, ipv6, 6, s.Length - ipLength);
        Assert.Equal(0xFFFF, InternetChecksum.Sum(s.AsSpan(ipLength), pseudo));
    }

    private static byte[] Payload(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7 + 3)).ToArray();

    /// <summary>An IPv4 or IPv6 TCP packet with a 12-octet timestamp option and valid checksums.</summary>
    private static byte[] TcpPacket(bool ipv6, uint seq, ushort id, byte[] payload, byte flags, ushort sourcePort = 40000)
    {
        int ipLength = ipv6 ? 40 : 20;
        byte[] p = new byte[ipLength + 32 + payload.Length];
        if (ipv6)
        {
            p[0] = 0x60;
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), (ushort)(p.Length - 40));
            p[6] = 6;
            p[7] = 64;
            p[8] = 0xfd;
            p[23] = 1;
            p[24] = 0xfd;
            p[39] = 2;
        }
        else
        {
            p[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)p.Length);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), id);
            p[6] = 0x40;
            p[8] = 64;
            p[9] = 6;
            V4Source.CopyTo(p, 12);
            V4Destination.CopyTo(p, 16);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(10), (ushort)~InternetChecksum.Sum(p.AsSpan(0, 20)));
        }
        Span<byte> tcp = p.AsSpan(ipLength);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 5201);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], 777);
        tcp[12] = 8 << 4;
        tcp[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 512);
        // NOP, NOP, timestamp (kind 8, length 10).
        tcp[20] = 1;
        tcp[21] = 1;
        tcp[22] = 8;
        tcp[23] = 10;
        BinaryPrimitives.WriteUInt32BigEndian(tcp[24..], 123456);
        payload.CopyTo(tcp[32..]);
        uint pseudo = InternetChecksum.PseudoHeader(p, ipv6, 6, p.Length - ipLength);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], (ushort)~InternetChecksum.Sum(tcp, pseudo));
        return p;
    }
}
