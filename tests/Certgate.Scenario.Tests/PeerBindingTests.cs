using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Revocation;

namespace Certgate.Scenario.Tests;

/// <summary>
/// One pair of namespaces, one CA, one charon and one <c>certgate gateway run</c> for <see cref="PeerBindingTests"/>.
/// The gateway's tunnel has no <c>remote-id</c>: its peer must prove the remote-gateway 10.66.0.1 (issue #14 §2).
/// charon holds four certificates of the same CA, and each test makes it initiate with one of them.
/// <code>
///   ns C: charon (kernel-libipsec), 10.66.0.1             ns G: certgate gateway run, 10.66.0.2
///   veth 10.66.0.1/24 ----------------------------------- veth 10.66.0.2/24   ms-0/0/0.1 (TUN)
///   charon-legit  CN=gw-a.test  IP:10.66.0.1, digitalSignature          cg  CN=cg-bind.test  IP:10.66.0.2
///   charon-other  CN=gw-c.test  IP:10.66.0.3 (another gateway of the same CA)
///   charon-nosign CN=gw-a-nosign.test IP:10.66.0.1, keyUsage nonRepudiation only
///   charon-mail   CN=gw-a-mail.test   IP:10.66.0.1, EKU emailProtection only
///   charon-sha1   CN=gw-a-sha1.test   IP:10.66.0.1, signed by the CA with SHA-1 (openssl x509 -req -sha1)
/// </code>
/// </summary>
public sealed class PeerBindingFixture : IDisposable
{
    public const string CharonOuter = "10.66.0.1";
    public const string GateOuter = "10.66.0.2";

