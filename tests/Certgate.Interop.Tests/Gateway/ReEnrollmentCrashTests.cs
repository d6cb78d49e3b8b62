using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Certgate.Interop.Tests.Ca;
using Certgate.Pki.Keys;
using Certgate.Pki.Store;

namespace Certgate.Interop.Tests.Gateway;

/// <summary>
/// A renewal install killed with SIGKILL at each of its steps (issue #14 §4). The daemon is <c>certgate gateway run</c>
/// (the Release <c>certgate.dll</c>) as a child process, started with <c>CERTGATE_TEST_CRASH_AT=STEP</c>: the test-only
/// hook <see cref="TestCrashPoint"/> (inert unless that variable is set) makes the process SIGKILL itself on reaching
/// STEP, as a power cut or the OOM killer would stop it there. The renewal uses <c>re-generate-keypair</c>, so a key
/// of one generation with the certificate of the other would show. After a restart without the variable the store
/// holds a matching key and certificate (old or new, never mixed), no temporary file is left, and the agent completes
/// the renewal.
/// </summary>
public sealed class ReEnrollmentCrashTests
{
    [Theory]
    [InlineData("pki-staged")]          // new key and certificate written as temporaries, not committed
    [InlineData("pki-journal-written")] // committed, nothing renamed yet
    [InlineData("pki-first-renamed")]   // the new key in place, the old certificate still beside it
    [InlineData("pki-renamed")]         // both in place, the journal not yet removed
    [InlineData("agent-state-staged")]  // the agent's state file written, not yet renamed
    public async Task Sigkill_AtEachStepOfARenewalInstall_StoreHoldsAMatchingPair_AndTheRenewalCompletes(string step)
    {
        // Certificates live 5 minutes and renew with 99% left, i.e. two seconds after issue: the daemon renews at once.
        await using GatewayTestCa ca = await GatewayTestCa.StartAsync(lifetime: TimeSpan.FromSeconds(300));
        await using var gw = new GatewayUnderTest();
        string challenge = await ca.ChallengeAsync();
        gw.PrepareCaAndKey(ca, $"set security pki auto-re-enrollment certificate-id gw1 ca-profile-name ca1 challenge-password {challenge} re-enroll-trigger-time-percentage 99 re-generate-keypair");
        await gw.EnrollAsync(ca);
        X509Certificate2 first = gw.LocalCertificate("gw1");
        string issuer = first.Issuer;

        using (DaemonProcess crashing = DaemonProcess.Start(gw.State, step))
        {
            bool killed = await crashing.WaitForExitAsync(TimeSpan.FromSeconds(120));
            Assert.True(killed, $"the daemon did not reach {step} within 120 s:\n{crashing.Log}");
            Assert.True(crashing.ExitCode == 137, $"the daemon exited {crashing.ExitCode}, not by SIGKILL (137) at {step}:\n{crashing.Log}");
        }
        string journal = Path.Combine(gw.State, "pki", ".journal");
        string[] temps = TemporaryFiles(gw.State);
        switch (step)
        {
            case "pki-staged":
                Assert.False(File.Exists(journal));
                Assert.Contains(temps, t => t.Contains("/pki/keys/.gw1.pem.tmp-", StringComparison.Ordinal));
                break;
            case "pki-journal-written" or "pki-first-renamed" or "pki-renamed":
                Assert.True(File.Exists(journal), $"no journal after a crash at {step}");
                break;
            default:
                Assert.Contains(temps, t => t.Contains("/agent/", StringComparison.Ordinal));
                break;
        }

        using (DaemonProcess restarted = DaemonProcess.Start(gw.State, null))
        {
            Assert.True(await restarted.WaitForLineAsync("gateway running on", TimeSpan.FromSeconds(60)), $"the daemon did not start again:\n{restarted.Log}");
            // Recovery ran before the daemon said it runs: the pair is whole whichever generation it is.
            (string keyPem, X509Certificate2 cert) = ReadStablePair(gw);
            AssertMatchingPair(keyPem, cert, issuer, $"after the restart following {step}", restarted.Log);
            Assert.False(File.Exists(journal));
            // The crash's leftovers are gone (the restarted agent may be writing a temp file of its own right now).
            Assert.DoesNotContain(temps, File.Exists);

            // The agent completes the renewal: a certificate newer than the first, with its own key.
            bool renewed = await GatewayUnderTest.WaitAsync(() => ReadStablePair(gw).Certificate.SerialNumber != first.SerialNumber && restarted.Log.Contains("renewed", StringComparison.Ordinal),
                TimeSpan.FromSeconds(120));
            Assert.True(renewed, $"not renewed after the restart following {step}:\n{restarted.Log}");
            (keyPem, cert) = ReadStablePair(gw);
            AssertMatchingPair(keyPem, cert, issuer, "after the renewal", restarted.Log);
            Assert.NotEqual(first.PublicKey.ExportSubjectPublicKeyInfo(), cert.PublicKey.ExportSubjectPublicKeyInfo());
            Assert.Contains("Public key verification status: Passed", gw.Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail"));
            await restarted.StopAsync();
        }
    }

    private static string[] TemporaryFiles(string state) =>
        [.. new[] { Path.Combine(state, "pki"), Path.Combine(state, "agent") }.Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, ".*.tmp-*", SearchOption.AllDirectories))];

    /// <summary>Key and certificate as one snapshot: read again when the key changed while the certificate was read
    /// (the daemon keeps renewing).</summary>
    private static (string Key, X509Certificate2 Certificate) ReadStablePair(GatewayUnderTest gw)
    {
        for (int i = 0; ; i++)
        {
            string key = File.ReadAllText(gw.KeyPath("gw1"));
            X509Certificate2 cert = gw.LocalCertificate("gw1");
            if (File.ReadAllText(gw.KeyPath("gw1")) == key || i == 20)
            {
                return (key, cert);
            }
        }
    }

    private static void AssertMatchingPair(string keyPem, X509Certificate2 cert, string issuer, string when, string log)
    {
        using KeyPair key = KeyPair.Import(Encoding.ASCII.GetBytes(keyPem));
        Assert.True(key.Matches(cert), $"{when}: the stored key is not the key of the stored certificate (serial {cert.SerialNumber}):\n{log}");
        Assert.Equal(issuer, cert.Issuer);
    }

    /// <summary><c>certgate gateway run --state STATE</c> as a child process, with the crash hook armed for a step or not.</summary>
    private sealed class DaemonProcess : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _log = new();

        private DaemonProcess(Process process)
        {
            _process = process;
        }

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

        public int ExitCode => _process.ExitCode;

        public static DaemonProcess Start(string state, string? crashAt)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
            foreach (string a in new[] { CaServeProcess.CertgateDll(), "gateway", "run", "--state", state })
            {
                psi.ArgumentList.Add(a);
            }
            psi.Environment.Remove(TestCrashPoint.EnvironmentVariable);
            if (crashAt is not null)
            {
                psi.Environment[TestCrashPoint.EnvironmentVariable] = crashAt;
            }
            var d = new DaemonProcess(Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet certgate.dll gateway run"));
            d._process.OutputDataReceived += (_, e) => d.Append(e.Data);
            d._process.ErrorDataReceived += (_, e) => d.Append(e.Data);
            d._process.BeginOutputReadLine();
            d._process.BeginErrorReadLine();
            return d;
        }

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_log)
                {
                    _log.AppendLine(line);
                }
            }
        }

        public async Task<bool> WaitForExitAsync(TimeSpan limit)
        {
            using var cts = new CancellationTokenSource(limit);
            try
            {
                await _process.WaitForExitAsync(cts.Token);
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        public Task<bool> WaitForLineAsync(string text, TimeSpan limit) =>
            GatewayUnderTest.WaitAsync(() => Log.Contains(text, StringComparison.Ordinal) || _process.HasExited, limit)
                .ContinueWith(t => t.Result && !_process.HasExited, TaskScheduler.Default);

        /// <summary>SIGTERM (a clean stop), then SIGKILL by PID when it has not stopped within 15 s.</summary>
        public async Task StopAsync()
        {
            if (_process.HasExited)
            {
                return;
            }
            Tools.ExternalTool.Run("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            if (!await WaitForExitAsync(TimeSpan.FromSeconds(15)))
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit();
            }
            _process.Dispose();
        }
    }
}
