using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Scenario.Tests;

/// <summary>
/// One pair of namespaces, one CA, one charon without RFC 7427 and one <c>certgate gateway run</c> for
/// <see cref="LegacySha1AuthTests"/>. With <c>signature_authentication = no</c> charon neither announces nor uses
/// Digital Signature AUTH, so it signs IKE_AUTH with method 1 (RSA PKCS#1 v1.5 over SHA-1, all RFC 7296 defines).
/// <code>
///   ns L: charon (kernel-libipsec), 10.66.0.1             ns G: certgate gateway run, 10.66.0.2
///   charon-legacy CN=gw-legacy.test IP:10.66.0.1          cg  CN=cg-legacy.test  IP:10.66.0.2
/// </code>
/// </summary>
public sealed class LegacySha1AuthFixture : PeerFixture
{
    public const string CharonOuter = "10.66.0.1";
    public const string GateOuter = "10.66.0.2";

    public LegacySha1AuthFixture()
        : base(CreateTestbed())
    {
        try
        {
            Charon = new Charon(Net, Testbed.NsPeer, Path.Combine(Dir, "charon"));
            Charon.TrustCa(Testbed.Ca.Certificate);
            using (var key = RSA.Create(2048))
            using (X509Certificate2 cert = Issue("gw-legacy.test", CharonOuter, key, 0x51))
            {
                Charon.AddCredential("charon-legacy", cert, key);
            }
            using (var key = RSA.Create(2048))
            using (X509Certificate2 cert = Issue("cg-legacy.test", GateOuter, key, 0x50))
            {
                Testbed.LoadLocalCertificate("cg", cert, key);
            }
            Testbed.LoadCrl();
            string setFile = Path.Combine(Dir, "gateway.set");
            File.WriteAllText(setFile, GatewayConfiguration);
            Certgate("configure", "-f", setFile);

            Charon.WriteSettings(signatureAuthentication: false);
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

    /// <summary>A next-hop service set to 10.66.0.1 with certificates (the gateway's address is the higher: it responds).</summary>
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

    public Charon Charon { get; } = null!;

    /// <summary>The gateway daemon, running for the whole class.</summary>
    public Process Gate { get; } = null!;

    private X509Certificate2 Issue(string cn, string ip, RSA key, byte serial) =>
        Testbed.Issue(cn, key, serial, new CertOptions
        {
            IpAddresses = [IPAddress.Parse(ip)],
            KeyUsage = X509KeyUsageFlags.DigitalSignature,
        });

    private static PeerTestbed CreateTestbed()
    {
        Charon.RequireInstalled();
        return new PeerTestbed("certgate-sha1auth-", "l", CharonOuter, GateOuter, "10.77.1.1", "Certgate Legacy Test CA");
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
