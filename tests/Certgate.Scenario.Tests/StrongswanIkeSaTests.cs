using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Certgate.Scenario.Tests;

/// <summary>
/// The established IKE SA against charon (issue 5): CREATE_CHILD_SA rekeys of the CHILD_SA and of the IKE SA started
/// by either side, and deletes by either side, on one tunnel per test. After each step <c>swanctl --list-sas</c> must
/// show the SPIs Certgate logged, and a ping must still cross. Same namespaces and charon as <see cref="StrongswanFixture"/>.
/// </summary>
public sealed partial class StrongswanIkeTests
{
    private string ControlFile => Path.Combine(f.Dir, "gate-control");

    [Fact]
    public void Rekeys_ByEitherSide_WithPfs_KeepTheTunnel_ThenCharonDeletes()
    {
        Configure("aes256gcm16-prfsha256-ecp256", "aes256gcm16-ecp256", "charon-rsa", "cg-rsa", true);
        Process gate = StartGate(["certificate-id", "cg-rsa"], false, null, "pfs-group", "19", "control", ControlFile);
        try
        {
            (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
            Assert.True(code == 0, $"swanctl --initiate exited {code}:\n{output}\n{Charon.LogTail()}");
            f.Net.WaitFor(gate, "tunnel up");
            SetUpGateInside();
            (string In, string Out) child = AssertChildAgrees(gate, null);
            (string I, string R) ike = AssertIkeAgrees(gate, null);
            PingBothWays();

            // charon rekeys the CHILD_SA (with a KE: its ESP proposal has ECP-256) and then deletes the old one.
            Charon.Swanctl("--rekey", "--child", "net");
            child = AssertChildAgrees(gate, child);
            PingBothWays();

            // Certgate rekeys it (pfs-group 19).
            Control(gate, "rekey-child");
            child = AssertChildAgrees(gate, child);
            PingBothWays();

            // charon rekeys the IKE SA: new SPIs, the CHILD_SA stays.
            Charon.Swanctl("--rekey", "--ike", "cg");
            ike = AssertIkeAgrees(gate, ike);
            Assert.Equal(child, AssertChildAgrees(gate, null));
            PingBothWays();

            // Certgate rekeys the IKE SA, then the CHILD_SA on the new IKE SA (its SK_d must agree with charon's).
            Control(gate, "rekey-ike");
            AssertIkeAgrees(gate, ike);
            Control(gate, "rekey-child");
            child = AssertChildAgrees(gate, child);
            PingBothWays();

            // charon deletes the CHILD_SA, then the IKE SA: Certgate removes both and stops.
            Charon.Swanctl("--terminate", "--child", "net", "--timeout", "10");
            Eventually(() => f.Net.OutputOf(gate).Contains($"CHILD_SA {child.Out}_i {child.In}_o: deleted by the peer", StringComparison.Ordinal), gate, "Certgate did not remove the CHILD_SA charon deleted");
            Charon.Swanctl("--terminate", "--ike", "cg", "--timeout", "10");
            Assert.True(gate.WaitForExit(10_000), "Certgate did not stop after charon deleted the IKE SA\n" + f.Net.OutputOf(gate));
            gate.WaitForExit();
            Assert.Contains("SA gone: deleted by the peer", f.Net.OutputOf(gate), StringComparison.Ordinal);
            Assert.Contains("AuthenticationFailed 0", f.Net.OutputOf(gate), StringComparison.Ordinal);
        }
        finally
        {
            StopGate(gate);
        }
    }

    [Fact]
    public void CertgateDeletes_TheChildSa_ThenTheIkeSa_AndCharonRemovesThem()
    {
        Configure("aes256gcm16-prfsha256-ecp256", "aes256gcm16", "charon-rsa", "cg-rsa", true);
        Process gate = StartGate(["certificate-id", "cg-rsa"], true, null, "control", ControlFile);
        try
        {
            f.Net.WaitFor(gate, "tunnel up");
            SetUpGateInside();
            (string In, string Out) child = AssertChildAgrees(gate, null);
            AssertIkeAgrees(gate, null);
            // A rekey without PFS first, so that the delete names a rekeyed SA.
            Control(gate, "rekey-child");
            child = AssertChildAgrees(gate, child);
            PingBothWays();

            // A liveness check (empty INFORMATIONAL, RFC 7296 §2.4) that charon answers.
            int logStart = Charon.Log().Length;
            Control(gate, "dpd");
            Eventually(() => Regex.IsMatch(Charon.Log()[logStart..], @"parsed INFORMATIONAL request \d+ \[ \]"), gate, "charon did not get the DPD");
            Eventually(() => Regex.IsMatch(f.Net.OutputOf(gate), "sending IKE_DPD request"), gate, "Certgate did not send the DPD");
            Assert.DoesNotContain("retransmit", f.Net.OutputOf(gate), StringComparison.Ordinal);

            Control(gate, "delete-child");
            Eventually(() => f.Net.OutputOf(gate).Contains($"CHILD_SA {child.Out}_i {child.In}_o: deleted", StringComparison.Ordinal), gate, "Certgate's CHILD_SA delete was not answered");
            Eventually(() => !Charon.Swanctl("--list-sas", "--ike", "cg").Contains("INSTALLED", StringComparison.Ordinal), gate, "charon still has the CHILD_SA");
            Assert.Contains("ESTABLISHED", Charon.Swanctl("--list-sas", "--ike", "cg"), StringComparison.Ordinal);

            Control(gate, "delete-ike");
            Assert.True(gate.WaitForExit(10_000), "Certgate did not stop after deleting its IKE SA\n" + f.Net.OutputOf(gate));
            gate.WaitForExit();
            Assert.Contains("SA gone: deleted", f.Net.OutputOf(gate), StringComparison.Ordinal);
            Eventually(() => !Charon.Swanctl("--list-sas", "--ike", "cg").Contains("ESTABLISHED", StringComparison.Ordinal), gate, "charon still has the IKE SA");
        }
        finally
        {
            StopGate(gate);
        }
    }

    private void SetUpGateInside()
    {
        NetNamespaces.Run("ip", "-n", f.NsGate, "addr", "add", StrongswanFixture.GateInner + "/32", "dev", "cg0");
        NetNamespaces.Run("ip", "-n", f.NsGate, "link", "set", "cg0", "up");
        NetNamespaces.Run("ip", "-n", f.NsGate, "route", "add", "10.77.1.0/24", "dev", "cg0", "src", StrongswanFixture.GateInner);
    }

    private void PingBothWays()
    {
        Assert.Contains("3 received", Charon.Ping(f.NsCharon, StrongswanFixture.CharonInner, StrongswanFixture.GateInner));
        Assert.Contains("3 received", Charon.Ping(f.NsGate, StrongswanFixture.GateInner, StrongswanFixture.CharonInner));
    }

    private void Control(Process gate, string command)
    {
        int before = Regex.Matches(f.Net.OutputOf(gate), "control: ").Count;
        File.WriteAllText(ControlFile, command + "\n");
        Eventually(() => Regex.Matches(f.Net.OutputOf(gate), "control: ").Count > before, gate, $"Certgate did not take the control command {command}");
        Assert.Contains($"control: {command}\n", f.Net.OutputOf(gate).Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    /// <summary>
    /// Waits until charon shows exactly one installed CHILD_SA, other than <paramref name="previous"/>, whose SPIs
    /// Certgate installed mirrored (charon's in = Certgate's out) and has not deleted; returns charon's (in, out).
    /// </summary>
    private (string In, string Out) AssertChildAgrees(Process gate, (string In, string Out)? previous)
    {
        (string In, string Out)? seen = null;
        Eventually(() =>
        {
            string sas = Charon.Swanctl("--list-sas", "--ike", "cg");
            MatchCollection children = Regex.Matches(sas, @"INSTALLED.*\n.*\n\s*in\s+([0-9a-f]{8}).*\n\s*out\s+([0-9a-f]{8})");
            if (children.Count != 1 || sas.Contains("REKEYED", StringComparison.Ordinal) || sas.Contains("DELETING", StringComparison.Ordinal))
            {
                return false;
            }
            (string In, string Out) now = (children[0].Groups[1].Value, children[0].Groups[2].Value);
            string gateOut = f.Net.OutputOf(gate);
            bool ours = gateOut.Contains($"CHILD_SA {now.Out}_i {now.In}_o: installed", StringComparison.Ordinal)
                || (previous is null && gateOut.Contains($"ESP SPI in 0x{now.Out} out 0x{now.In}", StringComparison.Ordinal));
            bool gone = gateOut.Contains($"CHILD_SA {now.Out}_i {now.In}_o: deleted", StringComparison.Ordinal);
            bool oldGone = previous is not { } p || gateOut.Contains($"CHILD_SA {p.Out}_i {p.In}_o: deleted", StringComparison.Ordinal);
            seen = now;
            return now != previous && ours && !gone && oldGone;
        }, gate, $"charon's and Certgate's CHILD_SA do not agree (previous {previous}, charon now {seen})");
        return seen!.Value;
    }

    /// <summary>Waits until charon's IKE SA SPIs are Certgate's current ones (other than <paramref name="previous"/>); returns them.</summary>
    private (string I, string R) AssertIkeAgrees(Process gate, (string I, string R)? previous)
    {
        (string I, string R)? seen = null;
        Eventually(() =>
        {
            string sas = Charon.Swanctl("--list-sas", "--ike", "cg");
            Match m = Regex.Match(sas, @"ESTABLISHED, IKEv2, ([0-9a-f]{16})_i\*? ([0-9a-f]{16})_r");
            if (!m.Success || Regex.Matches(sas, "IKEv2").Count != 1)
            {
                return false;
            }
            (string I, string R) now = (m.Groups[1].Value, m.Groups[2].Value);
            seen = now;
            string gateOut = f.Net.OutputOf(gate);
            bool ours = previous is null
                ? gateOut.Contains($"IKE_SA {now.I}_i {now.R}_r: established", StringComparison.Ordinal)
                : gateOut.Contains($"replaced by IKE_SA {now.I}_i {now.R}_r", StringComparison.Ordinal)
                  && gateOut.Contains($"IKE_SA {previous.Value.I}_i {previous.Value.R}_r: deleted", StringComparison.Ordinal);
            return now != previous && ours;
        }, gate, $"charon's and Certgate's IKE SA do not agree (previous {previous}, charon now {seen})");
        return seen!.Value;
    }

    private void Eventually(Func<bool> condition, Process gate, string why, int seconds = 30)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(seconds))
            {
                Assert.Fail($"{why}\n--- swanctl --list-sas ---\n{Charon.TrySwanctl("--list-sas").Output}\n--- certgate ---\n{f.Net.OutputOf(gate)}\n{Charon.LogTail()}");
            }
            Thread.Sleep(100);
        }
    }
}
