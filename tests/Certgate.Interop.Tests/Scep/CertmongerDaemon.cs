using System.Diagnostics;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Scep;

/// <summary>
/// A private certmonger without D-Bus (<c>certmonger -n -L -P SOCK</c>, peers.md): its state lives under
/// a directory of its own through the CERTMONGER_* directories, and <c>getcert</c> reaches it through
/// CERTMONGER_PVT_ADDRESS. Dispose stops it by its PID.
/// </summary>
internal sealed class CertmongerDaemon : IDisposable
{
    private readonly Process _process;
    private readonly Dictionary<string, string> _getcertEnvironment;

    private CertmongerDaemon(Process process, string socket, string logPath)
    {
        _process = process;
        LogPath = logPath;
        _getcertEnvironment = new Dictionary<string, string> { ["CERTMONGER_PVT_ADDRESS"] = "unix:path=" + socket };
    }

    /// <summary>certmonger's own debug log (its stdout and stderr).</summary>
    public string LogPath { get; }

    /// <summary>Starts certmonger with its state under <paramref name="stateDir"/> and waits for its socket.</summary>
    public static CertmongerDaemon Start(string stateDir)
    {
        string program = ExternalTool.Require("certmonger");
        foreach (string d in new[] { "requests", "cas", "local", "tmp" })
        {
            Directory.CreateDirectory(Path.Combine(stateDir, d));
        }
        string socket = Path.Combine(stateDir, "cm.sock");
        string logPath = Path.Combine(stateDir, "certmonger.log");
        // -n: no fork, -L: private bus on -P's socket (no D-Bus), -d 1: some debug output for failure messages.
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardInput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$0\" -n -L -P \"$1\" -d 1 >\"$2\" 2>&1");
        psi.ArgumentList.Add(program);
        psi.ArgumentList.Add(socket);
        psi.ArgumentList.Add(logPath);
        psi.Environment["CERTMONGER_CONFIG_DIR"] = stateDir;
        psi.Environment["CERTMONGER_REQUESTS_DIR"] = Path.Combine(stateDir, "requests");
        psi.Environment["CERTMONGER_CAS_DIR"] = Path.Combine(stateDir, "cas");
        psi.Environment["CERTMONGER_LOCAL_CA_DIR"] = Path.Combine(stateDir, "local");
        psi.Environment["CERTMONGER_TMPDIR"] = Path.Combine(stateDir, "tmp");
        Process p = Process.Start(psi) ?? throw new InvalidOperationException("could not start certmonger");
        var daemon = new CertmongerDaemon(p, socket, logPath);
        // Polled with a generous deadline: on two loaded cores certmonger has taken more than 10 s to open it.
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(90) && !File.Exists(socket))
        {
            if (p.HasExited)
            {
                string log = File.Exists(logPath) ? File.ReadAllText(logPath) : "";
                daemon.Dispose();
                Assert.Fail($"certmonger exited {p.ExitCode} before opening {socket}:\n{log}");
            }
            Thread.Sleep(100);
        }
        if (!File.Exists(socket))
        {
            daemon.Dispose();
            Assert.Fail($"certmonger did not open {socket} within 90 s:\n{daemon.Log}");
        }
        return daemon;
    }

    /// <summary>Runs <c>getcert</c> against this daemon.</summary>
    public ExternalTool.Result Getcert(params string[] args) =>
        ExternalTool.Run("getcert", args, timeout: TimeSpan.FromSeconds(60), environment: _getcertEnvironment);

    /// <summary>certmonger's log so far (for failure messages).</summary>
    public string Log => File.Exists(LogPath) ? File.ReadAllText(LogPath) : "";

    /// <summary>Stops certmonger by its PID (SIGKILL; its state directory is thrown away anyway).</summary>
    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
    }
}
