using Certgate.Cli.Tests.Pki;

namespace Certgate.Cli.Tests.Diagnostics;

/// <summary>
/// <c>debug ike-tunnel local-id / remote-id</c> in the Junos syntax: a wrong kind or value is refused before any
/// socket or TUN device is opened, with one line naming the option, the kind, the value and what was expected.
/// </summary>
public sealed class IkeTunnelIdentityTests : IDisposable
{
    private readonly PkiFixture _f = new();
    private readonly string _psk;

    public IkeTunnelIdentityTests()
    {
        _psk = _f.WriteFile("psk", "a pre-shared key of enough length");
        File.SetUnixFileMode(_psk, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public void Dispose() => _f.Dispose();

    private string Refused(params string[] identity)
    {
        (int code, string output, string error) = _f.Run(["debug", "ike-tunnel", "tun", "cgtest0", "local", "192.0.2.1", "remote", "192.0.2.2",
            "pre-shared-key-file", _psk, "local-subnet", "10.1.0.0/16", "remote-subnet", "10.2.0.0/16", .. identity]);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.StartsWith("error: ", error);
        return error.Trim()["error: ".Length..];
    }

    [Theory]
    [InlineData("debug ike-tunnel: local-id ipv4_addr '2001:db8::1': expected an IPv4 address", "local-id", "ipv4_addr", "2001:db8::1")]
    [InlineData("debug ike-tunnel: remote-id ipv6-addr '192.0.2.2': expected an IPv6 address", "remote-id", "ipv6-addr", "192.0.2.2")]
    [InlineData("debug ike-tunnel: local-id fqdn 'gw_1.example': expected a domain name such as gw1.example.net", "local-id", "fqdn", "gw_1.example")]
    [InlineData("debug ike-tunnel: remote-id user-at-hostname 'gw.example.net': expected an e-mail address such as gw1@example.net", "remote-id", "user-at-hostname", "gw.example.net")]
    [InlineData("debug ike-tunnel: remote-id key-id 'abc': expected hexadecimal digits, two per byte", "remote-id", "key-id", "abc")]
    [InlineData("debug ike-tunnel: remote-id 'email': expected ipv4_addr, ipv6-addr, fqdn, user-at-hostname, key-id or distinguished-name", "remote-id", "email", "x@example.net")]
    [InlineData("debug ike-tunnel: remote-id distinguished-name 'sometimes': expected container, wildcard or exact-match", "remote-id", "distinguished-name", "sometimes", "O=Example")]
    [InlineData("debug ike-tunnel: local-id distinguished-name takes the subject of the local certificate: give certificate-id ID", "local-id", "distinguished-name")]
    [InlineData("debug ike-tunnel: 'remote-id distinguished-name' needs 2 more values", "remote-id", "distinguished-name", "wildcard")]
    [InlineData("debug ike-tunnel: give at most one local-id (or the older local-identity)", "local-id", "fqdn", "a.example", "local-id", "fqdn", "b.example")]
    public void BadIdentity_IsRefusedWithOneLineNamingIt(string expected, params string[] identity) =>
        Assert.Equal(expected, Refused(identity));

    [Fact]
    public void BadDistinguishedNamePattern_IsRefusedWithTheParsersReason()
    {
        string error = Refused("remote-id", "distinguished-name", "wildcard", "no equals sign");
        Assert.StartsWith("debug ike-tunnel: remote-id distinguished-name wildcard 'no equals sign': ", error);
    }
}
