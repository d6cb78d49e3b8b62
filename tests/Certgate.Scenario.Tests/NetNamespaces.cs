using System.Diagnostics;
using System.Text;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Network namespaces and veth pairs made for one test and deleted after it, and processes started inside them
/// (ended by PID). Needs root and iproute2; if they are missing the test fails and says so.
/// </summary>
public sealed class NetNamespaces : IDisposable
{
    private readonly List<string> _namespaces = [];
    private readonly List<Process> _processes = [];

    /// <summary>The Release build of the <c>certgate</c> executable in this checkout (the tests run it as users do).</summary>
    public static string CertgateDll()
    {
        string? root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "Certgate.slnx")))
        {
            root = Path.GetDirectoryName(root.TrimEnd('/'));
        }
        Assert.NotNull(root);
        string dll = Path.Combine(root, "src", "Certgate.Cli", "bin", "Release", "net10.0", "certgate.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing (build the solution in Release)");
        return dll;
    }

    /// <summary>A short random tag so parallel or leftover runs never collide.</summary>
    public string Tag { get; } = Guid.NewGuid().ToString("N")[..6];

    public static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"'{file}' cannot be run ({e.Message}); the scenario tests need iproute2 and iputils-ping (./build.sh test installs them as root)", e);
        }
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        if (!p.WaitForExit(30_000))
        {
            p.Kill();
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in 30 s");
        }
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {p.ExitCode}: {output}");
        }
        return output;
    }

    /// <summary>Creates namespace <c>cg{tag}{suffix}</c> with loopback up.</summary>
    public string Create(string suffix)
    {
        string name = $"cg{Tag}{suffix}";
        Run("ip", "netns", "add", name);
        _namespaces.Add(name);
        Run("ip", "-n", name, "link", "set", "lo", "up");
        return name;
    }

    /// <summary>Connects two namespaces with a veth pair and gives each end an address (CIDR; null: none, for a test
    /// that adds it later); returns the two device names. IPv6 addresses are added without duplicate address
    /// detection (<c>nodad</c>), so they are usable at once: with it they stay tentative for a second or two, and a
    /// daemon that binds them in that time gets EADDRNOTAVAIL (LocalGatewayAddressTests covers that case on purpose).</summary>
    public (string A, string B) Link(string nsA, string? addressA, string nsB, string? addressB)
    {
        string a = $"v{Tag}a{_namespaces.IndexOf(nsA)}";
        string b = $"v{Tag}b{_namespaces.IndexOf(nsB)}";
        Run("ip", "link", "add", a, "netns", nsA, "type", "veth", "peer", "name", b, "netns", nsB);
        AddAddress(nsA, addressA, a);
        AddAddress(nsB, addressB, b);
        Run("ip", "-n", nsA, "link", "set", a, "up");
        Run("ip", "-n", nsB, "link", "set", b, "up");
        return (a, b);
    }

    private static void AddAddress(string ns, string? cidr, string device)
    {
        if (cidr is not null)
        {
            Run("ip", ["-n", ns, "addr", "add", cidr, "dev", device, .. cidr.Contains(':', StringComparison.Ordinal) ? new[] { "nodad" } : []]);
        }
    }

    /// <summary>Starts <paramref name="args"/> inside <paramref name="ns"/>; output is collected in <see cref="Output"/>.</summary>
    public Process Start(string ns, params string[] args)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { "netns", "exec", ns }.Concat(args))
        {
            psi.ArgumentList.Add(a);
        }
        var p = new Process { StartInfo = psi };
        var buffer = new StringBuilder();
        Output[p] = buffer;
        p.OutputDataReceived += (_, e) => { lock (buffer) { buffer.AppendLine(e.Data); } };
        p.ErrorDataReceived += (_, e) => { lock (buffer) { buffer.AppendLine(e.Data); } };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _processes.Add(p);
        return p;
    }

    public Dictionary<Process, StringBuilder> Output { get; } = [];

    public string OutputOf(Process p)
    {
        if (p.HasExited)
        {
            // WaitForExit(timeout) returns when the process ends, possibly before its redirected output has been read
            // to the end; WaitForExit() also waits for that, so the last lines (often the error) are not missed.
            p.WaitForExit();
        }
        lock (Output[p])
        {
            return Output[p].ToString();
        }
    }

    /// <summary>Waits (bounded) until <paramref name="p"/> printed <paramref name="text"/>; on timeout the message
    /// carries <paramref name="p"/>'s output, or <paramref name="context"/> (for example every daemon's output).</summary>
    public void WaitFor(Process p, string text, int seconds = 20, Func<string>? context = null)
    {
        for (int i = 0; i < seconds * 20; i++)
        {
            if (OutputOf(p).Contains(text, StringComparison.Ordinal))
            {
                return;
            }
            if (p.HasExited)
            {
                // The process ended: WaitForExit() also waits until its redirected output has been read to the end,
                // so a line printed just before exiting is not missed.
                p.WaitForExit();
                if (OutputOf(p).Contains(text, StringComparison.Ordinal))
                {
                    return;
                }
                break;
            }
            Thread.Sleep(50);
        }
        throw new TimeoutException($"'{text}' did not appear within {seconds} s; output so far: {(context is null ? OutputOf(p) : context())}");
    }

    /// <summary>Sends SIGTERM and waits up to 10 s for the process to end.</summary>
    public static void Stop(Process p)
    {
        if (!p.HasExited)
        {
            // The process is 'ip netns exec', which execs the command: same PID.
            Run("kill", "-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        if (!p.WaitForExit(10_000))
        {
            p.Kill(entireProcessTree: true);
        }
        p.WaitForExit();
    }

    public void Dispose()
    {
        foreach (Process p in _processes)
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill(entireProcessTree: true);
                    p.WaitForExit(5_000);
                }
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
            p.Dispose();
        }
        foreach (string ns in _namespaces)
        {
            try
            {
                Run("ip", "netns", "del", ns);
            }
            catch (InvalidOperationException)
            {
                // Best effort: a namespace that is already gone is fine.
            }
        }
    }
}
