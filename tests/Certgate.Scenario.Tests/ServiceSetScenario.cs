using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Scenario.Tests;

/// <summary>
/// What the scenario tests of <c>certgate gateway run</c> with service sets share (issues 5, 6 and 13): a test CA and
/// each gateway's configuration, certificate, key and CRL (<see cref="Provision"/>), the configurations, the CLI, and
/// reading SAs and counters from <c>show</c>. The test classes import it with <c>using static</c>.
/// </summary>
internal static class ServiceSetScenario
{
    /// <summary>The gateway scenario classes run one after the other, as when they were one class: each starts two or
    /// three daemons, and the machine has 2 cores.</summary>
    internal const string Collection = "service-set gateways";

    internal const string Device = "ms0-0-0-1";

    /// <summary>The (initiator, responder) SPI pair on the line of <paramref name="peer"/>, which must be Matured.</summary>
    internal static (string, string) IkeSpis(string show, string peer)
    {
        Match m = Regex.Match(show, $@"^{Regex.Escape(peer)}\s+Matured\s+([0-9a-f]{{16}})\s+([0-9a-f]{{16}})\s+IKEv2", RegexOptions.Multiline);
        Assert.True(m.Success, $"no matured IKE SA with {peer} in:\n{show}");
        Assert.NotEqual("0000000000000000", m.Groups[1].Value);
        return (m.Groups[1].Value, m.Groups[2].Value);
    }

    /// <summary>The IPsec SA's SPIs (initiator's, responder's) from the IKE detail view.</summary>
    internal static (string, string) ChildSpis(string detail)
    {
        Match m = Regex.Match(detail, @"IPsec SA SPIs: initiator ([0-9a-f]{8}), responder ([0-9a-f]{8})");
        Assert.True(m.Success, $"no IPsec SA SPIs in:\n{detail}");
        return (m.Groups[1].Value, m.Groups[2].Value);
    }

    internal static void WaitUntil(Func<bool> condition, string what, string output)
    {
        // Generous: on 2 loaded cores a daemon can take seconds to get to it.
        for (int i = 0; i < 1200; i++)
        {
            if (condition())
            {
                return;
            }
            Thread.Sleep(50);
        }
        Assert.Fail($"{what} within 60 s; output:\n{output}");
    }

    /// <summary>A test CA, and for each gateway: configuration, CA certificate, its own certificate and key, the CRL.</summary>
    internal static void Provision(string dll, string dir, string[] states, bool revokeGw2 = false, Func<int, string>? configuration = null)
    {
        using TestCa ca = PeerTestbed.CreateCa("Certgate Test Root CA");
        string caFile = Path.Combine(dir, "ca.pem");
        File.WriteAllText(caFile, ca.Certificate.ExportCertificatePem());
        string crlFile = Path.Combine(dir, "ca.crl");
        File.WriteAllBytes(crlFile, revokeGw2 ? PeerTestbed.Crl(ca, 0x32) : PeerTestbed.Crl(ca));
        for (int i = 0; i < states.Length; i++)
        {
            string gw = $"gw{i + 1}";
            string state = states[i];
            string setFile = Path.Combine(dir, gw + ".set");
            string text = configuration?.Invoke(i) ?? Configuration(gw, local: $"10.88.0.{i + 1}", remote: $"10.88.0.{2 - i}", inside: $"172.30.{i + 1}.1/24", far: $"172.30.{2 - i}.0/24",
                near: $"172.30.{i + 1}.0/24");
            File.WriteAllText(setFile, text);
            CertgateCli(dll, state, "configure", "-f", setFile);
            CertgateCli(dll, state, "request", "security", "pki", "ca-certificate", "load", "ca-profile", "test", "filename", caFile);
            using RSA key = RSA.Create(2048);
            // Every local-gateway of the gateway as an iPAddress subjectAltName: its peers have no remote-id, so they
            // accept only a certificate that names their remote-gateway (issue #14 §2), as a Junos SRX does.
            IPAddress[] addresses = [.. Regex.Matches(text, @"local-gateway (\S+)").Select(m => m.Groups[1].Value).Distinct().Select(IPAddress.Parse)];
            using X509Certificate2 cert = PeerTestbed.IssueBy(ca, gw + ".test", key, (byte)(0x31 + i), new CertOptions { IpAddresses = addresses });
            string certFile = Path.Combine(dir, gw + ".pem");
            string keyFile = Path.Combine(dir, gw + ".key");
            File.WriteAllText(certFile, cert.ExportCertificatePem());
            PeerTestbed.WriteKey(keyFile, key);
            CertgateCli(dll, state, "request", "security", "pki", "local-certificate", "load", "certificate-id", gw, "filename", certFile, "key", keyFile);
            CertgateCli(dll, state, "request", "security", "pki", "crl", "load", "ca-profile", "test", "filename", crlFile);
        }
    }

