using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Revocation;

namespace Certgate.Scenario.Tests;

/// <summary>
/// IKE identities against strongSwan charon (issue 5, reference §3.6): IPv4, IPv6, e-mail and FQDN identities backed by
/// the certificates' subjectAltName, both roles; both sides show the identities they agreed on. A remote-id that the
/// peer's identity does not match is refused on either side, with the reason.
/// </summary>
public sealed class StrongswanIdentityTests(StrongswanIdentityFixture f) : IClassFixture<StrongswanIdentityFixture>
{
    private const string CharonInitiates = "charon-initiates";
    private const string CertgateInitiates = "certgate-initiates";

    private Charon Charon => f.Charon;

    /// <summary>charon's connection with <paramref name="localId"/> and <paramref name="remoteId"/> (strongSwan's id syntax).</summary>
    private void Configure(string localId, string remoteId) =>
        Charon.LoadConnection(StrongswanIdentityFixture.CharonOuter, StrongswanIdentityFixture.GateOuter, $$"""
                local {
                  auth = pubkey
                  certs = charon.pem
                  id = {{localId}}
                }
                remote {
                  auth = pubkey
                  id = {{remoteId}}
                }
            """, "10.77.1.0/24", "10.77.2.0/24");

    private Process StartGate(bool initiate, string[] identities)
    {
        List<string> args = ["dotnet", f.Dll, "--state", f.State, "debug", "ike-tunnel", "tun", "cg0", "local", StrongswanIdentityFixture.GateOuter,
            "remote", StrongswanIdentityFixture.CharonOuter, "certificate-id", "cg", "local-subnet", "10.77.2.0/24", "remote-subnet", "10.77.1.0/24", .. identities];
        if (initiate)
        {
            args.Add("initiate");
        }
        Process p = f.Net.Start(f.NsGate, [.. args]);
        f.Net.WaitFor(p, "IKE: ");
        return p;
    }

    private static void StopGate(Process gate)
    {
        if (!gate.HasExited)
        {
            NetNamespaces.Stop(gate);
        }
    }

