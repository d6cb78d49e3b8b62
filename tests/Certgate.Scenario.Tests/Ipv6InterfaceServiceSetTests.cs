using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using static Certgate.Scenario.Tests.ServiceSetScenario;

namespace Certgate.Scenario.Tests;

/// <summary>
/// An interface service set between two gateways over IPv6 (issue 6): the terms become <c>ip -6 rule</c>s, the
/// exemption for the peer's IKE and ESP is an IPv6 rule, and only the selected hosts' traffic is protected.
/// <code>
///   h1 fd00:30:1::10 (+ ::1000) ─ gw1 fd00:30:1::1 | fd00:88::1 ══ fd00:88::2 | fd00:30:2::1 gw2 ─ h2 fd00:30:2::10
///   term fd00:30:1::/120 → fd00:30:2::/120 (gw2 the mirror); plain routes between the sites in both gateways
/// </code>
/// </summary>
[Collection(ServiceSetScenario.Collection)]
public sealed class Ipv6InterfaceServiceSetTests
{
    [Fact]
    public void InterfaceServiceSet_OverIpv6_SelectedTrafficCrossesTheTunnel_OtherTrafficInClear()
    {
        string dll = NetNamespaces.CertgateDll();
        string dir = Directory.CreateTempSubdirectory("certgate-ifss6-").FullName;
        using var net = new NetNamespaces();
        try
        {
            string ns1 = net.Create("1");
            string ns2 = net.Create("2");
            string h1 = net.Create("h1");
            string h2 = net.Create("h2");
            foreach (string ns in new[] { ns1, ns2, h1, h2 })
            {
                // Addresses usable at once (no duplicate address detection on the links made below).
                NetNamespaces.Run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0");
            }
            (string wan1, string wan2) = net.Link(ns1, "fd00:88::1/64", ns2, "fd00:88::2/64");
            net.Link(h1, "fd00:30:1::10/64", ns1, "fd00:30:1::1/64");
            net.Link(ns2, "fd00:30:2::1/64", h2, "fd00:30:2::10/64");
            NetNamespaces.Run("ip", "-n", h1, "addr", "add", "fd00:30:1::1000/64", "dev", $"v{net.Tag}a2", "nodad");
            NetNamespaces.Run("ip", "-n", h1, "-6", "route", "add", "default", "via", "fd00:30:1::1");
            NetNamespaces.Run("ip", "-n", h2, "-6", "route", "add", "default", "via", "fd00:30:2::1");
            NetNamespaces.Run("ip", "-n", ns1, "-6", "route", "add", "fd00:30:2::/64", "via", "fd00:88::2");
            NetNamespaces.Run("ip", "-n", ns2, "-6", "route", "add", "fd00:30:1::/64", "via", "fd00:88::1");
            foreach (string ns in new[] { ns1, ns2 })
            {
                NetNamespaces.Run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1");
            }
            string[] states = [Path.Combine(dir, "gw1"), Path.Combine(dir, "gw2")];
            string[] wans = [wan1, wan2];
            Provision(dll, dir, states, configuration: i => Policies($"gw{i + 1}") + $"""
                set services ipsec-vpn rule rule-if term t1 from source-address fd00:30:{i + 1}::/120
                set services ipsec-vpn rule rule-if term t1 from destination-address fd00:30:{2 - i}::/120
                set services ipsec-vpn rule rule-if term t1 then remote-gateway fd00:88::{2 - i}
                set services ipsec-vpn rule rule-if term t1 then dynamic ike-policy ike-cert-pol
                set services ipsec-vpn rule rule-if term t1 then dynamic ipsec-policy esp-pol
                set services ipsec-vpn rule rule-if match-direction output
                set interfaces {wans[i]} unit 0 family inet6 address fd00:88::{i + 1}/64
                set interfaces {wans[i]} unit 0 family inet6 service input service-set ss-if
                set interfaces {wans[i]} unit 0 family inet6 service output service-set ss-if
                set interfaces sp-0/0/0 unit 0 family inet6
                set services service-set ss-if interface-service service-interface sp-0/0/0
                set services service-set ss-if ipsec-vpn-options local-gateway fd00:88::{i + 1}
                set services service-set ss-if ipsec-vpn-options trusted-ca test
                set services service-set ss-if ipsec-vpn-rules rule-if
                commit

                """);
            Process gw1 = net.Start(ns1, "dotnet", dll, "--state", states[0], "gateway", "run");
            Process gw2 = net.Start(ns2, "dotnet", dll, "--state", states[1], "gateway", "run");
            string All() => "gw1:\n" + net.OutputOf(gw1) + "\ngw2:\n" + net.OutputOf(gw2);
            net.WaitFor(gw1, "IKE SA up as initiator", 90, All);
            net.WaitFor(gw2, "IKE SA up as responder", 30, All);
            string rules = NetNamespaces.Run("ip", "-n", ns1, "-6", "rule", "show");
            Assert.Contains("10000:\tfrom fd00:30:1::/120 to fd00:30:2::/120 lookup 30000", rules);
            Assert.Contains("9990:\tfrom all to fd00:88::2 ipproto udp dport 500 lookup main", rules);
            Assert.Contains("9990:\tfrom all to fd00:88::2 ipproto esp lookup main", rules);
            Assert.Contains($"fd00:30:2::/120 dev {SteeringDevice}", NetNamespaces.Run("ip", "-n", ns1, "-6", "route", "show", "table", "30000"));

            (ulong In, ulong Out) before = EspPackets(dll, states[0]);
            string first = Ping(h1, "fd00:30:1::10", "fd00:30:2::10");
            Assert.True(first.Contains("3 packets transmitted, 3 received", StringComparison.Ordinal), first + "\n" + All());
            (ulong In, ulong Out) pinged = Settled(() => EspPackets(dll, states[0]));
            Assert.True(pinged.Out >= before.Out + 3 && pinged.In >= before.In + 3, $"ESP packets {before} -> {pinged} after 3 pings\n{All()}");

            // fd00:30:1::1000 is outside fd00:30:1::/120 (::0 to ::ff): in clear, the SA counters do not move.
            (ulong In, ulong Out) peer = Settled(() => EspPackets(dll, states[1]));
            Assert.Contains("3 received", Ping(h1, "fd00:30:1::1000", "fd00:30:2::10"));
            Assert.Equal(pinged, EspPackets(dll, states[0]));
            Assert.Equal(peer, EspPackets(dll, states[1]));

            NetNamespaces.Stop(gw1);
            NetNamespaces.Stop(gw2);
            Assert.True(gw1.ExitCode == 0, $"gw1 exited {gw1.ExitCode}:\n{All()}");
            string after = NetNamespaces.Run("ip", "-n", ns1, "-6", "rule", "show");
            Assert.DoesNotContain("9990:", after);
            Assert.DoesNotContain("10000:", after);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
