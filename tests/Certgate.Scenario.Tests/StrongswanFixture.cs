using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Scenario.Tests;

/// <summary>
/// One pair of namespaces, one CA and one strongSwan charon, shared by the classes of <see cref="StrongswanIkeCollection"/>
/// (and, another instance, of <see cref="StrongswanGatewayCollection"/>; <see cref="Ipv6Tests"/> has its own).
/// <code>
///   ns C: charon (kernel-libipsec)                         ns G: certgate debug ike-tunnel
///   lo 10.77.1.1/32   veth 10.66.0.1/24 ------------------ veth 10.66.0.2/24   cg0 (TUN) 10.77.2.1/32
///   ipsec0, routes in table 220                                                route 10.77.1.0/24 dev cg0
///   tunnel 10.77.1.0/24 &lt;=&gt; 10.77.2.0/24, ESP in UDP 4500 (libipsec in 5.9.8 always encapsulates)
/// </code>
/// </summary>
public sealed class StrongswanFixture : PeerFixture
{
    public const string CharonOuter = "10.66.0.1";
    public const string GateOuter = "10.66.0.2";
    public const string CharonInner = "10.77.1.1";
    public const string GateInner = "10.77.2.1";

    public StrongswanFixture()
        : base(CreateTestbed())
    {
        try
        {
            using TestCa otherCa = PeerTestbed.CreateCa("Some Other CA");
            Charon = new Charon(Net, NsCharon, Path.Combine(Dir, "charon"));
            Charon.TrustCa(Ca);
            DateTimeOffset now = DateTimeOffset.UtcNow;
            IssueForCharon("charon-rsa", RSA.Create(2048), 0x11);
            IssueForCharon("charon-ec", ECDsa.Create(ECCurve.NamedCurves.nistP384), 0x12);
            IssueForCharon("charon-ec521", ECDsa.Create(ECCurve.NamedCurves.nistP521), 0x16);
            IssueForCharon("charon-revoked", RSA.Create(2048), 0x13);
            IssueForCharon("charon-expired", RSA.Create(2048), 0x14, new CertOptions { NotBefore = now.AddDays(-30), NotAfter = now.AddDays(-1) });
            IssueForCharon("charon-not-yet-valid", RSA.Create(2048), 0x17, new CertOptions { NotBefore = now.AddDays(1), NotAfter = now.AddDays(30) });
            IssueForCharon("charon-untrusted", RSA.Create(2048), 0x15, issuer: otherCa);

            LoadForGate("cg-rsa", RSA.Create(2048), 0x21);
            LoadForGate("cg-ec", ECDsa.Create(ECCurve.NamedCurves.nistP256), 0x22);
            Testbed.LoadCrl(0x13);

            Charon.Start();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string NsCharon => Testbed.NsPeer;

    public X509Certificate2 Ca => Testbed.Ca.Certificate;

    public Charon Charon { get; } = null!;

    /// <summary>Certificate subjects by short name.</summary>
    public Dictionary<string, X500DistinguishedName> Subjects { get; } = [];

    /// <summary>A DN as strongSwan writes it: RDNs in encoded order.</summary>
    public static string StrongswanDn(X500DistinguishedName dn) => PeerTestbed.PeerDn(dn);

    /// <summary>
    /// A certificate NAME.test of the CA (or of <paramref name="issuer"/>). It carries the holder's outer address as
    /// iPAddress subjectAltName: the gateway's tunnels have no remote-id, so they accept only a certificate that names
    /// their remote-gateway (issue #14 §2).
    /// </summary>
    private X509Certificate2 Issue(string name, AsymmetricAlgorithm key, byte serial, CertOptions? options, TestCa? issuer)
    {
        Subjects[name] = PeerTestbed.Dn(name + ".test");
        options ??= new CertOptions();
        options = options with { IpAddresses = [IPAddress.Parse(name.StartsWith("charon", StringComparison.Ordinal) ? CharonOuter : GateOuter)] };
        return Testbed.Issue(name + ".test", key, serial, options, issuer);
    }

    private void IssueForCharon(string name, AsymmetricAlgorithm key, byte serial, CertOptions? options = null, TestCa? issuer = null)
    {
        using (key)
        {
            using X509Certificate2 cert = Issue(name, key, serial, options, issuer);
            Charon.AddCredential(name, cert, key);
        }
    }

    private void LoadForGate(string name, AsymmetricAlgorithm key, byte serial)
    {
        using (key)
        {
            using X509Certificate2 cert = Issue(name, key, serial, null, null);
            Testbed.LoadLocalCertificate(name, cert, key);
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

    private static PeerTestbed CreateTestbed()
    {
        Charon.RequireInstalled();
        return new PeerTestbed("certgate-swan-", "c", CharonOuter, GateOuter, CharonInner, "Certgate Test Root CA");
    }

    protected override void StopDaemons() => Charon?.Dispose();
}
