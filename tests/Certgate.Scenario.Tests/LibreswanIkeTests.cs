using System.Diagnostics;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Certgate's IKEv2 against libreswan 4.10's pluto (issue 13), a second implementation beside strongSwan, both roles:
/// certificates both ways, RFC 7427 announced both ways, so pluto (authby=rsasig) signs AUTH with RSASSA-PSS and must
/// accept Certgate's RSASSA-PSS AUTH. Topology in <see cref="LibreswanFixture"/>. This kernel has no ESP, so pluto
/// cannot install the CHILD_SA: IKE_AUTH is what is checked — on pluto's log (IKE SA established, the peer
/// authenticated with RSASSA-PSS) and on Certgate's output (the peer authenticated with AUTH method 14).
/// </summary>
public sealed class LibreswanIkeTests(LibreswanFixture f) : IClassFixture<LibreswanFixture>
{
    /// <summary>What pluto logs when it verified Certgate's AUTH: RSASSA-PSS with the certificate Certgate sent.</summary>
    private string PssAuthenticated =>
        $"authenticated peer '2048-bit RSASSA-PSS with SHA2_256' digital signature using peer certificate '{LibreswanFixture.LibreswanDn(f.GateSubject)}' " +
        $"issued by CA '{LibreswanFixture.LibreswanDn(f.Ca.SubjectName)}'";

    private Process StartGate(bool initiate)
    {
        List<string> args = ["dotnet", f.Dll, "--state", f.State, "debug", "ike-tunnel", "tun", "lg0", "local", LibreswanFixture.GateOuter,
            "remote", LibreswanFixture.PlutoOuter, "certificate-id", "cg", "local-subnet", LibreswanFixture.GateNet, "remote-subnet", LibreswanFixture.PlutoNet,
            "remote-id", "distinguished-name", "exact-match", LibreswanFixture.LibreswanDn(f.PlutoSubject)];
        if (initiate)
        {
            args.Add("initiate");
        }
        Process p = f.Net.Start(f.NsGate, [.. args]);
        f.Net.WaitFor(p, "IKE: ", 60);
        return p;
    }

    /// <summary>Polls (bounded) until pluto's log has <paramref name="text"/>; fails with both sides' output.</summary>
    private void WaitForPluto(Process pluto, Process gate, string text)
    {
        for (int i = 0; i < 600; i++)
        {
            if (f.Net.OutputOf(pluto).Contains(text, StringComparison.Ordinal))
            {
                return;
            }
            if (pluto.HasExited)
            {
                break;
            }
            Thread.Sleep(50);
        }
        Assert.Fail($"pluto did not log '{text}' within 30 s{Both(pluto, gate)}");
    }

    private string Both(Process pluto, Process gate) => $"\n--- certgate ---\n{f.Net.OutputOf(gate)}\n--- pluto ---\n{f.Net.OutputOf(pluto)}";

    [Fact]
    public void PlutoInitiates_BothSidesAuthenticateWithRsassaPss()
    {
        Process pluto = f.StartPluto();
        Process? gate = null;
        try
        {
            gate = StartGate(initiate: false);
            f.Initiate();
            f.Net.WaitFor(gate, "; AUTH local ", 60);
            WaitForPluto(pluto, gate, "established IKE SA");
            string gateOut = f.Net.OutputOf(gate);
            string plutoOut = f.Net.OutputOf(pluto);
            string why = Both(pluto, gate);

            // Certgate verified pluto's RSASSA-PSS AUTH (method 14) and signed its own with method 14.
            Assert.True(gateOut.Contains("AUTH local 14 (DigitalSignature), peer 14 (DigitalSignature)", StringComparison.Ordinal), "Certgate did not report AUTH method 14 both ways" + why);
            Assert.True(gateOut.Contains($"IKE: SA established with {f.PlutoSubject.Name} (issuer {f.Ca.Subject})", StringComparison.Ordinal), "Certgate did not name pluto's certificate" + why);
            // pluto verified Certgate's RSASSA-PSS AUTH.
            Assert.True(plutoOut.Contains($"initiator established IKE SA; {PssAuthenticated}", StringComparison.Ordinal), "pluto did not authenticate Certgate with RSASSA-PSS as initiator" + why);
        }
        finally
        {
            if (gate is not null && !gate.HasExited)
            {
                NetNamespaces.Stop(gate);
            }
            f.StopPluto(pluto);
        }
    }

    [Fact]
    public void CertgateInitiates_BothSidesAuthenticateWithRsassaPss()
    {
        Process pluto = f.StartPluto();
        Process? gate = null;
        try
        {
            gate = StartGate(initiate: true);
            WaitForPluto(pluto, gate, "established IKE SA");
            string plutoOut = f.Net.OutputOf(pluto);
            string why = Both(pluto, gate);
            Assert.True(plutoOut.Contains($"responder established IKE SA; {PssAuthenticated}", StringComparison.Ordinal), "pluto did not authenticate Certgate with RSASSA-PSS as responder" + why);

            // pluto cannot install the CHILD_SA here (no ESP in this kernel) and says so in its IKE_AUTH response after
            // its IDr, CERT and AUTH: Certgate checks that AUTH (RSASSA-PSS, method 14) before it acts on the CHILD_SA
            // error, then deletes the IKE SA pluto kept.
            Assert.True(gate.WaitForExit(30_000), "Certgate did not give up the tunnel without a CHILD_SA" + Both(pluto, gate));
            string gateOut = f.Net.OutputOf(gate);
            WaitForPluto(pluto, gate, "deleting state (STATE_V2_ESTABLISHED_IKE_SA)");
            why = Both(pluto, gate);
            string authenticated = $"the peer refused IKE_AUTH's CHILD_SA: TS_UNACCEPTABLE for the offered TSi {LibreswanFixture.GateNet}, TSr {LibreswanFixture.PlutoNet} " +
                $"(the responder authenticated as {f.PlutoSubject.Name} (ID_DER_ASN1_DN) with AUTH method 14; its IKE SA deleted)";
            Assert.True(gateOut.Contains(authenticated, StringComparison.Ordinal), $"Certgate did not say '{authenticated}'" + why);
            Assert.DoesNotContain("AUTHENTICATION_FAILED", f.Net.OutputOf(pluto), StringComparison.Ordinal);
        }
        finally
        {
            if (gate is not null && !gate.HasExited)
            {
                NetNamespaces.Stop(gate);
            }
            f.StopPluto(pluto);
        }
    }
}
