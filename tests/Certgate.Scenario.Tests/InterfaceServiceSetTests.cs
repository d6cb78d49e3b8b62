using System.Diagnostics;
using System.Text.Json.Nodes;

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
public sealed partial class ServiceSetTunnelTests
{
    private const string SteeringDevice = "sp0-0-0-0";

    /// <summary>Two gateways, two hosts, the tunnel up; the caller owns <paramref name="net"/> and deletes
    /// <paramref name="dir"/>.</summary>
    private static (string Ns1, string Ns2, string H1, string H2, string Wan1, string Wan2, Process Gw1, Process Gw2, string[] States) InterfaceScenario(
        NetNamespaces net, string dll, string dir)
    {
        string ns1 = net.Create("1");
        string ns2 = net.Create("2");
        string h1 = net.Create("h1");
        string h2 = net.Create("h2");
        (string wan1, string wan2) = net.Link(ns1, "10.88.0.1/24", ns2, "10.88.0.2/24");
        net.Link(h1, "172.30.1.10/24", ns1, "172.30.1.1/24");
        net.Link(ns2, "172.30.2.1/24", h2, "172.30.2.10/24");
        NetNamespaces.Run("ip", "-n", h1, "addr", "add", "172.30.1.100/24", "dev", $"v{net.Tag}a2");
        NetNamespaces.Run("ip", "-n", h1, "route", "add", "default", "via", "172.30.1.1");
        NetNamespaces.Run("ip", "-n", h2, "route", "add", "default", "via", "172.30.2.1");
        NetNamespaces.Run("ip", "-n", ns1, "route", "add", "172.30.2.0/24", "via", "10.88.0.2");
        NetNamespaces.Run("ip", "-n", ns2, "route", "add", "172.30.1.0/24", "via", "10.88.0.1");
        foreach (string ns in new[] { ns1, ns2 })
        {
            NetNamespaces.Run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1");
        }
        string[] states = [Path.Combine(dir, "gw1"), Path.Combine(dir, "gw2")];
        string[] wans = [wan1, wan2];
        Provision(dll, dir, states, configuration: i => Policies($"gw{i + 1}") + $"""
            set services ipsec-vpn rule rule-if term t1 from source-address 172.30.{i + 1}.0/28
            set services ipsec-vpn rule rule-if term t1 from destination-address 172.30.{2 - i}.0/28
            set services ipsec-vpn rule rule-if term t1 then remote-gateway 10.88.0.{2 - i}
            set services ipsec-vpn rule rule-if term t1 then dynamic ike-policy ike-cert-pol
            set services ipsec-vpn rule rule-if term t1 then dynamic ipsec-policy esp-pol
            set services ipsec-vpn rule rule-if match-direction output
            set interfaces {wans[i]} unit 0 family inet address 10.88.0.{i + 1}/24
            set interfaces {wans[i]} unit 0 family inet service input service-set ss-if
            set interfaces {wans[i]} unit 0 family inet service output service-set ss-if
            set interfaces sp-0/0/0 unit 0 family inet
            set services service-set ss-if interface-service service-interface sp-0/0/0
            set services service-set ss-if ipsec-vpn-options local-gateway 10.88.0.{i + 1}
            set services service-set ss-if ipsec-vpn-options trusted-ca test
            set services service-set ss-if ipsec-vpn-rules rule-if
            commit

            """);
        // What a gateway killed without cleaning up would leave: the next one removes it.
        NetNamespaces.Run("ip", "-n", ns1, "rule", "add", "priority", "10005", "from", "192.0.2.1", "lookup", "30005");
        Process gw1 = net.Start(ns1, "dotnet", dll, "--state", states[0], "gateway", "run");
        Process gw2 = net.Start(ns2, "dotnet", dll, "--state", states[1], "gateway", "run");
        net.WaitFor(gw1, "IKE SA up as initiator", 90);
        net.WaitFor(gw2, "IKE SA up as responder", 30);
        return (ns1, ns2, h1, h2, wan1, wan2, gw1, gw2, states);
    }

