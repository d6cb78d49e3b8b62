using System.Diagnostics;
using System.Text;
using Certgate.Cli;

namespace Certgate.Interop.Tests.Ca;

/// <summary>
/// <c>certgate ca serve</c> as a child process (the built <c>certgate.dll</c>) on 127.0.0.1 and a port it picks
/// itself (it prints "Listening on URL"). Its standard input is a pipe: dispose closes it, which stops the server
/// cleanly; a server that does not stop within 15 s is killed by its PID.
/// </summary>
internal sealed class CaServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log;

    private CaServeProcess(Process process, Uri baseAddress, StringBuilder log)
    {
        _process = process;
        BaseAddress = baseAddress;
        _log = log;
    }

    /// <summary>e.g. http://127.0.0.1:PORT/</summary>
    public Uri BaseAddress { get; }

    /// <summary>The SCEP endpoint, <c>BaseAddress/scep</c>.</summary>
    public Uri ScepUrl => new(BaseAddress, "scep");

    /// <summary>What the server wrote to standard output and standard error so far.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>The path of the built <c>certgate.dll</c> (Release), found from the solution root.</summary>
    public static string CertgateDll()
    {
        string? root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "Certgate.slnx")))
        {
            root = Path.GetDirectoryName(root.TrimEnd('/'));
        }
        Assert.NotNull(root);
        string dll = Path.Combine(root, "src", "Certgate.Cli", "bin", "Release", "net10.0", "certgate.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build src/Certgate.Cli in Release first");
        return dll;
    }

    /// <summary>Runs one <c>certgate</c> command in this process; asserts exit code 0 and returns its standard output.</summary>
    public static string Cli(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int rc = CertgateCli.Run(args, TextReader.Null, output, error);
        Assert.True(rc == 0, $"certgate {string.Join(' ', args)} exited {rc}:\n{output}{error}");
        return output.ToString();
    }

    /// <summary>Starts <c>certgate ca serve --dir <paramref name="caDir"/> [--db <paramref name="db"/>]</c> and waits
    /// until it answers GetCACaps.</summary>
    public static async Task<CaServeProcess> StartAsync(string caDir, string? db = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in new[] { CertgateDll(), "ca", "serve", "--dir", caDir, "--listen", "http://127.0.0.1:0" })
        {
            psi.ArgumentList.Add(a);
        }
        if (db is not null)
        {
            psi.ArgumentList.Add("--db");
            psi.ArgumentList.Add(db);
        }
        Process p = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet certgate.dll ca serve");
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new StringBuilder();
        void Line(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (log)
            {
                log.AppendLine(line);
            }
            const string Prefix = "Listening on ";
            if (line.StartsWith(Prefix, StringComparison.Ordinal))
            {
                listening.TrySetResult(new Uri(line[Prefix.Length..].Trim()));
            }
        }
        p.OutputDataReceived += (_, e) => Line(e.Data);
        p.ErrorDataReceived += (_, e) => Line(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();

        Task exited = p.WaitForExitAsync();
        Task first = await Task.WhenAny(listening.Task, exited, Task.Delay(TimeSpan.FromSeconds(30)));
        if (first != listening.Task)
        {
            if (!p.HasExited)
            {
                p.Kill();
                await p.WaitForExitAsync();
            }
            string why = first == exited ? $"exited {p.ExitCode}" : "did not print 'Listening on' within 30 s";
            p.Dispose();
            string text;
            lock (log)
            {
                text = log.ToString();
            }
            Assert.Fail($"ca serve --dir {caDir} {why}:\n{text}");
        }
        return new CaServeProcess(p, await listening.Task, log);
    }

    /// <summary>Closes the server's stdin (a clean stop); kills it by PID when it has not stopped after 15 s.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
            // Already gone.
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
