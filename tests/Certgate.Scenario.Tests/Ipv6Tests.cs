using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Certgate.Scenario.Tests;

/// <summary>
/// IKE and ESP with IPv6 outer addresses (issues 5 and 6), Certgate against charon. The veth pair of
/// <see cref="StrongswanFixture"/> gets IPv6 addresses too (<c>nodad</c>: usable at once, no duplicate address detection):
/// <code>
///   ns C: charon (kernel-libipsec)                              ns G: certgate debug ike-tunnel
///   lo fd00:77:1::1/128, 10.77.1.1/32                           cg0 (TUN) fd00:77:2::1/128 or 10.77.2.1/32
///   veth fd00:66::1/64 ------------------------------------------ veth fd00:66::2/64
///   IKEv2 on [fd00:66::x]:500, then ESP in UDP 4500 over IPv6 (libipsec 5.9.8 always claims a NAT)
/// </code>
/// IPv6 in IPv6 with either side initiating, and IPv4 in IPv6; a ping crosses each way and 2 MB of TCP from Certgate's side.
/// </summary>
public sealed class Ipv6Tests(StrongswanFixture f) : IClassFixture<StrongswanFixture>, IDisposable
{
    private const string CharonOuter = "fd00:66::1";
    private const string GateOuter = "fd00:66::2";
    private const string CharonInner = "fd00:77:1::1";
    private const string GateInner = "fd00:77:2::1";

    private readonly List<Action> _undo = [];

    private Charon Charon => f.Charon;

    public void Dispose()
    {
        foreach (Action undo in Enumerable.Reverse(_undo))
        {
            undo();
        }
    }

    /// <summary>Adds <paramref name="cidr"/> to <paramref name="device"/> in <paramref name="ns"/> unless it is there.</summary>
    private static void AddAddress(string ns, string cidr, string device)
    {
        if (!NetNamespaces.Run("ip", "-n", ns, "-6", "addr", "show", "dev", device).Contains(cidr, StringComparison.Ordinal))
        {
            NetNamespaces.Run("ip", "-n", ns, "addr", "add", cidr, "dev", device, "nodad");
        }
    }

    /// <summary>The fixture's veth end in <paramref name="ns"/>.</summary>
    private static string Veth(string ns) =>
        Regex.Match(NetNamespaces.Run("ip", "-n", ns, "-o", "link", "show", "type", "veth"), @"^\d+: ([^@:]+)", RegexOptions.Multiline).Groups[1].Value;

    private void Configure(string localTs, string remoteTs)
    {
        AddAddress(f.NsCharon, CharonOuter + "/64", Veth(f.NsCharon));
        AddAddress(f.NsGate, GateOuter + "/64", Veth(f.NsGate));
        AddAddress(f.NsCharon, CharonInner + "/128", "lo");
        Charon.WriteSettings(signatureAuthentication: true);
        Charon.Swanctl("--reload-settings");
        Charon.LoadConnection(CharonOuter, GateOuter, f.PubkeyAuth("charon-rsa", "cg-rsa"), localTs, remoteTs, connection: "cg6", child: "net6");
    }

    private Process StartGate(bool initiate, string localSubnet, string remoteSubnet)
    {
        List<string> args = ["dotnet", f.Dll, "--state", f.State, "debug", "ike-tunnel", "tun", "cg6", "local", GateOuter, "remote", CharonOuter,
            "certificate-id", "cg-rsa", "local-subnet", localSubnet, "remote-subnet", remoteSubnet];
        if (initiate)
        {
            args.Add("initiate");
        }
        Process p = f.Net.Start(f.NsGate, [.. args]);
        _undo.Add(() =>
        {
            if (!p.HasExited)
            {
                NetNamespaces.Stop(p);
            }
        });
        f.Net.WaitFor(p, "IKE: ");
        return p;
    }