    public PeerBindingFixture()
    {
        Charon.RequireInstalled();
        Dir = Directory.CreateTempSubdirectory("certgate-binding-").FullName;
        Net = new NetNamespaces();
        try
        {
            NsCharon = Net.Create("c");
            NsGate = Net.Create("g");
            Net.Link(NsCharon, CharonOuter + "/24", NsGate, GateOuter + "/24");
            // libipsec installs its route with a source address inside local_ts.
            NetNamespaces.Run("ip", "-n", NsCharon, "addr", "add", "10.77.1.1/32", "dev", "lo");
            Dll = NetNamespaces.CertgateDll();

            using var caKey = RSA.Create(2048);
            var caReq = new CertificateRequest("CN=Certgate Binding Test CA, O=Certgate Test, C=CH", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            caReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            caReq.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            caReq.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caReq.PublicKey, false));
            using X509Certificate2 ca = caReq.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-2), DateTimeOffset.UtcNow.AddDays(60));

            Charon = new Charon(Net, NsCharon, Path.Combine(Dir, "charon"));
            File.WriteAllText(Path.Combine(Charon.SwanctlDir, "x509ca", "ca.pem"), ca.ExportCertificatePem());
            ForCharon("charon-legit", "gw-a.test", CharonOuter, X509KeyUsageFlags.DigitalSignature, null, ca, caKey, 0x41);
            ForCharon("charon-other", "gw-c.test", "10.66.0.3", X509KeyUsageFlags.DigitalSignature, null, ca, caKey, 0x42);
            ForCharon("charon-nosign", "gw-a-nosign.test", CharonOuter, X509KeyUsageFlags.NonRepudiation, null, ca, caKey, 0x43);
            ForCharon("charon-mail", "gw-a-mail.test", CharonOuter, X509KeyUsageFlags.DigitalSignature, "1.3.6.1.5.5.7.3.4", ca, caKey, 0x44);
            ForCharonSha1("charon-sha1", "gw-a-sha1.test", ca, caKey);

            State = Path.Combine(Dir, "gate");
            string setup = Path.Combine(Dir, "setup.set");
            File.WriteAllText(setup, "set security pki ca-profile test ca-identity test\n");
            Certgate("configure", "load", "set", setup);
            string caFile = Path.Combine(Dir, "ca.pem");
            File.WriteAllText(caFile, ca.ExportCertificatePem());
            Certgate("request", "security", "pki", "ca-certificate", "load", "ca-profile", "test", "filename", caFile);
            using (var key = RSA.Create(2048))
            using (X509Certificate2 cert = Issue("cg-bind.test", GateOuter, X509KeyUsageFlags.DigitalSignature, null, key, ca, caKey, 0x40))
            {
                string certFile = Path.Combine(Dir, "cg.pem");
                string keyFile = Path.Combine(Dir, "cg.key");
                File.WriteAllText(certFile, cert.ExportCertificatePem());
                WriteKey(keyFile, key);
                Certgate("request", "security", "pki", "local-certificate", "load", "certificate-id", "cg", "filename", certFile, "key", keyFile);
            }
            var crl = new CrlBuilder(ca) { ThisUpdate = DateTimeOffset.UtcNow.AddMinutes(-5), NextUpdate = DateTimeOffset.UtcNow.AddDays(1), CrlNumber = 1 };
            string crlFile = Path.Combine(Dir, "ca.crl");
            File.WriteAllBytes(crlFile, crl.Sign(caKey, HashAlgorithmName.SHA256));
            Certgate("request", "security", "pki", "crl", "load", "ca-profile", "test", "filename", crlFile);
            string setFile = Path.Combine(Dir, "gateway.set");
            File.WriteAllText(setFile, GatewayConfiguration);
            Certgate("configure", "-f", setFile);

            Charon.WriteSettings(signatureAuthentication: true);
            Charon.Start();
            Gate = Net.Start(NsGate, "dotnet", Dll, "--state", State, "gateway", "run");
            Net.WaitFor(Gate, "waiting for the peer's IKE_SA_INIT", 60);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>A next-hop service set to 10.66.0.1 with certificates and no remote-id (the gateway's address is the higher: it responds).</summary>
    private const string GatewayConfiguration = """
        set services ipsec-vpn ike proposal ike-cert authentication-method rsa-signatures
        set services ipsec-vpn ike proposal ike-cert dh-group group19
        set services ipsec-vpn ike proposal ike-cert authentication-algorithm sha-256
        set services ipsec-vpn ike proposal ike-cert encryption-algorithm aes-256-gcm
        set services ipsec-vpn ike policy ike-cert-pol version 2
        set services ipsec-vpn ike policy ike-cert-pol proposals ike-cert
        set services ipsec-vpn ike policy ike-cert-pol local-certificate cg
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

        """;

    public NetNamespaces Net { get; }

    public string Dir { get; }

    public string NsCharon { get; } = "";

    public string NsGate { get; } = "";

    public string Dll { get; } = "";

    public string State { get; } = "";

    public Charon Charon { get; } = null!;

    /// <summary>The gateway daemon, running for the whole class.</summary>
    public Process Gate { get; } = null!;

    /// <summary>charon certificate short name → its subject, as strongSwan writes it (encoded order).</summary>
    public Dictionary<string, string> Subjects { get; } = [];

    private void ForCharon(string name, string cn, string ip, X509KeyUsageFlags usage, string? eku, X509Certificate2 ca, RSA caKey, byte serial)
    {
        using var key = RSA.Create(2048);
        using X509Certificate2 cert = Issue(cn, ip, usage, eku, key, ca, caKey, serial);
        File.WriteAllText(Path.Combine(Charon.SwanctlDir, "x509", name + ".pem"), cert.ExportCertificatePem());
        WriteKey(Path.Combine(Charon.SwanctlDir, "private", name + ".pem"), key);
        Subjects[name] = $"C=CH, O=Certgate Test, CN={cn}";
    }

    /// <summary>A certificate for charon that the CA signs with SHA-1, the way a legacy CA does: <c>openssl x509 -req -sha1</c>
    /// (.NET no longer signs certificates with SHA-1). Otherwise like charon-legit: IP:10.66.0.1, digitalSignature.</summary>
    private void ForCharonSha1(string name, string cn, X509Certificate2 ca, RSA caKey)
    {
        using var key = RSA.Create(2048);
        var req = new CertificateRequest($"CN={cn}, O=Certgate Test, C=CH", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Parse(CharonOuter));
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        string work = Path.Combine(Dir, "sha1");
        Directory.CreateDirectory(work);
        File.WriteAllText(Path.Combine(work, "req.pem"), req.CreateSigningRequestPem());
        File.WriteAllText(Path.Combine(work, "ca.pem"), ca.ExportCertificatePem());
        WriteKey(Path.Combine(work, "ca.key"), caKey);
        string certFile = Path.Combine(Charon.SwanctlDir, "x509", name + ".pem");
        NetNamespaces.Run("openssl", "x509", "-req", "-in", Path.Combine(work, "req.pem"), "-CA", Path.Combine(work, "ca.pem"), "-CAkey", Path.Combine(work, "ca.key"),
            "-sha1", "-days", "30", "-set_serial", "0x45", "-copy_extensions", "copyall", "-out", certFile);
        Assert.Equal("1.2.840.113549.1.1.5", X509Certificate2.CreateFromPem(File.ReadAllText(certFile)).SignatureAlgorithm.Value);
        WriteKey(Path.Combine(Charon.SwanctlDir, "private", name + ".pem"), key);
        Subjects[name] = $"C=CH, O=Certgate Test, CN={cn}";
    }

    private static X509Certificate2 Issue(string cn, string ip, X509KeyUsageFlags usage, string? eku, RSA key, X509Certificate2 ca, RSA caKey, byte serial)
    {
        var req = new CertificateRequest($"CN={cn}, O=Certgate Test, C=CH", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Parse(ip));
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(usage, true));
        if (eku is not null)
        {
            req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(eku)], false));
        }
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(ca.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Single()));
        return req.Create(ca.SubjectName, X509SignatureGenerator.CreateForRSA(caKey, RSASignaturePadding.Pkcs1), DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), [serial]);
    }

    private static void WriteKey(string path, AsymmetricAlgorithm key)
    {
        File.WriteAllText(path, key.ExportPkcs8PrivateKeyPem());
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>Runs a certgate command on the gateway's state directory (outside the namespaces: files only).</summary>
    public string Certgate(params string[] args) => NetNamespaces.Run("dotnet", [Dll, "--state", State, "--yes", .. args]);

    public void Dispose()
    {
        if (Gate is { HasExited: false })
        {
            NetNamespaces.Stop(Gate);
        }
        Charon?.Dispose();
        Net.Dispose();
        Directory.Delete(Dir, recursive: true);
    }
}

