using System.Diagnostics;

namespace Certgate.Interop.Tests.Tools;

/// <summary>
/// Runs a real peer program (openssl, scepclient, swanctl …) with a time limit. A missing program fails the
/// test with a clear reason; it never lets the test pass.
/// </summary>
internal static class ExternalTool
{
    /// <summary>The outcome of one run.</summary>
    internal sealed record Result(int ExitCode, string StdOut, string StdErr)
    {
        public string Combined => StdOut + StdErr;
    }

    /// <summary>Runs <paramref name="program"/> and returns its exit code and output (no exception on non-zero).</summary>
    public static Result Run(string program, IEnumerable<string> args, string? workingDirectory = null, string? stdin = null,
        TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        string path = Require(program);
        var psi = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        if (environment is not null)
        {
            foreach ((string k, string v) in environment)
            {
                psi.Environment[k] = v;
            }
        }
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {program}");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
        }
        process.StandardInput.Close();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', psi.ArgumentList)} did not finish in time");
        }
        process.WaitForExit();
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs and asserts exit code 0, showing the output when it is not.</summary>
    public static Result Check(string program, params string[] args)
    {
        Result r = Run(program, args);
        Assert.True(r.ExitCode == 0, $"{program} {string.Join(' ', args)} exited {r.ExitCode}:\n{r.Combined}");
        return r;
    }

    /// <summary>The full path of <paramref name="program"/> on PATH; fails the test when it is not installed.</summary>
    public static string Require(string program)
    {
        if (Path.IsPathRooted(program))
        {
            Assert.True(File.Exists(program), $"{program} is not installed (./build.sh test installs the peers)");
            return program;
        }
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':'))
        {
            string candidate = Path.Combine(dir, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        Assert.Fail($"'{program}' is not installed or not on PATH (./build.sh test installs the peers it needs)");
        return program;
    }
}
