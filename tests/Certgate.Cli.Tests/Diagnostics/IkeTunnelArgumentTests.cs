using Certgate.Cli.Tests.Pki;

namespace Certgate.Cli.Tests.Diagnostics;

/// <summary>
/// <c>debug ike-tunnel</c> refuses gateways or subnets of two address families at once, naming both, before it opens
/// a socket (otherwise an IPv6 socket would wait forever for an IPv4 peer).
/// </summary>
public sealed class IkeTunnelArgumentTests : IDisposable
{
    private readonly PkiFixture _f = new();

    public void Dispose() => _f.Dispose();

    [Theory]
    [InlineData("::1", "127.0.0.1", "fd00:1::/64", "fd00:2::/64", "local ::1 and remote 127.0.0.1 must both be IPv4 or both IPv6")]
    [InlineData("127.0.0.1", "::1", "10.1.0.0/16", "10.2.0.0/16", "local 127.0.0.1 and remote ::1 must both be IPv4 or both IPv6")]
    [InlineData("::1", "::1", "fd00:1::/64", "10.2.0.0/16", "local-subnet fd00:1::/64 and remote-subnet 10.2.0.0/16 must both be IPv4 or both IPv6")]
    public void MixedAddressFamilies_AreRefused_WithBothValues(string local, string remote, string localNet, string remoteNet, string expected)
    {
        string psk = _f.WriteFile("psk", "a shared secret for argument tests\n");
        File.SetUnixFileMode(psk, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        (int code, string output, string err) = _f.Run("debug", "ike-tunnel", "tun", "cgx", "local", local, "remote", remote, "pre-shared-key-file", psk,
            "local-identity", "a.test", "local-subnet", localNet, "remote-subnet", remoteNet);
        Assert.Equal(2, code);
        Assert.Contains("debug ike-tunnel: " + expected, err + output, StringComparison.Ordinal);
    }
}