    [Theory]
    // kind, Certgate's local-id, charon's id (as charon writes it), its type name, Certgate's id type.
    [InlineData(CharonInitiates, "ipv4_addr", StrongswanIdentityFixture.GateOuter, StrongswanIdentityFixture.CharonOuter, "ID_IPV4_ADDR")]
    [InlineData(CertgateInitiates, "ipv4_addr", StrongswanIdentityFixture.GateOuter, StrongswanIdentityFixture.CharonOuter, "ID_IPV4_ADDR")]
    [InlineData(CharonInitiates, "ipv6-addr", StrongswanIdentityFixture.GateV6Id, StrongswanIdentityFixture.CharonV6Id, "ID_IPV6_ADDR")]
    [InlineData(CertgateInitiates, "ipv6-addr", StrongswanIdentityFixture.GateV6Id, StrongswanIdentityFixture.CharonV6Id, "ID_IPV6_ADDR")]
    [InlineData(CharonInitiates, "user-at-hostname", "gate@example.net", "charon@example.net", "ID_RFC822_ADDR")]
    [InlineData(CertgateInitiates, "user-at-hostname", "gate@example.net", "charon@example.net", "ID_RFC822_ADDR")]
    [InlineData(CharonInitiates, "fqdn", "gate.example.net", "charon.example.net", "ID_FQDN")]
    [InlineData(CertgateInitiates, "fqdn", "gate.example.net", "charon.example.net", "ID_FQDN")]
    public void IdentityInTheSubjectAltName_TunnelComesUp_BothSidesShowTheIdentities(string role, string kind, string gateId, string charonId, string type)
    {
        Configure(charonId, gateId);
        int logStart = Charon.Log().Length;
        Process gate = StartGate(role == CertgateInitiates, ["local-id", kind, gateId, "remote-id", kind, charonId]);
        try
        {
            if (role == CharonInitiates)
            {
                (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
                if (code != 0)
                {
                    gate.WaitForExit(5_000);
                    Assert.Fail($"swanctl --initiate exited {code}:\n{output}\n--- certgate ---\n{f.Net.OutputOf(gate)}\n{Charon.LogTail()}");
                }
            }
            try
            {
                f.Net.WaitFor(gate, "tunnel up");
            }
            catch (TimeoutException e)
            {
                Assert.Fail($"{e.Message}\n{Charon.LogTail()}");
            }
            string gateOut = f.Net.OutputOf(gate);
            string sas = Charon.Swanctl("--list-sas", "--ike", "cg");
            string why = $"\n--- swanctl --list-sas ---\n{sas}\n--- certgate ---\n{gateOut}\n{Charon.LogTail()}";
            Assert.True(sas.Contains("ESTABLISHED", StringComparison.Ordinal), "charon has no established IKE SA" + why);
            // swanctl: "local  'charon@example.net' @ 10.66.0.1[4500]", "remote 'gate@example.net' @ 10.66.0.2[4500]".
            Assert.True(sas.Contains($"local  '{charonId}' @ {StrongswanIdentityFixture.CharonOuter}", StringComparison.Ordinal), "charon's local identity" + why);
            Assert.True(sas.Contains($"remote '{gateId}' @ {StrongswanIdentityFixture.GateOuter}", StringComparison.Ordinal), "charon's view of Certgate's identity" + why);
            Assert.Contains($"IKE: identities local {gateId} ({type}), peer {charonId} ({type})", gateOut, StringComparison.Ordinal);
            Assert.Contains($"IKE: SA established with {charonId} (issuer ", gateOut, StringComparison.Ordinal);
            string log = Charon.Log()[logStart..];
            if (role == CertgateInitiates)
            {
                // One concrete remote-id: Certgate names the responder it wants in IDr (RFC 7296 §3.5), as charon does.
                Assert.True(log.Contains("IDr AUTH", StringComparison.Ordinal), "Certgate's IKE_AUTH request carries no IDr" + why);
            }
        }
        finally
        {
            StopGate(gate);
        }
    }

    /// <summary>
    /// Certgate's remote-id does not match charon's identity (which its certificate does carry): Certgate refuses
    /// naming the check, the identity and the certificate; charon gets AUTHENTICATION_FAILED.
    /// </summary>
    [Fact]
    public void CharonIdentityMatchingNoRemoteId_CertgateRefusesAndSaysWhy()
    {
        Configure("charon.example.net", "gate@example.net");
        int logStart = Charon.Log().Length;
        Process gate = StartGate(false, ["local-id", "user-at-hostname", "gate@example.net", "remote-id", "fqdn", "other.example.net",
            "remote-id", "distinguished-name", "wildcard", "O=Other Org"]);
        try
        {
            (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
            Assert.True(code != 0, $"charon's initiate succeeded although Certgate must refuse its identity:\n{output}");
            Assert.True(gate.WaitForExit(20_000), $"certgate did not give up\n{f.Net.OutputOf(gate)}");
        }
        finally
        {
            StopGate(gate);
        }
        string gateOut = f.Net.OutputOf(gate);
        Assert.NotEqual(0, gate.ExitCode);
        Assert.Contains("the initiator's remote-id check failed: it identifies as charon.example.net (ID_FQDN), which matches no configured remote-id "
            + "(fqdn other.example.net; distinguished-name Wildcard \"O=Other Org\"); its certificate: subject 'CN=charon-id.test, O=Certgate Test, C=CH', "
            + "subjectAltName DNS:charon.example.net, IP:10.66.0.1, IP:2001:db8:66::1, email:charon@example.net", gateOut, StringComparison.Ordinal);
        Assert.Contains("parsed IKE_AUTH response 1 [ N(AUTH_FAILED) ]", Charon.Log()[logStart..], StringComparison.Ordinal);
    }

    /// <summary>
    /// charon's remote id is not Certgate's (which Certgate's certificate does carry): charon finds no peer config for
    /// Certgate's IDi and answers AUTHENTICATION_FAILED, which Certgate reports.
    /// </summary>
    [Fact]
    public void CertgateIdentityMatchingNotCharonsRemoteId_CharonRefuses()
    {
        Configure(StrongswanIdentityFixture.CharonOuter, "someone@example.net");
        int logStart = Charon.Log().Length;
        Process gate = StartGate(true, ["local-id", "user-at-hostname", "gate@example.net"]);
        try
        {
            Assert.True(gate.WaitForExit(30_000), $"certgate did not give up\n{f.Net.OutputOf(gate)}");
        }
        finally
        {
            StopGate(gate);
        }
        string gateOut = f.Net.OutputOf(gate);
        string log = Charon.Log()[logStart..];
        Assert.NotEqual(0, gate.ExitCode);
        Assert.Contains("AUTHENTICATION_FAILED", gateOut, StringComparison.Ordinal);
        Assert.True(log.Contains("[gate@example.net]", StringComparison.Ordinal) && log.Contains("no matching peer config found", StringComparison.Ordinal),
            $"charon did not look for and miss a peer config for gate@example.net\n--- certgate ---\n{gateOut}\n{Charon.LogTail()}");
    }

    /// <summary>
    /// The gateway daemon from a committed configuration: <c>local-id user-at-hostname</c> and <c>remote-id ipv4_addr</c>
    /// against charon with the matching ids; <c>show services ipsec-vpn ike security-associations detail</c> shows
    /// both identities with their types, and charon shows the same.
    /// </summary>
    [Fact]
    public void Gateway_CommittedLocalIdAndRemoteId_ShowDetailListsBothIdentitiesWithTheirTypes()
    {
        Configure(StrongswanIdentityFixture.CharonOuter, "gate@example.net");
        string setFile = Path.Combine(f.Dir, "gateway.set");
        File.WriteAllText(setFile, """
            set services ipsec-vpn ike proposal ike-cert authentication-method rsa-signatures
            set services ipsec-vpn ike proposal ike-cert dh-group group19
            set services ipsec-vpn ike proposal ike-cert authentication-algorithm sha-256
            set services ipsec-vpn ike proposal ike-cert encryption-algorithm aes-256-gcm
            set services ipsec-vpn ike policy ike-cert-pol version 2
            set services ipsec-vpn ike policy ike-cert-pol proposals ike-cert
            set services ipsec-vpn ike policy ike-cert-pol local-certificate cg
            set services ipsec-vpn ike policy ike-cert-pol local-id user-at-hostname gate@example.net
            set services ipsec-vpn ike policy ike-cert-pol remote-id ipv4_addr 10.66.0.1
            set services ipsec-vpn ike policy ike-cert-pol remote-id fqdn other.example.net
            set services ipsec-vpn ipsec proposal esp-gcm protocol esp
            set services ipsec-vpn ipsec proposal esp-gcm encryption-algorithm aes-256-gcm
            set services ipsec-vpn ipsec policy esp-pol proposals esp-gcm
            set services ipsec-vpn rule rule-ike term t1 from source-address 10.77.2.0/24
            set services ipsec-vpn rule rule-ike term t1 from destination-address 10.77.1.0/24
            set services ipsec-vpn rule rule-ike term t1 then remote-gateway 10.66.0.1
            set services ipsec-vpn rule rule-ike term t1 then dynamic ike-policy ike-cert-pol
            set services ipsec-vpn rule rule-ike term t1 then dynamic ipsec-policy esp-pol
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

            """);
        f.Certgate("configure", "-f", setFile);
        Process gate = f.Net.Start(f.NsGate, "dotnet", f.Dll, "--state", f.State, "gateway", "run");
        try
        {
            f.Net.WaitFor(gate, "waiting for the peer's IKE_SA_INIT", 60);
            (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
            Assert.True(code == 0, $"swanctl --initiate exited {code}:\n{output}\n--- certgate ---\n{f.Net.OutputOf(gate)}\n{Charon.LogTail()}");
            f.Net.WaitFor(gate, "IKE SA up as responder with 10.66.0.1", 30);
            string detail = f.Certgate("show", "services", "ipsec-vpn", "ike", "security-associations", "detail");
            Assert.Contains("Local identity: gate@example.net (ID_RFC822_ADDR)", detail);
            Assert.Contains("Remote identity: 10.66.0.1 (ID_IPV4_ADDR)", detail);
            string sas = Charon.Swanctl("--list-sas", "--ike", "cg");
            Assert.Contains($"local  '{StrongswanIdentityFixture.CharonOuter}' @ ", sas);
            Assert.Contains("remote 'gate@example.net' @ ", sas);
        }
        finally
        {
            StopGate(gate);
            Charon.TrySwanctl("--terminate", "--ike", "cg", "--force", "--timeout", "2");
        }
        Assert.True(gate.ExitCode == 0, $"the gateway exited {gate.ExitCode}\n{f.Net.OutputOf(gate)}");
    }

    /// <summary>A local-id the local certificate does not carry is refused before anything is sent, naming the certificate and its subjectAltNames.</summary>
    [Fact]
    public void LocalIdNotInTheCertificate_IsRefusedAtStart()
    {
        Process gate = f.Net.Start(f.NsGate, "dotnet", f.Dll, "--state", f.State, "debug", "ike-tunnel", "tun", "cg0", "local", StrongswanIdentityFixture.GateOuter,
            "remote", StrongswanIdentityFixture.CharonOuter, "certificate-id", "cg", "local-subnet", "10.77.2.0/24", "remote-subnet", "10.77.1.0/24",
            "local-id", "fqdn", "not-mine.example.net", "initiate");
        Assert.True(gate.WaitForExit(30_000), $"certgate did not stop\n{f.Net.OutputOf(gate)}");
        string output = f.Net.OutputOf(gate);
        Assert.NotEqual(0, gate.ExitCode);
        Assert.Contains("debug ike-tunnel: certificate-id cg: local-id not-mine.example.net (ID_FQDN) is not carried by local certificate 'CN=cg-id.test, O=Certgate Test, C=CH' "
            + "(subjectAltName: DNS:gate.example.net, IP:10.66.0.2, IP:2001:db8:66::2, email:gate@example.net)", output, StringComparison.Ordinal);
    }
}
