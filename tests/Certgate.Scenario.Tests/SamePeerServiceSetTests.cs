using System.Diagnostics;
using static Certgate.Scenario.Tests.ServiceSetScenario;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Issue 5: two next-hop service sets from one local-gateway address to the SAME peer address, both up at once. One
/// IKE endpoint per address (UDP 500 and the data plane's 4500) routes each IKE message by SPI; gw2 answers both
/// IKE_SA_INITs from 10.88.0.1 under the configurations of its two tunnels to that address and IKE_AUTH picks each
/// one by the initiator's traffic selectors (both sides use the same certificates).
/// <code>
///   gw1 10.88.0.1 (local-gateway of set-a and set-b) ─── 10.88.0.2 gw2 (local-gateway of set-a and set-b)
///   set-a: ms0-0-0-1 172.30.1.1/24  ↔ 172.30.2.0/24       set-a: ms0-0-0-1 172.30.2.1/24  ↔ 172.30.1.0/24
///   set-b: ms0-0-0-3 172.30.11.1/24 ↔ 172.30.12.0/24      set-b: ms0-0-0-3 172.30.12.1/24 ↔ 172.30.11.0/24
/// </code>
/// </summary>
[Collection(ServiceSetScenario.Collection)]
public sealed class SamePeerServiceSetTests
{
    [Fact]
    public void TwoNextHopServiceSets_OneLocalGateway_SamePeerAddress_BothIkeSasUp_PingsCrossEach()
    {
        string dll = NetNamespaces.CertgateDll();
        string dir = Directory.CreateTempSubdirectory("certgate-samepeer-").FullName;
        using var net = new NetNamespaces();
        try
        {
            string ns1 = net.Create("1");
            string ns2 = net.Create("2");
            net.Link(ns1, "10.88.0.1/24", ns2, "10.88.0.2/24");
            string[] states = [Path.Combine(dir, "gw1"), Path.Combine(dir, "gw2")];
            string[] configurations =
            [
                Policies("gw1") +
                NextHopSet("set-a", "rule-a", 1, "172.30.1.1/24", "10.88.0.1", "10.88.0.2", "172.30.1.0/24", "172.30.2.0/24") +
                NextHopSet("set-b", "rule-b", 3, "172.30.11.1/24", "10.88.0.1", "10.88.0.2", "172.30.11.0/24", "172.30.12.0/24") +
                "set routing-options static route 172.30.2.0/24 next-hop ms-0/0/0.1\n" +
                "set routing-options static route 172.30.12.0/24 next-hop ms-0/0/0.3\ncommit\n",
                Policies("gw2") +
                NextHopSet("set-a", "rule-a", 1, "172.30.2.1/24", "10.88.0.2", "10.88.0.1", "172.30.2.0/24", "172.30.1.0/24") +
                NextHopSet("set-b", "rule-b", 3, "172.30.12.1/24", "10.88.0.2", "10.88.0.1", "172.30.12.0/24", "172.30.11.0/24") +
                "set routing-options static route 172.30.1.0/24 next-hop ms-0/0/0.1\n" +
                "set routing-options static route 172.30.11.0/24 next-hop ms-0/0/0.3\ncommit\n",
            ];
            Provision(dll, dir, states, configuration: i => configurations[i]);
            Process gw1 = net.Start(ns1, "dotnet", dll, "--state", states[0], "gateway", "run");
            Process gw2 = net.Start(ns2, "dotnet", dll, "--state", states[1], "gateway", "run");
            string All() => "gw1:\n" + net.OutputOf(gw1) + "\ngw2:\n" + net.OutputOf(gw2);
            for (int i = 0; i < 1800 && (Count(net.OutputOf(gw1), "IKE SA up as initiator") < 2 || Count(net.OutputOf(gw2), "IKE SA up as responder") < 2); i++)
            {
                Thread.Sleep(50);
            }
            Assert.True(Count(net.OutputOf(gw1), "IKE SA up as initiator") == 2 && Count(net.OutputOf(gw2), "IKE SA up as responder") == 2,
                $"both IKE SAs did not come up:\n{All()}");
            // Each of gw2's tunnels adopted its own SA (the one whose selectors it has).
            string log2 = net.OutputOf(gw2);
            Assert.Contains("172.30.2.0/24 <-> 172.30.1.0/24 on ms0-0-0-1", log2);
            Assert.Contains("172.30.12.0/24 <-> 172.30.11.0/24 on ms0-0-0-3", log2);

            foreach ((string ns, string from, string to) in new[]
            {
                (ns1, "172.30.1.1", "172.30.2.1"), (ns1, "172.30.11.1", "172.30.12.1"),
                (ns2, "172.30.2.1", "172.30.1.1"), (ns2, "172.30.12.1", "172.30.11.1"),
            })
            {
                string ping = Ping(ns, from, to);
                Assert.True(ping.Contains("3 packets transmitted, 3 received", StringComparison.Ordinal), $"ping {from} -> {to}: {ping}\n{All()}");
            }
            // Two tunnels to one peer: two IKE SAs with their own SPIs, two pairs of IPsec SAs.
            string ike = CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations");
            Assert.Equal(2, Count(ike, "10.88.0.2"));
            (string In, string Out)[] spis = ChildSpiPairs(dll, states[0], "10.88.0.2");
            Assert.Equal(2, spis.Distinct().Count());

            NetNamespaces.Stop(gw1);
            NetNamespaces.Stop(gw2);
            Assert.True(gw1.ExitCode == 0, $"gw1 exited {gw1.ExitCode}: {net.OutputOf(gw1)}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int Count(string text, string what) => System.Text.RegularExpressions.Regex.Matches(text, System.Text.RegularExpressions.Regex.Escape(what)).Count;

    /// <summary>(inbound SPI, outbound SPI) of each of gw's tunnels to <paramref name="peer"/>.</summary>
    private static (string In, string Out)[] ChildSpiPairs(string dll, string state, string peer)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(CertgateCli(dll, state, "show", "services", "ipsec-vpn", "ipsec", "security-associations", "|", "display", "json"))!;
        return [.. json["ipsec-security-associations"]!.AsArray().Where(t => (string?)t!["remote-gateway"] == peer).Select(t =>
        {
            var sas = t!["security-associations"]!.AsArray();
            string Of(string direction) => sas.Single(s => (string)s!["direction"]! == direction)!["spi-hex"]!.GetValue<string>();
            return (Of("inbound"), Of("outbound"));
        })];
    }
}
