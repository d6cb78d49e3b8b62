using System.Diagnostics;

namespace Certgate.Scenario.Tests;

/// <summary>The README's main job, <c>certgate demo</c>, run as a user runs it: it must finish with the ping through the tunnel.</summary>
public sealed class DemoTests
{
    [Fact]
    public async Task Demo_EnrollsByScep_BuildsTheTunnel_AndThePingCrosses()
    {
        string? root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "Certgate.slnx")))
        {
            root = Path.GetDirectoryName(root.TrimEnd('/'));
        }
        Assert.NotNull(root);
        string dll = Path.Combine(root, "src", "Certgate.Cli", "bin", "Release", "net10.0", "certgate.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("demo");
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await p.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("certgate demo did not finish within 3 minutes");
        }
        string output = await stdout + await stderr;
        Assert.True(p.ExitCode == 0, $"certgate demo exited {p.ExitCode}:\n{output}");
        Assert.Contains("Local certificate gw1 loaded successfully", output);
        Assert.Contains("Local certificate gw2 loaded successfully", output);
        Assert.Contains("IKE: SA established with C=US, O=Certgate Demo, OU=VPN, CN=gw2.demo.example", output);
        Assert.Contains("3 packets transmitted, 3 received", output);
        Assert.Contains("AuthenticationFailed 0", output);
    }
}
