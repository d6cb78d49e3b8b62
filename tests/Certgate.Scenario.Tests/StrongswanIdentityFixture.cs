using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Revocation;

namespace Certgate.Scenario.Tests;

/// <summary>
/// One pair of namespaces, one CA and one charon for <see cref="StrongswanIdentityTests"/>. Both certificates carry
/// the gateway's outer address, a DNS name and an e-mail address in their subjectAltName.
/// <code>
///   ns C: charon (kernel-libipsec)                       ns G: certgate debug ike-tunnel
///   veth 10.66.0.1/24 ---------------------------------- veth 10.66.0.2/24   cg0 (TUN)
///   cert CN=charon-id.test: IP:10.66.0.1,                cert CN=cg-id.test: IP:10.66.0.2,
///        IP:2001:db8:66::1, DNS:charon.example.net,           IP:2001:db8:66::2, DNS:gate.example.net,
///        email:charon@example.net                             email:gate@example.net
/// </code>
/// </summary>
public sealed class StrongswanIdentityFixture : IDisposable
{
    public const string CharonOuter = "10.66.0.1";
    public const string GateOuter = "10.66.0.2";

    /// <summary>IPv6 identities in the certificates (carried over the IPv4 link: an ID names, it does not route).</summary>
    public const string CharonV6Id = "2001:db8:66::1";

    public const string GateV6Id = "2001:db8:66::2";

    public StrongswanIdentityFixture()
    {
        Charon.RequireInstalled();
        Dir = Directory.CreateTempSubdirectory("certgate-swan-id-").FullName;
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
            var caReq = new CertificateRequest("CN=Certgate Identity Test CA, O=Certgate Test, C=CH", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            caReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            caReq.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            caReq.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caReq.PublicKey, false));
            using X509Certificate2 ca = caReq.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-2), DateTimeOffset.UtcNow.AddDays(60));

            Charon = new Charon(Net, NsCharon, Path.Combine(Dir, "charon"));
            File.WriteAllText(Path.Combine(Charon.SwanctlDir, "x509ca", "ca.pem"), ca.ExportCertificatePem());
            using (var key = RSA.Create(2048))
            using (X509Certificate2 cert = Issue("charon-id.test", CharonOuter, "charon", key, ca, caKey, 0x31))
            {
                File.WriteAllText(Path.Combine(Charon.SwanctlDir, "x509", "charon.pem"), cert.ExportCertificatePem());
                WriteKey(Path.Combine(Charon.SwanctlDir, "private", "charon.pem"), key);
            }

            State = Path.Combine(Dir, "gate");
            string setup = Path.Combine(Dir, "setup.set");
            File.WriteAllText(setup, "set security pki ca-profile test ca-identity test\n");
            Certgate("configure", "load", "set", setup);
            string caFile = Path.Combine(Dir, "ca.pem");
            File.WriteAllText(caFile, ca.ExportCertificatePem());
            Certgate("request", "security", "pki", "ca-certificate", "load", "ca-profile", "test", "filename", caFile);
            using (var key = RSA.Create(2048))
            using (X509Certificate2 cert = Issue("cg-id.test", GateOuter, "gate", key, ca, caKey, 0x32))
            {
                string certFile = Path.Combine(Dir, "cg.pem");
                string keyFile = Path.Combine(Dir, "cg.key");
                File.WriteAllText(certFile, cert.ExportCertificatePem());
                WriteKey(keyFile, key);
                Certgate("request", "security", "pki", "local-certificate", "load", "certificate-id", "cg", "filename", certFile, "key", keyFile);
            }
            // An empty CRL: debug ike-tunnel checks revocation against the loaded CRLs and needs one per CA.
            var crl = new CrlBuilder(ca) { ThisUpdate = DateTimeOffset.UtcNow.AddMinutes(-5), NextUpdate = DateTimeOffset.UtcNow.AddDays(1), CrlNumber = 1 };
            string crlFile = Path.Combine(Dir, "ca.crl");
            File.WriteAllBytes(crlFile, crl.Sign(caKey, HashAlgorithmName.SHA256));
            Certgate("request", "security", "pki", "crl", "load", "ca-profile", "test", "filename", crlFile);
            Charon.WriteSettings(signatureAuthentication: true);
            Charon.Start();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public NetNamespaces Net { get; }

    public string Dir { get; }

    public string NsCharon { get; } = "";

    public string NsGate { get; } = "";

    public string Dll { get; } = "";

    public string State { get; } = "";

    public Charon Charon { get; } = null!;

    private static X509Certificate2 Issue(string cn, string ip, string name, RSA key, X509Certificate2 ca, RSA caKey, byte serial)
    {
        var req = new CertificateRequest($"CN={cn}, O=Certgate Test, C=CH", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Parse(ip));
        san.AddIpAddress(IPAddress.Parse(ip == CharonOuter ? CharonV6Id : GateV6Id));
        san.AddDnsName($"{name}.example.net");
        san.AddEmailAddress($"{name}@example.net");
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
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
        Charon?.Dispose();
        Net.Dispose();
        Directory.Delete(Dir, recursive: true);
    }
}
