using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Tests.Shared.TestPki;

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
public sealed class PeerBindingFixture : PeerFixture
{
    public const string CharonOuter = "10.66.0.1";
    public const string GateOuter = "10.66.0.2";

    public PeerBindingFixture()
        : base(CreateTestbed())
    {
        try
        {
            Charon = new Charon(Net, NsCharon, Path.Combine(Dir, "charon"));
            Charon.TrustCa(Testbed.Ca.Certificate);
            ForCharon("charon-legit", "gw-a.test", CharonOuter, X509KeyUsageFlags.DigitalSignature, null, 0x41);
            ForCharon("charon-other", "gw-c.test", "10.66.0.3", X509KeyUsageFlags.DigitalSignature, null, 0x42);
            ForCharon("charon-nosign", "gw-a-nosign.test", CharonOuter, X509KeyUsageFlags.NonRepudiation, null, 0x43);
            ForCharon("charon-mail", "gw-a-mail.test", CharonOuter, X509KeyUsageFlags.DigitalSignature, "1.3.6.1.5.5.7.3.4", 0x44);
            ForCharonSha1("charon-sha1", "gw-a-sha1.test");

            using (var key = RSA.Create(2048))
            using (X509Certificate2 cert = Issue("cg-bind.test", GateOuter, X509KeyUsageFlags.DigitalSignature, null, key, 0x40))
            {
                Testbed.LoadLocalCertificate("cg", cert, key);
            }
            Testbed.LoadCrl();
            string setFile = Path.Combine(Dir, "gateway.set");
            File.WriteAllText(setFile, PeerTestbed.NextHopTunnelToPeer);
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

    public string NsCharon => Testbed.NsPeer;

    public Charon Charon { get; } = null!;

    /// <summary>The gateway daemon, running for the whole class.</summary>
    public Process Gate { get; } = null!;

    /// <summary>charon certificate short name → its subject, as strongSwan writes it (encoded order).</summary>
    public Dictionary<string, string> Subjects { get; } = [];

    private void ForCharon(string name, string cn, string ip, X509KeyUsageFlags usage, string? eku, byte serial)
    {
        using var key = RSA.Create(2048);
        using X509Certificate2 cert = Issue(cn, ip, usage, eku, key, serial);
        Charon.AddCredential(name, cert, key);
        Subjects[name] = $"C=CH, O=Certgate Test, CN={cn}";
    }

    /// <summary>A certificate for charon that the CA signs with SHA-1, the way a legacy CA does: <c>openssl x509 -req -sha1</c>
    /// (.NET no longer signs certificates with SHA-1). Otherwise like charon-legit: IP:10.66.0.1, digitalSignature.</summary>
    private void ForCharonSha1(string name, string cn)
    {
        using var key = RSA.Create(2048);
        var req = new CertificateRequest($"CN={cn}, O=Certgate Test, C=CH", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Parse(CharonOuter));
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        string work = Path.Combine(Dir, "sha1");
        Directory.CreateDirectory(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string caKeyFile = Path.Combine(work, "ca.key");
        File.WriteAllText(Path.Combine(work, "req.pem"), req.CreateSigningRequestPem());
        File.WriteAllText(Path.Combine(work, "ca.pem"), Testbed.Ca.Certificate.ExportCertificatePem());
        File.WriteAllText(caKeyFile, Testbed.Ca.Key.ExportPkcs8PrivateKeyPem());
        File.SetUnixFileMode(caKeyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        string certFile = Path.Combine(work, name + ".pem");
        NetNamespaces.Run("openssl", "x509", "-req", "-in", Path.Combine(work, "req.pem"), "-CA", Path.Combine(work, "ca.pem"), "-CAkey", caKeyFile,
            "-sha1", "-days", "30", "-set_serial", "0x45", "-copy_extensions", "copyall", "-out", certFile);
        using X509Certificate2 cert = X509Certificate2.CreateFromPem(File.ReadAllText(certFile));
        Assert.Equal("1.2.840.113549.1.1.5", cert.SignatureAlgorithm.Value);
        Charon.AddCredential(name, cert, key);
        Subjects[name] = $"C=CH, O=Certgate Test, CN={cn}";
    }

    private X509Certificate2 Issue(string cn, string ip, X509KeyUsageFlags usage, string? eku, RSA key, byte serial) =>
        Testbed.Issue(cn, key, serial, new CertOptions
        {
            IpAddresses = [IPAddress.Parse(ip)],
            KeyUsage = usage,
            ExtraExtensions = eku is null ? [] : [new X509EnhancedKeyUsageExtension([new Oid(eku)], false)],
        });

    private static PeerTestbed CreateTestbed()
    {
        Charon.RequireInstalled();
        return new PeerTestbed("certgate-binding-", "c", CharonOuter, GateOuter, "10.77.1.1", "Certgate Binding Test CA");
    }

    protected override void StopDaemons()
    {
        if (Gate is { HasExited: false })
        {
            NetNamespaces.Stop(Gate);
        }
        Charon?.Dispose();
    }
}
