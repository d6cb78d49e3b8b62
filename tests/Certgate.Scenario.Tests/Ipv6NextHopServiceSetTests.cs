using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using static Certgate.Scenario.Tests.ServiceSetScenario;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Two <c>certgate gateway run</c> with a next-hop service set whose local-gateway and remote-gateway are IPv6, and
/// IPv6 inside networks (issue 6):
/// <code>
///   ns 1: gw1 ms0-0-0-1 fd00:30:1::1/64  veth fd00:88::1/64 ---- veth fd00:88::2/64  ns 2: gw2 ms0-0-0-1 fd00:30:2::1/64
///   IKEv2 on [fd00:88::x]:500 (gw1 initiates: lower address), no NAT: raw ESP (IP protocol 50) over IPv6
/// </code>
/// </summary>
[Collection(ServiceSetScenario.Collection)]
public sealed class Ipv6NextHopServiceSetTests
{
    [Fact]
    public void NextHopServiceSet_Ipv6Gateways_TunnelUp_RawEspOverIpv6_PingCrosses_ShowsIpv6()
    {
        string dll = NetNamespaces.CertgateDll();
        string dir = Directory.CreateTempSubdirectory("certgate-v6-").FullName;
        using var net = new NetNamespaces();
        try
        {
            string ns1 = net.Create("1");
            string ns2 = net.Create("2");
            (string veth1, _) = net.Link(ns1, "fd00:88::1/64", ns2, "fd00:88::2/64");
            string[] states = [Path.Combine(dir, "gw1"), Path.Combine(dir, "gw2")];
            string[] configurations =
            [
                Ipv6NextHop("gw1", "fd00:88::1", "fd00:88::2", "fd00:30:1::1/64", "fd00:30:1::/64", "fd00:30:2::/64"),
                Ipv6NextHop("gw2", "fd00:88::2", "fd00:88::1", "fd00:30:2::1/64", "fd00:30:2::/64", "fd00:30:1::/64"),
            ];
            Provision(dll, dir, states, configuration: i => configurations[i]);
            Process gw1 = net.Start(ns1, "dotnet", dll, "--state", states[0], "gateway", "run");
            Process gw2 = net.Start(ns2, "dotnet", dll, "--state", states[1], "gateway", "run");
            string All() => "gw1:\n" + net.OutputOf(gw1) + "\ngw2:\n" + net.OutputOf(gw2);
            net.WaitFor(gw1, "IKE SA up as initiator", 90, All);
            net.WaitFor(gw2, "IKE SA up as responder", 30, All);
            Assert.Contains("ESP data plane for local-gateway fd00:88::1 on UDP 4500", net.OutputOf(gw1));

            // Both directions; a capture on gw1's veth shows raw ESP (IPv6 Next Header 50) and no ESP in UDP.
            Process capture = net.Start(ns1, "tcpdump", "-n", "-l", "-i", veth1, "-c", "6", "ip6 proto 50 or udp port 4500");
            net.WaitFor(capture, "listening on", 10);
            string ping = Ping(ns1, "fd00:30:1::1", "fd00:30:2::1");
            Assert.True(ping.Contains("3 packets transmitted, 3 received", StringComparison.Ordinal), $"{ping}\n{All()}");
            Assert.Contains("3 received", Ping(ns2, "fd00:30:2::1", "fd00:30:1::1"));
            Assert.True(capture.WaitForExit(10_000), $"tcpdump saw fewer than 6 ESP packets:\n{net.OutputOf(capture)}\n{All()}");
            string frames = net.OutputOf(capture);
            Assert.Equal(6, Regex.Matches(frames, @"IP6 fd00:88::[12] > fd00:88::[12]: ESP\(spi=0x[0-9a-f]{8},seq=0x[0-9a-f]+\)").Count);
            Assert.DoesNotContain("UDP", frames, StringComparison.Ordinal);

            string detail = CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ipsec", "security-associations", "detail");
            Assert.Contains("Local gateway: fd00:88::1, Remote gateway: fd00:88::2", detail);
            Assert.Contains("Local identity: ipv6_subnet(any:0,[0..31]=fd00:30:1::/64)", detail);
            Assert.Contains("Remote identity: ipv6_subnet(any:0,[0..31]=fd00:30:2::/64)", detail);
            Assert.Contains("ESP (IP protocol 50), no NAT", detail);
            // Two Certgates offer and take ESN.
            Assert.Contains("Extended sequence numbers: enabled", detail);
            Assert.Matches(@"(?m)^fd00:88::2\s+Matured\s+[0-9a-f]{16}\s+[0-9a-f]{16}\s+IKEv2", CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations"));
            string ike = CertgateCli(dll, states[1], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail");
            Assert.Contains("IKE peer fd00:88::1, service set: ipsec-6", ike);
            Assert.Contains("Local: [fd00:88::2]:500, Remote: [fd00:88::1]:500", ike);
            Assert.Contains("NAT traversal: no NAT", ike);
            JsonNode json = JsonNode.Parse(CertgateCli(dll, states[1], "show", "services", "ipsec-vpn", "ipsec", "security-associations", "|", "display", "json"))!;
            Assert.True(json["ipsec-security-associations"]![0]!["extended-sequence-numbers"]!.GetValue<bool>(), json.ToJsonString());
            Assert.True(EspPackets(dll, states[1]).In >= 6, $"gw2 counted {EspPackets(dll, states[1])} ESP packets\n{All()}");

            NetNamespaces.Stop(gw1);
            NetNamespaces.Stop(gw2);
            Assert.True(gw1.ExitCode == 0, $"gw1 exited {gw1.ExitCode}:\n{All()}");
            Assert.DoesNotContain("fd00:30:2::/64", NetNamespaces.Run("ip", "-n", ns1, "-6", "route", "show"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