    [Theory]
    // IPv6 in IPv6, either side initiating.
    [InlineData(true, CharonInner, GateInner, "fd00:77:1::/64", "fd00:77:2::/64")]
    [InlineData(false, CharonInner, GateInner, "fd00:77:1::/64", "fd00:77:2::/64")]
    // IPv4 in IPv6 (Next Header 4 inside ESP carried by IPv6).
    [InlineData(true, StrongswanFixture.CharonInner, StrongswanFixture.GateInner, "10.77.1.0/24", "10.77.2.0/24")]
    public void OverIpv6_TunnelComesUp_BothAgree_AndPingsCross(bool charonInitiates, string charonInner, string gateInner, string charonNet, string gateNet)
    {
        Configure(charonNet, gateNet);
        int logStart = Charon.Log().Length;
        Process gate = StartGate(!charonInitiates, gateNet, charonNet);
        Charon.BringUp(f.Net, gate, charonInitiates, "cg6", "net6");
        string gateOut = f.Net.OutputOf(gate);
        bool v6 = gateInner.Contains(':', StringComparison.Ordinal);
        NetNamespaces.Run("ip", ["-n", f.NsGate, "addr", "add", gateInner + (v6 ? "/128" : "/32"), "dev", "cg6", .. (v6 ? new[] { "nodad" } : [])]);
        NetNamespaces.Run("ip", "-n", f.NsGate, "link", "set", "cg6", "up");
        NetNamespaces.Run("ip", "-n", f.NsGate, "route", "add", charonNet, "dev", "cg6", "src", gateInner);

        string sas = Charon.Swanctl("--list-sas", "--ike", "cg6");
        string why = $"\n--- swanctl --list-sas ---\n{sas}\n--- certgate ---\n{gateOut}\n{Charon.LogTail()}";
        Assert.True(sas.Contains("ESTABLISHED", StringComparison.Ordinal) && sas.Contains("INSTALLED", StringComparison.Ordinal), "charon has no established IKE SA with an installed child" + why);
        // charon's view: the IKE SA runs between the IPv6 addresses (port 4500 after the NAT-T float).
        Assert.True(sas.Contains($"local  '{StrongswanFixture.StrongswanDn(f.Subjects["charon-rsa"])}' @ {CharonOuter}[4500]", StringComparison.Ordinal)
            && sas.Contains($"@ {GateOuter}[4500]", StringComparison.Ordinal), "charon's IKE SA is not between the IPv6 addresses" + why);
        Assert.Contains(gateNet, sas, StringComparison.Ordinal);
        Match gateSpis = Regex.Match(gateOut, @"ESP SPI in 0x([0-9a-f]{8}) out 0x([0-9a-f]{8})");
        Match swanSpis = Regex.Match(sas, @"\bin\s+([0-9a-f]{8}).*\n\s*out\s+([0-9a-f]{8})");
        Assert.True(gateSpis.Success && swanSpis.Success, "an SPI line is missing" + why);
        Assert.Equal(swanSpis.Groups[1].Value, gateSpis.Groups[2].Value);
        Assert.Equal(swanSpis.Groups[2].Value, gateSpis.Groups[1].Value);
        // RFC 7296 §2.23 hashes over 16-octet addresses: libipsec claims a NAT, and Certgate must see its claim as such.
        Assert.Contains("NAT-T (UDP 4500)", gateOut, StringComparison.Ordinal);
        Assert.Contains($"via {CharonOuter}", gateOut, StringComparison.Ordinal);
        Assert.DoesNotContain("invalid", Charon.Log()[logStart..], StringComparison.OrdinalIgnoreCase);

        Assert.Contains("3 received", Charon.Ping(f.NsCharon, charonInner, gateInner));
        Assert.Contains("3 received", Charon.Ping(f.NsGate, gateInner, charonInner));
        // TCP from Certgate's side: full-sized segments in batches (UDP GSO where the kernel has it) over IPv6.
        Process server = f.Net.Start(f.NsCharon, "iperf3", "-s", "-1", "--forceflush", "-B", charonInner, "-p", "5201");
        f.Net.WaitFor(server, "Server listening", 10);
        string client = NetNamespaces.Run("ip", "netns", "exec", f.NsGate, "timeout", "20", "iperf3", "-c", charonInner, "-B", gateInner, "-p", "5201", "-n", "2M");
        Assert.Contains("sender", client);
        Assert.True(server.WaitForExit(10_000), "iperf3 server did not end after its one test");
        NetNamespaces.Stop(gate);
        Match counters = Regex.Match(f.Net.OutputOf(gate), @"tunnel stopped: sent (\d+), received (\d+), .*AuthenticationFailed 0");
        Assert.True(counters.Success && long.Parse(counters.Groups[1].Value, CultureInfo.InvariantCulture) >= 6 && long.Parse(counters.Groups[2].Value, CultureInfo.InvariantCulture) >= 6,
            "Certgate's ESP counters do not show the pings and the transfer" + why);
        Charon.TrySwanctl("--terminate", "--ike", "cg6", "--force", "--timeout", "2");
    }
}

