using System.Diagnostics;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Certgate.Pki.Revocation;

namespace Certgate.Scenario.Tests;

/// <summary>
/// One pair of namespaces, one CA and one strongSwan charon for all <see cref="StrongswanIkeTests"/> cases.
/// <code>
///   ns C: charon (kernel-libipsec)                         ns G: certgate debug ike-tunnel
///   lo 10.77.1.1/32   veth 10.66.0.1/24 ------------------ veth 10.66.0.2/24   cg0 (TUN) 10.77.2.1/32
///   ipsec0, routes in table 220                                                route 10.77.1.0/24 dev cg0
///   tunnel 10.77.1.0/24 &lt;=&gt; 10.77.2.0/24, ESP in UDP 4500 (libipsec in 5.9.8 always encapsulates)
/// </code>
/// </summary>
public sealed class StrongswanFixture : IDisposable
{
    public const string CharonOuter = "10.66.0.1";
    public const string GateOuter = "10.66.0.2";
    public const string CharonInner = "10.77.1.1";
    public const string GateInner = "10.77.2.1";

    private readonly RSA _caKey = RSA.Create(2048);

    public StrongswanFixture()
    {
        Charon.RequireInstalled();
        Dir = Directory.CreateTempSubdirectory("certgate-swan-").FullName;
        Net = new NetNamespaces();
        try
        {
            NsCharon = Net.Create("c");
            NsGate = Net.Create("g");
            Net.Link(NsCharon, CharonOuter + "/24", NsGate, GateOuter + "/24");
            NetNamespaces.Run("ip", "-n", NsCharon, "addr", "add", CharonInner + "/32", "dev", "lo");
            Dll = NetNamespaces.CertgateDll();

            Ca = MakeCa("Certgate Test Root CA", _caKey);
            using var otherKey = RSA.Create(2048);
            using X509Certificate2 otherCa = MakeCa("Some Other CA", otherKey);
            Charon = new Charon(Net, NsCharon, Path.Combine(Dir, "charon"));
            File.WriteAllText(Path.Combine(Charon.SwanctlDir, "x509ca", "ca.pem"), Ca.ExportCertificatePem());
            DateTimeOffset now = DateTimeOffset.UtcNow;
            IssueForCharon("charon-rsa", RSA.Create(2048), Ca, _caKey, 0x11, now.AddDays(-1), now.AddDays(30));
            IssueForCharon("charon-ec", ECDsa.Create(ECCurve.NamedCurves.nistP384), Ca, _caKey, 0x12, now.AddDays(-1), now.AddDays(30));
            IssueForCharon("charon-ec521", ECDsa.Create(ECCurve.NamedCurves.nistP521), Ca, _caKey, 0x16, now.AddDays(-1), now.AddDays(30));
            IssueForCharon("charon-revoked", RSA.Create(2048), Ca, _caKey, 0x13, now.AddDays(-1), now.AddDays(30));
            IssueForCharon("charon-expired", RSA.Create(2048), Ca, _caKey, 0x14, now.AddDays(-30), now.AddDays(-1));
            IssueForCharon("charon-not-yet-valid", RSA.Create(2048), Ca, _caKey, 0x17, now.AddDays(1), now.AddDays(30));
            IssueForCharon("charon-untrusted", RSA.Create(2048), otherCa, otherKey, 0x15, now.AddDays(-1), now.AddDays(30));

            State = Path.Combine(Dir, "gate");
            string setup = Path.Combine(Dir, "setup.set");
            File.WriteAllText(setup, "set security pki ca-profile test ca-identity test\n");
            Certgate("configure", "load", "set", setup);
            string caFile = Path.Combine(Dir, "ca.pem");
            File.WriteAllText(caFile, Ca.ExportCertificatePem());
            Certgate("request", "security", "pki", "ca-certificate", "load", "ca-profile", "test", "filename", caFile);
            LoadForGate("cg-rsa", RSA.Create(2048), now);
            LoadForGate("cg-ec", ECDsa.Create(ECCurve.NamedCurves.nistP256), now);
            var crl = new CrlBuilder(Ca) { ThisUpdate = now.AddMinutes(-5), NextUpdate = now.AddDays(1), CrlNumber = 1 };
            crl.AddEntry(new BigInteger(0x13), now.AddMinutes(-5), CrlReason.keyCompromise);
            string crlFile = Path.Combine(Dir, "ca.crl");
            File.WriteAllBytes(crlFile, crl.Sign(_caKey, HashAlgorithmName.SHA256));
            Certgate("request", "security", "pki", "crl", "load", "ca-profile", "test", "filename", crlFile);

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

    public X509Certificate2 Ca { get; } = null!;

    public Charon Charon { get; } = null!;

    /// <summary>Certificate subjects by short name.</summary>
    public Dictionary<string, X500DistinguishedName> Subjects { get; } = [];

    /// <summary>A DN as strongSwan writes it: RDNs in encoded order.</summary>
    public static string StrongswanDn(X500DistinguishedName dn) =>
        string.Join(", ", dn.EnumerateRelativeDistinguishedNames(reversed: false).Select(r => $"{ShortName(r.GetSingleElementType().Value)}={r.GetSingleElementValue()}"));

    private static string ShortName(string? oid) => oid switch
    {
        "2.5.4.6" => "C",
        "2.5.4.10" => "O",
        "2.5.4.3" => "CN",
        _ => throw new ArgumentException($"unexpected attribute {oid}", nameof(oid)),
    };

    // Encoded C, O, CN (the usual order); .NET's string form lists the RDNs the other way round.
    private static X500DistinguishedName Dn(string cn) => new($"CN={cn}, O=Certgate Test, C=CH");

    private static X509Certificate2 MakeCa(string cn, RSA key)
    {
        var req = new CertificateRequest(Dn(cn), key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        return req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-2), DateTimeOffset.UtcNow.AddDays(60));
    }

    private X509Certificate2 Issue(string name, AsymmetricAlgorithm key, X509Certificate2 ca, RSA caKey, byte serial, DateTimeOffset from, DateTimeOffset to)
    {
        X500DistinguishedName dn = Dn(name + ".test");
        Subjects[name] = dn;
        CertificateRequest req = key is RSA rsa
            ? new CertificateRequest(dn, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest(dn, (ECDsa)key, HashAlgorithmName.SHA256);
        // The holder's outer address as iPAddress subjectAltName: the gateway's tunnels have no remote-id, so they accept
        // only a certificate that names their remote-gateway (issue #14 §2).
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Parse(name.StartsWith("charon", StringComparison.Ordinal) ? CharonOuter : GateOuter));
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(ca.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Single()));
        return req.Create(ca.SubjectName, X509SignatureGenerator.CreateForRSA(caKey, RSASignaturePadding.Pkcs1), from, to, [serial]);
    }

