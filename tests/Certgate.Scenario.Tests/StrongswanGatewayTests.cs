using System.Diagnostics;
using System.Security.Cryptography;

namespace Certgate.Scenario.Tests;

/// <summary>
/// The gateway daemon (<c>certgate gateway run</c> with a committed configuration, as an operator runs it) against
/// strongSwan charon (issue 6): a next-hop service set, then a commit that replaces it with an interface service set,
/// each with charon initiating and Certgate initiating (after <c>clear services ipsec-vpn ike security-associations</c>;
/// the gateway's address is the higher one, so it responds by default). Ping both ways and a TCP transfer (1 MiB over
/// TLS, compared byte for byte) cross every tunnel. charon's kernel-libipsec claims a NAT, so IKE floats to UDP 4500.
/// </summary>
[Collection(StrongswanGatewayTestBase.Collection)]
public sealed class StrongswanGatewayTests(StrongswanFixture fixture) : StrongswanGatewayTestBase(fixture)
{
    private string InterfaceStyle(string wan) => $"""
        delete services service-set ipsec-1
        delete routing-options
        delete interfaces ms-0/0/0
        set services ipsec-vpn rule rule-ike match-direction output
        set interfaces sp-0/0/0 unit 0 family inet
        set interfaces {wan} unit 0 family inet address 10.66.0.2/24
        set interfaces {wan} unit 0 family inet service input service-set ss-if
        set interfaces {wan} unit 0 family inet service output service-set ss-if
        set services service-set ss-if interface-service service-interface sp-0/0/0
        set services service-set ss-if ipsec-vpn-options local-gateway 10.66.0.2
        set services service-set ss-if ipsec-vpn-options trusted-ca test
        set services service-set ss-if ipsec-vpn-rules rule-ike
        commit

        """;

    /// <summary>Ping both ways and 1 MiB over TCP from the gateway's side to charon's, compared byte for byte.</summary>
    private void TrafficCrosses(Process gate, string what)
    {
        foreach ((string ns, string from, string to) in new[]
        {
            (f.NsCharon, StrongswanFixture.CharonInner, StrongswanFixture.GateInner),
            (f.NsGate, StrongswanFixture.GateInner, StrongswanFixture.CharonInner),
        })
        {
            try
            {
                Assert.Contains("3 received", NetNamespaces.Run("ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", from, to));
            }
            catch (InvalidOperationException e)
            {
                Assert.Fail($"{what}: ping {from} -> {to} failed: {e.Message}{Why(gate)}");
            }
        }
        // 1 MiB served by openssl s_server -WWW on charon's side, fetched with curl over TLS from the gateway's.
        string served = Path.Combine(f.Dir, "www");
        Directory.CreateDirectory(served);
        byte[] want = RandomNumberGenerator.GetBytes(1 << 20);
        File.WriteAllBytes(Path.Combine(served, "data.bin"), want);
        string fetched = Path.Combine(f.Dir, "fetched.bin");
        File.Delete(fetched);
        Process server = f.Net.Start(f.NsCharon, "sh", "-c",
            $"cd '{served}' && exec openssl s_server -WWW -naccept 1 -accept {StrongswanFixture.CharonInner}:5201 " +
            $"-cert '{Path.Combine(Charon.SwanctlDir, "x509", "charon-rsa.pem")}' -key '{Path.Combine(Charon.SwanctlDir, "private", "charon-rsa.pem")}'");
        try
        {
            f.Net.WaitFor(server, "ACCEPT", 10);
            NetNamespaces.Run("ip", "netns", "exec", f.NsGate, "curl", "-sS", "-k", "--max-time", "20", "--interface", StrongswanFixture.GateInner,
                "-o", fetched, $"https://{StrongswanFixture.CharonInner}:5201/data.bin");
        }
        finally
        {
            // -naccept 1: it ends after the one request; stopped by PID if it did not.
            if (!server.WaitForExit(5_000))
            {
                NetNamespaces.Stop(server);
            }
        }
        byte[] got = File.ReadAllBytes(fetched);
        Assert.True(want.AsSpan().SequenceEqual(got), $"{what}: fetched {got.Length} octets of {want.Length}, first difference at {want.AsSpan().CommonPrefixLength(got)}");
    }

    private void BothRoles(Process gate, int before, string what)
    {
        (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
        Assert.True(code == 0, $"{what}: swanctl --initiate exited {code}:\n{output}{Why(gate)}");
        WaitFor(gate, "IKE SA up as responder", before + 1);
        Assert.Contains("INSTALLED", Charon.Swanctl("--list-sas", "--ike", "cg"));
        TrafficCrosses(gate, what + ", charon initiating");

        Charon.TrySwanctl("--terminate", "--ike", "cg", "--force", "--timeout", "2");
        Assert.Contains("1 tunnel(s) cleared", f.Certgate("clear", "services", "ipsec-vpn", "ike", "security-associations"));
        WaitFor(gate, "IKE SA up as initiator", before + 1);
        Assert.Contains("INSTALLED", Charon.Swanctl("--list-sas", "--ike", "cg"));
        TrafficCrosses(gate, what + ", Certgate initiating");
        Charon.TrySwanctl("--terminate", "--ike", "cg", "--force", "--timeout", "2");
    }

    [Fact]
    public void GatewayDaemon_NextHopThenInterfaceServiceSet_BothRoles_PingAndTcpCross()
    {
        ConfigureCharon();
        string nextHop = Path.Combine(f.Dir, "next-hop.set");
        File.WriteAllText(nextHop, NextHop);
        f.Certgate("configure", "-f", nextHop);
        Process gate = f.Net.Start(f.NsGate, "dotnet", f.Dll, "--state", f.State, "gateway", "run");
        try
        {
            f.Net.WaitFor(gate, "waiting for the peer's IKE_SA_INIT", 60);
            BothRoles(gate, 0, "next-hop service set");

            // Host traffic of the gateway leaves from 10.77.2.1, here on lo (no inside unit carries it any more).
            NetNamespaces.Run("ip", "-n", f.NsGate, "addr", "add", StrongswanFixture.GateInner + "/32", "dev", "lo");
            string iface = Path.Combine(f.Dir, "interface.set");
            File.WriteAllText(iface, InterfaceStyle($"v{f.Net.Tag}b1"));
            f.Certgate("configure", "-f", iface);
            f.Net.WaitFor(gate, "TUN device sp0-0-0-0 (sp-0/0/0.0) of service-set ss-if up", 20);
            f.Net.WaitFor(gate, "lookup 30000 installed", 10);
            BothRoles(gate, 1, "interface service set");
        }
        finally
        {
            NetNamespaces.Stop(gate);
            NetNamespaces.Run("ip", "-n", f.NsGate, "addr", "flush", "dev", "lo", "to", StrongswanFixture.GateInner + "/32");
        }
        Assert.True(gate.ExitCode == 0, $"the gateway exited {gate.ExitCode}{Why(gate)}");
        Assert.DoesNotContain("lookup 30000", NetNamespaces.Run("ip", "-n", f.NsGate, "rule", "show"));
    }
}
