using System.Diagnostics;
using System.Globalization;
using System.Net;
using Certgate.Ca;
using Certgate.Ca.Layout;
using Certgate.Ca.Settings;
using Certgate.Ca.Sqlite;
using Certgate.Ca.Storage;
using Certgate.Pki.Revocation;
using Microsoft.Data.Sqlite;

namespace Certgate.Bench.Crl;

/// <summary>
/// Our CA with a 1,000,000-entry CRL. Order of work: (1) <c>ca init</c> layout (RSA-2048, SQLite); (2) bulk-insert N
/// revoked certificate rows in one transaction (timed apart: it is set-up, not the CA's work); (3) the CA builds and
/// stores the CRL — <c>certgate ca crl</c> as its own process (wall time and peak RSS), then once more in this process
/// (time and allocation of <see cref="CertificateAuthority.GenerateCrlAsync"/> alone); (4) <c>certgate ca serve</c>
/// serves it to 1..C concurrent HttpClient clients for S seconds each: requests/s, MiB/s and latency for full GETs,
/// then for conditional GETs with the ETag (304); the server's peak RSS at the end.
/// </summary>
internal static class CaCrlHarness
{
    public static int Run(string[] args)
    {
        int entries = 1_000_000, seconds = 10;
        int[] clients = [1, 8, 32];
        string? certgate = null;
        for (int i = 0; i < args.Length; i++)
        {
            string? value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--entries" when int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= 0:
                    entries = n;
                    break;
                case "--seconds" when int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int s) && s > 0:
                    seconds = s;
                    break;
                case "--clients" when value is not null && value.Split(',').All(c => int.TryParse(c, NumberStyles.Integer, CultureInfo.InvariantCulture, out int k) && k > 0):
                    clients = [.. value.Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture))];
                    break;
                case "--certgate" when value is not null:
                    certgate = value;
                    break;
                default:
                    Console.Error.WriteLine($"ca-crl: unknown or invalid option '{args[i]}' (use --entries N, --clients 1,8,32, --seconds S, --certgate PATH/certgate.dll)");
                    return 2;
            }
            i++;
        }
        certgate ??= FindCertgateDll();
        if (certgate is null || !File.Exists(certgate))
        {
            Console.Error.WriteLine("ca-crl: certgate.dll not found: build it first (dotnet build src/Certgate.Cli -c Release) or pass --certgate PATH");
            return 2;
        }
        string dir = Directory.CreateTempSubdirectory("certgate-ca-crl-bench-").FullName;
        try
        {
            return RunIn(dir, entries, clients, seconds, certgate).GetAwaiter().GetResult();
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<int> RunIn(string dir, int entries, int[] clients, int seconds, string certgate)
    {
        string caDir = Path.Combine(dir, "ca");
        // A throughput measurement from one loopback address, not an abuse test: no per-address rate limit for GETs.
        const string getBucket = "\"get\": { \"perMinute\": 600, \"burst\": 120 }";
        CaMaterial m = CaDirectory.Init(caDir, "CN=Bench CA,O=Certgate", "rsa:2048", 3650, CaSettingsFile.DefaultText.Replace(getBucket, "\"get\": null", StringComparison.Ordinal));
        string db = CaDirectory.ResolveDatabase(caDir, m.Settings)["sqlite:".Length..];
        Console.WriteLine($"CA CRL harness: {entries:N0} revoked certificates, CA RSA-2048 / SHA-256, SQLite, {Environment.ProcessorCount} CPU(s), .NET {Environment.Version}");

        // (2) Set-up: one transaction, one prepared INSERT (not N `ca revoke` calls). The der column holds a 1-octet
        // placeholder: the CRL build reads serial, revoked_at and reason only.
        var sw = Stopwatch.StartNew();
        await using (SqliteCaStore store = await SqliteCaStore.OpenAsync(db))
        {
            BulkRevoke(db, entries);
        }
        Console.WriteLine($"bulk insert : {entries:N0} revoked rows in {sw.Elapsed.TotalSeconds:F1} s ({entries / sw.Elapsed.TotalSeconds:N0} rows/s); database {new FileInfo(db).Length / 1048576.0:F0} MiB");

        // (3a) certgate ca crl in its own process: what an operator waits for, and its peak memory.
        string crlFile = Path.Combine(dir, "ca.crl");
        (int code, string output, TimeSpan wall, long rss) = CrlHarness.RunMeasured(["dotnet", certgate], ["ca", "crl", "--dir", caDir, "--out", crlFile]);
        if (code != 0)
        {
            Console.Error.WriteLine($"certgate ca crl failed ({code}): {output}");
            return 1;
        }
        byte[] der = File.ReadAllBytes(crlFile);
        CertificateRevocationList crl = CertificateRevocationList.Load(der);
        if (crl.Count != entries || !crl.VerifySignature(m.Certificate))
        {
            Console.Error.WriteLine($"bad CRL from ca crl: {crl.Count} entries, signature {crl.VerifySignature(m.Certificate)}");
            return 1;
        }
        Console.WriteLine($"ca crl      : {wall.TotalMilliseconds,7:F0} ms wall (process incl. runtime start), peak RSS {CrlHarness.Mib(rss)}; CRL {der.Length / 1048576.0:F1} MiB, number {crl.CrlNumber}");

        // (3b) The same build in this process: the CA's work alone (read revoked rows, sign, store).
        await using (SqliteCaStore store = await SqliteCaStore.OpenAsync(db))
        {
            var ca = new CertificateAuthority(m.Settings, m.Certificate, store);
            GC.Collect();
            long alloc = GC.GetTotalAllocatedBytes(precise: true);
            sw.Restart();
            IReadOnlyList<Certgate.Pki.Revocation.RevokedEntry> revoked = await store.ListRevokedAsync();
            TimeSpan list = sw.Elapsed;
            CrlRecord again = await ca.GenerateCrlAsync("bench");
            TimeSpan build = sw.Elapsed;
            alloc = GC.GetTotalAllocatedBytes(precise: true) - alloc;
            Console.WriteLine($"GenerateCrl : {(build - list).TotalMilliseconds,7:F0} ms in-process (read {revoked.Count:N0} rows + sign + store CRL {again.Number}); reading the rows alone {list.TotalMilliseconds:F0} ms; allocated {alloc / 1048576.0:F0} MiB");
        }
        SqliteConnection.ClearAllPools();

        // (4) certgate ca serve.
        using Process serve = StartServe(certgate, caDir, out Uri baseAddress);
        try
        {
            var crlUrl = new Uri(baseAddress, "crl/ca.crl");
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = clients.Max(), PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
            using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };
            sw.Restart();
            using HttpResponseMessage first = await http.GetAsync(crlUrl);
            byte[] served = await first.Content.ReadAsByteArrayAsync();
            Console.WriteLine($"first GET   : {sw.Elapsed.TotalMilliseconds,7:F0} ms ({served.Length / 1048576.0:F1} MiB, {(int)first.StatusCode})");
            CertificateRevocationList servedCrl = CertificateRevocationList.Load(served);
            string etag = first.Headers.ETag?.Tag ?? "";
            if (first.StatusCode != HttpStatusCode.OK || servedCrl.Count != entries || etag.Length == 0)
            {
                Console.Error.WriteLine($"serve: status {(int)first.StatusCode}, {servedCrl.Count} entries, ETag '{etag}'");
                return 1;
            }
            Console.WriteLine($"HTTP load   : {seconds} s per row; client and server on the same {Environment.ProcessorCount} CPU(s), loopback");
            foreach (int n in clients)
            {
                Load full = await RunLoadAsync(http, crlUrl, null, n, TimeSpan.FromSeconds(seconds));
                Console.WriteLine($"  GET  {n,3} clients: {full.PerSecond,8:F1} req/s {full.Bytes / 1048576.0 / full.Elapsed.TotalSeconds,7:F0} MiB/s  latency p50 {full.P(0.50),7:F1} ms  p99 {full.P(0.99),7:F1} ms  max {full.P(1),7:F1} ms  ({full.Count} x 200{(full.Errors > 0 ? $", {full.Errors} errors" : "")})");
            }
            foreach (int n in clients)
            {
                Load cond = await RunLoadAsync(http, crlUrl, etag, n, TimeSpan.FromSeconds(seconds));
                Console.WriteLine($"  304  {n,3} clients: {cond.PerSecond,8:F0} req/s             latency p50 {cond.P(0.50),7:F2} ms  p99 {cond.P(0.99),7:F2} ms  max {cond.P(1),7:F1} ms  ({cond.Count} x 304{(cond.Errors > 0 ? $", {cond.Errors} errors" : "")})");
            }
            Console.WriteLine($"ca serve    : peak RSS {CrlHarness.Mib(CrlHarness.VmHwm(serve.Id))}");
        }
        finally
        {
            serve.StandardInput.Close(); // a closed stdin pipe stops ca serve cleanly
            if (!serve.WaitForExit(15_000))
            {
                serve.Kill();
                serve.WaitForExit();
            }
        }
        return 0;
    }

    private static void BulkRevoke(string db, int entries)
    {
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = db, Pooling = false }.ToString());
        c.Open();
        using SqliteTransaction tx = c.BeginTransaction();
        using SqliteCommand cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT INTO certificates (serial, subject, not_before, not_after, der, profile, pubkey_sha256, transaction_id, issued_at, revoked_at, revocation_reason) "
            + "VALUES (@s, @subj, @nb, @na, @der, 'default', @k, NULL, @nb, @ra, @rr)";
        SqliteParameter serial = cmd.Parameters.Add("@s", SqliteType.Text), subject = cmd.Parameters.Add("@subj", SqliteType.Text),
            notBefore = cmd.Parameters.Add("@nb", SqliteType.Integer), notAfter = cmd.Parameters.Add("@na", SqliteType.Integer),
            derParam = cmd.Parameters.Add("@der", SqliteType.Blob), key = cmd.Parameters.Add("@k", SqliteType.Text),
            revokedAt = cmd.Parameters.Add("@ra", SqliteType.Integer), reason = cmd.Parameters.Add("@rr", SqliteType.Integer);
        cmd.Prepare();
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        derParam.Value = new byte[] { 0 };
        notAfter.Value = now + (long)TimeSpan.FromDays(365).TotalMilliseconds;
        var rng = new Random(1);
        byte[] bytes = new byte[16];
        for (int i = 0; i < entries; i++)
        {
            rng.NextBytes(bytes);
            bytes[0] = (byte)(bytes[0] & 0x7F | 0x40); // positive, 16 octets, like the CA's own serials
            serial.Value = Convert.ToHexString(bytes);
            subject.Value = "CN=bench-" + i.ToString(CultureInfo.InvariantCulture);
            notBefore.Value = now - (long)TimeSpan.FromDays(30).TotalMilliseconds;
            key.Value = serial.Value;
            revokedAt.Value = now - i; // distinct revocation times, the CRL's order
            reason.Value = i % 3 == 0 ? (long)CrlReason.keyCompromise : (long)CrlReason.unspecified;
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    internal static Process StartServe(string certgate, string caDir, out Uri baseAddress)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { certgate, "ca", "serve", "--dir", caDir, "--listen", "http://127.0.0.1:0" })
        {
            psi.ArgumentList.Add(a);
        }
        Process p = Process.Start(psi)!;
        p.ErrorDataReceived += (_, _) => { };
        p.BeginErrorReadLine();
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null && !line.StartsWith("Listening on ", StringComparison.Ordinal))
        {
        }
        if (line is null)
        {
            p.WaitForExit();
            throw new InvalidOperationException($"ca serve exited {p.ExitCode} before listening");
        }
        baseAddress = new Uri(line["Listening on ".Length..].Trim());
        _ = p.StandardOutput.ReadToEndAsync();
        return p;
    }

    /// <summary>Requests per client in a closed loop for <paramref name="duration"/>; full bodies are read to the end.</summary>
    private static async Task<Load> RunLoadAsync(HttpClient http, Uri url, string? etag, int clients, TimeSpan duration)
    {
        var latencies = new List<double>[clients];
        long bytes = 0;
        int errors = 0;
        var total = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var mine = latencies[c] = new List<double>();
            byte[] buffer = new byte[1 << 16];
            while (total.Elapsed < duration)
            {
                long start = Stopwatch.GetTimestamp();
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                if (etag is not null)
                {
                    request.Headers.TryAddWithoutValidation("If-None-Match", etag);
                }
                using HttpResponseMessage r = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                await using Stream body = await r.Content.ReadAsStreamAsync();
                long n = 0;
                int k;
                while ((k = await body.ReadAsync(buffer)) > 0)
                {
                    n += k;
                }
                bool ok = etag is null ? r.StatusCode == HttpStatusCode.OK : r.StatusCode == HttpStatusCode.NotModified;
                if (!ok)
                {
                    Interlocked.Increment(ref errors);
                    continue;
                }
                Interlocked.Add(ref bytes, n);
                mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        })));
        double[] all = [.. latencies.SelectMany(l => l).Order()];
        return new Load(all, bytes, errors, total.Elapsed);
    }

    private sealed record Load(double[] Sorted, long Bytes, int Errors, TimeSpan Elapsed)
    {
        public int Count => Sorted.Length;

        public double PerSecond => Count / Elapsed.TotalSeconds;

        public double P(double q) => Count == 0 ? double.NaN : Sorted[Math.Min(Count - 1, (int)Math.Ceiling(q * Count) - 1 < 0 ? 0 : (int)Math.Ceiling(q * Count) - 1)];
    }

    internal static string? FindCertgateDll()
    {
        string? root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "Certgate.slnx")))
        {
            root = Path.GetDirectoryName(root.TrimEnd('/'));
        }
        return root is null ? null : Path.Combine(root, "src", "Certgate.Cli", "bin", "Release", "net10.0", "certgate.dll");
    }
}