/// <summary>
/// Two <c>certgate gateway run</c> with a next-hop service set whose local-gateway and remote-gateway are IPv6, and
/// IPv6 inside networks (issue 6):
/// <code>
///   ns 1: gw1 ms0-0-0-1 fd00:30:1::1/64  veth fd00:88::1/64 ---- veth fd00:88::2/64  ns 2: gw2 ms0-0-0-1 fd00:30:2::1/64
///   IKEv2 on [fd00:88::x]:500 (gw1 initiates: lower address), no NAT: raw ESP (IP protocol 50) over IPv6
/// </code>
/// </summary>
public sealed partial class ServiceSetTunnelTests
{
    internal static string Ipv6NextHop(string gw, string local, string remote, string inside, string near, string far) =>
        Configuration(gw, local, remote, inside, far, near, family: "inet6", outerPrefix: 64, serviceSet: "ipsec-6");

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

            string detail = Cli(dll, states[0], "show", "services", "ipsec-vpn", "ipsec", "security-associations", "detail");
            Assert.Contains("Local gateway: fd00:88::1, Remote gateway: fd00:88::2", detail);
            Assert.Contains("Local identity: ipv6_subnet(any:0,[0..31]=fd00:30:1::/64)", detail);
            Assert.Contains("Remote identity: ipv6_subnet(any:0,[0..31]=fd00:30:2::/64)", detail);
            Assert.Contains("ESP (IP protocol 50), no NAT", detail);
            // Two Certgates offer and take ESN.
            Assert.Contains("Extended sequence numbers: enabled", detail);
            Assert.Matches(@"(?m)^fd00:88::2\s+Matured\s+[0-9a-f]{16}\s+[0-9a-f]{16}\s+IKEv2", Cli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations"));
            string ike = Cli(dll, states[1], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail");
            Assert.Contains("IKE peer fd00:88::1, service set: ipsec-6", ike);
            Assert.Contains("Local: [fd00:88::2]:500, Remote: [fd00:88::1]:500", ike);
            Assert.Contains("NAT traversal: no NAT", ike);
            JsonNode json = JsonNode.Parse(Cli(dll, states[1], "show", "services", "ipsec-vpn", "ipsec", "security-associations", "|", "display", "json"))!;
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

/// <summary>
/// An interface service set between two gateways over IPv6 (issue 6): the terms become <c>ip -6 rule</c>s, the
/// exemption for the peer's IKE and ESP is an IPv6 rule, and only the selected hosts' traffic is protected.
/// <code>
///   h1 fd00:30:1::10 (+ ::1000) ─ gw1 fd00:30:1::1 | fd00:88::1 ══ fd00:88::2 | fd00:30:2::1 gw2 ─ h2 fd00:30:2::10
///   term fd00:30:1::/120 → fd00:30:2::/120 (gw2 the mirror); plain routes between the sites in both gateways
/// </code>
/// </summary>
public sealed partial class ServiceSetTunnelTests
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