    /// <summary>(inbound, outbound) packets of gw's only IPsec tunnel, from the show command.</summary>
    private static (ulong In, ulong Out) EspPackets(string dll, string state)
    {
        JsonNode json = JsonNode.Parse(Cli(dll, state, "show", "services", "ipsec-vpn", "ipsec", "security-associations", "|", "display", "json"))!;
        JsonArray sas = json["ipsec-security-associations"]![0]!["security-associations"]!.AsArray();
        ulong Of(string direction) => sas.Single(s => (string)s!["direction"]! == direction)!["packets"]!.GetValue<ulong>();
        return (Of("inbound"), Of("outbound"));
    }

    /// <summary>Reads <paramref name="read"/> until two reads a second apart agree (the traffic before it is at rest,
    /// however loaded the machine), within 60 s; a test then compares exact counts against that.</summary>
    internal static T Settled<T>(Func<T> read)
    {
        T last = read();
        for (int i = 0; i < 60; i++)
        {
            Thread.Sleep(1000);
            T now = read();
            if (EqualityComparer<T>.Default.Equals(now, last))
            {
                return now;
            }
            last = now;
        }
        Assert.Fail($"the counters did not settle within 60 s (last read {last})");
        return last;
    }

    internal static string Ping(string ns, string from, string to) =>
        NetNamespaces.Run("ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", from, to);

    /// <summary>iperf3 sends 2 MB from <paramref name="from"/> in h1 to h2 and must finish.</summary>
    private static void Tcp(NetNamespaces net, string h1, string h2, string from)
    {
        Process server = net.Start(h2, "iperf3", "-s", "-1", "--forceflush", "-B", "172.30.2.10", "-p", "5201");
        net.WaitFor(server, "Server listening", 10);
        string client = NetNamespaces.Run("ip", "netns", "exec", h1, "timeout", "20", "iperf3", "-c", "172.30.2.10", "-B", from, "-p", "5201", "-n", "2M");
        Assert.Contains("sender", client);
        Assert.True(server.WaitForExit(10_000), "iperf3 server did not end after its one test");
    }

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
            Cli(dll, states[0], "configure", "-f", Path.Combine(dir, "delete.set"));
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

/// <summary>Replay and tamper on the outer link (RFC 4303 §3.4.3, §3.4.4): an ESP packet from gw1 to gw2 captured with
/// tcpdump, sent again, and sent with one bit of its sequence number flipped.</summary>
public sealed partial class ServiceSetTunnelTests
{
    /// <summary>The dropped-packet counts gw reports for its tunnel, by reason.</summary>
    private static Dictionary<string, long> Drops(string dll, string state)
    {
        JsonNode json = JsonNode.Parse(Cli(dll, state, "show", "services", "ipsec-vpn", "ipsec", "security-associations", "|", "display", "json"))!;
        return json["ipsec-security-associations"]![0]!["dropped-packets"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<long>());
    }

    /// <summary>The UDP payload of the only packet in a pcap file of an Ethernet link.</summary>
    /// <summary>Where the ESP header of the one raw-ESP frame of a pcap file starts, and where the packet ends.</summary>
    private static (int Esp, int End) EspInCapture(byte[] pcap)
    {
        const int GlobalHeader = 24, RecordHeader = 16, Ethernet = 14;
        Assert.True(pcap.Length > GlobalHeader + RecordHeader + Ethernet + 28, $"the capture holds no packet ({pcap.Length} octets)");
        Assert.Equal(1u, BitConverter.ToUInt32(pcap, 20)); // LINKTYPE_ETHERNET
        int captured = BitConverter.ToInt32(pcap, GlobalHeader + 8);
        int ip = GlobalHeader + RecordHeader + Ethernet;
        Assert.Equal(50, pcap[ip + 9]); // raw ESP: the gateways saw no NAT
        return (ip + (pcap[ip] & 0x0F) * 4, GlobalHeader + RecordHeader + captured);
    }

