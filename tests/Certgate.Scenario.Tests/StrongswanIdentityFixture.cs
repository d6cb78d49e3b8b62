using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Tests.Shared.TestPki;

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
public sealed class StrongswanIdentityFixture : PeerFixture
{
    public const string CharonOuter = "10.66.0.1";
    public const string GateOuter = "10.66.0.2";

    /// <summary>IPv6 identities in the certificates (carried over the IPv4 link: an ID names, it does not route).</summary>
    public const string CharonV6Id = "2001:db8:66::1";

    public const string GateV6Id = "2001:db8:66::2";

    public StrongswanIdentityFixture()
        : base(CreateTestbed())
    {
        try
        {
            Charon = new Charon(Net, NsCharon, Path.Combine(Dir, "charon"));
            Charon.TrustCa(Testbed.Ca.Certificate);
            using (var key = RSA.Create(2048))
            using (X509Certificate2 cert = Issue("charon-id.test", CharonOuter, "charon", key, 0x31))
            {
                Charon.AddCredential("charon", cert, key);
            }
            using (var key = RSA.Create(2048))
            using (X509Certificate2 cert = Issue("cg-id.test", GateOuter, "gate", key, 0x32))
            {
                Testbed.LoadLocalCertificate("cg", cert, key);
            }
            // An empty CRL: debug ike-tunnel checks revocation against the loaded CRLs and needs one per CA.
            Testbed.LoadCrl();
            Charon.WriteSettings(signatureAuthentication: true);
            Charon.Start();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string NsCharon => Testbed.NsPeer;

    public Charon Charon { get; } = null!;

    /// <summary>A certificate with the holder's outer address, its IPv6 identity, NAME.example.net and NAME@example.net as subjectAltName.</summary>
    private X509Certificate2 Issue(string cn, string ip, string name, RSA key, byte serial) =>
        Testbed.Issue(cn, key, serial, new CertOptions
        {
            IpAddresses = [IPAddress.Parse(ip), IPAddress.Parse(ip == CharonOuter ? CharonV6Id : GateV6Id)],
            DnsNames = [$"{name}.example.net"],
            Emails = [$"{name}@example.net"],
        });

    private static PeerTestbed CreateTestbed()
    {
        Charon.RequireInstalled();
        return new PeerTestbed("certgate-swan-id-", "c", CharonOuter, GateOuter, "10.77.1.1", "Certgate Identity Test CA");
    }

    protected override void StopDaemons() => Charon?.Dispose();
}