    /// <summary>
    /// docs/examples/ipsec-next-hop.set adapted to the namespaces (no SCEP: the certificates are loaded); IPv4 by
    /// default, IPv6 with <paramref name="family"/> inet6, a /64 outer prefix and its own service-set name.
    /// </summary>
    internal static string Configuration(string gw, string local, string remote, string inside, string far, string near,
        string family = "inet", int outerPrefix = 24, string serviceSet = "ipsec-1") => Policies(gw) + $"""
        set services ipsec-vpn rule rule-ike term t1 from source-address {near}
        set services ipsec-vpn rule rule-ike term t1 from destination-address {far}
        set services ipsec-vpn rule rule-ike term t1 then remote-gateway {remote}
        set services ipsec-vpn rule rule-ike term t1 then dynamic ike-policy ike-cert-pol
        set services ipsec-vpn rule rule-ike term t1 then dynamic ipsec-policy esp-pol
        set services ipsec-vpn rule rule-ike match-direction input
        set interfaces eth0 unit 0 family {family} address {local}/{outerPrefix}
        set interfaces ms-0/0/0 unit 1 family {family} address {inside}
        set interfaces ms-0/0/0 unit 1 service-domain inside
        set interfaces ms-0/0/0 unit 2 family {family}
        set interfaces ms-0/0/0 unit 2 service-domain outside
        set services service-set {serviceSet} next-hop-service inside-service-interface ms-0/0/0.1
        set services service-set {serviceSet} next-hop-service outside-service-interface ms-0/0/0.2
        set services service-set {serviceSet} ipsec-vpn-options local-gateway {local}
        set services service-set {serviceSet} ipsec-vpn-options trusted-ca test
        set services service-set {serviceSet} ipsec-vpn-rules rule-ike
        set routing-options static route {far} next-hop ms-0/0/0.1
        commit

        """;

    /// <summary>The CA profile, IKE and ESP proposals and policies both service-set styles use.</summary>
    internal static string Policies(string gw) => $"""
        set security pki ca-profile test ca-identity test
        set services ipsec-vpn ike proposal ike-cert authentication-method rsa-signatures
        set services ipsec-vpn ike proposal ike-cert dh-group group19
        set services ipsec-vpn ike proposal ike-cert authentication-algorithm sha-256
        set services ipsec-vpn ike proposal ike-cert encryption-algorithm aes-256-gcm
        set services ipsec-vpn ike proposal ike-cert lifetime-seconds 28800
        set services ipsec-vpn ike policy ike-cert-pol version 2
        set services ipsec-vpn ike policy ike-cert-pol proposals ike-cert
        set services ipsec-vpn ike policy ike-cert-pol local-certificate {gw}
        set services ipsec-vpn ipsec proposal esp-gcm protocol esp
        set services ipsec-vpn ipsec proposal esp-gcm encryption-algorithm aes-256-gcm
        set services ipsec-vpn ipsec proposal esp-gcm lifetime-seconds 3600
        set services ipsec-vpn ipsec policy esp-pol perfect-forward-secrecy keys group19
        set services ipsec-vpn ipsec policy esp-pol proposals esp-gcm

        """;

    internal static string CertgateCli(string dll, string state, params string[] args) => NetNamespaces.Run("dotnet", [dll, "--state", state, "--yes", .. args]);

    internal const string SteeringDevice = "sp0-0-0-0";

    /// <summary>Two gateways, two hosts, the tunnel up; the caller owns <paramref name="net"/> and deletes
    /// <paramref name="dir"/>.</summary>
    internal static (string Ns1, string Ns2, string H1, string H2, string Wan1, string Wan2, Process Gw1, Process Gw2, string[] States) InterfaceScenario(
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
    internal static (ulong In, ulong Out) EspPackets(string dll, string state)
    {
        JsonNode json = JsonNode.Parse(CertgateCli(dll, state, "show", "services", "ipsec-vpn", "ipsec", "security-associations", "|", "display", "json"))!;
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
    internal static void Tcp(NetNamespaces net, string h1, string h2, string from)
    {
        Process server = net.Start(h2, "iperf3", "-s", "-1", "--forceflush", "-B", "172.30.2.10", "-p", "5201");
        net.WaitFor(server, "Server listening", 10);
        string client = NetNamespaces.Run("ip", "netns", "exec", h1, "timeout", "20", "iperf3", "-c", "172.30.2.10", "-B", from, "-p", "5201", "-n", "2M");
        Assert.Contains("sender", client);
        Assert.True(server.WaitForExit(10_000), "iperf3 server did not end after its one test");
    }

    internal static string Ipv6NextHop(string gw, string local, string remote, string inside, string near, string far) =>
        Configuration(gw, local, remote, inside, far, near, family: "inet6", outerPrefix: 64, serviceSet: "ipsec-6");

    internal static string NextHopSet(string set, string rule, int unit, string inside, string local, string remote, string near, string far) => $"""
        set services ipsec-vpn rule {rule} term t1 from source-address {near}
        set services ipsec-vpn rule {rule} term t1 from destination-address {far}
        set services ipsec-vpn rule {rule} term t1 then remote-gateway {remote}
        set services ipsec-vpn rule {rule} term t1 then dynamic ike-policy ike-cert-pol
        set services ipsec-vpn rule {rule} term t1 then dynamic ipsec-policy esp-pol
        set services ipsec-vpn rule {rule} match-direction input
        set interfaces ms-0/0/0 unit {unit} family inet address {inside}
        set interfaces ms-0/0/0 unit {unit} service-domain inside
        set interfaces ms-0/0/0 unit {unit + 1} family inet
        set interfaces ms-0/0/0 unit {unit + 1} service-domain outside
        set services service-set {set} next-hop-service inside-service-interface ms-0/0/0.{unit}
        set services service-set {set} next-hop-service outside-service-interface ms-0/0/0.{unit + 1}
        set services service-set {set} ipsec-vpn-options local-gateway {local}
        set services service-set {set} ipsec-vpn-options trusted-ca test
        set services service-set {set} ipsec-vpn-rules {rule}

        """;
}
