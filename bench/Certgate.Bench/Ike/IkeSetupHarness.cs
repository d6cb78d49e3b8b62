using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;

namespace Certgate.Bench.Ike;

/// <summary>
/// <c>ike-setups</c>: sequential IKE_SA + CHILD_SA setups between two Certgate endpoints on loopback in one process
/// (IKE_SA_INIT + IKE_AUTH with RSA-2048 certificates from one CA, RFC 7427 signatures, the peer's chain validated;
/// AES-GCM-16-256 / PRF-HMAC-SHA-256 / ECP-256 and an AES-GCM ESP child). Prints setups per second and the mean time of
/// one setup. bench/ike-setups.sh runs it beside two strongSwan charons doing the same in two namespaces.
/// </summary>
internal static class IkeSetupHarness
{
    public static async Task<int> Run(string[] args)
    {
        int count = args.Length > 1 && args[0] == "--setups" ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200;
        using RSA caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=Bench Root CA,O=Certgate Bench", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using X509Certificate2 ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        using X509Certificate2 a = Leaf(ca, "CN=gw-a.bench,O=Certgate Bench", 1);
        using X509Certificate2 b = Leaf(ca, "CN=gw-b.bench,O=Certgate Bench", 2);
        var netA = new Payloads.TrafficSelector(0, 0, 65535, IPAddress.Parse("10.99.1.0"), IPAddress.Parse("10.99.1.255"));
        var netB = new Payloads.TrafficSelector(0, 0, 65535, IPAddress.Parse("10.99.2.0"), IPAddress.Parse("10.99.2.255"));
        var initiatorConfig = new IkePeerConfig(a, [ca], null, netA, netB);
        var responderConfig = new IkePeerConfig(b, [ca], null, netB, netA);
        using var initiator = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var responder = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var responderEndpoint = (IPEndPoint)responder.Client.LocalEndPoint!;

        for (int i = 0; i < 10; i++)
        {
            await Setup(initiator, responder, responderEndpoint, initiatorConfig, responderConfig).ConfigureAwait(false);
        }
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            await Setup(initiator, responder, responderEndpoint, initiatorConfig, responderConfig).ConfigureAwait(false);
        }
        double seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"certgate {count} setups in {seconds:F2} s: {count / seconds:F1} setups/s, {seconds * 1000 / count:F2} ms per setup"));
        return 0;
    }

    private static async Task Setup(UdpClient initiator, UdpClient responder, IPEndPoint to, IkePeerConfig i, IkePeerConfig r)
    {
        Task<ChildSa> respond = IkeSession.RespondAsync(responder, r);
        ChildSa mine = await IkeSession.InitiateAsync(initiator, to, i).ConfigureAwait(false);
        ChildSa theirs = await respond.ConfigureAwait(false);
        if (mine.OutboundSpi != theirs.InboundSpi || mine.InboundSpi != theirs.OutboundSpi)
        {
            throw new InvalidOperationException("the two ends disagree on the child SA's SPIs");
        }
    }

    private static X509Certificate2 Leaf(X509Certificate2 ca, string subject, int serial)
    {
        using RSA key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using X509Certificate2 cert = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), [(byte)serial]);
        return cert.CopyWithPrivateKey(key);
    }
}