    [Fact]
    public void InterfaceServiceSet_ReplayedAndTamperedEspFromTheOuterLink_Dropped_CountedByReason_Shown()
    {
        string dll = NetNamespaces.CertgateDll();
        string dir = Directory.CreateTempSubdirectory("certgate-replay-").FullName;
        using var net = new NetNamespaces();
        try
        {
            (string ns1, string ns2, string h1, _, string wan1, string wan2, _, _, string[] states) = InterfaceScenario(net, dll, dir);
            string pcap = Path.Combine(dir, "esp.pcap");
            // Only ESP from gw1: raw ESP (protocol 50), as two gateways that see no NAT use (RFC 7296 §2.23).
            Process capture = net.Start(ns2, "tcpdump", "-i", wan2, "-n", "-U", "-c", "1", "-w", pcap,
                "ip proto 50 and src host 10.88.0.1 and greater 100");
            net.WaitFor(capture, "listening on", 10);
            Assert.Contains("1 received", NetNamespaces.Run("ip", "netns", "exec", h1, "ping", "-c", "1", "-W", "2", "-I", "172.30.1.10", "172.30.2.10"));
            Assert.True(capture.WaitForExit(10_000), $"tcpdump captured no ESP packet: {net.OutputOf(capture)}");
            byte[] frame = File.ReadAllBytes(pcap);
            (int esp, int end) = EspInCapture(frame);
            Assert.True(end - esp > 8 + 16, $"captured {end - esp} octets of ESP, too short");

            Dictionary<string, long> before = Drops(dll, states[1]);
            (ulong In, ulong Out) packets = EspPackets(dll, states[1]);
            string replay = Path.Combine(dir, "replay.bin");
            string tamper = Path.Combine(dir, "tamper.bin");
            File.WriteAllBytes(replay, frame);
            byte[] flipped = (byte[])frame.Clone();
            // The sequence number's top bit: the packet is new to the replay window (right of it), so it reaches the
            // integrity check, which the ICV (covering the ESP header) must fail. (The IP checksum covers the header
            // only, so the frame is still delivered.)
            flipped[esp + 4] ^= 0x80;
            File.WriteAllBytes(tamper, flipped);
            foreach (string file in new[] { replay, tamper })
            {
                // The captured frame, sent again as it was from gw1's outer interface (same addresses, same MACs).
                NetNamespaces.Run("ip", "netns", "exec", ns1, "tcpreplay", "-q", "-i", wan1, file);
            }
            Dictionary<string, long> after = before;
            for (int i = 0; i < 100 && (after["Replayed"] == before["Replayed"] || after["AuthenticationFailed"] == before["AuthenticationFailed"]); i++)
            {
                Thread.Sleep(50);
                after = Drops(dll, states[1]);
            }
            Assert.Equal(before["Replayed"] + 1, after["Replayed"]);
            Assert.Equal(before["AuthenticationFailed"] + 1, after["AuthenticationFailed"]);
            // The other inbound reasons stay (outbound ones count what the kernel itself sends into the TUN device,
            // IPv6 router solicitations for instance).
            foreach (string reason in new[] { "UnknownSpi", "Malformed", "TooOld", "BadPadding", "InnerMismatch", "PolicyMismatch" })
            {
                Assert.True(before[reason] == after[reason], $"{reason}: {before[reason]} -> {after[reason]}");
            }
            Assert.Equal(packets.In, EspPackets(dll, states[1]).In);
            string detail = Cli(dll, states[1], "show", "services", "ipsec-vpn", "ipsec", "security-associations", "detail");
            Assert.Contains($"Replayed {after["Replayed"]}", detail);
            Assert.Contains($"AuthenticationFailed {after["AuthenticationFailed"]}", detail);
            // The SA survives both: the next packets cross.
            Assert.Contains("3 received", Ping(h1, "172.30.1.10", "172.30.2.10"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
