using System.Diagnostics;
using System.Text.Json.Nodes;
using static Certgate.Scenario.Tests.ServiceSetScenario;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Issue 6: an interface service set (reference §1.7 C) between two Certgate gateways, hosts behind them.
/// <code>
///   h1 172.30.1.10 (+ .100) ─ gw1 ─────────────────────────────── gw2 ─ h2 172.30.2.10
///      default via .1        172.30.1.1  10.88.0.1 ══ 10.88.0.2  172.30.2.1
///   gw1: term 172.30.1.0/28 → 172.30.2.0/28, set applied on its WAN veth (service input and output);
///   gw2 the mirror. Plain routes between the sites in both gateways: what the selectors do not match goes in clear.
/// </code>
/// </summary>
[Collection(ServiceSetScenario.Collection)]
public sealed class InterfaceServiceSetTests
{
    [Fact]
    public void InterfaceServiceSet_SelectedTrafficCrossesTheTunnel_OtherTrafficInClear_CommitRemovesExactlyItsRulesAndTable()
    {
        string dll = NetNamespaces.CertgateDll();
        string dir = Directory.CreateTempSubdirectory("certgate-ifss-").FullName;
        using var net = new NetNamespaces();
        try
        {
            (string ns1, string ns2, string h1, string h2, string wan1, _, Process gw1, Process gw2, string[] states) = InterfaceScenario(net, dll, dir);
            string rules = NetNamespaces.Run("ip", "-n", ns1, "rule", "show");
            Assert.Contains("10000:\tfrom 172.30.1.0/28 to 172.30.2.0/28 lookup 30000", rules);
            Assert.Contains("9990:\tfrom all to 10.88.0.2 ipproto udp dport 4500 lookup main", rules);
            Assert.Contains("9990:\tfrom all to 10.88.0.2 ipproto esp lookup main", rules);
            Assert.Contains($"172.30.2.0/28 dev {SteeringDevice}", NetNamespaces.Run("ip", "-n", ns1, "route", "show", "table", "30000"));
            Assert.DoesNotContain("10005:", rules);
            Assert.Contains("1 stale policy-routing rule(s) of an earlier run removed", net.OutputOf(gw1));

            // Forwarded traffic between the selected hosts.
            (ulong In, ulong Out) before = EspPackets(dll, states[0]);
            string first = Ping(h1, "172.30.1.10", "172.30.2.10");
            Assert.True(first.Contains("3 packets transmitted, 3 received", StringComparison.Ordinal), first + "\ngw1:\n" + net.OutputOf(gw1) + "\ngw2:\n" + net.OutputOf(gw2));
            (ulong In, ulong Out) pinged = EspPackets(dll, states[0]);
            Assert.True(pinged.Out >= before.Out + 3 && pinged.In >= before.In + 3, $"ESP packets {before} -> {pinged} after 3 pings");

            // Host-originated: gw1 itself, from its address inside the local selector.
            Assert.Contains("3 received", Ping(ns1, "172.30.1.1", "172.30.2.10"));
            (ulong In, ulong Out) hostPinged = EspPackets(dll, states[0]);
            Assert.True(hostPinged.Out >= pinged.Out + 3 && hostPinged.In >= pinged.In + 3, $"ESP packets {pinged} -> {hostPinged} after 3 pings from gw1");

            Tcp(net, h1, h2, "172.30.1.10");
            // The last ACKs and FINs of the connection: the counts below are taken at rest.
            (ulong In, ulong Out) tcp = Settled(() => EspPackets(dll, states[0]));
            Assert.True(tcp.Out > hostPinged.Out + 100, $"ESP packets {hostPinged} -> {tcp} after 2 MB of TCP");
            Assert.True(tcp.In > hostPinged.In, $"no ACK came back through the tunnel: {hostPinged} -> {tcp}");

            // 172.30.1.100 is outside 172.30.1.0/28: in clear, the SA counters do not move.
            (ulong In, ulong Out) peer = Settled(() => EspPackets(dll, states[1]));
            Assert.Contains("3 received", Ping(h1, "172.30.1.100", "172.30.2.10"));
            Tcp(net, h1, h2, "172.30.1.100");
            Assert.Equal(tcp, EspPackets(dll, states[0]));
            Assert.Equal(peer, EspPackets(dll, states[1]));

            // The commit that removes the service set removes its rules and table, nothing else.
            File.WriteAllText(Path.Combine(dir, "delete.set"), $"delete services service-set ss-if\ndelete interfaces {wan1} unit 0 family inet service\ncommit\n");
            CertgateCli(dll, states[0], "configure", "-f", Path.Combine(dir, "delete.set"));
            net.WaitFor(gw1, $"TUN device {SteeringDevice} (sp-0/0/0.0) removed", 20);
            string after = NetNamespaces.Run("ip", "-n", ns1, "rule", "show");
            Assert.DoesNotContain("9990:", after);
            Assert.DoesNotContain("10000:", after);
            Assert.Contains("32766:\tfrom all lookup main", after);
            Assert.Empty(NetNamespaces.Run("ip", "-n", ns1, "route", "show", "table", "30000").Trim());
            Assert.Contains("172.30.2.0/24 via 10.88.0.2", NetNamespaces.Run("ip", "-n", ns1, "route", "show"));
            Assert.Contains("3 received", Ping(h1, "172.30.1.100", "172.30.2.10"));

            NetNamespaces.Stop(gw1);
            NetNamespaces.Stop(gw2);
            Assert.True(gw2.ExitCode == 0, $"gw2 exited {gw2.ExitCode}: {net.OutputOf(gw2)}");
            Assert.DoesNotContain("10000:", NetNamespaces.Run("ip", "-n", ns2, "rule", "show"));
            Assert.DoesNotContain(SteeringDevice, NetNamespaces.Run("ip", "-n", ns2, "link", "show"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
