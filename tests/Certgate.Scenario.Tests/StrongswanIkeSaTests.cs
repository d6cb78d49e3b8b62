using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Certgate.Scenario.Tests;

/// <summary>
/// The established IKE SA against charon (issue 5): CREATE_CHILD_SA rekeys of the CHILD_SA and of the IKE SA started
/// by either side, and deletes by either side, on one tunnel per test. After each step <c>swanctl --list-sas</c> must
/// show the SPIs Certgate logged, and a ping must still cross. Same namespaces and charon as <see cref="StrongswanFixture"/>.
/// </summary>
[Collection(StrongswanIkeTestBase.Collection)]
public sealed class StrongswanIkeSaTests(StrongswanFixture fixture) : StrongswanIkeTestBase(fixture)
{
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
}
