using System.Diagnostics;
using System.Text.RegularExpressions;
using static Certgate.Scenario.Tests.ServiceSetScenario;

namespace Certgate.Scenario.Tests;

/// <summary>
/// #6 data plane: the inside (TUN) device's MTU is <c>ipsec-vpn-options tunnel-mtu</c>, or by default the outer MTU
/// less the worst-case ESP-in-UDP overhead (1500 − 20 − 8 − 73 = 1399 over a 1500-octet IPv4 veth), so a full-size
/// inner packet crosses without the outer IP layer fragmenting it (topology of <see cref="ServiceSetTunnelTests"/>).
/// </summary>
[Collection(ServiceSetScenario.Collection)]
public sealed class TunnelMtuTests
{
    [Fact]
    public void TunnelMtu_ConfiguredAndDefault_SetOnTheInsideDevice_FullSizePingsCrossWithoutOuterFragments()
    {
        string dll = NetNamespaces.CertgateDll();
        string dir = Directory.CreateTempSubdirectory("certgate-mtu-").FullName;
        using var net = new NetNamespaces();
        try
        {
            string ns1 = net.Create("1");
            string ns2 = net.Create("2");
            net.Link(ns1, "10.88.0.1/24", ns2, "10.88.0.2/24");
            string[] states = [Path.Combine(dir, "gw1"), Path.Combine(dir, "gw2")];
            // gw1 configures tunnel-mtu 1360; gw2 keeps the default.
            Provision(dll, dir, states, configuration: i =>
            {
                string c = Configuration($"gw{i + 1}", local: $"10.88.0.{i + 1}", remote: $"10.88.0.{2 - i}", inside: $"172.30.{i + 1}.1/24",
                    far: $"172.30.{2 - i}.0/24", near: $"172.30.{i + 1}.0/24");
                return i == 0 ? c.Replace("commit\n", "set services service-set ipsec-1 ipsec-vpn-options tunnel-mtu 1360\ncommit\n", StringComparison.Ordinal) : c;
            });
            Process gw1 = net.Start(ns1, "dotnet", dll, "--state", states[0], "gateway", "run");
            Process gw2 = net.Start(ns2, "dotnet", dll, "--state", states[1], "gateway", "run");
            net.WaitFor(gw1, "IKE SA up as initiator", 90);
            net.WaitFor(gw2, "IKE SA up as responder", 30);
            Assert.Contains(" mtu 1360 ", NetNamespaces.Run("ip", "-n", ns1, "link", "show", Device));
            Assert.Contains(" mtu 1399 ", NetNamespaces.Run("ip", "-n", ns2, "link", "show", Device));
            Assert.Contains($"TUN device {Device} (ms-0/0/0.1) of service-set ipsec-1 up, mtu 1360 with", net.OutputOf(gw1));
            Assert.Contains($"TUN device {Device} (ms-0/0/0.1) of service-set ipsec-1 up, mtu 1399 (default) with", net.OutputOf(gw2));

            long frag1 = FragCreates(ns1);
            long frag2 = FragCreates(ns2);
            // Full-size for gw1's device (1360 = 1332 + ICMP 8 + IPv4 20), don't fragment: the echo request is one
            // ESP packet within the veth's 1500; the 1360-octet reply fits gw2's 1399.
            string ping = NetNamespaces.Run("ip", "netns", "exec", ns1, "ping", "-c", "3", "-W", "2", "-M", "do", "-s", "1332", "-I", "172.30.1.1", "172.30.2.1");
            Assert.Contains("3 packets transmitted, 3 received", ping);
            Assert.Equal(frag1, FragCreates(ns1));
            Assert.Equal(frag2, FragCreates(ns2));

            // Full-size for gw2's default device (1399): its ESP packet (1399 + 28 + up to 73 octets) still fits 1500.
            ping = NetNamespaces.Run("ip", "netns", "exec", ns2, "ping", "-c", "3", "-W", "2", "-M", "do", "-s", "1371", "-I", "172.30.2.1", "172.30.1.1");
            Assert.Contains("3 packets transmitted, 3 received", ping);
            Assert.Equal(frag2, FragCreates(ns2));
            // One octet more does not fit the device: the sender's kernel refuses it rather than handing the data
            // plane a packet whose ESP would exceed the outer link.
            var tooBig = Assert.Throws<InvalidOperationException>(() =>
                NetNamespaces.Run("ip", "netns", "exec", ns2, "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1372", "-I", "172.30.2.1", "172.30.1.1"));
            Assert.Contains("mtu=1399", tooBig.Message);

            NetNamespaces.Stop(gw1);
            NetNamespaces.Stop(gw2);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Ip: FragCreates of <paramref name="ns"/> (/proc/net/snmp): fragments the IP layer made there.</summary>
    private static long FragCreates(string ns)
    {
        string[] lines = NetNamespaces.Run("ip", "netns", "exec", ns, "cat", "/proc/net/snmp").Split('\n').Where(l => l.StartsWith("Ip: ", StringComparison.Ordinal)).ToArray();
        Assert.True(lines.Length >= 2, "no Ip lines in /proc/net/snmp");
        string[] names = Regex.Split(lines[0].Trim(), @"\s+");
        string[] values = Regex.Split(lines[1].Trim(), @"\s+");
        return long.Parse(values[Array.IndexOf(names, "FragCreates")], System.Globalization.CultureInfo.InvariantCulture);
    }
}
