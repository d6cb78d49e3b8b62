using System.Net;
using Certgate.Ike.Sa;
using Certgate.Ike.Wire;
using TrafficSelector = Certgate.Ike.Wire.Payloads.TrafficSelector;

namespace Certgate.Ike.Tests.Sa;

/// <summary>RFC 7296 §2.9 narrowing: intersections of address ranges, IP protocols and port ranges, both families.</summary>
public sealed class TrafficSelectorNarrowingTests
{
    private const byte Tcp = 6;
    private const byte Udp = 17;

    /// <summary>A prefix selector, any protocol and port unless given.</summary>
    private static TrafficSelector Ts(string cidr, byte protocol = 0, ushort startPort = 0, ushort endPort = 65535)
    {
        string[] parts = cidr.Split('/');
        IPAddress address = IPAddress.Parse(parts[0]);
        byte[] first = address.GetAddressBytes();
        byte[] last = (byte[])first.Clone();
        int length = parts.Length > 1 ? int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) : first.Length * 8;
        for (int bit = length; bit < first.Length * 8; bit++)
        {
            first[bit / 8] &= (byte)~(0x80 >> (bit % 8));
            last[bit / 8] |= (byte)(0x80 >> (bit % 8));
        }
        return new TrafficSelector(protocol, startPort, endPort, new IPAddress(first), new IPAddress(last));
    }

    private static TrafficSelector Range(string start, string end) => new(0, 0, 65535, IPAddress.Parse(start), IPAddress.Parse(end));

    [Fact]
    public void OfferWiderThanConfigured_NarrowsToTheConfiguredSubset()
    {
        Assert.Equal([Ts("10.0.1.0/24")], TrafficSelectorNarrowing.Narrow([Ts("10.0.0.0/16")], [Ts("10.0.1.0/24")]));
    }

    [Fact]
    public void OfferInsideConfigured_IsKeptAsOffered()
    {
        Assert.Equal([Ts("10.0.1.128/25")], TrafficSelectorNarrowing.Narrow([Ts("10.0.1.128/25")], [Ts("10.0.0.0/16")]));
    }

    [Fact]
    public void PartialOverlap_GivesTheCommonRange()
    {
        TrafficSelector both = Assert.Single(TrafficSelectorNarrowing.Narrow([Range("10.0.0.50", "10.0.0.200")], [Range("10.0.0.100", "10.0.1.10")]));
        Assert.Equal(Range("10.0.0.100", "10.0.0.200"), both);
        Assert.Equal("10.0.0.100-10.0.0.200", TrafficSelectorNarrowing.Describe(both));
    }

    [Fact]
    public void SeveralConfigured_EachOverlapIsKept_InTheConfiguredOrder()
    {
        IReadOnlyList<TrafficSelector> narrowed = TrafficSelectorNarrowing.Narrow([Ts("10.0.0.0/8")], [Ts("10.2.0.0/24"), Ts("192.168.0.0/24"), Ts("10.1.0.0/24")]);
        Assert.Equal([Ts("10.2.0.0/24"), Ts("10.1.0.0/24")], narrowed);
    }

    [Fact]
    public void Protocol_AnyMeetsTcp_GivesTcp_TcpMeetsUdp_GivesNothing()
    {
        Assert.Equal([Ts("10.0.0.0/24", Tcp)], TrafficSelectorNarrowing.Narrow([Ts("10.0.0.0/24")], [Ts("10.0.0.0/16", Tcp)]));
        Assert.Equal([Ts("10.0.0.0/24", Tcp)], TrafficSelectorNarrowing.Narrow([Ts("10.0.0.0/24", Tcp)], [Ts("10.0.0.0/16")]));
        Assert.Empty(TrafficSelectorNarrowing.Narrow([Ts("10.0.0.0/24", Tcp)], [Ts("10.0.0.0/16", Udp)]));
    }

    [Fact]
    public void Ports_RangesIntersect_DisjointRangesGiveNothing()
    {
        TrafficSelector web = Assert.Single(TrafficSelectorNarrowing.Narrow([Ts("10.0.0.0/24", Tcp, 1, 1023)], [Ts("10.0.0.0/24", Tcp, 443, 8443)]));
        Assert.Equal(Ts("10.0.0.0/24", Tcp, 443, 1023), web);
        Assert.Equal("10.0.0.0/24[tcp/443-1023]", TrafficSelectorNarrowing.Describe(web));
        Assert.Empty(TrafficSelectorNarrowing.Narrow([Ts("10.0.0.0/24", Tcp, 1, 442)], [Ts("10.0.0.0/24", Tcp, 443, 443)]));
    }

    [Fact]
    public void Ipv6_NarrowsLikeIpv4_AndFamiliesNeverMix()
    {
        Assert.Equal([Ts("2001:db8:1::/48")], TrafficSelectorNarrowing.Narrow([Ts("2001:db8::/32")], [Ts("2001:db8:1::/48")]));
        Assert.Equal("2001:db8:1::/48", TrafficSelectorNarrowing.Describe(Ts("2001:db8:1::/48")));
        // ::/0 and 0.0.0.0/0 cover "everything" of their own family only.
        Assert.Empty(TrafficSelectorNarrowing.Narrow([Ts("0.0.0.0/0")], [Ts("::/0")]));
        // A dual-stack offer keeps what each family allows.
        Assert.Equal([Ts("10.1.0.0/16"), Ts("2001:db8:1::/48")],
            TrafficSelectorNarrowing.Narrow([Ts("0.0.0.0/0"), Ts("::/0")], [Ts("10.1.0.0/16"), Ts("2001:db8:1::/48")]));
    }

    [Fact]
    public void Disjoint_Respond_IsNull_AndTheReasonNamesOfferedAndConfigured()
    {
        Assert.Null(TrafficSelectorNarrowing.Respond([Ts("10.9.0.0/16")], [Ts("10.1.0.0/24")], [Ts("10.2.0.0/24")], [Ts("10.1.0.0/24")]));
        string why = TrafficSelectorNarrowing.Unacceptable([Ts("10.9.0.0/16")], [Ts("10.1.0.0/24")], [Ts("10.2.0.0/24")], [Ts("10.1.0.0/24")]);
        Assert.Equal("TS_UNACCEPTABLE: the initiator offered TSi 10.9.0.0/16, TSr 10.1.0.0/24; configured here: remote 10.2.0.0/24, local 10.1.0.0/24", why);
    }

    [Fact]
    public void Respond_NarrowsTsiToTheRemoteSide_AndTsrToTheLocalSide()
    {
        NarrowedSelectors? ts = TrafficSelectorNarrowing.Respond([Ts("10.2.0.0/16")], [Ts("10.1.0.0/16")], remote: [Ts("10.2.3.0/24")], local: [Ts("10.1.4.0/24")]);
        Assert.NotNull(ts);
        Assert.Equal([Ts("10.2.3.0/24")], ts.Tsi);
        Assert.Equal([Ts("10.1.4.0/24")], ts.Tsr);
    }

    /// <summary>
    /// §2.9's example: TSi = (the triggering packet's host, its /24); the responder's policy allows the packet's /24
    /// and another one, not the whole offer: the answer is the subset that includes the packet.
    /// </summary>
    [Fact]
    public void FirstSelectorIsTheTriggeringPacket_NarrowsToTheConfiguredRangeThatHoldsIt()
    {
        IReadOnlyList<TrafficSelector> narrowed = TrafficSelectorNarrowing.Narrow(
            [Ts("198.51.100.43/32", Tcp, 5000, 5000), Ts("198.51.0.0/16")],
            [Ts("198.51.7.0/24"), Ts("198.51.100.0/24")]);
        Assert.Equal([Ts("198.51.100.0/24")], narrowed);
        // The whole offer acceptable: nothing to choose, the packet's selector is inside the rest.
        Assert.Equal([Ts("198.51.0.0/16")], TrafficSelectorNarrowing.Narrow([Ts("198.51.100.43/32"), Ts("198.51.0.0/16")], [Ts("198.0.0.0/8")]));
        // The packet outside the policy: the plain intersection.
        Assert.Equal([Ts("198.51.7.0/24")], TrafficSelectorNarrowing.Narrow([Ts("198.51.200.1/32"), Ts("198.51.0.0/16")], [Ts("198.51.7.0/24")]));
    }

    [Fact]
    public void CheckAnswer_SubsetIsAccepted_WiderOrOtherIsRefusedWithTheReason()
    {
        var offered = new NarrowedSelectors([Ts("10.2.0.0/16")], [Ts("10.1.0.0/16")]);
        Assert.Null(TrafficSelectorNarrowing.CheckAnswer(new NarrowedSelectors([Ts("10.2.5.0/24")], [Ts("10.1.0.0/16")]), offered));
        Assert.Equal("the responder's TSr 10.0.0.0/8 is not a subset of the 10.1.0.0/16 offered",
            TrafficSelectorNarrowing.CheckAnswer(new NarrowedSelectors([Ts("10.2.5.0/24")], [Ts("10.0.0.0/8")]), offered));
        Assert.Equal("the responder's TSi 10.2.0.0/16[tcp] is not a subset of the 10.2.0.0/16[tcp/80] offered",
            TrafficSelectorNarrowing.CheckSubset("TSi", [Ts("10.2.0.0/16", Tcp)], [Ts("10.2.0.0/16", Tcp, 80, 80)]));
        Assert.Equal("the responder's TSi is empty", TrafficSelectorNarrowing.CheckAnswer(new NarrowedSelectors([], [Ts("10.1.0.0/16")]), offered));
    }

    [Fact]
    public void OpaquePorts_AndReversedRanges_IntersectNothing()
    {
        var opaque = new TrafficSelector(Udp, 65535, 0, IPAddress.Parse("10.0.0.0"), IPAddress.Parse("10.0.0.255"));
        Assert.Null(TrafficSelectorNarrowing.Intersect(opaque, Ts("10.0.0.0/24")));
        Assert.Null(TrafficSelectorNarrowing.Intersect(Range("10.0.0.9", "10.0.0.1"), Ts("10.0.0.0/24")));
        Assert.NotNull(TrafficSelectorNarrowing.Validate(Range("10.0.0.9", "10.0.0.1")));
        Assert.NotNull(TrafficSelectorNarrowing.Validate(new TrafficSelector(0, 0, 65535, IPAddress.Parse("10.0.0.1"), IPAddress.IPv6Loopback)));
        Assert.Null(TrafficSelectorNarrowing.Validate(Ts("10.0.0.0/24")));
    }

    [Fact]
    public void ToPolicy_KeepsRangeProtocolAndPorts()
    {
        Ipsec.TrafficSelector p = TrafficSelectorNarrowing.ToPolicy(Ts("10.0.0.0/24", Tcp, 443, 443));
        Assert.Equal((IPAddress.Parse("10.0.0.0"), IPAddress.Parse("10.0.0.255"), Tcp, (ushort)443, (ushort)443), (p.Start, p.End, p.IpProtocol, p.StartPort, p.EndPort));
    }

    [Fact]
    public void Narrowed_RoundTripsOnTheWire()
    {
        IReadOnlyList<TrafficSelector> narrowed = TrafficSelectorNarrowing.Narrow([Ts("10.0.0.0/16"), Ts("2001:db8::/32")], [Ts("10.0.1.0/24", Udp, 500, 500), Ts("2001:db8:5::/64")]);
        Assert.Equal(narrowed, Payloads.ReadTs(Payloads.WriteTs(narrowed)));
        Assert.Equal(2, narrowed.Count);
    }
}
