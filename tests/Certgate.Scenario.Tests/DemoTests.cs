using System.Diagnostics;

namespace Certgate.Scenario.Tests;

/// <summary>The README's main job, <c>certgate demo</c>, run as a user runs it: it must finish with the ping through the tunnel.</summary>
public sealed class DemoTests
{
    [Fact]
    public async Task Demo_EnrollsByScep_BuildsTheTunnel_AndThePingCrosses()
    {
        string dll = NetNamespaces.CertgateDll();
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
        Assert.Contains("IKE SA up as initiator with C=US, O=Certgate Demo, OU=VPN, CN=gw2.demo.example", output);
        Assert.Contains("IKE SA up as responder with C=US, O=Certgate Demo, OU=VPN, CN=gw1.demo.example", output);
        Assert.Contains("3 packets transmitted, 3 received", output);
        // Both daemons list one matured IKE SA and the two ESP SAs with the ping's packets counted.
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(output, @"^10\.99\.0\.\d\s+Matured\s+[0-9a-f]{16}\s+[0-9a-f]{16}\s+IKEv2", System.Text.RegularExpressions.RegexOptions.Multiline).Count);
        Assert.Equal(4, System.Text.RegularExpressions.Regex.Matches(output, @"^\s+(inbound|outbound)\s+\d+\s+0\s+tunnel\s+dynamic\s+ESP\s+[1-9]\d*\s", System.Text.RegularExpressions.RegexOptions.Multiline).Count);
    }

    [Fact]
    public async Task Demo_StoppedBySigterm_RemovesItsNamespacesAndTunnelProcesses()
    {
        string dll = NetNamespaces.CertgateDll();
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("demo");
        using Process p = Process.Start(psi)!;
        var output = new System.Text.StringBuilder();
        p.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        p.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        string Output() { lock (output) { return output.ToString(); } }
        // Wait until the namespaces exist and the tunnel processes are started, then stop the demo as Ctrl-C or
        // systemd would.
        DateTime until = DateTime.UtcNow.AddMinutes(2);
        while (!Output().Contains("gw2# ip netns exec", StringComparison.Ordinal) && !p.HasExited && DateTime.UtcNow < until)
        {
            await Task.Delay(100);
        }
        Assert.False(p.HasExited, "certgate demo ended before the tunnel step:\n" + Output());
        string[] namespaces = System.Text.RegularExpressions.Regex.Matches(Output(), @"ip netns add (cgd\w+)").Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(2, namespaces.Length);
        string work = System.Text.RegularExpressions.Regex.Match(Output(), @"Working in (\S+)\.").Groups[1].Value;
        Assert.NotEmpty(work);
        NetNamespaces.Run("kill", "-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(limit.Token);
        string left = NetNamespaces.Run("ip", "netns", "list");
        foreach (string ns in namespaces)
        {
            Assert.DoesNotContain(ns, left);
        }
        Assert.Contains("SIGTERM: stopping the tunnels and removing the namespaces", Output());
        Assert.False(Directory.Exists(work), $"the demo's work directory {work} was left behind");
        foreach (string pid in Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit))!)
        {
            string cmdline;
            try
            {
                cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
            }
            catch (IOException)
            {
                continue;
            }
            Assert.False(cmdline.Contains(work, StringComparison.Ordinal) && cmdline.Contains("gateway", StringComparison.Ordinal), $"gateway daemon {pid} was left running");
        }
    }
}
