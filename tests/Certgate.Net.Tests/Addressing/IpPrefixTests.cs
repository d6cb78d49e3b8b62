using System.Net;
using Certgate.Net.Addressing;

namespace Certgate.Net.Tests.Addressing;

public sealed class IpPrefixTests
{
    [Theory]
    [InlineData("10.1.12.7/24", "10.1.12.0/24")]
    [InlineData("10.1.12.7", "10.1.12.7/32")]
    [InlineData("2001:db8::1/32", "2001:db8::/32")]
    [InlineData("0.0.0.0/0", "0.0.0.0/0")]
    public void Parse_clears_host_bits(string text, string expected) =>
        Assert.Equal(expected, IpPrefix.Parse(text).ToString());

    [Theory]
    [InlineData("")]
    [InlineData("10.1.12.0/33")]
    [InlineData("10.1.12.0/-1")]
    [InlineData("host/24")]
    [InlineData("fe80::1%eth0/64")]
    public void Parse_rejects_bad_text(string text)
    {
        Assert.False(IpPrefix.TryParse(text, out _));
        FormatException e = Assert.Throws<FormatException>(() => IpPrefix.Parse(text));
        Assert.Contains(text, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Contains_respects_family_and_mask()
    {
        IpPrefix p = IpPrefix.Parse("10.1.12.0/24");
        Assert.True(p.Contains(IPAddress.Parse("10.1.12.255")));
        Assert.False(p.Contains(IPAddress.Parse("10.1.13.0")));
        Assert.False(p.Contains(IPAddress.Parse("::ffff:10.1.12.1")));
    }

    [Theory]
    [InlineData("10.1.12.77/24", "10.1.12.0", "10.1.12.255")]
    [InlineData("10.1.12.7/32", "10.1.12.7", "10.1.12.7")]
    [InlineData("0.0.0.0/0", "0.0.0.0", "255.255.255.255")]
    [InlineData("10.1.12.0/21", "10.1.8.0", "10.1.15.255")]
    [InlineData("2001:db8::1/64", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff")]
    [InlineData("::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    public void First_and_Last_are_the_range_of_the_prefix(string prefix, string first, string last)
    {
        IpPrefix p = IpPrefix.Parse(prefix);
        Assert.Equal(IPAddress.Parse(first), p.First);
        Assert.Equal(IPAddress.Parse(last), p.Last);
    }
}
