using System.Diagnostics;
using System.Text.Json.Nodes;
using static Certgate.Scenario.Tests.ServiceSetScenario;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Issue 6: two next-hop service sets on one local-gateway address, to two peers, with the same selectors on gw1
/// (172.30.1.0/24 ↔ 172.30.0.0/16): only the route, i.e. the inside device a packet enters, tells the sets apart.
/// <code>
///   gw2 10.88.0.2 ── 10.88.0.1 gw1 (local-gateway 10.88.0.1 for both sets) 10.89.0.1 ── 10.89.0.3 gw3
///   ms0-0-0-1 172.30.2.1/24     set a: ms0-0-0-1 172.30.1.1/24, route 172.30.2.0/24       ms0-0-0-1 172.30.3.1/24
///                               set b: ms0-0-0-3 172.30.11.1/24, route 172.30.3.0/24
/// </code>
/// One ESP data plane (UDP 4500 on 10.88.0.1) serves both inside devices.
/// </summary>
[Collection(ServiceSetScenario.Collection)]
public sealed class MultiServiceSetTests
{
    /// <summary>(inbound SPI, outbound SPI) of gw's tunnel to <paramref name="peer"/>, from the show command.</summary>
    private static (string In, string Out) ChildSpis(string dll, string state, string peer)
    {
        JsonNode json = JsonNode.Parse(CertgateCli(dll, state, "show", "services", "ipsec-vpn", "ipsec", "security-associations", "|", "display", "json"))!;
        JsonNode? tunnel = json["ipsec-security-associations"]!.AsArray().SingleOrDefault(t => (string?)t!["remote-gateway"] == peer);
        Assert.True(tunnel is not null, $"no tunnel to {peer} in:\n{json}");
        JsonArray sas = tunnel["security-associations"]!.AsArray();
        string Of(string direction) => sas.Single(s => (string)s!["direction"]! == direction)!["spi-hex"]!.GetValue<string>();
        return (Of("inbound"), Of("outbound"));
    }