/// <summary>
/// Peer binding at the gateway (issue #14 §2) against strongSwan charon as the peer, and as the impostor: the
/// gateway's tunnel to 10.66.0.1 has no remote-id, so only a certificate naming 10.66.0.1 as an iPAddress
/// subjectAltName, that may sign and carries no EKU foreign to IKE, is accepted. A certificate of the same CA for
/// another gateway, one without digitalSignature and one with only emailProtection are each refused with the reason
/// in the gateway's output and AUTHENTICATION_FAILED in charon's log; the legitimate peer's tunnel comes up.
/// </summary>
public sealed class PeerBindingTests(PeerBindingFixture f) : IClassFixture<PeerBindingFixture>
{
    private Charon Charon => f.Charon;

    /// <summary>charon's connection to the gateway with <paramref name="cert"/> (its subject as its ID).</summary>
    private void Configure(string cert) =>
        Charon.LoadConnection(PeerBindingFixture.CharonOuter, PeerBindingFixture.GateOuter, $$"""
                local {
                  auth = pubkey
                  certs = {{cert}}.pem
                  id = "{{f.Subjects[cert]}}"
                }
                remote {
                  auth = pubkey
                  id = "C=CH, O=Certgate Test, CN=cg-bind.test"
                }
            """, "10.77.1.0/24", "10.77.2.0/24");

