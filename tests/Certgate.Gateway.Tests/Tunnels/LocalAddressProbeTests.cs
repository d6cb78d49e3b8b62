using System.Net;
using Certgate.Gateway.Tunnels;

namespace Certgate.Gateway.Tests.Tunnels;

/// <summary>How the gateway reads whether a local-gateway address is usable (issue 13).</summary>
public sealed class LocalAddressProbeTests
{
    // /proc/net/if_inet6 as the kernel writes it: address, ifindex, prefix length, scope, flags, device.
    private const string Inet6 = """
        00000000000000000000000000000001 00000001 80 10 80       lo
        fd000088000000000000000000000002 00000002 40 00 40 vab12cdb1
        fd000088000000000000000000000003 00000002 40 00 48 vab12cdb1
        fd000088000000000000000000000001 00000002 40 00 80 vab12cdb1
        fe80000000000000b8e7a1fffe0c5e11 00000002 40 20 80 vab12cdb1

        """;

    [Theory]
    [InlineData("fd00:88::2", 0x40)] // tentative
    [InlineData("fd00:88::3", 0x48)] // tentative, DAD failed
    [InlineData("fd00:88::1", 0x80)] // permanent
    [InlineData("::1", 0x80)]
    public void Inet6Flags_OfTheAddressesLine(string address, int flags) =>
        Assert.Equal(flags, LocalAddressProbe.Inet6Flags(Inet6, IPAddress.Parse(address)));

    [Fact]
    public void Inet6Flags_AddressNotThere_IsNull() =>
        Assert.Null(LocalAddressProbe.Inet6Flags(Inet6, IPAddress.Parse("fd00:88::9")));

    [Fact]
    public void Inet6Flags_ShortOrBrokenLines_AreIgnored() =>
        Assert.Null(LocalAddressProbe.Inet6Flags("fd000088000000000000000000000002 02 40\nfd00008800000000000000000000000 1 40 00 40 x\nfd000088000000000000000000000002 2 40 00 zz x\n", IPAddress.Parse("fd00:88::2")));

    [Fact]
    public void Loopback_IsUsable_AnAddressNoInterfaceHas_IsNot()
    {
        var probe = new LocalAddressProbe();
        Assert.Null(probe.WhyNotUsable(IPAddress.Loopback));
        // TEST-NET-3 (RFC 5737): on no interface of a test machine.
        Assert.Equal("the address is not configured on any interface of this host", probe.WhyNotUsable(IPAddress.Parse("203.0.113.77")));
    }
}
