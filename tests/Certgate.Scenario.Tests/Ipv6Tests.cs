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
