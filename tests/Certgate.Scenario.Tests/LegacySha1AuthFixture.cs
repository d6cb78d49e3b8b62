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
            File.WriteAllText(setFile, PeerTestbed.NextHopTunnelToPeer);
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
