using System.Diagnostics;
using static Certgate.Scenario.Tests.ServiceSetScenario;

namespace Certgate.Scenario.Tests;

/// <summary>
/// <c>certgate gateway run</c> started before its local-gateway address is usable (issue 13): the daemon says once
/// what it waits for, <c>show</c> says why the tunnel is down, and the tunnel comes up when the address appears, with
/// no restart and no commit, as a router brings its tunnels up when an interface comes up.
/// <code>
///   ns 1: gw1 ms0-0-0-1 inside   veth (local-gateway) -------------- veth (local-gateway)   ns 2: gw2 ms0-0-0-1 inside
///   IPv6: gw2's fd00:88::2 is added late, with duplicate address detection on (tentative for about 10 s)
///   IPv4: gw1's 10.88.0.1 is added late, first on an interface that is down, then the interface comes up
/// </code>
/// </summary>
public sealed class LocalGatewayAddressTests
{
    private const string NotConfigured = "the address is not configured on any interface of this host";

    [Fact]
    public void Ipv6_ResponderStartsBeforeItsAddress_AddressAddedWithDad_TunnelComesUp_PingCrosses()
    {
        string dll = NetNamespaces.CertgateDll();
        string dir = Directory.CreateTempSubdirectory("certgate-late6-").FullName;
        using var net = new NetNamespaces();
        try
        {
            string ns1 = net.Create("1");
            string ns2 = net.Create("2");
            (_, string veth2) = net.Link(ns1, "fd00:88::1/64", ns2, null);
            // Ten probes a second apart: the address stays tentative long enough for the daemon to see it so.
            NetNamespaces.Run("ip", "netns", "exec", ns2, "sysctl", "-qw", $"net.ipv6.conf.{veth2}.accept_dad=1",
                $"net.ipv6.conf.{veth2}.dad_transmits=10");
            string[] states = [Path.Combine(dir, "gw1"), Path.Combine(dir, "gw2")];
            string[] configurations =
            [
                Ipv6NextHop("gw1", "fd00:88::1", "fd00:88::2", "fd00:30:1::1/64", "fd00:30:1::/64", "fd00:30:2::/64"),
                Ipv6NextHop("gw2", "fd00:88::2", "fd00:88::1", "fd00:30:2::1/64", "fd00:30:2::/64", "fd00:30:1::/64"),
            ];
            Provision(dll, dir, states, configuration: i => configurations[i]);

            Process gw2 = net.Start(ns2, "dotnet", dll, "--state", states[1], "gateway", "run");
            Process? gw1 = null;
            string All() => "gw1:\n" + (gw1 is null ? "(not started)" : net.OutputOf(gw1)) + "\ngw2:\n" + net.OutputOf(gw2);
            net.WaitFor(gw2, $"waiting for local-gateway fd00:88::2 (service-set ipsec-6): {NotConfigured}", 60, All);
            string ipsec = CertgateCli(dll, states[1], "show", "services", "ipsec-vpn", "ipsec", "security-associations");
            Assert.Contains($"No SAs: not started: waiting for local-gateway fd00:88::2: {NotConfigured}", ipsec);
            string ike = CertgateCli(dll, states[1], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail");
            Assert.Contains("State: Not matured", ike);
            Assert.Contains($"Not started: waiting for local-gateway fd00:88::2: {NotConfigured}", ike);

            NetNamespaces.Run("ip", "-n", ns2, "addr", "add", "fd00:88::2/64", "dev", veth2);
            gw1 = net.Start(ns1, "dotnet", dll, "--state", states[0], "gateway", "run");
            net.WaitFor(gw2, "waiting for local-gateway fd00:88::2 (service-set ipsec-6): the address is tentative (duplicate address detection has not finished)", 60, All);
            net.WaitFor(gw2, "local-gateway fd00:88::2 is usable now", 60, All);
            net.WaitFor(gw1, "IKE SA up as initiator", 90, All);
            net.WaitFor(gw2, "IKE SA up as responder", 30, All);
            // Said once per state, not once per look.
            Assert.Single(OccurrencesOf(net.OutputOf(gw2), "waiting for local-gateway fd00:88::2 (service-set ipsec-6): the address is tentative"));

            string ping = Ping(ns1, "fd00:30:1::1", "fd00:30:2::1");
            Assert.True(ping.Contains("3 packets transmitted, 3 received", StringComparison.Ordinal), $"{ping}\n{All()}");
            Assert.DoesNotContain("Not started", CertgateCli(dll, states[1], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail"));

            NetNamespaces.Stop(gw1);
            NetNamespaces.Stop(gw2);
            Assert.True(gw2.ExitCode == 0, $"gw2 exited {gw2.ExitCode}:\n{All()}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Ipv4_InitiatorStartsBeforeItsAddress_ThenInterfaceDown_ThenUp_TunnelComesUp_PingCrosses()
    {
        string dll = NetNamespaces.CertgateDll();
        string dir = Directory.CreateTempSubdirectory("certgate-late4-").FullName;
        using var net = new NetNamespaces();
        try
        {
            string ns1 = net.Create("1");
            string ns2 = net.Create("2");
            (string veth1, _) = net.Link(ns1, null, ns2, "10.88.0.2/24");
            string[] states = [Path.Combine(dir, "gw1"), Path.Combine(dir, "gw2")];
            Provision(dll, dir, states);

            Process gw1 = net.Start(ns1, "dotnet", dll, "--state", states[0], "gateway", "run");
            Process? gw2 = null;
            string All() => "gw1:\n" + net.OutputOf(gw1) + "\ngw2:\n" + (gw2 is null ? "(not started)" : net.OutputOf(gw2));
            net.WaitFor(gw1, $"waiting for local-gateway 10.88.0.1 (service-set ipsec-1): {NotConfigured}", 60, All);
            Assert.Contains($"No SAs: not started: waiting for local-gateway 10.88.0.1: {NotConfigured}",
                CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ipsec", "security-associations"));
            gw2 = net.Start(ns2, "dotnet", dll, "--state", states[1], "gateway", "run");

            // The address on an interface that is down: bind(2) would take it, but nothing can cross.
            NetNamespaces.Run("ip", "-n", ns1, "link", "set", veth1, "down");
            NetNamespaces.Run("ip", "-n", ns1, "addr", "add", "10.88.0.1/24", "dev", veth1);
            net.WaitFor(gw1, $"waiting for local-gateway 10.88.0.1 (service-set ipsec-1): its interface {veth1} is down", 60, All);
            Assert.Contains($"No SAs: not started: waiting for local-gateway 10.88.0.1: its interface {veth1} is down",
                CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ipsec", "security-associations"));

            NetNamespaces.Run("ip", "-n", ns1, "link", "set", veth1, "up");
            net.WaitFor(gw1, "local-gateway 10.88.0.1 is usable now", 60, All);
            net.WaitFor(gw1, "IKE SA up as initiator", 90, All);
            net.WaitFor(gw2, "IKE SA up as responder", 30, All);
            Assert.Single(OccurrencesOf(net.OutputOf(gw1), $"waiting for local-gateway 10.88.0.1 (service-set ipsec-1): {NotConfigured}"));

            string ping = Ping(ns1, "172.30.1.1", "172.30.2.1");
            Assert.True(ping.Contains("3 packets transmitted, 3 received", StringComparison.Ordinal), $"{ping}\n{All()}");

            NetNamespaces.Stop(gw1);
            NetNamespaces.Stop(gw2);
            Assert.True(gw1.ExitCode == 0, $"gw1 exited {gw1.ExitCode}:\n{All()}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static List<int> OccurrencesOf(string text, string what)
    {
        var at = new List<int>();
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            at.Add(i);
        }
        return at;
    }
}