    /// <summary>charon initiates with <paramref name="cert"/>: refused, the gateway says <paramref name="reason"/>, charon logs the AUTH failure.</summary>
    private void Refused(string cert, string reason)
    {
        Configure(cert);
        int logStart = Charon.Log().Length;
        (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
        try
        {
            f.Net.WaitFor(f.Gate, reason, 30);
        }
        catch (TimeoutException e)
        {
            Assert.Fail($"{e.Message}\n--- swanctl ---\n{output}\n{Charon.LogTail()}");
        }
        Assert.True(code != 0, $"swanctl --initiate with {cert} succeeded:\n{output}\n--- certgate ---\n{f.Net.OutputOf(f.Gate)}");
        string log = Charon.Log()[logStart..];
        Assert.True(log.Contains("received AUTHENTICATION_FAILED notify error", StringComparison.Ordinal),
            $"charon did not log the AUTHENTICATION_FAILED answer\n--- swanctl ---\n{output}\n{Charon.LogTail()}");
    }

    [Fact]
    public void SameCaCertificateForAnotherGateway_NoIpSanOfTheRemoteGateway_IsRefusedWithTheReason()
    {
        Refused("charon-other", "the initiator's gateway check failed: the certificate of CN=gw-c.test, O=Certgate Test, C=CH does not name 10.66.0.1 "
            + "(subjectAltName: IP:10.66.0.3); without remote-id the peer's certificate must carry the tunnel's remote-gateway as an iPAddress subjectAltName; "
            + "configure remote-id to accept it");
    }

    [Fact]
    public void CertificateWithoutDigitalSignature_IsRefusedWithTheReason()
    {
        Refused("charon-nosign", "the initiator's certificate is not accepted for IKE: certificate 'CN=gw-a-nosign.test, O=Certgate Test, C=CH' (serial 43): "
            + "its keyUsage (nonRepudiation) lacks digitalSignature");
    }

    [Fact]
    public void CertificateWithOnlyEmailProtectionEku_IsRefusedWithTheReason()
    {
        Refused("charon-mail", "the initiator's certificate is not accepted for IKE: certificate 'CN=gw-a-mail.test, O=Certgate Test, C=CH' (serial 44): "
            + "its extendedKeyUsage (emailProtection (1.3.6.1.5.5.7.3.4)) has none of ipsecIKE");
    }

    [Fact]
    public void CertificateSignedWithSha1_IsRefusedWithTheReason()
    {
        // Issue #14 §2: SHA-1 signatures on the peer's chain are refused unless security pki allow-sha1-signatures.
        Refused("charon-sha1", "the initiator's certificate (CN=gw-a-sha1.test, O=Certgate Test, C=CH) is not accepted: the certificate of "
            + "CN=gw-a-sha1.test, O=Certgate Test, C=CH is signed with SHA-1 (sha1WithRSAEncryption); set security pki allow-sha1-signatures to accept it");
    }

    [Fact]
    public void LegitimatePeer_CertificateNamingTheRemoteGateway_TunnelComesUp()
    {
        Configure("charon-legit");
        try
        {
            (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
            Assert.True(code == 0, $"swanctl --initiate exited {code}:\n{output}\n--- certgate ---\n{f.Net.OutputOf(f.Gate)}\n{Charon.LogTail()}");
            f.Net.WaitFor(f.Gate, "IKE SA up as responder with CN=gw-a.test, O=Certgate Test, C=CH", 30);
            string detail = f.Certgate("show", "services", "ipsec-vpn", "ike", "security-associations", "detail");
            Assert.Contains("Remote identity: CN=gw-a.test, O=Certgate Test, C=CH (ID_DER_ASN1_DN)", detail);
        }
        finally
        {
            Charon.TrySwanctl("--terminate", "--ike", "cg", "--force", "--timeout", "2");
        }
    }
}
