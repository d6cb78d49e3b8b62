using System.Diagnostics;
using System.Globalization;
using Certgate.Cli.Tests.Pki;
using Certgate.Gateway.Control;
using Certgate.Pki.Store;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Cli.Tests.Gateway;

/// <summary>
/// The control socket against real processes (#14 §3): a forwarded command works on the client's state directory
/// and the client's files, a question left open stalls nobody, and only root and the state directory's owner get in.
/// </summary>
public sealed class ControlSocketSecurityTests : IDisposable
{
    private readonly PkiFixture _f = new();

    public void Dispose() => _f.Dispose();

    private static string BinDirectory()
    {
        // The executable as built for users (its own deps and runtimeconfig), not the copy in this test's output.
        string? root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "Certgate.slnx")))
        {
            root = Path.GetDirectoryName(root.TrimEnd('/'));
        }
        Assert.NotNull(root);
        string bin = Path.Combine(root, "src", "Certgate.Cli", "bin", "Release", "net10.0");
        Assert.True(File.Exists(Path.Combine(bin, "certgate.dll")), $"{bin}/certgate.dll is missing (build src/Certgate.Cli -c Release)");
        return bin;
    }

    private static ProcessStartInfo Certgate(string workingDirectory, IEnumerable<string> prefix, string dll, params string[] args)
    {
        var psi = new ProcessStartInfo(prefix.FirstOrDefault() ?? "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        // Behind a prefix (setpriv …), dotnet is the prefix's command.
        IEnumerable<string> dotnet = prefix.Any() ? new[] { "dotnet" } : Array.Empty<string>();
        foreach (string a in prefix.Skip(1).Concat(dotnet).Append(dll).Concat(args))
        {
            psi.ArgumentList.Add(a);
        }
        return psi;
    }

    /// <summary>The daemon on <paramref name="state"/> (absolute), started in <paramref name="workingDirectory"/>.</summary>
    private static Process StartDaemon(string state, string workingDirectory)
    {
        Process p = Process.Start(Certgate(workingDirectory, [], Path.Combine(BinDirectory(), "certgate.dll"), "--state", state, "gateway", "run"))!;
        // Bounded wait for the socket: 400 polls of 50 ms.
        for (int i = 0; i < 400 && !ControlClient.IsListening(state); i++)
        {
            if (p.HasExited)
            {
                Assert.Fail($"gateway exited {p.ExitCode}: {p.StandardError.ReadToEnd()}{p.StandardOutput.ReadToEnd()}");
            }
            Thread.Sleep(50);
        }
        Assert.True(ControlClient.IsListening(state), "the gateway did not open its control socket within 20 s");
        return p;
    }

    /// <summary>Stops the daemon with SIGTERM and returns its log.</summary>
    private static string Stop(Process daemon)
    {
        if (!daemon.HasExited)
        {
            Process.Start("kill", ["-TERM", daemon.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
        }
        Assert.True(daemon.WaitForExit(30_000), "the gateway did not stop within 30 s of SIGTERM");
        return daemon.StandardOutput.ReadToEnd();
    }

    /// <summary>Runs a client process to its end (a generous deadline: the machine may be loaded).</summary>
    private static (int Code, string Out, string Err) Client(ProcessStartInfo psi, string stdin = "")
    {
        using Process p = Process.Start(psi)!;
        p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        Task<string> o = p.StandardOutput.ReadToEndAsync();
        Task<string> e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill();
            Assert.Fail($"certgate {string.Join(' ', psi.ArgumentList)} did not finish within 120 s");
        }
        return (p.ExitCode, o.Result, e.Result);
    }

    /// <summary>Waits for <paramref name="task"/> with a generous deadline; failing says what stalled.</summary>
    private static async Task Within(Task task, string stalled)
    {
        try
        {
            await task.WaitAsync(TimeSpan.FromMinutes(2));
        }
        catch (TimeoutException)
        {
            Assert.Fail(stalled);
        }
    }

    private string CaPem()
    {
        using TestCa ca = TestCa.CreateRoot("CN=Control CA", now: DateTimeOffset.UtcNow);
        return ca.Certificate.ExportCertificatePem();
    }

    [Fact]
    public void ForwardedCommand_UsesTheClientsStateAndTheClientsDirectory()
    {
        // ROOT/client/state is the gateway; ROOT/elsewhere (the daemon's working directory) has a state of its own.
        string client = Path.Combine(_f.Root, "client");
        string elsewhere = Path.Combine(_f.Root, "elsewhere");
        string state = Path.Combine(client, "state");
        string decoy = Path.Combine(elsewhere, "state");
        Directory.CreateDirectory(client);
        Directory.CreateDirectory(decoy);
        Assert.Equal(0, CertgateCli.Run(["--state", state, "configure"], new StringReader("set security pki ca-profile p ca-identity p\ncommit\n"), TextWriter.Null, TextWriter.Null));
        File.WriteAllText(Path.Combine(client, "ca.pem"), CaPem());
        string dll = Path.Combine(BinDirectory(), "certgate.dll");

        using Process daemon = StartDaemon(state, elsewhere);
        string log;
        try
        {
            (int code, string output, string err) = Client(Certgate(client, [], dll, "--state", "state", "request", "security", "pki", "generate-key-pair", "certificate-id", "gw1", "type", "ecdsa"));
            Assert.True(code == 0, err + output);
            (code, output, err) = Client(Certgate(client, [], dll, "--state", "state", "request", "security", "pki", "key-pair", "export", "certificate-id", "gw1", "filename", "k.pem"));
            Assert.True(code == 0, err + output);
            (code, output, err) = Client(Certgate(client, [], dll, "--state", "state", "--yes", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "p", "filename", "ca.pem"));
            Assert.True(code == 0, err + output);
            Assert.Contains("CA certificate for profile p loaded successfully", output);
        }
        finally
        {
            log = Stop(daemon);
        }
        // The commands ran in the daemon (its log says so) ...
        Assert.Contains("command (exit 0): --state state request security pki key-pair export certificate-id gw1 filename k.pem", log);
        Assert.Contains("command (exit 0): --state state --yes request security pki ca-certificate load", log);
        // ... on the client's state, with the client's files.
        Assert.True(new PkiStore(state).Exists(PkiObjectType.KeyPair, "gw1"));
        Assert.True(new PkiStore(state).Exists(PkiObjectType.CaCertificate, "p"));
        Assert.True(File.Exists(Path.Combine(client, "k.pem")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(client, "k.pem")));
        Assert.Equal([decoy], Directory.GetFileSystemEntries(elsewhere));
        Assert.Empty(Directory.GetFileSystemEntries(decoy));
    }

    [Fact]
    public async Task UnansweredQuestion_DoesNotStallShow()
    {
        _f.Configure("set security pki ca-profile p ca-identity p");
        string ca = _f.WriteFile("ca.pem", CaPem());
        string dll = Path.Combine(BinDirectory(), "certgate.dll");
        using Process daemon = StartDaemon(_f.State, _f.Work);
        try
        {
            // One operator is asked and does not answer (stdin stays open) ...
            using Process asking = Process.Start(Certgate(_f.Work, [], dll, "--state", _f.State, "request", "security", "pki", "ca-certificate", "load", "ca-profile", "p", "filename", ca))!;
            var asked = new TaskCompletionSource();
            var seen = new System.Text.StringBuilder();
            _ = Task.Run(async () =>
            {
                char[] buffer = new char[256];
                int n;
                while ((n = await asking.StandardOutput.ReadAsync(buffer)) > 0)
                {
                    lock (seen)
                    {
                        seen.Append(buffer, 0, n);
                        if (seen.ToString().Contains("[yes,no] (no) ", StringComparison.Ordinal))
                        {
                            asked.TrySetResult();
                        }
                    }
                }
            });
            await Within(asked.Task, "the question did not come within 2 minutes");

            // ... and another's show completes meanwhile (polled with a generous deadline, no timing claim).
            Task<(int, string, string)> show = Task.Run(() => _f.Run("show", "security", "pki", "ca-certificate"));
            await Within(show, "show security pki ca-certificate stalled behind an unanswered question");
            (int code, string output, string err) = await show;
            Assert.True(code == 0, err + output);
            Assert.DoesNotContain("Control CA", output);

            // The answer still counts.
            asking.StandardInput.WriteLine("yes");
            asking.StandardInput.Close();
            Assert.True(asking.WaitForExit(120_000), "the asking client did not finish after its answer");
            Assert.Equal(0, asking.ExitCode);
            Assert.Contains("Control CA", _f.Ok("show", "security", "pki", "ca-certificate"));
        }
        finally
        {
            Stop(daemon);
        }
    }

    [Fact]
    public void StateAndSocketArePrivate_AndOtherUsersAreRefused()
    {
        Assert.True(Environment.UserName == "root", "this test runs a client as uid 65534 with setpriv: it needs root");
        // A state directory made by hand with 0755 is tightened (with a warning) when the daemon starts.
        Directory.CreateDirectory(_f.State);
        File.SetUnixFileMode(_f.State, (UnixFileMode)0b111_101_101);
        using Process daemon = StartDaemon(_f.State, _f.Work);
        string pub = Directory.CreateTempSubdirectory("certgate-ctl-pub-").FullName;
        string log;
        try
        {
            Assert.Equal((UnixFileMode)0b111_000_000, File.GetUnixFileMode(_f.State));
            string socket = ControlProtocol.SocketPath(_f.State);
            Assert.Equal((UnixFileMode)0b110_000_000, File.GetUnixFileMode(socket));

            // Even when the file modes are opened by hand (socket 0666, reachable through a link in a public
            // directory), the peer check keeps another user out. The client is a copy of certgate it can read.
            File.SetUnixFileMode(pub, (UnixFileMode)0b111_101_101);
            string bin = Path.Combine(pub, "bin");
            Directory.CreateDirectory(bin);
            foreach (string file in Directory.GetFiles(BinDirectory()))
            {
                File.Copy(file, Path.Combine(bin, Path.GetFileName(file)));
                File.SetUnixFileMode(Path.Combine(bin, Path.GetFileName(file)), (UnixFileMode)0b110_100_100);
            }
            File.SetUnixFileMode(bin, (UnixFileMode)0b111_101_101);
            string other = Path.Combine(pub, "state");
            Directory.CreateDirectory(other);
            File.SetUnixFileMode(other, (UnixFileMode)0b111_101_101);
            using (Process ln = Process.Start("ln", [socket, ControlProtocol.SocketPath(other)])!)
            {
                ln.WaitForExit();
                Assert.Equal(0, ln.ExitCode);
            }
            File.SetUnixFileMode(socket, (UnixFileMode)0b110_110_110);

            ProcessStartInfo psi = Certgate(pub, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"], Path.Combine(bin, "certgate.dll"),
                "--state", other, "show", "security", "pki", "ca-certificate");
            psi.Environment["HOME"] = pub;
            psi.Environment["DOTNET_CLI_HOME"] = pub;
            (int code, string output, string err) = Client(psi);
            Assert.True(code == 1, $"exit {code}: {err}{output}");
            Assert.Equal("error: the gateway daemon refuses uid 65534: only root and the owner of the state directory (uid 0) may use its control socket\n", err);

            // The daemon keeps serving root.
            File.SetUnixFileMode(socket, (UnixFileMode)0b110_000_000);
            Assert.StartsWith("gateway running on", _f.Ok("gateway", "status"));
            _f.Ok("show", "security", "pki", "ca-certificate");
        }
        finally
        {
            log = Stop(daemon);
            Directory.Delete(pub, recursive: true);
        }
        Assert.Contains($"warning: state directory {_f.State} was mode 0755; tightened to 0700", log);
        Assert.Matches(@"control connection refused: pid \d+ runs as uid 65534, which is neither root nor the owner of the state directory \(uid 0\)", log);
        Assert.Contains("command (exit 0): --state " + _f.State + " show security pki ca-certificate", log);
    }
}
