using System.Net;
using Certgate.Net.Addressing;

namespace Certgate.Ipsec.Tests;

public sealed class SelectorTests
{
    private static byte[] Ipv4(string source, string destination, byte protocol = 1, ushort sourcePort = 0, ushort destinationPort = 0, ushort fragment = 0)
    {
        byte[] p = new byte[28];
        p[0] = 0x45;
        p[6] = (byte)(fragment >> 8);
        p[7] = (byte)fragment;
        p[9] = protocol;
        IPAddress.Parse(source).GetAddressBytes().CopyTo(p, 12);
        IPAddress.Parse(destination).GetAddressBytes().CopyTo(p, 16);
        p[20] = (byte)(sourcePort >> 8);
        p[21] = (byte)sourcePort;
        p[22] = (byte)(destinationPort >> 8);
        p[23] = (byte)destinationPort;
        return p;
    }

    [Fact]
    public void Prefix_CoversExactlyItsRange()
    {
        TrafficSelector ts = TrafficSelector.FromPrefix(IpPrefix.Parse("10.1.0.0/16"));
        Assert.Equal(IPAddress.Parse("10.1.0.0"), ts.Start);
        Assert.Equal(IPAddress.Parse("10.1.255.255"), ts.End);
        Assert.True(ts.Contains(IPAddress.Parse("10.1.200.3")));
        Assert.False(ts.Contains(IPAddress.Parse("10.2.0.0")));
        Assert.False(ts.Contains(IPAddress.Parse("::ffff:10.1.0.1")));
        Assert.Equal("10.1.0.0-10.1.255.255", ts.ToString());
    }

    [Fact]
    public void Ipv6Prefix_CoversItsRange()
    {
        TrafficSelector ts = TrafficSelector.FromPrefix(IpPrefix.Parse("2001:db8::/32"));
        Assert.True(ts.Contains(IPAddress.Parse("2001:db8:ffff::1")));
        Assert.False(ts.Contains(IPAddress.Parse("2001:db9::")));
        Assert.False(ts.Contains(IPAddress.Parse("10.0.0.1")));
    }

    [Fact]
    public void ReversedOrMixedRanges_AreRefusedNamingTheParameter()
    {
        Assert.Equal("end", Assert.Throws<ArgumentException>(() => new TrafficSelector(IPAddress.Parse("10.0.0.9"), IPAddress.Parse("10.0.0.1"))).ParamName);
        Assert.Equal("end", Assert.Throws<ArgumentException>(() => new TrafficSelector(IPAddress.Parse("10.0.0.1"), IPAddress.IPv6Loopback)).ParamName);
        Assert.Equal("endPort", Assert.Throws<ArgumentException>(() => new TrafficSelector(IPAddress.Any, IPAddress.Broadcast, 6, 90, 80)).ParamName);
    }

    [Fact]
    public void Packets_MatchOnAddressesProtocolAndPorts()
    {
        TrafficSelector[] local = [TrafficSelector.FromPrefix(IpPrefix.Parse("10.1.0.0/24"))];
        TrafficSelector[] web = [new TrafficSelector(IPAddress.Parse("10.2.0.1"), IPAddress.Parse("10.2.0.1"), 6, 443, 443)];
        Assert.True(InnerPacket.TryRead(Ipv4("10.1.0.5", "10.2.0.1", 6, 40000, 443), out InnerPacket https));
        Assert.True(https.MatchesAny(local, web));
        Assert.True(InnerPacket.TryRead(Ipv4("10.1.0.5", "10.2.0.1", 6, 40000, 80), out InnerPacket http));
        Assert.False(http.MatchesAny(local, web));
        Assert.True(InnerPacket.TryRead(Ipv4("10.1.0.5", "10.2.0.1", 17, 40000, 443), out InnerPacket udp));
        Assert.False(udp.MatchesAny(local, web));
        Assert.True(InnerPacket.TryRead(Ipv4("10.1.1.5", "10.2.0.1", 6, 40000, 443), out InnerPacket otherSource));
        Assert.False(otherSource.MatchesAny(local, web));
    }

