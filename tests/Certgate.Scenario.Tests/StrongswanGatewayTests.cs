using System.Diagnostics;
using System.Security.Cryptography;
using Xunit.Abstractions;

namespace Certgate.Scenario.Tests;

/// <summary>
/// The gateway daemon (<c>certgate gateway run</c> with a committed configuration, as an operator runs it) against
/// strongSwan charon (issue 6): a next-hop service set, then a commit that replaces it with an interface service set,
/// each with charon initiating and Certgate initiating (after <c>clear services ipsec-vpn ike security-associations</c>;
/// the gateway's address is the higher one, so it responds by default). Ping both ways and a TCP transfer (1 MiB over
/// TLS, compared byte for byte) cross every tunnel. charon's kernel-libipsec claims a NAT, so IKE floats to UDP 4500.
/// </summary>
public sealed partial class StrongswanGatewayTests(StrongswanFixture f, ITestOutputHelper output) : IClassFixture<StrongswanFixture>
{
    private Charon Charon => f.Charon;

    private const string Policies = """
        set security pki ca-profile test ca-identity test
        set services ipsec-vpn ike proposal ike-cert authentication-method rsa-signatures
        set services ipsec-vpn ike proposal ike-cert dh-group group19
        set services ipsec-vpn ike proposal ike-cert authentication-algorithm sha-256
        set services ipsec-vpn ike proposal ike-cert encryption-algorithm aes-256-gcm
        set services ipsec-vpn ike policy ike-cert-pol version 2
        set services ipsec-vpn ike policy ike-cert-pol proposals ike-cert
        set services ipsec-vpn ike policy ike-cert-pol local-certificate cg-rsa
        set services ipsec-vpn ipsec proposal esp-gcm protocol esp
        set services ipsec-vpn ipsec proposal esp-gcm encryption-algorithm aes-256-gcm
        set services ipsec-vpn ipsec policy esp-pol proposals esp-gcm
        set services ipsec-vpn rule rule-ike term t1 from source-address 10.77.2.0/24
        set services ipsec-vpn rule rule-ike term t1 from destination-address 10.77.1.0/24
        set services ipsec-vpn rule rule-ike term t1 then remote-gateway 10.66.0.1
        set services ipsec-vpn rule rule-ike term t1 then dynamic ike-policy ike-cert-pol
        set services ipsec-vpn rule rule-ike term t1 then dynamic ipsec-policy esp-pol

        """;

    private const string NextHop = Policies + """
        set services ipsec-vpn rule rule-ike match-direction input
        set interfaces ms-0/0/0 unit 1 family inet address 10.77.2.1/32
        set interfaces ms-0/0/0 unit 1 service-domain inside
        set interfaces ms-0/0/0 unit 2 family inet
        set interfaces ms-0/0/0 unit 2 service-domain outside
        set services service-set ipsec-1 next-hop-service inside-service-interface ms-0/0/0.1
        set services service-set ipsec-1 next-hop-service outside-service-interface ms-0/0/0.2
        set services service-set ipsec-1 ipsec-vpn-options local-gateway 10.66.0.2
        set services service-set ipsec-1 ipsec-vpn-options trusted-ca test
        set services service-set ipsec-1 ipsec-vpn-rules rule-ike
        set routing-options static route 10.77.1.0/24 next-hop ms-0/0/0.1
        commit

        """;

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

    private void ConfigureCharon() => f.LoadRsaConnection("10.77.1.0/24", "10.77.2.0/24");

    /// <summary>
    /// Commits <paramref name="nextHop"/> (written to <paramref name="file"/> in the fixture's directory) and starts
    /// the gateway daemon. The fixture's configuration may hold the interface service set of another test: set then
    /// delete makes the deletes valid whichever ran first.
    /// </summary>
    private Process StartNextHopGateway(string file, string nextHop)
    {
        string wan = $"v{f.Net.Tag}b1";
        string config = Path.Combine(f.Dir, file);
        File.WriteAllText(config, $"""
            set services service-set ss-if ipsec-vpn-rules rule-ike
            delete services service-set ss-if
            set interfaces sp-0/0/0 unit 0 family inet
            delete interfaces sp-0/0/0
            set interfaces {wan} unit 0 family inet
            delete interfaces {wan}

            """ + nextHop);
        f.Certgate("configure", "-f", config);
        return f.Net.Start(f.NsGate, "dotnet", f.Dll, "--state", f.State, "gateway", "run");
    }

    private string Why(Process gate) => $"\n--- certgate ---\n{f.Net.OutputOf(gate)}\n{Charon.LogTail()}";

    private void WaitFor(Process gate, string text, int count)
    {
        for (int i = 0; i < 600; i++)
        {
            if (f.Net.OutputOf(gate).Split(text).Length - 1 >= count)
            {
                return;
            }
            Thread.Sleep(50);
        }
        Assert.Fail($"'{text}' did not appear {count} time(s) within 30 s{Why(gate)}");
    }

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