    private static void WriteKey(string path, AsymmetricAlgorithm key)
    {
        File.WriteAllText(path, key.ExportPkcs8PrivateKeyPem());
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    private void IssueForCharon(string name, AsymmetricAlgorithm key, X509Certificate2 ca, RSA caKey, byte serial, DateTimeOffset from, DateTimeOffset to)
    {
        using (key)
        {
            using X509Certificate2 cert = Issue(name, key, ca, caKey, serial, from, to);
            File.WriteAllText(Path.Combine(Charon.SwanctlDir, "x509", name + ".pem"), cert.ExportCertificatePem());
            WriteKey(Path.Combine(Charon.SwanctlDir, "private", name + ".pem"), key);
        }
    }

    private void LoadForGate(string name, AsymmetricAlgorithm key, DateTimeOffset now)
    {
        using (key)
        {
            using X509Certificate2 cert = Issue(name, key, Ca, _caKey, name == "cg-rsa" ? (byte)0x21 : (byte)0x22, now.AddDays(-1), now.AddDays(30));
            string certFile = Path.Combine(Dir, name + ".pem");
            string keyFile = Path.Combine(Dir, name + ".key");
            File.WriteAllText(certFile, cert.ExportCertificatePem());
            WriteKey(keyFile, key);
            Certgate("request", "security", "pki", "local-certificate", "load", "certificate-id", name, "filename", certFile, "key", keyFile);
        }
    }

    /// <summary>charon's <c>local</c> and <c>remote</c> rounds in swanctl.conf: certificates both ways, each side's subject DN as its identity.</summary>
    public string PubkeyAuth(string charonCert, string gateCert) => $$"""
                local {
                  auth = pubkey
                  certs = {{charonCert}}.pem
                  id = "{{StrongswanDn(Subjects[charonCert])}}"
                }
                remote {
                  auth = pubkey
                  id = "{{StrongswanDn(Subjects[gateCert])}}"
                }
            """;

    /// <summary>
    /// charon with RFC 7427 signatures and the connection <c>cg</c> to the gateway's outer address: RSA certificates
    /// both ways (charon-rsa, cg-rsa), the child <c>net</c> with the given selectors, and <paramref name="moreChildren"/>.
    /// </summary>
    public void LoadRsaConnection(string localTs, string remoteTs, string moreChildren = "")
    {
        Charon.WriteSettings(signatureAuthentication: true);
        Charon.Swanctl("--reload-settings");
        Charon.LoadConnection(CharonOuter, GateOuter, PubkeyAuth("charon-rsa", "cg-rsa"), localTs, remoteTs, moreChildren: moreChildren);
    }

    /// <summary>Runs a certgate command on the gateway's state directory (outside the namespaces: files only).</summary>
    public string Certgate(params string[] args) => NetNamespaces.Run("dotnet", [Dll, "--state", State, "--yes", .. args]);


    public void Dispose()
    {
        Charon?.Dispose();
        Net.Dispose();
        _caKey.Dispose();
        Ca?.Dispose();
        Directory.Delete(Dir, recursive: true);
    }
}