    [Fact]
    public void TwoNextHopServiceSets_OneLocalGateway_SameSelectors_BothTunnelsCarryTheirTraffic_RemovingOneKeepsTheOthersSas()
    {
        string dll = NetNamespaces.CertgateDll();
        string dir = Directory.CreateTempSubdirectory("certgate-multiset-").FullName;
        using var net = new NetNamespaces();
        try
        {
            string ns1 = net.Create("1");
            string ns2 = net.Create("2");
            string ns3 = net.Create("3");
            net.Link(ns1, "10.88.0.1/24", ns2, "10.88.0.2/24");
            // Named after the first namespace's index: gw3 first, so the device names differ from the first link's.
            net.Link(ns3, "10.89.0.3/24", ns1, "10.89.0.1/24");
            // gw3 reaches gw1's local-gateway address through gw1's second link.
            NetNamespaces.Run("ip", "-n", ns3, "route", "add", "10.88.0.0/24", "via", "10.89.0.1");
            string[] states = [Path.Combine(dir, "gw1"), Path.Combine(dir, "gw2"), Path.Combine(dir, "gw3")];
            string[] configurations =
            [
                Policies("gw1") +
                NextHopSet("set-a", "rule-a", 1, "172.30.1.1/24", "10.88.0.1", "10.88.0.2", "172.30.1.0/24", "172.30.0.0/16") +
                NextHopSet("set-b", "rule-b", 3, "172.30.11.1/24", "10.88.0.1", "10.89.0.3", "172.30.1.0/24", "172.30.0.0/16") +
                "set routing-options static route 172.30.2.0/24 next-hop ms-0/0/0.1\n" +
                "set routing-options static route 172.30.3.0/24 next-hop ms-0/0/0.3\ncommit\n",
                Policies("gw2") + NextHopSet("set-a", "rule-a", 1, "172.30.2.1/24", "10.88.0.2", "10.88.0.1", "172.30.0.0/16", "172.30.1.0/24") +
                "set routing-options static route 172.30.1.0/24 next-hop ms-0/0/0.1\ncommit\n",
                Policies("gw3") + NextHopSet("set-b", "rule-b", 1, "172.30.3.1/24", "10.89.0.3", "10.88.0.1", "172.30.0.0/16", "172.30.1.0/24") +
                "set routing-options static route 172.30.1.0/24 next-hop ms-0/0/0.1\ncommit\n",
            ];
            Provision(dll, dir, states, configuration: i => configurations[i]);
            Process gw1 = net.Start(ns1, "dotnet", dll, "--state", states[0], "gateway", "run");
            Process gw2 = net.Start(ns2, "dotnet", dll, "--state", states[1], "gateway", "run");
            Process gw3 = net.Start(ns3, "dotnet", dll, "--state", states[2], "gateway", "run");
            string All() => "gw1:\n" + net.OutputOf(gw1) + "\ngw2:\n" + net.OutputOf(gw2) + "\ngw3:\n" + net.OutputOf(gw3);
            net.WaitFor(gw2, "IKE SA up as responder", 90);
            net.WaitFor(gw3, "IKE SA up as responder", 90);
            // The responders log "up" when they send IKE_AUTH's response; gw1 installs its SAs when it reads it.
            for (int i = 0; i < 600 && System.Text.RegularExpressions.Regex.Matches(net.OutputOf(gw1), "IKE SA up as initiator").Count < 2; i++)
            {
                Thread.Sleep(50);
            }
            string log1 = net.OutputOf(gw1);
            Assert.True(System.Text.RegularExpressions.Regex.Matches(log1, "IKE SA up as initiator").Count == 2, $"gw1 did not bring both IKE SAs up:\n{All()}");
            Assert.Contains("ESP data plane for local-gateway 10.88.0.1 on UDP 4500", log1);
            Assert.Contains("inside device ms0-0-0-1 (service-set set-a", log1);
            Assert.Contains("inside device ms0-0-0-3 (service-set set-b", log1);
            Assert.DoesNotContain("already carries", log1);

            // Same source, same selectors on gw1: each ping crosses the set its route picks, to its own peer.
            foreach (string to in new[] { "172.30.2.1", "172.30.3.1" })
            {
                string ping = Ping(ns1, "172.30.1.1", to);
                Assert.True(ping.Contains("3 packets transmitted, 3 received", StringComparison.Ordinal), $"ping {to}: {ping}\n{All()}");
            }
            Assert.Contains("3 received", Ping(ns2, "172.30.2.1", "172.30.1.1"));
            Assert.Contains("3 received", Ping(ns3, "172.30.3.1", "172.30.1.1"));
            Assert.True(EspPackets(dll, states[1]).In >= 6, $"gw2 counted {EspPackets(dll, states[1])} ESP packets");
            Assert.True(EspPackets(dll, states[2]).In >= 6, $"gw3 counted {EspPackets(dll, states[2])} ESP packets");

            (string In, string Out) toGw2 = ChildSpis(dll, states[0], "10.88.0.2");
            (string In, string Out) toGw3 = ChildSpis(dll, states[0], "10.89.0.3");
            Assert.NotEqual(toGw2, toGw3);

            // The commit that removes set b: its device goes, set a's tunnel keeps its SAs and carries traffic.
            File.WriteAllText(Path.Combine(dir, "delete.set"), "delete services service-set set-b\ndelete routing-options static route 172.30.3.0/24\ncommit\n");
            CertgateCli(dll, states[0], "configure", "-f", Path.Combine(dir, "delete.set"));
            net.WaitFor(gw1, "TUN device ms0-0-0-3 (ms-0/0/0.3) removed", 20);
            Assert.DoesNotContain("ESP data plane for local-gateway 10.88.0.1 stopped", net.OutputOf(gw1));
            Assert.Equal(toGw2, ChildSpis(dll, states[0], "10.88.0.2"));
            Assert.Contains("3 received", Ping(ns1, "172.30.1.1", "172.30.2.1"));
            Assert.Contains("3 received", Ping(ns2, "172.30.2.1", "172.30.1.1"));
            Assert.Equal(toGw2, ChildSpis(dll, states[0], "10.88.0.2"));
            Assert.DoesNotContain("ms0-0-0-3", NetNamespaces.Run("ip", "-n", ns1, "link", "show"));

            NetNamespaces.Stop(gw1);
            NetNamespaces.Stop(gw2);
            NetNamespaces.Stop(gw3);
            Assert.True(gw1.ExitCode == 0, $"gw1 exited {gw1.ExitCode}: {net.OutputOf(gw1)}");
            Assert.Contains("ESP data plane for local-gateway 10.88.0.1 stopped", net.OutputOf(gw1));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
