using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Certgate.Pki.Revocation;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Issues 5 and 6 end to end: a tunnel that comes up from <c>set services …</c> + <c>commit</c> and
/// <c>certgate gateway run</c>, as on a Junos router, with no debug command.
/// <code>
///   ns 1: certgate gateway run (gw1)                             ns 2: certgate gateway run (gw2)
///   ms0-0-0-1 (TUN, ms-0/0/0.1) 172.30.1.1/24                     ms0-0-0-1 (TUN) 172.30.2.1/24
///   route 172.30.2.0/24 dev ms0-0-0-1 (static route)              route 172.30.1.0/24 dev ms0-0-0-1
///   veth 10.88.0.1/24 (local-gateway) -------------------------- veth 10.88.0.2/24 (local-gateway)
///   IKEv2 on UDP 500 (gw1 initiates: lower address), ESP in UDP 4500, certificates of one test CA + its CRL
/// </code>
/// </summary>
public sealed partial class ServiceSetTunnelTests
{
    private const string Device = "ms0-0-0-1";

    [Fact]
    public void NextHopServiceSet_Committed_TunnelUp_PingCrosses_ShowsMatchingSas_KeepsSasAcrossCommit_SigtermRemovesDevices()
    {
        string dll = NetNamespaces.CertgateDll();
        string dir = Directory.CreateTempSubdirectory("certgate-sset-").FullName;
        using var net = new NetNamespaces();
        try
        {
            string ns1 = net.Create("1");
            string ns2 = net.Create("2");
            net.Link(ns1, "10.88.0.1/24", ns2, "10.88.0.2/24");
            string[] states = [Path.Combine(dir, "gw1"), Path.Combine(dir, "gw2")];
            Provision(dll, dir, states);
            Process gw1 = net.Start(ns1, "dotnet", dll, "--state", states[0], "gateway", "run");
            Process gw2 = net.Start(ns2, "dotnet", dll, "--state", states[1], "gateway", "run");
            net.WaitFor(gw1, "IKE SA up as initiator", 90);
            net.WaitFor(gw2, "IKE SA up as responder", 30);
            Assert.Contains("route 172.30.2.0/24 dev ms0-0-0-1 installed", net.OutputOf(gw1));

            string ping = NetNamespaces.Run("ip", "netns", "exec", ns1, "ping", "-c", "3", "-W", "2", "-I", "172.30.1.1", "172.30.2.1");
            Assert.Contains("3 packets transmitted, 3 received", ping);

            (string I, string R) spis1 = IkeSpis(Cli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations"), "10.88.0.2");
            (string I, string R) spis2 = IkeSpis(Cli(dll, states[1], "show", "services", "ipsec-vpn", "ike", "security-associations"), "10.88.0.1");
            Assert.Equal(spis1, spis2);
            string detail = Cli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail");
            // No local-id: each side sends its certificate's subject (docs/decisions.md "Identities").
            Assert.Contains("Local identity: CN=gw1.test, O=Certgate Test, C=CH (ID_DER_ASN1_DN)", detail);
            Assert.Contains("Remote identity: CN=gw2.test, O=Certgate Test, C=CH (ID_DER_ASN1_DN)", detail);
            Assert.Contains("Role: Initiator", detail);
            Assert.Contains($"Initiator cookie: {spis1.I}, Responder cookie: {spis1.R}", detail);
            (string I, string R) child1 = ChildSpis(detail);
            Assert.Equal(child1, ChildSpis(Cli(dll, states[1], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail")));

            string ipsec = Cli(dll, states[1], "show", "services", "ipsec-vpn", "ipsec", "security-associations");
            Assert.Contains("Rule: rule-ike, Term: t1", ipsec);
            JsonNode json = JsonNode.Parse(Cli(dll, states[1], "show", "services", "ipsec-vpn", "ipsec", "security-associations", "|", "display", "json"))!;
            JsonArray sas = json["ipsec-security-associations"]![0]!["security-associations"]!.AsArray();
            Assert.Equal(2, sas.Count);
            Assert.All(sas, sa => Assert.True(sa!["packets"]!.GetValue<ulong>() >= 3, $"{sa["direction"]} SA counted {sa["packets"]} packets after 3 pings"));
            Assert.Equal(child1.R, sas.Single(s => (string)s!["direction"]! == "inbound")!["spi-hex"]!.GetValue<string>());

            // A commit that changes nothing the tunnel depends on: the runtime reads it and the SAs stay.
            int reads = Regex.Matches(net.OutputOf(gw1), "the plan is unchanged").Count;
            File.WriteAllText(Path.Combine(dir, "description.set"), "set interfaces eth0 description outside-link\ncommit\n");
            Cli(dll, states[0], "configure", "-f", Path.Combine(dir, "description.set"));
            WaitUntil(() => Regex.Matches(net.OutputOf(gw1), "the plan is unchanged").Count > reads, "gw1 did not read the new commit", net.OutputOf(gw1));
            Assert.Equal(spis1, IkeSpis(Cli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations"), "10.88.0.2"));
            Assert.Contains("3 received", NetNamespaces.Run("ip", "netns", "exec", ns2, "ping", "-c", "3", "-W", "2", "-I", "172.30.2.1", "172.30.1.1"));

            // clear on the responder: it drops its SAs and initiates; gw1, listening while up, answers and replaces its SAs.
            Assert.Contains("1 tunnel(s) cleared", Cli(dll, states[1], "clear", "services", "ipsec-vpn", "ike", "security-associations"));
            net.WaitFor(gw2, "IKE SA up as initiator", 30);
            WaitUntil(() => Regex.Matches(net.OutputOf(gw1), "IKE SA up as").Count == 2, "gw1 did not accept the new negotiation", net.OutputOf(gw1));
            (string I, string R) renewed = IkeSpis(Cli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations"), "10.88.0.2");
            Assert.NotEqual(spis1, renewed);
            Assert.Equal(renewed, IkeSpis(Cli(dll, states[1], "show", "services", "ipsec-vpn", "ike", "security-associations"), "10.88.0.1"));
            (string I, string R) childRenewed = ChildSpis(Cli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail"));
            Assert.Contains("3 received", NetNamespaces.Run("ip", "netns", "exec", ns1, "ping", "-c", "3", "-W", "2", "-I", "172.30.1.1", "172.30.2.1"));

            // clear ipsec on gw1: new IPsec SAs by a CREATE_CHILD_SA rekey in the IKE SA that stays (#5); both agree.
            int ikeSasGone = Regex.Matches(net.OutputOf(gw1), "IKE SA gone").Count;
            Assert.Contains("negotiating new IPsec SAs in the IKE SA", Cli(dll, states[0], "clear", "services", "ipsec-vpn", "ipsec", "security-associations"));
            net.WaitFor(gw1, "rekeyed to CHILD_SA", 10);
            WaitUntil(() => Regex.IsMatch(net.OutputOf(gw1), @"CHILD_SA \w+_i \w+_o: deleted\n"), "gw1 did not delete the old CHILD_SA", net.OutputOf(gw1));
            // The IKE SA stays (same cookies); the IPsec SAs are new and the same on both gateways.
            Assert.Equal(renewed, IkeSpis(Cli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations"), "10.88.0.2"));
            (string I, string R) childBefore = childRenewed;
            (string I, string R) rekeyed = ChildSpis(Cli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail"));
            Assert.NotEqual(childBefore, rekeyed);
            Assert.Equal(rekeyed, ChildSpis(Cli(dll, states[1], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail")));
            Assert.Equal(ikeSasGone, Regex.Matches(net.OutputOf(gw1), "IKE SA gone").Count);
            Assert.Contains("3 received", NetNamespaces.Run("ip", "netns", "exec", ns2, "ping", "-c", "3", "-W", "2", "-I", "172.30.2.1", "172.30.1.1"));

            NetNamespaces.Stop(gw1);
            // gw1 told gw2 on its way out (one IKE DELETE): gw2 drops the SAs instead of keeping them for a dead peer.
            WaitUntil(() => net.OutputOf(gw2).Contains("IKE SA gone (deleted by the peer)", StringComparison.Ordinal), "gw2 did not hear gw1's DELETE", net.OutputOf(gw2));
            NetNamespaces.Stop(gw2);
            Console.WriteLine("gw1:\n" + net.OutputOf(gw1) + "\ngw2:\n" + net.OutputOf(gw2));
            foreach ((Process p, string ns) in new[] { (gw1, ns1), (gw2, ns2) })
            {
                Assert.True(p.ExitCode == 0, $"gateway exited {p.ExitCode}: {net.OutputOf(p)}");
                Assert.Contains($"TUN device {Device} removed", net.OutputOf(p));
                Assert.DoesNotContain(Device, NetNamespaces.Run("ip", "-n", ns, "link", "show"));
            }
            // The daemon is gone: the show command says so instead of showing stale SAs.
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { dll, "--state", states[0], "show", "services", "ipsec-vpn", "ike", "security-associations" })
            {
                psi.ArgumentList.Add(a);
            }
            using Process show = Process.Start(psi)!;
            string said = show.StandardOutput.ReadToEnd() + show.StandardError.ReadToEnd();
            show.WaitForExit();
            Assert.Equal(3, show.ExitCode);
            Assert.Contains("no gateway running", said);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void RevokedPeerCertificate_TunnelStaysDown_WithTheReason_ThenACommitWithoutTheServiceSetRemovesDeviceAndRoute()
    {
        string dll = NetNamespaces.CertgateDll();
        string dir = Directory.CreateTempSubdirectory("certgate-sset-").FullName;
        using var net = new NetNamespaces();
        try
        {
            string ns1 = net.Create("1");
            string ns2 = net.Create("2");
            net.Link(ns1, "10.88.0.1/24", ns2, "10.88.0.2/24");
            string[] states = [Path.Combine(dir, "gw1"), Path.Combine(dir, "gw2")];
            Provision(dll, dir, states, revokeGw2: true);
            Process gw1 = net.Start(ns1, "dotnet", dll, "--state", states[0], "gateway", "run");
            Process gw2 = net.Start(ns2, "dotnet", dll, "--state", states[1], "gateway", "run");
            net.WaitFor(gw1, "initiating failed", 60);
            string show = Cli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail");
            Assert.Contains("State: Not matured", show);
            Assert.Matches("Last error: .*revoked", show);
            Assert.Contains("No SAs: negotiation failed", Cli(dll, states[0], "show", "services", "ipsec-vpn", "ipsec", "security-associations"));
            Assert.Contains(Device, NetNamespaces.Run("ip", "-n", ns1, "link", "show"));
            Assert.Contains("172.30.2.0/24 dev ms0-0-0-1", NetNamespaces.Run("ip", "-n", ns1, "route", "show"));

            File.WriteAllText(Path.Combine(dir, "delete.set"), "delete services service-set ipsec-1\ndelete routing-options\ncommit\n");
            Cli(dll, states[0], "configure", "-f", Path.Combine(dir, "delete.set"));
            net.WaitFor(gw1, $"TUN device {Device} (ms-0/0/0.1) removed", 20);
            Assert.Contains("1 removed", net.OutputOf(gw1));
            Assert.DoesNotContain(Device, NetNamespaces.Run("ip", "-n", ns1, "link", "show"));
            Assert.DoesNotContain("172.30.2.0/24", NetNamespaces.Run("ip", "-n", ns1, "route", "show"));
            Assert.Contains("No IKE SAs", Cli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations"));
            NetNamespaces.Stop(gw1);
            NetNamespaces.Stop(gw2);
            Assert.Equal(0, gw1.ExitCode);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The (initiator, responder) SPI pair on the line of <paramref name="peer"/>, which must be Matured.</summary>
    private static (string, string) IkeSpis(string show, string peer)
    {
        Match m = Regex.Match(show, $@"^{Regex.Escape(peer)}\s+Matured\s+([0-9a-f]{{16}})\s+([0-9a-f]{{16}})\s+IKEv2", RegexOptions.Multiline);
        Assert.True(m.Success, $"no matured IKE SA with {peer} in:\n{show}");
        Assert.NotEqual("0000000000000000", m.Groups[1].Value);
        return (m.Groups[1].Value, m.Groups[2].Value);
    }

    /// <summary>The IPsec SA's SPIs (initiator's, responder's) from the IKE detail view.</summary>
    private static (string, string) ChildSpis(string detail)
    {
        Match m = Regex.Match(detail, @"IPsec SA SPIs: initiator ([0-9a-f]{8}), responder ([0-9a-f]{8})");
        Assert.True(m.Success, $"no IPsec SA SPIs in:\n{detail}");
        return (m.Groups[1].Value, m.Groups[2].Value);
    }

    private static void WaitUntil(Func<bool> condition, string what, string output)
    {
        for (int i = 0; i < 200; i++)
        {
            if (condition())
            {
                return;
            }
            Thread.Sleep(50);
        }
        Assert.Fail($"{what} within 10 s; output:\n{output}");
    }

    /// <summary>A test CA, and for each gateway: configuration, CA certificate, its own certificate and key, the CRL.</summary>
    private static void Provision(string dll, string dir, string[] states, bool revokeGw2 = false, Func<int, string>? configuration = null)
    {
        using RSA caKey = RSA.Create(2048);
        var caReq = new CertificateRequest(Dn("Certgate Test Root CA"), caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caReq.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caReq.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caReq.PublicKey, false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using X509Certificate2 ca = caReq.CreateSelfSigned(now.AddDays(-2), now.AddDays(60));
        string caFile = Path.Combine(dir, "ca.pem");
        File.WriteAllText(caFile, ca.ExportCertificatePem());
        var crl = new CrlBuilder(ca) { ThisUpdate = now.AddMinutes(-5), NextUpdate = now.AddDays(1), CrlNumber = 1 };
        if (revokeGw2)
        {
            crl.AddEntry(new System.Numerics.BigInteger(0x32), now.AddMinutes(-5), CrlReason.keyCompromise);
        }
        string crlFile = Path.Combine(dir, "ca.crl");
        File.WriteAllBytes(crlFile, crl.Sign(caKey, HashAlgorithmName.SHA256));
        for (int i = 0; i < states.Length; i++)
        {
            string gw = $"gw{i + 1}";
            string state = states[i];
            string setFile = Path.Combine(dir, gw + ".set");
            string text = configuration?.Invoke(i) ?? Configuration(gw, local: $"10.88.0.{i + 1}", remote: $"10.88.0.{2 - i}", inside: $"172.30.{i + 1}.1/24", far: $"172.30.{2 - i}.0/24",
                near: $"172.30.{i + 1}.0/24");
            File.WriteAllText(setFile, text);
            Cli(dll, state, "configure", "-f", setFile);
            Cli(dll, state, "request", "security", "pki", "ca-certificate", "load", "ca-profile", "test", "filename", caFile);
            using RSA key = RSA.Create(2048);
            var req = new CertificateRequest(Dn(gw + ".test"), key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            // Every local-gateway of the gateway as an iPAddress subjectAltName: its peers have no remote-id, so they
            // accept only a certificate that names their remote-gateway (issue #14 §2), as a Junos SRX does.
            var san = new SubjectAlternativeNameBuilder();
            foreach (string address in System.Text.RegularExpressions.Regex.Matches(text, @"local-gateway (\S+)").Select(m => m.Groups[1].Value).Distinct())
            {
                san.AddIpAddress(System.Net.IPAddress.Parse(address));
            }
            req.CertificateExtensions.Add(san.Build());
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(ca.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Single()));
            using X509Certificate2 cert = req.Create(ca.SubjectName, X509SignatureGenerator.CreateForRSA(caKey, RSASignaturePadding.Pkcs1), now.AddDays(-1), now.AddDays(30), [(byte)(0x31 + i)]);
            string certFile = Path.Combine(dir, gw + ".pem");
            string keyFile = Path.Combine(dir, gw + ".key");
            File.WriteAllText(certFile, cert.ExportCertificatePem());
            File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
            File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Cli(dll, state, "request", "security", "pki", "local-certificate", "load", "certificate-id", gw, "filename", certFile, "key", keyFile);
            Cli(dll, state, "request", "security", "pki", "crl", "load", "ca-profile", "test", "filename", crlFile);
        }
    }

    // Encoded C, O, CN; .NET's string form lists the RDNs the other way round.
    private static X500DistinguishedName Dn(string cn) => new($"CN={cn}, O=Certgate Test, C=CH");

    /// <summary>
    /// docs/examples/ipsec-next-hop.set adapted to the namespaces (no SCEP: the certificates are loaded); IPv4 by
    /// default, IPv6 with <paramref name="family"/> inet6, a /64 outer prefix and its own service-set name.
    /// </summary>
    private static string Configuration(string gw, string local, string remote, string inside, string far, string near,
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
    private static string Policies(string gw) => $"""
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

    private static string Cli(string dll, string state, params string[] args) => NetNamespaces.Run("dotnet", [dll, "--state", state, "--yes", .. args]);

}
