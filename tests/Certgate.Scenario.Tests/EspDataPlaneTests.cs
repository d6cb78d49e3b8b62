using System.Diagnostics;
using System.Security.Cryptography;

namespace Certgate.Scenario.Tests;

/// <summary>
/// The userspace data plane between two network namespaces: each runs <c>certgate debug esp-tunnel</c> (manually
/// keyed ESP-in-UDP over a TUN device); ping crosses the tunnel, and with a wrong key it does not and the receiver
/// counts authentication failures.
/// </summary>
public sealed class EspDataPlaneTests : IDisposable
{
    private readonly NetNamespaces _net = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("certgate-esp-scn-").FullName;

    public void Dispose()
    {
        _net.Dispose();
        Directory.Delete(_dir, recursive: true);
    }


    private string Keys(string name, string inbound, string outbound)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, inbound + "\n" + outbound + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    private (Process A, Process B, string NsA, string NsB) StartPair(string cipher, int keymatLength, bool corruptB, string encap = "udp")
    {
        string nsA = _net.Create("a");
        string nsB = _net.Create("b");
        _net.Link(nsA, "10.251.0.1/24", nsB, "10.251.0.2/24");
        string k1 = Convert.ToHexString(RandomNumberGenerator.GetBytes(keymatLength));
        string k2 = Convert.ToHexString(RandomNumberGenerator.GetBytes(keymatLength));
        string k1ForB = corruptB ? Convert.ToHexString(RandomNumberGenerator.GetBytes(keymatLength)) : k1;
        string dll = NetNamespaces.CertgateDll();
        Process a = _net.Start(nsA, "dotnet", dll, "debug", "esp-tunnel", "tun", "cg0", "local", "10.251.0.1:4500", "remote", "10.251.0.2:4500",
            "spi-in", "1001", "spi-out", "2002", "keys", Keys("a.keys", k2, k1), "cipher", cipher, "encap", encap);
        Process b = _net.Start(nsB, "dotnet", dll, "debug", "esp-tunnel", "tun", "cg0", "local", "10.251.0.2:4500", "remote", "10.251.0.1:4500",
            "spi-in", "2002", "spi-out", "1001", "keys", Keys("b.keys", k1ForB, k2), "cipher", cipher, "encap", encap);
        _net.WaitFor(a, "esp-tunnel on cg0");
        _net.WaitFor(b, "esp-tunnel on cg0");
        foreach ((string ns, string address) in new[] { (nsA, "172.30.0.1/30"), (nsB, "172.30.0.2/30") })
        {
            NetNamespaces.Run("ip", "-n", ns, "addr", "add", address, "dev", "cg0");
            NetNamespaces.Run("ip", "-n", ns, "link", "set", "cg0", "up");
        }
        return (a, b, nsA, nsB);
    }

    [Theory]
    [InlineData("aes-128-gcm", 20)]
    [InlineData("aes-256-cbc-hmac-sha256", 64)]
    public void Ping_CrossesTheTunnel(string cipher, int keymatLength)
    {
        (Process a, Process b, string nsA, _) = StartPair(cipher, keymatLength, corruptB: false);
        string ping = NetNamespaces.Run("ip", "netns", "exec", nsA, "ping", "-c", "3", "-W", "2", "172.30.0.2");
        Assert.Contains("3 received", ping);
        NetNamespaces.Stop(a);
        NetNamespaces.Stop(b);
        Assert.Equal(0, a.ExitCode);
        Assert.Matches(@"esp-tunnel stopped: sent [3-9]\d*, received [3-9]", _net.OutputOf(a));
        Assert.Contains("AuthenticationFailed 0", _net.OutputOf(b));
    }

