using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Revocation;

namespace Certgate.Bench.Crl;

/// <summary>
/// Side-by-side CRL harness. Order of work: (1) make an RSA-2048 CA and write an N-entry CRL with
/// <see cref="CrlBuilder"/> (timed, in this process); (2) start this program again for the read phase so its peak
/// RSS is ours alone: load + signature verification, then 1,000,000 lookups (half hits, half misses);
/// (3) run <c>openssl crl -inform DER -noout -CAfile</c> on the same file; print both and the ratio.
/// </summary>
internal static class CrlHarness
{
    public const string LoadPhaseCommand = "crl-load-phase";
    private const int Lookups = 1_000_000;

    public static int Run(string[] args)
    {
        int entries = 1_000_000;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--entries" && i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= 0)
            {
                entries = n;
                i++;
            }
            else
            {
                Console.Error.WriteLine($"crl: unknown or invalid option '{args[i]}' (use --entries N)");
                return 2;
            }
        }
        string dir = Directory.CreateTempSubdirectory("certgate-crl-bench-").FullName;
        try
        {
            return RunIn(dir, entries);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int RunIn(string dir, int entries)
    {
        string crlPath = Path.Combine(dir, "bench.crl");
        string caPath = Path.Combine(dir, "ca.pem");
        using RSA key = RSA.Create(2048);
        var request = new CertificateRequest("CN=Bench CA, O=Certgate", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using X509Certificate2 ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        File.WriteAllText(caPath, ca.ExportCertificatePem() + "\n");

        Console.WriteLine($"CRL harness: {entries:N0} entries, RSA-2048 / SHA-256, {Environment.ProcessorCount} CPU(s), .NET {Environment.Version}");

        // Writer.
        GC.Collect();
        long allocBefore = GC.GetTotalAllocatedBytes(precise: true);
        var sw = Stopwatch.StartNew();
        var builder = new CrlBuilder(ca) { ThisUpdate = DateTimeOffset.UtcNow, NextUpdate = DateTimeOffset.UtcNow.AddDays(7), CrlNumber = 1 };
        Span<byte> serial = stackalloc byte[16];
        DateTimeOffset revoked = DateTimeOffset.UtcNow.AddDays(-1);
        for (int i = 0; i < entries; i++)
        {
            Serial(i, serial);
            builder.AddEntry(serial, revoked.AddSeconds(-i), (i % 3) == 0 ? CrlReason.keyCompromise : null);
        }
        TimeSpan add = sw.Elapsed;
        using (var file = new FileStream(crlPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        {
            builder.SignTo(file, key, HashAlgorithmName.SHA256);
        }
        TimeSpan write = sw.Elapsed;
        long writeAlloc = GC.GetTotalAllocatedBytes(precise: true) - allocBefore;
        long size = new FileInfo(crlPath).Length;
        Console.WriteLine($"file: {size / 1048576.0:F1} MiB");
        Console.WriteLine($"ours   write : {write.TotalMilliseconds,8:F0} ms (add entries {add.TotalMilliseconds:F0} ms, hash+sign+write {(write - add).TotalMilliseconds:F0} ms), allocated {writeAlloc / 1048576.0:F0} MiB");

        // Read phase in a fresh process so its peak RSS is only the reader's.
        (int code, string output, TimeSpan oursWall, long oursRss) = RunMeasured(SelfCommand(), [LoadPhaseCommand, crlPath, caPath, entries.ToString(CultureInfo.InvariantCulture)]);
        Console.Write(output);
        if (code != 0)
        {
            Console.Error.WriteLine($"read phase failed with exit code {code}");
            return 1;
        }
        double oursLoadMs = double.Parse(output.Split('\n').First(l => l.StartsWith("LOADVERIFYMS=", StringComparison.Ordinal))[13..], CultureInfo.InvariantCulture);

        string? openssl = FindOnPath("openssl");
        if (openssl is null)
        {
            Console.WriteLine("openssl: not installed; no comparison");
            return 0;
        }
        (int oc, string oout, TimeSpan osslWall, long osslRss) = RunMeasured([openssl], ["crl", "-inform", "DER", "-in", crlPath, "-noout", "-CAfile", caPath]);
        if (oc != 0 || !oout.Contains("verify OK", StringComparison.Ordinal))
        {
            Console.Error.WriteLine($"openssl crl failed ({oc}): {oout}");
            return 1;
        }
        Console.WriteLine($"openssl crl -noout -CAfile (load+verify): {osslWall.TotalMilliseconds,8:F0} ms wall, peak RSS {Mib(osslRss)}");
        Console.WriteLine($"ours read process (runtime start + load+verify + {Lookups:N0} lookups): {oursWall.TotalMilliseconds:F0} ms wall, peak RSS {Mib(oursRss)}");
        Console.WriteLine($"ratio load+verify: openssl / ours = {osslWall.TotalMilliseconds / oursLoadMs:F1}x; peak RSS openssl / ours = {(double)osslRss / Math.Max(1, oursRss):F1}x");
        return 0;
    }

    /// <summary>The read phase: load + verify, lookups; prints figures and its own peak RSS (VmHWM).</summary>
    public static int RunLoadPhase(string[] args)
    {
        string crlPath = args[0];
        using X509Certificate2 ca = X509CertificateLoader.LoadCertificateFromFile(args[1]);
        int entries = int.Parse(args[2], CultureInfo.InvariantCulture);
        GC.Collect();
        long allocBefore = GC.GetTotalAllocatedBytes(precise: true);
        var sw = Stopwatch.StartNew();
        byte[] der = File.ReadAllBytes(crlPath);
        TimeSpan read = sw.Elapsed;
        CertificateRevocationList crl = CertificateRevocationList.Load(der);
        TimeSpan load = sw.Elapsed;
        bool ok = crl.VerifySignature(ca);
        TimeSpan verify = sw.Elapsed;
        long alloc = GC.GetTotalAllocatedBytes(precise: true) - allocBefore;
        if (!ok || crl.Count != entries)
        {
            Console.Error.WriteLine($"bad CRL: signature {ok}, {crl.Count} entries");
            return 1;
        }
        Console.WriteLine($"ours   load  : {load.TotalMilliseconds,8:F0} ms (file read {read.TotalMilliseconds:F0} ms, parse+index {(load - read).TotalMilliseconds:F0} ms), verify {(verify - load).TotalMilliseconds:F0} ms, allocated {alloc / 1048576.0:F0} MiB incl. the {der.Length / 1048576.0:F0} MiB file");
        Console.WriteLine($"LOADVERIFYMS={verify.TotalMilliseconds.ToString("F1", CultureInfo.InvariantCulture)}");

        Span<byte> serial = stackalloc byte[16];
        // Warm-up so the timed pass runs tier-1 code (tiered JIT would otherwise time part of the loop in tier 0).
        int hits = LookupPass(crl, entries, serial, Lookups / 10);
        long lookupAlloc = GC.GetTotalAllocatedBytes(precise: true);
        sw.Restart();
        hits = LookupPass(crl, entries, serial, Lookups);
        TimeSpan lookups = sw.Elapsed;
        lookupAlloc = GC.GetTotalAllocatedBytes(precise: true) - lookupAlloc;
        Console.WriteLine($"ours   lookup: {Lookups:N0} lookups ({hits:N0} hits) in {lookups.TotalMilliseconds:F0} ms = {Lookups / lookups.TotalSeconds / 1e6:F1} M/s, allocated {lookupAlloc} bytes");
        GC.KeepAlive(crl);
        return 0;
    }

    private static int LookupPass(CertificateRevocationList crl, int entries, Span<byte> serial, int count)
    {
        int hits = 0;
        for (int i = 0; i < count; i++)
        {
            // Spread over the whole CRL (random access, as real peers' serials are).
            Serial(entries == 0 ? i : (int)((uint)(i * 7919) % (uint)entries), serial);
            if ((i & 1) == 1)
            {
                serial[1] ^= 0xFF; // a miss: that prefix is never issued
            }
            if (crl.TryGetRevocation(serial, out _))
            {
                hits++;
            }
        }
        return hits;
    }

    private static void Serial(int i, Span<byte> serial)
    {
        serial.Clear();
        serial[0] = 0x3A;
        serial[1] = 0x11;
        BitConverter.TryWriteBytes(serial[8..], (long)i * 2654435761L + 12345);
    }

    private static string[] SelfCommand()
    {
        string path = Environment.ProcessPath ?? "dotnet";
        return Path.GetFileNameWithoutExtension(path) == "dotnet" ? [path, typeof(CrlHarness).Assembly.Location] : [path];
    }

    /// <summary>Runs a program; peak RSS from /usr/bin/time -v when present, else by sampling /proc/PID/status VmHWM.</summary>
    internal static (int Code, string Output, TimeSpan Wall, long PeakRssBytes) RunMeasured(string[] command, string[] args)
    {
        bool gnuTime = File.Exists("/usr/bin/time");
        var psi = new ProcessStartInfo(gnuTime ? "/usr/bin/time" : command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (gnuTime)
        {
            psi.ArgumentList.Add("-v");
            psi.ArgumentList.Add(command[0]);
        }
        foreach (string a in command.Skip(1).Concat(args))
        {
            psi.ArgumentList.Add(a);
        }
        var sw = Stopwatch.StartNew();
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        long sampled = 0;
        while (!p.WaitForExit(5))
        {
            sampled = Math.Max(sampled, VmHwm(p.Id));
        }
        p.WaitForExit();
        TimeSpan wall = sw.Elapsed;
        string err = stderr.Result;
        long rss = sampled;
        foreach (string line in err.Split('\n'))
        {
            if (line.Contains("Maximum resident set size (kbytes):", StringComparison.Ordinal)
                && long.TryParse(line[(line.LastIndexOf(':') + 1)..].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long kb))
            {
                rss = kb * 1024;
            }
        }
        string shownErr = gnuTime ? string.Join('\n', err.Split('\n').Where(l => !l.StartsWith('\t') && !l.StartsWith("Command", StringComparison.Ordinal))) : err;
        return (p.ExitCode, stdout.Result + shownErr.Trim() + (shownErr.Trim().Length > 0 ? "\n" : ""), wall, rss);
    }

    internal static long VmHwm(int pid)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
            // The process ended between samples.
        }
        catch (UnauthorizedAccessException)
        {
        }
        return 0;
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    internal static string Mib(long bytes) => bytes > 0 ? $"{bytes / 1048576.0:F0} MiB" : "n/a";
}
