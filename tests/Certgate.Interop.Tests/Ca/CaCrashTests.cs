using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Sqlite;
using Certgate.Ca.Storage;
using Certgate.Cli;
using Certgate.Interop.Tests.Tools;
using Certgate.Pki.Keys;
using Certgate.Pki.Requests;
using Certgate.Scep;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Interop.Tests.Ca;

/// <summary>
/// <c>certgate ca serve</c> killed with SIGKILL while 8 clients enroll over SCEP, then restarted: no serial is
/// duplicated, and every certificate any client received is in the database (the certificate is recorded in the
/// transaction that allocates it, before the reply leaves).
/// </summary>
public sealed class CaCrashTests : IDisposable
{
    private readonly TempDirectory _dir = new("certgate-ca-crash-");

    public void Dispose() => _dir.Dispose();

    private static string CertgateDll()
    {
        string? root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "Certgate.slnx")))
        {
            root = Path.GetDirectoryName(root.TrimEnd('/'));
        }
        Assert.NotNull(root);
        return Path.Combine(root, "src", "Certgate.Cli", "bin", "Release", "net10.0", "certgate.dll");
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private async Task<Process> ServeAsync(string caDir, int port)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { CertgateDll(), "ca", "serve", "--dir", caDir, "--listen", $"http://127.0.0.1:{port}" })
        {
            psi.ArgumentList.Add(a);
        }
        Process p = Process.Start(psi)!;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        // Up to 30 s: on a loaded CI machine the runtime alone can take seconds to start.
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(30))
        {
            try
            {
                using HttpResponseMessage r = await http.GetAsync($"http://127.0.0.1:{port}/scep?operation=GetCACaps");
                if (r.IsSuccessStatusCode)
                {
                    return p;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }
            if (p.HasExited)
            {
                Assert.Fail("ca serve exited: " + p.StandardError.ReadToEnd());
            }
            await Task.Delay(100);
        }
        p.Kill();
        p.WaitForExit();
        throw new TimeoutException("ca serve did not answer: " + p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd());
    }

    [Fact]
    public async Task KillNine_DuringEightConcurrentEnrollments_LosesNothing()
    {
        string caDir = _dir.File("ca");
        var o = new StringWriter();
        Assert.True(CertgateCli.Run(["ca", "init", "--dir", caDir, "--subject", "CN=Crash Test CA,O=Certgate"], TextReader.Null, o, o) == 0, o.ToString());
        var challenges = new ConcurrentQueue<string>();
        for (int i = 0; i < 80; i++)
        {
            var c = new StringWriter();
            Assert.Equal(0, CertgateCli.Run(["ca", "challenge", "--dir", caDir], TextReader.Null, c, TextWriter.Null));
            challenges.Enqueue(c.ToString().Trim());
        }
        int port = FreePort();
        var url = new Uri($"http://127.0.0.1:{port}/scep");
        Process server = await ServeAsync(caDir, port);
        var received = new ConcurrentBag<X509Certificate2>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var client = new ScepClient(http, url);
        X509Certificate2Collection caCerts = await client.GetCaCertAsync();
        // A CA made by `ca init` answers with its RA and itself (issue #14 §4): requests go to the RA.
        X509Certificate2 recipient = caCerts.Single(c => c.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true });
        using var stop = new CancellationTokenSource();

        async Task Worker()
        {
            while (!stop.IsCancellationRequested && challenges.TryDequeue(out string? challenge))
            {
                using KeyPair key = KeyPair.Generate(KeyAlgorithm.Rsa, 2048);
                var subject = new X500DistinguishedName($"CN=client-{Guid.NewGuid():N},O=Certgate");
                byte[] csr = CertificateRequestBuilder.Create(key, new CertificateRequestOptions { Subject = subject, ChallengePassword = challenge });
                using X509Certificate2 signer = TestCa.SelfSigned(key.Rsa!, subject.Name, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
                try
                {
                    ScepEnrollment r = await client.EnrollAsync(ScepMessageType.PkcsReq, csr, signer, recipient, [.. caCerts], ScepClient.TransactionIdFor(signer.PublicKey),
                        HashAlgorithmName.SHA256, ScepCipher.Aes256Cbc, stop.Token);
                    if (r.Certificate is not null)
                    {
                        received.Add(r.Certificate);
                    }
                }
                catch (Exception e) when (e is ScepFormatException or OperationCanceledException or HttpRequestException)
                {
                    // The server died under this request: the client got nothing, which is fine.
                }
            }
        }

        Task[] workers = [.. Enumerable.Range(0, 8).Select(_ => Task.Run(Worker))];
        // Let a good number of enrollments complete, then SIGKILL the server mid-flight.
        for (int i = 0; i < 100 && received.Count < 10; i++)
        {
            await Task.Delay(100);
        }
        server.Kill();
        await server.WaitForExitAsync();
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        Assert.True(received.Count >= 1, "no enrollment completed before the kill");

        // Restart: it must come up on the same database and keep serving.
        Process again = await ServeAsync(caDir, port);
        again.StandardInput.Close();
        Assert.True(again.WaitForExit(15_000), "ca serve did not stop when its stdin closed");

        await using SqliteCaStore store = await SqliteCaStore.OpenAsync(Path.Combine(caDir, "ca.db"));
        IReadOnlyList<CertificateRecord> inDb = await store.ListCertificatesAsync(0, 10_000);
        Assert.Equal(inDb.Count, inDb.Select(c => c.Serial).Distinct(StringComparer.OrdinalIgnoreCase).Count());
        var serials = new HashSet<string>(inDb.Select(c => c.Serial.ToUpperInvariant()));
        foreach (X509Certificate2 cert in received)
        {
            Assert.Contains(cert.SerialNumber.TrimStart('0').ToUpperInvariant(), serials.Select(s => s.TrimStart('0')));
        }
    }
}