    [Fact]
    public void WrongKey_NothingCrosses_AndTheReceiverCountsAuthenticationFailures()
    {
        (Process a, Process b, string nsA, _) = StartPair("aes-128-gcm", 20, corruptB: true);
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() =>
            NetNamespaces.Run("ip", "netns", "exec", nsA, "ping", "-c", "2", "-W", "1", "172.30.0.2"));
        Assert.Contains("100% packet loss", e.Message);
        NetNamespaces.Stop(a);
        NetNamespaces.Stop(b);
        Assert.Matches(@"AuthenticationFailed [1-9]", _net.OutputOf(b));
        Assert.Matches(@"received 0,", _net.OutputOf(b));
    }

    [Fact]
    public void RawEsp_PingCrosses_AndTheWireCarriesIpProtocol50()
    {
        (Process a, Process b, string nsA, string nsB) = StartPair("aes-128-gcm", 20, corruptB: false, encap: "raw");
        Assert.Contains("ESP in IP (protocol 50)", _net.OutputOf(a));
        // The capture on B's side of the veth: only IP protocol 50, so UDP-encapsulated ESP would not be counted.
        Process capture = _net.Start(nsB, "tcpdump", "-n", "-l", "-i", "any", "-c", "4", "ip proto 50");
        _net.WaitFor(capture, "listening on");
        string ping = NetNamespaces.Run("ip", "netns", "exec", nsA, "ping", "-c", "3", "-W", "2", "172.30.0.2");
        Assert.Contains("3 received", ping);
        Assert.True(capture.WaitForExit(10_000), "tcpdump did not see 4 ESP packets: " + _net.OutputOf(capture));
        capture.WaitForExit();
        string seen = _net.OutputOf(capture);
        Assert.Matches(@"10\.251\.0\.1 > 10\.251\.0\.2: ESP\(spi=0x00002002", seen);
        Assert.Matches(@"10\.251\.0\.2 > 10\.251\.0\.1: ESP\(spi=0x00001001", seen);
        Assert.DoesNotContain("UDP", seen);
        NetNamespaces.Stop(a);
        NetNamespaces.Stop(b);
        Assert.Matches(@"esp-tunnel stopped: sent [3-9]\d*, received [3-9]", _net.OutputOf(a));
        Assert.Contains("WrongEncapsulation 0", _net.OutputOf(b));
    }

    /// <summary>
    /// TCP through a tunnel with TUN offloads: the sender's super-packets are cut before ESP and the receiver's
    /// segments coalesced after it; 8 MiB sent over one connection arrive identical (the coalesced packets reach TCP
    /// as CHECKSUM_PARTIAL, so TCP would not catch a bad join: the comparison does). Server: Perl's IO::Socket
    /// (perl-base is Essential in Debian); client: bash's /dev/tcp.
    /// </summary>
    [Theory]
    [InlineData("aes-128-gcm", 20)]
    [InlineData("aes-256-cbc-hmac-sha256", 64)]
    public void Tcp_CrossesWithOffloads_AndTheDataArrivesIntact(string cipher, int keymatLength)
    {
        (Process a, Process b, string nsA, string nsB) = StartPair(cipher, keymatLength, corruptB: false);
        Assert.Contains("TUN TSO/GRO on", _net.OutputOf(a));
        string sent = Path.Combine(_dir, "sent.bin");
        string received = Path.Combine(_dir, "received.bin");
        File.WriteAllBytes(sent, RandomNumberGenerator.GetBytes(8 << 20));
        Process server = _net.Start(nsB, "perl", "-MIO::Socket::INET", "-e",
            "$s = IO::Socket::INET->new(LocalAddr => '172.30.0.2:5001', Listen => 1, ReuseAddr => 1) or die \"listen: $!\"; $| = 1; " +
            "print \"listening\\n\"; $c = $s->accept; binmode $c; open(F, '>', $ARGV[0]) or die; binmode F; " +
            "while (sysread($c, $b, 65536)) { print F $b } close F; print \"done\\n\"", received);
        _net.WaitFor(server, "listening");
        NetNamespaces.Run("ip", "netns", "exec", nsA, "bash", "-c", $"cat '{sent}' > /dev/tcp/172.30.0.2/5001");
        _net.WaitFor(server, "done");
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(sent)), SHA256.HashData(File.ReadAllBytes(received)));
        NetNamespaces.Stop(a);
        NetNamespaces.Stop(b);
        Assert.Contains("AuthenticationFailed 0", _net.OutputOf(b));
    }
}