    [Fact]
    public void LaterFragments_HaveOpaquePorts_OnlyAnyPortCoversThem()
    {
        TrafficSelector[] any = [TrafficSelector.AnyIPv4];
        TrafficSelector[] web = [new TrafficSelector(IPAddress.Any, IPAddress.Broadcast, 6, 443, 443)];
        Assert.True(InnerPacket.TryRead(Ipv4("10.1.0.5", "10.2.0.1", 6, 1, 443, fragment: 185), out InnerPacket fragment));
        Assert.Equal(-1, fragment.DestinationPort);
        Assert.True(fragment.MatchesAny(any, any));
        Assert.False(fragment.MatchesAny(any, web));
    }

    [Fact]
    public void NonIpAndTruncated_AreNotRead()
    {
        Assert.False(InnerPacket.TryRead([], out _));
        Assert.False(InnerPacket.TryRead([0x45, 0, 0], out _));
        Assert.False(InnerPacket.TryRead(new byte[30], out _));
        Assert.False(InnerPacket.TryRead([0x60, .. new byte[20]], out _));
    }

    [Fact]
    public void SpiAllocator_NeverHandsOutReservedOrDuplicateSpis()
    {
        var spis = new SpiAllocator();
        var seen = new HashSet<uint>();
        for (int i = 0; i < 10_000; i++)
        {
            uint spi = spis.Allocate();
            Assert.True(spi > 255);
            Assert.True(seen.Add(spi));
        }
        Assert.False(spis.Reserve(seen.First()));
    }

    [Fact]
    public void MemoryDataPlane_FiresSoftThenHardExpiry_AndAcquireForAPolicyWithoutSa()
    {
        var plane = new MemoryDataPlane();
        var events = new List<SaExpiry>();
        var acquires = new List<SaAcquire>();
        plane.Expired += events.Add;
        plane.Acquire += acquires.Add;
        uint spi = plane.AllocateSpi();
        plane.AddSa(new SaSpec
        {
            Spi = spi, Direction = SaDirection.Outbound, Local = new IPEndPoint(IPAddress.Loopback, 4500), Remote = new IPEndPoint(IPAddress.Loopback, 4501),
            Encryption = Registry.EncryptionAlgorithm.ENCR_AES_GCM_16, KeyBits = 128, Keymat = new byte[20],
            LocalSelectors = [TrafficSelector.AnyIPv4], RemoteSelectors = [TrafficSelector.AnyIPv4], ReqId = 7,
            Lifetime = new SaLifetime(SoftBytes: 1000, HardBytes: 2000),
        });
        plane.AddPolicy(new IpsecPolicy(8, [TrafficSelector.AnyIPv4], [TrafficSelector.AnyIPv4]));
        Assert.True(plane.Carry(spi, SaDirection.Outbound, 999));
        Assert.Empty(events);
        Assert.True(plane.Carry(spi, SaDirection.Outbound, 1));
        Assert.Equal(ExpiryKind.Soft, Assert.Single(events).Kind);
        Assert.False(plane.Carry(spi, SaDirection.Outbound, 1000));
        Assert.Equal(ExpiryKind.Hard, events[1].Kind);
        Assert.Null(plane.QuerySa(spi, SaDirection.Outbound));
        Assert.False(plane.Carry(0, SaDirection.Outbound, 100, reqId: 8));
        Assert.Equal(8u, Assert.Single(acquires).ReqId);
        SaSpec again = new()
        {
            Spi = 0x1234, Direction = SaDirection.Inbound, Local = new IPEndPoint(IPAddress.Loopback, 4500), Remote = new IPEndPoint(IPAddress.Loopback, 4501),
            Encryption = Registry.EncryptionAlgorithm.ENCR_AES_GCM_16, KeyBits = 128, Keymat = new byte[20],
            LocalSelectors = [TrafficSelector.AnyIPv4], RemoteSelectors = [TrafficSelector.AnyIPv4], ReqId = 7,
        };
        plane.AddSa(again);
        Assert.Contains("0x00001234", Assert.Throws<ArgumentException>(() => plane.AddSa(again)).Message);
    }
}
