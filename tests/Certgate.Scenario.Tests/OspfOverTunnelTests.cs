using System.Diagnostics;
using System.Security.Cryptography;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Route-based IPsec carries dynamic routing and multicast (issue 6, next-hop service sets): two namespaces joined
/// by a veth pair run Certgate's userspace ESP data plane (<c>certgate debug esp-tunnel</c>, wide selectors as a
/// next-hop service set uses) and BIRD's OSPFv2 on the tunnel interfaces. OSPF hellos go to 224.0.0.5, so the
/// adjacency coming up proves multicast crosses the tunnel; each side then learns the other's stub network and a
/// ping between those networks crosses the tunnel.
/// <code>
///   [ns a] lo 10.10.1.1/24         cg0 172.30.9.1/30 ==ESP in UDP 4500 over veth 10.252.0.1 - 10.252.0.2== cg0 172.30.9.2/30         lo 10.10.2.1/24 [ns b]
///          bird ospf area 0: cg0 (ptp), lo (stub)                                                  bird ospf area 0: cg0 (ptp), lo (stub)
/// </code>
/// </summary>
public sealed class OspfOverTunnelTests : IDisposable
{
    private readonly NetNamespaces _net = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("certgate-ospf-scn-").FullName;

    public void Dispose()
    {
        _net.Dispose();
        Directory.Delete(_dir, recursive: true);
    }


    private string Write(string name, string text, bool secret = false)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        if (secret)
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return path;
    }

    private Process Bird(string ns, string name, string routerId)
    {
        Assert.True(File.Exists("/usr/sbin/bird"), "BIRD is not installed (Debian package bird2; ./build.sh test installs it as root)");
        string conf = Write($"{name}.conf", $$"""
            router id {{routerId}};
            protocol device { scan time 1; }
            protocol kernel { ipv4 { import none; export where source = RTS_OSPF; }; }
            protocol ospf v2 ospf1 {
              ipv4 { import all; export none; };
              area 0 {
                interface "cg0" { type ptp; hello 1; dead 4; };
                interface "lo" { stub yes; };
              };
            }
            """);
        return _net.Start(ns, "/usr/sbin/bird", "-f", "-c", conf, "-s", Path.Combine(_dir, $"{name}.ctl"), "-P", Path.Combine(_dir, $"{name}.pid"));
    }

    [Fact]
    public void Ospf_LearnsTheFarSide_OverTheEspTunnel_AndTrafficFollowsTheLearntRoute()
    {
        string nsA = _net.Create("a");
        string nsB = _net.Create("b");
        _net.Link(nsA, "10.252.0.1/24", nsB, "10.252.0.2/24");
        NetNamespaces.Run("ip", "-n", nsA, "addr", "add", "10.10.1.1/24", "dev", "lo");
        NetNamespaces.Run("ip", "-n", nsB, "addr", "add", "10.10.2.1/24", "dev", "lo");
        string k1 = Convert.ToHexString(RandomNumberGenerator.GetBytes(36));
        string k2 = Convert.ToHexString(RandomNumberGenerator.GetBytes(36));
        string dll = NetNamespaces.CertgateDll();
        Process a = _net.Start(nsA, "dotnet", dll, "debug", "esp-tunnel", "tun", "cg0", "local", "10.252.0.1:4500", "remote", "10.252.0.2:4500",
            "spi-in", "1001", "spi-out", "2002", "keys", Write("a.keys", k2 + "\n" + k1 + "\n", secret: true), "cipher", "aes-256-gcm");
        Process b = _net.Start(nsB, "dotnet", dll, "debug", "esp-tunnel", "tun", "cg0", "local", "10.252.0.2:4500", "remote", "10.252.0.1:4500",
            "spi-in", "2002", "spi-out", "1001", "keys", Write("b.keys", k1 + "\n" + k2 + "\n", secret: true), "cipher", "aes-256-gcm");
        _net.WaitFor(a, "esp-tunnel on cg0");
        _net.WaitFor(b, "esp-tunnel on cg0");
        foreach ((string ns, string local, string peer) in new[] { (nsA, "172.30.9.1", "172.30.9.2"), (nsB, "172.30.9.2", "172.30.9.1") })
        {
            NetNamespaces.Run("ip", "-n", ns, "addr", "add", local, "peer", peer + "/32", "dev", "cg0");
            NetNamespaces.Run("ip", "-n", ns, "link", "set", "cg0", "multicast", "on", "up");
        }
        Process birdA = Bird(nsA, "bird-a", "10.10.1.1");
        Process birdB = Bird(nsB, "bird-b", "10.10.2.1");

        // Each side must learn the other's stub network from OSPF, over cg0 (BIRD installs it as proto bird).
        string routeA = WaitForRoute(nsA, "10.10.2.0/24", birdA);
        string routeB = WaitForRoute(nsB, "10.10.1.0/24", birdB);
        Assert.Contains("dev cg0", routeA);
        Assert.Contains("proto bird", routeA);
        Assert.Contains("dev cg0", routeB);

        string ping = NetNamespaces.Run("ip", "netns", "exec", nsA, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", "10.10.1.1", "10.10.2.1");
        Assert.Contains("3 received", ping);

        NetNamespaces.Stop(birdA);
        NetNamespaces.Stop(birdB);
        NetNamespaces.Stop(a);
        NetNamespaces.Stop(b);
        // The hellos and LSAs (multicast) and the ping went through ESP and nothing was refused.
        Assert.Matches(@"received ([2-9]\d|\d{3,})", _net.OutputOf(b));
        Assert.Contains("AuthenticationFailed 0", _net.OutputOf(a));
        Assert.Contains("PolicyMismatch 0", _net.OutputOf(b));
    }

    private string WaitForRoute(string ns, string prefix, Process bird)
    {
        DateTime until = DateTime.UtcNow.AddSeconds(40);
        string route = "";
        while (DateTime.UtcNow < until)
        {
            route = NetNamespaces.Run("ip", "-n", ns, "route", "show", prefix);
            if (route.Contains("cg0", StringComparison.Ordinal))
            {
                return route;
            }
            Assert.False(bird.HasExited, $"bird in {ns} exited: {_net.OutputOf(bird)}");
            Thread.Sleep(250);
        }
        throw new TimeoutException($"OSPF did not install {prefix} in {ns} within 40 s (route: '{route.Trim()}'; bird: {_net.OutputOf(bird)})");
    }
}
