using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca;
using Certgate.Ca.Http;
using Certgate.Ca.Layout;
using Certgate.Ca.Sqlite;
using Certgate.Pki.Keys;
using Certgate.Pki.Requests;
using Certgate.Scep;

namespace Certgate.Bench.Scep;

/// <summary>
/// Side-by-side SCEP enrollment rate: the same client (Certgate's ScepClient, RSA-2048 keys generated beforehand)
/// against our CA (SQLite, Kestrel on loopback) and against micromdm <c>scepserver</c> (in a network namespace of
/// its own, since it cannot bind one address), with 1, 8 and 32 concurrent clients. Prints enrollments per second
/// for each and the ratio. Needs root (namespace) and the scep package.
/// </summary>
internal static class ScepHarness
{
    public static int Run(string[] args)
    {
        int perLevel = args.Length > 1 && args[0] == "--enrollments" && int.TryParse(args[1], out int n) ? n : 96;
        string dir = Directory.CreateTempSubdirectory("certgate-scep-bench-").FullName;
        string tag = Guid.NewGuid().ToString("N")[..5];
        string ns = $"cgb{tag}";
        Process? scepserver = null;
        try
        {
            Console.WriteLine($"SCEP harness: {perLevel} enrollments per level, RSA-2048 keys made beforehand, {Environment.ProcessorCount} CPU(s)");
            KeyPair[] keys = [.. Enumerable.Range(0, perLevel).Select(_ => KeyPair.Generate(KeyAlgorithm.Rsa, 2048))];

            // Ours.
            string caDir = Path.Combine(dir, "ca");
            CaDirectory.Init(caDir, "CN=Bench CA,O=Certgate", "rsa:2048", 30);
            CaMaterial m = CaDirectory.Load(caDir);
            SqliteCaStore store = SqliteCaStore.OpenAsync(Path.Combine(caDir, "ca.db")).GetAwaiter().GetResult();
            // A throughput measurement from one loopback address, not an abuse test: no per-address rate limit.
            var unlimited = m.Settings with { Limits = m.Settings.Limits with { Rate = new Certgate.Ca.Settings.RateLimits { PkiOperation = null, Get = null } } };
            var ca = new CertificateAuthority(unlimited, m.Certificate, store, raCertificate: m.RaCertificate);
            CaHttpServer ours = CaHttpServer.StartAsync(ca, new CaHttpOptions { Listen = new Uri("http://127.0.0.1:0") }).GetAwaiter().GetResult();

            // micromdm scepserver in a namespace behind a veth pair.
            string depot = Path.Combine(dir, "depot");
            Directory.CreateDirectory(depot);
            Sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", Path.Combine(dir, "t.key"), "-out", Path.Combine(depot, "ca.pem"), "-days", "30",
                "-subj", "/CN=micromdm bench CA", "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign,cRLSign", "-addext", "basicConstraints=critical,CA:TRUE");
            Sh("openssl", "rsa", "-in", Path.Combine(dir, "t.key"), "-traditional", "-des3", "-passout", "pass:capass", "-out", Path.Combine(depot, "ca.key"));
            Sh("ip", "netns", "add", ns);
            Sh("ip", "link", "add", $"h{tag}", "type", "veth", "peer", "name", $"n{tag}", "netns", ns);
            Sh("ip", "addr", "add", "10.253.9.1/30", "dev", $"h{tag}");
            Sh("ip", "link", "set", $"h{tag}", "up");
            Sh("ip", "-n", ns, "addr", "add", "10.253.9.2/30", "dev", $"n{tag}");
            Sh("ip", "-n", ns, "link", "set", $"n{tag}", "up");
            Sh("ip", "-n", ns, "link", "set", "lo", "up");
            var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { "netns", "exec", ns, "scepserver", "-depot", depot, "-port", "18091", "-capass", "capass", "-challenge", "secret", "-allowrenew", "0" })
            {
                psi.ArgumentList.Add(a);
            }
            scepserver = Process.Start(psi)!;
            scepserver.BeginOutputReadLine();
            scepserver.BeginErrorReadLine();
            var theirs = new Uri("http://10.253.9.2:18091/scep");
            using (var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(1) })
            {
                for (int i = 0; i < 50; i++)
                {
                    try
                    {
                        probe.GetStringAsync(theirs + "?operation=GetCACaps").GetAwaiter().GetResult();
                        break;
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        Thread.Sleep(100);
                    }
                }
            }

            foreach (int clients in new[] { 1, 8, 32 })
            {
                string[] challenges = [.. Enumerable.Range(0, perLevel).Select(_ => ca.CreateChallengeAsync(TimeSpan.FromHours(1), null, "bench").GetAwaiter().GetResult().Password)];
                (double oursRate, int oursFailed) = Measure(new Uri(ours.BaseAddress, "scep"), keys, clients, i => challenges[i]);
                (double theirRate, int theirFailed) = Measure(theirs, keys, clients, _ => "secret");
                Console.WriteLine($"{clients,2} client(s): ours {oursRate,7:0.0} enrollments/s ({oursFailed} failed), micromdm scepserver {theirRate,7:0.0}/s ({theirFailed} failed), ratio ours/theirs {oursRate / theirRate:0.00}x");
            }
            ours.DisposeAsync().AsTask().GetAwaiter().GetResult();
            store.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return 0;
        }
        finally
        {
            if (scepserver is { HasExited: false })
            {
                scepserver.Kill(entireProcessTree: true);
                scepserver.WaitForExit();
            }
            try
            {
                Sh("ip", "netns", "del", ns);
            }
            catch (InvalidOperationException)
            {
                // Not created.
            }
            Directory.Delete(dir, recursive: true);
        }
    }

    private static (double Rate, int Failed) Measure(Uri url, KeyPair[] keys, int clients, Func<int, string> challenge)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var client = new ScepClient(http, url);
        X509Certificate2Collection cas = client.GetCaCertAsync().GetAwaiter().GetResult();
        ScepCipher cipher = ScepAlgorithms.Choose(client.GetCapabilitiesAsync().GetAwaiter().GetResult()).Cipher;
        // Requests are built beforehand: the measurement is the CA's round trip, not the client's crypto setup.
        var work = new ConcurrentQueue<(int Index, byte[] Csr, X509Certificate2 Signer)>();
        for (int i = 0; i < keys.Length; i++)
        {
            var subject = new X500DistinguishedName($"CN=bench-{Guid.NewGuid():N},O=Certgate");
            byte[] csr = CertificateRequestBuilder.Create(keys[i], new CertificateRequestOptions { Subject = subject, ChallengePassword = challenge(i) });
            X509Certificate2 signer = new CertificateRequest(subject, keys[i].Rsa!, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            work.Enqueue((i, csr, signer));
        }
        int failed = 0;
        int done = 0;
        var sw = Stopwatch.StartNew();
        Task[] tasks = [.. Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            while (work.TryDequeue(out var item))
            {
                try
                {
                    ScepEnrollment r = await client.EnrollAsync(ScepMessageType.PkcsReq, item.Csr, item.Signer, cas[0], [.. cas],
                        Guid.NewGuid().ToString("N"), HashAlgorithmName.SHA256, cipher);
                    Interlocked.Increment(ref r.Certificate is null ? ref failed : ref done);
                }
                catch (ScepFormatException)
                {
                    Interlocked.Increment(ref failed);
                }
            }
        }))];
        Task.WaitAll(tasks);
        sw.Stop();
        return (done / sw.Elapsed.TotalSeconds, failed);
    }

    private static void Sh(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using Process p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {output}");
        }
    }
}
