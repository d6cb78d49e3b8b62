using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Bench.Crl;
using Certgate.Ca;
using Certgate.Ca.Layout;
using Certgate.Ca.Settings;
using Certgate.Ca.Sqlite;
using Certgate.Pki.Keys;
using Certgate.Pki.Requests;
using Certgate.Scep;
using Microsoft.Data.Sqlite;

namespace Certgate.Bench.Scep;

/// <summary>
/// The CA under abuse (issue #14 §5): <c>certgate ca serve</c> (its own process, the default <c>limits</c> of
/// <c>ca init</c>) while 32 bad clients send at least 10,000 bad PKIOperations — garbage bodies, requests with a wrong
/// challenge, requests with a broken signature, in turn — and 8 good clients enroll. Each client has its own loopback
/// source address (127.0.x.y, all on <c>lo</c>), as gateways and attackers have their own addresses. Prints the good
/// enrollments' rate and latency (p50/p99) without the flood and during it, what the bad clients got back, the audit
/// rows written, and the CA's RSS.
/// </summary>
internal static class CaAbuseHarness
{
    public static int Run(string[] args)
    {
        int perClient = 12, badTotal = 10_000, good = 8, bad = 32;
        bool rateLimit = true;
        string? certgate = null;
        for (int i = 0; i < args.Length; i++)
        {
            string? value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--enrollments" when int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0:
                    perClient = n;
                    break;
                case "--bad" when int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int b) && b > 0:
                    badTotal = b;
                    break;
                case "--no-rate-limit":
                    rateLimit = false;
                    i--;
                    break;
                case "--certgate" when value is not null:
                    certgate = value;
                    break;
                default:
                    Console.Error.WriteLine($"ca-abuse: unknown or invalid option '{args[i]}' (use --enrollments N per good client, --bad N, --no-rate-limit, --certgate PATH/certgate.dll)");
                    return 2;
            }
            i++;
        }
        certgate ??= CaCrlHarness.FindCertgateDll();
        if (certgate is null || !File.Exists(certgate))
        {
            Console.Error.WriteLine("ca-abuse: certgate.dll not found: build it first (dotnet build src/Certgate.Cli -c Release) or pass --certgate PATH");
            return 2;
        }
        string dir = Directory.CreateTempSubdirectory("certgate-ca-abuse-bench-").FullName;
        try
        {
            return RunIn(dir, certgate, good, bad, perClient, badTotal, rateLimit).GetAwaiter().GetResult();
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<int> RunIn(string dir, string certgate, int good, int bad, int perClient, int badTotal, bool rateLimit)
    {
        string caDir = Path.Combine(dir, "ca");
        // --no-rate-limit: the same run without the per-address PKIOperation bucket, to see what it buys.
        string settings = rateLimit ? CaSettingsFile.DefaultText
            : CaSettingsFile.DefaultText.Replace("\"pkiOperation\": { \"perMinute\": 30, \"burst\": 30 }", "\"pkiOperation\": null", StringComparison.Ordinal);
        CaMaterial m = CaDirectory.Init(caDir, "CN=Bench CA,O=Certgate", "rsa:2048", 3650, settings);
        string db = CaDirectory.ResolveDatabase(caDir, m.Settings)["sqlite:".Length..];
        CaLimits limits = m.Settings.Limits;
        Console.WriteLine($"CA abuse harness: {good} good clients x {perClient} enrollments (RSA-2048, requests made beforehand), {bad} bad clients, >= {badTotal:N0} bad requests; " +
            $"{Environment.ProcessorCount} CPU(s), .NET {Environment.Version}");
        Console.WriteLine($"limits (ca init defaults{(rateLimit ? "" : ", but --no-rate-limit")}): pkiOperation " +
            (limits.Rate.PkiOperation is { } b ? $"{b.PerMinute}/min burst {b.Burst} per address" : "unlimited") + ", " +
            $"maxConnections {limits.Http.MaxConnections}, refusal audit {limits.RefusalAudit.RowsPerInterval} rows per {limits.RefusalAudit.Interval.TotalSeconds:0} s");

        // Challenges for both phases, written to the CA's database before ca serve starts (SQLite is shared).
        string[] challenges;
        await using (SqliteCaStore store = await SqliteCaStore.OpenAsync(db))
        {
            var ca = new CertificateAuthority(m.Settings, m.Certificate, store, raCertificate: m.RaCertificate);
            challenges = new string[2 * good * perClient];
            for (int i = 0; i < challenges.Length; i++)
            {
                challenges[i] = (await ca.CreateChallengeAsync(TimeSpan.FromHours(2), null, "bench")).Password;
            }
        }
        Console.Write("making keys and requests ... ");
        var sw = Stopwatch.StartNew();
        Work[][] baseline = MakeWork(good, perClient, challenges, 0);
        Work[][] flooded = MakeWork(good, perClient, challenges, good * perClient);
        Console.WriteLine($"{sw.Elapsed.TotalSeconds:F0} s");

        using Process serve = CaCrlHarness.StartServe(certgate, caDir, out Uri baseAddress);
        try
        {
            var scep = new Uri(baseAddress, "scep");
            X509Certificate2Collection cas;
            using (var http = new HttpClient())
            {
                cas = await new ScepClient(http, scep).GetCaCertAsync();
            }
            long rowsBefore = AuditRows(db);

            Phase quiet = await RunGoodAsync(scep, cas, baseline, 1);
            Console.WriteLine($"without flood : {quiet}");
            Console.WriteLine($"ca serve RSS after the quiet phase: {CrlHarness.Mib(VmRss(serve.Id))}");

            long rowsBeforeFlood = AuditRows(db);
            using var stop = new CancellationTokenSource();
            var results = new BadResults();
            byte[][] badMessages = MakeBadMessages(cas, bad);
            var floodClock = Stopwatch.StartNew();
            Task[] attackers = [.. Enumerable.Range(0, bad).Select(c => Task.Run(() => AttackAsync(scep, Address(2, c), badMessages, c, badTotal, results, stop.Token)))];
            Phase loud = await RunGoodAsync(scep, cas, flooded, 3);
            // The flood goes on until at least badTotal requests were sent, and covers the whole good phase.
            while (Interlocked.Read(ref results.Sent) < badTotal && attackers.Any(a => !a.IsCompleted))
            {
                await Task.Delay(50);
            }
            await stop.CancelAsync();
            await Task.WhenAll(attackers);
            floodClock.Stop();
            Console.WriteLine($"during flood  : {loud}");
            Console.WriteLine($"ratio         : rate {loud.Rate / quiet.Rate:0.00}x, p99 {loud.P(0.99) / quiet.P(0.99):0.00}x");
            Console.WriteLine($"bad requests  : {results.Sent:N0} in {floodClock.Elapsed.TotalSeconds:F1} s ({results.Sent / floodClock.Elapsed.TotalSeconds:N0}/s) from {bad} addresses: " +
                $"429 {results.Limited:N0}, 400 {results.BadRequest:N0}, CertRep FAILURE {results.Failure:N0}, other {results.Other:N0}, connection errors {results.Errors:N0}");
            (long floodRows, long floodRefusals) = (AuditRows(db) - rowsBeforeFlood, AuditRows(db, "outcome = 'refused'") - AuditRows(db, "outcome = 'refused'", rowsBefore: rowsBeforeFlood));
            Console.WriteLine($"ca serve RSS  : now {CrlHarness.Mib(VmRss(serve.Id))}, peak {CrlHarness.Mib(CrlHarness.VmHwm(serve.Id))}");
            serve.StandardInput.Close(); // a closed stdin pipe stops ca serve cleanly (and writes the refusal summaries)
            if (!serve.WaitForExit(30_000))
            {
                serve.Kill();
                serve.WaitForExit();
            }
            long refusedAll = AuditRows(db, "outcome = 'refused'");
            long summaries = AuditRows(db, "event IN ('refusal-summary', 'refusals-not-recorded')");
            Console.WriteLine($"audit rows    : during the flood {floodRows:N0} ({floodRefusals:N0} refusals, the rest the good clients' issuances and challenges); " +
                $"refusal rows in all after stop {refusedAll:N0} ({summaries:N0} of them summaries) for {results.Sent:N0} bad requests");
            await using (SqliteCaStore store = await SqliteCaStore.OpenAsync(db))
            {
                var verified = await Certgate.Ca.Audit.AuditChain.VerifyAsync(store);
                Console.WriteLine($"audit chain   : {(verified.Valid ? "valid" : "BROKEN: " + verified.Problem)}, {verified.VerifiedRows:N0} rows");
            }
            return quiet.Failed + loud.Failed == 0 ? 0 : 1;
        }
        finally
        {
            if (!serve.HasExited)
            {
                serve.Kill();
                serve.WaitForExit();
            }
        }
    }

    private sealed record Work(byte[] Csr, X509Certificate2 Signer);

    private static Work[][] MakeWork(int clients, int perClient, string[] challenges, int offset)
    {
        var work = new Work[clients][];
        Parallel.For(0, clients, c =>
        {
            work[c] = new Work[perClient];
            for (int i = 0; i < perClient; i++)
            {
                KeyPair key = KeyPair.Generate(KeyAlgorithm.Rsa, 2048);
                var subject = new X500DistinguishedName($"CN=gw-{offset + c * perClient + i}.bench.example.net,O=Certgate");
                byte[] csr = CertificateRequestBuilder.Create(key, new CertificateRequestOptions { Subject = subject, ChallengePassword = challenges[offset + c * perClient + i] });
                X509Certificate2 signer = new CertificateRequest(subject, key.Rsa!, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                    .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
                work[c][i] = new Work(csr, signer);
            }
        });
        return work;
    }

    /// <summary>Per bad client three messages: garbage, a well-formed PKCSReq with a wrong challenge, and that request
    /// with a broken signature; sent in turn.</summary>
    private static byte[][] MakeBadMessages(X509Certificate2Collection cas, int clients)
    {
        var all = new byte[clients * 3][];
        Parallel.For(0, clients, c =>
        {
            using RSA key = RSA.Create(2048);
            var req = new CertificateRequest($"CN=attacker-{c}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            X509Certificate2 signer = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            var w = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
            w.WriteCharacterString(System.Formats.Asn1.UniversalTagNumber.UTF8String, "wrong-challenge-" + c);
            req.OtherRequestAttributes.Add(new AsnEncodedData("1.2.840.113549.1.9.7", w.Encode()));
            byte[] wrong = ScepClientMessages.Enrollment(req.CreateSigningRequest(), null, new ScepClientCredentials(signer, cas[0])).Der;
            byte[] forged = (byte[])wrong.Clone();
            forged[^10] ^= 0x55;
            all[3 * c] = RandomNumberGenerator.GetBytes(2000);
            all[3 * c + 1] = wrong;
            all[3 * c + 2] = forged;
        });
        return all;
    }

    private sealed class BadResults
    {
        public long Sent;
        public long Limited;
        public long BadRequest;
        public long Failure;
        public long Other;
        public long Errors;
    }

    private static async Task AttackAsync(Uri scep, IPAddress from, byte[][] messages, int client, int total, BadResults results, CancellationToken stop)
    {
        using HttpClient http = ClientFrom(from);
        var url = new Uri(scep + "?operation=PKIOperation");
        for (int i = 0; !stop.IsCancellationRequested; i++)
        {
            Interlocked.Increment(ref results.Sent);
            try
            {
                using var content = new ByteArrayContent(messages[3 * client + i % 3]);
                using HttpResponseMessage r = await http.PostAsync(url, content, stop);
                await r.Content.ReadAsByteArrayAsync(stop);
                switch (r.StatusCode)
                {
                    case HttpStatusCode.TooManyRequests:
                        Interlocked.Increment(ref results.Limited);
                        break;
                    case HttpStatusCode.BadRequest:
                        Interlocked.Increment(ref results.BadRequest);
                        break;
                    case HttpStatusCode.OK:
                        Interlocked.Increment(ref results.Failure);
                        break;
                    default:
                        Interlocked.Increment(ref results.Other);
                        break;
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                Interlocked.Decrement(ref results.Sent);
                break;
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref results.Errors);
            }
        }
    }

    private sealed record Phase(double[] Sorted, int Failed, TimeSpan Elapsed)
    {
        public double Rate => Sorted.Length / Elapsed.TotalSeconds;

        public double P(double q) => Sorted.Length == 0 ? double.NaN : Sorted[Math.Clamp((int)Math.Ceiling(q * Sorted.Length) - 1, 0, Sorted.Length - 1)];

        public override string ToString() =>
            $"{Sorted.Length} enrollments in {Elapsed.TotalSeconds:F1} s = {Rate:F1}/s, latency p50 {P(0.5):F0} ms, p99 {P(0.99):F0} ms, max {P(1):F0} ms, {Failed} failed";
    }

    private static async Task<Phase> RunGoodAsync(Uri scep, X509Certificate2Collection cas, Work[][] work, int subnet)
    {
        var latencies = new List<double>[work.Length];
        int failed = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, work.Length).Select(c => Task.Run(async () =>
        {
            var mine = latencies[c] = [];
            using HttpClient http = ClientFrom(Address(subnet, c));
            var client = new ScepClient(http, scep);
            foreach (Work w in work[c])
            {
                long start = Stopwatch.GetTimestamp();
                try
                {
                    ScepEnrollment r = await client.EnrollAsync(ScepMessageType.PkcsReq, w.Csr, w.Signer, cas[0], [.. cas],
                        Guid.NewGuid().ToString("N"), HashAlgorithmName.SHA256, ScepCipher.Aes256Cbc);
                    if (r.Certificate is null)
                    {
                        Interlocked.Increment(ref failed);
                        Console.Error.WriteLine($"good client {c}: {r.Status} {r.FailInfo} {r.FailInfoText}");
                        continue;
                    }
                    mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
                catch (ScepFormatException e)
                {
                    Interlocked.Increment(ref failed);
                    Console.Error.WriteLine($"good client {c}: {e.Message}");
                }
            }
        })));
        clock.Stop();
        return new Phase([.. latencies.SelectMany(l => l).Order()], failed, clock.Elapsed);
    }

    private static IPAddress Address(int subnet, int client) => new([127, 0, (byte)subnet, (byte)(client + 1)]);

    /// <summary>An HttpClient whose connections leave from <paramref name="from"/> (any 127/8 address works on lo).</summary>
    private static HttpClient ClientFrom(IPAddress from) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (context, ct) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(from, 0));
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    }) { Timeout = TimeSpan.FromSeconds(60) };

    private static long AuditRows(string db, string where = "1 = 1", long rowsBefore = 0)
    {
        using var c = new SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False");
        c.Open();
        using SqliteCommand cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT COUNT(*) FROM audit WHERE {where}" + (rowsBefore > 0 ? $" AND seq <= {rowsBefore}" : "");
        return (long)cmd.ExecuteScalar()!;
    }

    private static long VmRss(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
            }
        }
        return 0;
    }
}
