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
/// one setup.
/// <para>
/// With <c>--role initiator|responder</c> each end is its own process on a real address (bench/ike-setups.sh runs
/// them in the same two network namespaces, over the same veth, as the two strongSwan charons it compares with), with
/// certificates from files: <c>--local IP [--remote IP] --cert PEM --key PEM --ca PEM --setups N</c>. The responder
/// serves 10 warm-up setups and N measured ones on UDP 500 and prints "ready" once it listens; the initiator does the
/// same number and prints the result line.
/// </para>
/// </summary>
internal static class IkeSetupHarness
{
    private const int WarmUp = 10;

    public static async Task<int> Run(string[] args)
    {
        Dictionary<string, string> options = [];
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            options[args[i]] = args[i + 1];
        }
        int count = options.TryGetValue("--setups", out string? n) ? int.Parse(n, CultureInfo.InvariantCulture) : 200;
        if (options.TryGetValue("--role", out string? role))
        {
            return role switch
            {
                "initiator" => await Initiator(options, count).ConfigureAwait(false),
                "responder" => await Responder(options, count).ConfigureAwait(false),
                _ => throw new ArgumentException($"ike-setups --role '{role}': expected initiator or responder"),
            };
        }
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
        Report(count, clock.Elapsed.TotalSeconds);
        return 0;
    }

    private static void Report(int count, double seconds) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"certgate {count} setups in {seconds:F2} s: {count / seconds:F1} setups/s, {seconds * 1000 / count:F2} ms per setup"));

    private static string Need(Dictionary<string, string> options, string name) =>
        options.TryGetValue(name, out string? value) ? value : throw new ArgumentException($"ike-setups --role needs {name}");

    /// <summary>This end's certificate and key, the CA, and the selectors of bench/ike-setups.sh (10.99.1/24 at the initiator, 10.99.2/24 at the responder).</summary>
    private static IkePeerConfig FileConfig(Dictionary<string, string> options, bool initiator)
    {
        X509Certificate2 cert = X509Certificate2.CreateFromPemFile(Need(options, "--cert"), Need(options, "--key"));
        X509Certificate2 ca = X509Certificate2.CreateFromPem(File.ReadAllText(Need(options, "--ca")));
        var netA = new Payloads.TrafficSelector(0, 0, 65535, IPAddress.Parse("10.99.1.0"), IPAddress.Parse("10.99.1.255"));
        var netB = new Payloads.TrafficSelector(0, 0, 65535, IPAddress.Parse("10.99.2.0"), IPAddress.Parse("10.99.2.255"));
        IkePeerConfig config = initiator ? new IkePeerConfig(cert, [ca], null, netA, netB) : new IkePeerConfig(cert, [ca], null, netB, netA);
        return config with { Counters = new IkeCounters() };
    }

    private static async Task<int> Responder(Dictionary<string, string> options, int count)
    {
        IkePeerConfig config = FileConfig(options, initiator: false);
        using var socket = new UdpClient(new IPEndPoint(IPAddress.Parse(Need(options, "--local")), 500));
        Console.WriteLine("ready");
        for (int i = 0; i < WarmUp + count; i++)
        {
            await IkeHandshake.RespondAsync(socket, config).ConfigureAwait(false);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"responder served {WarmUp + count} setups"));
        return 0;
    }

    private static async Task<int> Initiator(Dictionary<string, string> options, int count)
    {
        IkePeerConfig config = FileConfig(options, initiator: true);
        using var socket = new UdpClient(new IPEndPoint(IPAddress.Parse(Need(options, "--local")), 500));
        var remote = new IPEndPoint(IPAddress.Parse(Need(options, "--remote")), 500);
        for (int i = 0; i < WarmUp; i++)
        {
            await IkeHandshake.InitiateAsync(socket, remote, config).ConfigureAwait(false);
        }
        var times = new double[count];
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await IkeHandshake.InitiateAsync(socket, remote, config).ConfigureAwait(false);
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        double seconds = clock.Elapsed.TotalSeconds;
        Array.Sort(times);
        // The spread shows whether a slow run is the shared machine (all slower) or a few stalls (a long tail).
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"per setup: p50 {times[count / 2]:F2} ms, p90 {times[count * 9 / 10]:F2} ms, p99 {times[Math.Min(count - 1, count * 99 / 100)]:F2} ms, max {times[^1]:F2} ms; initiator {config.Counters}"));
        Report(count, seconds);
        return 0;
    }

    private static async Task Setup(UdpClient initiator, UdpClient responder, IPEndPoint to, IkePeerConfig i, IkePeerConfig r)
    {
        Task<ChildSa> respond = IkeHandshake.RespondAsync(responder, r);
        ChildSa mine = await IkeHandshake.InitiateAsync(initiator, to, i).ConfigureAwait(false);
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
