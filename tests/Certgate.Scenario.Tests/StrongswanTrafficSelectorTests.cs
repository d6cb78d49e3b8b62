using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Traffic selector narrowing (RFC 7296 §2.9) against charon (issue 5), on the namespaces of
/// <see cref="StrongswanFixture"/>: charon's inside address 10.77.1.1, Certgate's 10.77.2.1 on cg0.
/// <code>
///   (a) charon offers 10.77.0.0/16 === 10.77.2.0/24, Certgate allows 10.77.1.0/24: narrowed to 10.77.1.0/24
///   (b) Certgate offers 10.77.0.0/16 === 10.77.1.0/24, charon allows 10.77.2.0/24: Certgate installs 10.77.2.0/24
///   (c) disjoint selectors, either side initiating: TS_UNACCEPTABLE, the reason on both sides
///   (d) CREATE_CHILD_SA from charon for a second child: NO_ADDITIONAL_SAS / TS_UNACCEPTABLE, the first one stays
/// </code>
/// </summary>
[Collection(StrongswanIkeTestBase.Collection)]
public sealed class StrongswanTrafficSelectorTests(StrongswanFixture fixture) : StrongswanIkeTestBase(fixture)
{
    /// <summary>charon's swanctl.conf: RSA certificates both ways, the <c>net</c> child with the given selectors, and more children.</summary>
    private void ConfigureSelectors(string localTs, string remoteTs, string moreChildren = "") => f.LoadRsaConnection(localTs, remoteTs, moreChildren);

    /// <summary><c>debug ike-tunnel</c> with the given subnets (comma-separated lists).</summary>
    private Process StartGateWithSubnets(string localSubnets, string remoteSubnets, bool initiate)
    {
        List<string> args = ["dotnet", f.Dll, "--state", f.State, "debug", "ike-tunnel", "tun", "cg0", "local", StrongswanFixture.GateOuter,
            "remote", StrongswanFixture.CharonOuter, "certificate-id", "cg-rsa", "local-subnet", localSubnets, "remote-subnet", remoteSubnets];
        if (initiate)
        {
            args.Add("initiate");
        }
        Process p = f.Net.Start(f.NsGate, [.. args]);
        f.Net.WaitFor(p, "IKE: ");
        return p;
    }

    private void InitiateFromCharon(Process gate, string child = "net")
    {
        (int code, string output) = Charon.TrySwanctl("--initiate", "--child", child, "--ike", "cg", "--timeout", "15");
        Assert.True(code == 0, $"swanctl --initiate exited {code}:\n{output}\n--- certgate ---\n{f.Net.OutputOf(gate)}\n{Charon.LogTail()}");
    }

    private void WaitUp(Process gate) => Charon.BringUp(f.Net, gate, charonInitiates: false);

    /// <summary>charon's CHILD_SA selectors as <c>swanctl --list-sas</c> shows them (its local, its remote).</summary>
    private (string Local, string Remote) CharonChildTs()
    {
        string sas = Charon.Swanctl("--list-sas", "--ike", "cg");
        Match m = Regex.Match(sas, @"INSTALLED[\s\S]*?\n\s*local\s+(\S+)\s*\n\s*remote\s+(\S+)");
        Assert.True(m.Success, $"charon lists no installed CHILD_SA with selectors:\n{sas}");
        return (m.Groups[1].Value, m.Groups[2].Value);
    }

    /// <summary>The packets charon counted in on its installed CHILD_SA.</summary>
    private int CharonInPackets()
    {
        string sas = Charon.Swanctl("--list-sas", "--ike", "cg");
        Match m = Regex.Match(sas, @"INSTALLED[\s\S]*?\n\s*in\s+[0-9a-f]{8}[^\n]*?(\d+) packets");
        Assert.True(m.Success, $"charon lists no inbound packet count:\n{sas}");
        return int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// (a) charon initiates offering its whole /16 as TSi; Certgate, configured for 10.77.1.0/24 on charon's side,
    /// narrows TSi to it: charon installs 10.77.1.0/24 === 10.77.2.0/24, a ping inside it crosses both ways, and a
    /// rekey by charon (which offers the narrowed selectors again) keeps them.
    /// </summary>
    [Fact]
    public void CharonOffersWider_CertgateNarrows_CharonInstallsTheNarrowedTs_AndPingsCross()
    {
        ConfigureSelectors("10.77.0.0/16", "10.77.2.0/24");
        Process gate = StartGateWithSubnets("10.77.2.0/24", "10.77.1.0/24", initiate: false);
        try
        {
            InitiateFromCharon(gate);
            WaitUp(gate);
            string gateOut = f.Net.OutputOf(gate);
            Assert.Equal(("10.77.1.0/24", "10.77.2.0/24"), CharonChildTs());
            Assert.Contains("IKE: traffic selectors local 10.77.2.0/24, remote 10.77.1.0/24 (configured local 10.77.2.0/24, remote 10.77.1.0/24)", gateOut, StringComparison.Ordinal);
            Assert.Contains("tunnel up on cg0 (mtu 1399): 10.77.2.0/24 <-> 10.77.1.0/24", gateOut, StringComparison.Ordinal);
            SetUpGateInside();
            PingBothWays();

            Charon.Swanctl("--rekey", "--child", "net");
            Eventually(() => Regex.IsMatch(f.Net.OutputOf(gate), @"rekeyed by the peer to CHILD_SA [0-9a-f]{8}_i [0-9a-f]{8}_o"), gate, "Certgate saw no rekey from charon");
            Eventually(() => Charon.Swanctl("--list-sas", "--ike", "cg") is var s && !s.Contains("REKEYED", StringComparison.Ordinal) && s.Contains("INSTALLED", StringComparison.Ordinal), gate, "charon kept the rekeyed SA");
            Assert.Equal(("10.77.1.0/24", "10.77.2.0/24"), CharonChildTs());
            Assert.Matches(@"CHILD_SA [0-9a-f]{8}_i [0-9a-f]{8}_o: installed \([^)]*\), 10\.77\.2\.0/24 === 10\.77\.1\.0/24", f.Net.OutputOf(gate));
            PingBothWays();
        }
        finally
        {
            StopGate(gate);
        }
    }

    /// <summary>
    /// (b) Certgate initiates offering 10.77.0.0/16 as its TSi; charon, configured for 10.77.2.0/24 on Certgate's
    /// side, narrows. Certgate installs the narrowed selectors: a ping from 10.77.2.1 crosses, one from 10.77.3.1
    /// (inside the offer, outside the narrowed TS) finds no policy in Certgate's data plane and never reaches charon.
    /// </summary>
    [Fact]
    public void CertgateOffersWider_CharonNarrows_CertgateInstallsTheNarrowedTs()
    {
        ConfigureSelectors("10.77.1.0/24", "10.77.2.0/24");
        Process gate = StartGateWithSubnets("10.77.0.0/16", "10.77.1.0/24", initiate: true);
        try
        {
            WaitUp(gate);
            string gateOut = f.Net.OutputOf(gate);
            Assert.Contains("IKE: traffic selectors local 10.77.2.0/24, remote 10.77.1.0/24 (configured local 10.77.0.0/16, remote 10.77.1.0/24)", gateOut, StringComparison.Ordinal);
            Assert.Contains("tunnel up on cg0 (mtu 1399): 10.77.2.0/24 <-> 10.77.1.0/24", gateOut, StringComparison.Ordinal);
            Assert.Equal(("10.77.1.0/24", "10.77.2.0/24"), CharonChildTs());
            // No IPv6 on cg0: its neighbour discovery would count as packets without a policy too.
            NetNamespaces.Run("ip", "netns", "exec", f.NsGate, "sysctl", "-q", "-w", "net.ipv6.conf.cg0.disable_ipv6=1");
            SetUpGateInside();
            NetNamespaces.Run("ip", "-n", f.NsGate, "addr", "add", "10.77.3.1/32", "dev", "cg0");
            PingBothWays();
            int before = CharonInPackets();
            Assert.Throws<InvalidOperationException>(() => NetNamespaces.Run("ip", "netns", "exec", f.NsGate, "ping", "-c", "3", "-i", "0.2", "-W", "1", "-I", "10.77.3.1", StrongswanFixture.CharonInner));
            Assert.Equal(before, CharonInPackets());
        }
        finally
        {
            StopGate(gate);
        }
        Match noPolicy = Regex.Match(f.Net.OutputOf(gate), @"tunnel stopped: .*NoPolicy (\d+)");
        Assert.True(noPolicy.Success && int.Parse(noPolicy.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 3,
            $"Certgate's data plane did not drop the pings from 10.77.3.1 for want of a policy:\n{f.Net.OutputOf(gate)}");
    }

    /// <summary>
    /// (c) charon's selectors and Certgate's share nothing. The responder answers IKE_AUTH with N(TS_UNACCEPTABLE);
    /// Certgate names what was offered and what it has (as responder) or what it offered (as initiator), charon logs
    /// the notify (as initiator) or which selectors it found unacceptable (as responder); no SA stays.
    /// </summary>
    [Theory]
    [InlineData(CharonInitiates)]
    [InlineData(CertgateInitiates)]
    public void DisjointSelectors_TsUnacceptable_WithTheReasonOnBothSides(string role)
    {
        ConfigureSelectors("10.88.1.0/24", "10.88.2.0/24");
        int logStart = Charon.Log().Length;
        Process gate = StartGateWithSubnets("10.77.2.0/24", "10.77.1.0/24", initiate: role == CertgateInitiates);
        try
        {
            if (role == CharonInitiates)
            {
                (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
                Assert.True(code != 0, $"charon's initiate succeeded with disjoint selectors:\n{output}");
            }
            Assert.True(gate.WaitForExit(20_000), $"certgate did not give up\n{f.Net.OutputOf(gate)}\n{Charon.LogTail()}");
        }
        finally
        {
            StopGate(gate);
        }
        string gateOut = f.Net.OutputOf(gate);
        string why = $"\n--- certgate ---\n{gateOut}\n{Charon.LogTail(80)}";
        Assert.DoesNotContain("tunnel up", gateOut, StringComparison.Ordinal);
        string expectedGate = role == CharonInitiates
            ? "TS_UNACCEPTABLE: the initiator offered TSi 10.88.1.0/24, TSr 10.88.2.0/24; configured here: remote 10.77.1.0/24, local 10.77.2.0/24"
            : "TS_UNACCEPTABLE for the offered TSi 10.77.2.0/24, TSr 10.77.1.0/24";
        Assert.True(gateOut.Contains(expectedGate, StringComparison.Ordinal), $"Certgate did not say '{expectedGate}'" + why);
        string log = Charon.Log()[logStart..];
        // As responder charon keeps the IKE SA without a CHILD_SA (RFC 7296 §1.2); Certgate, which has no use for it, deletes it.
        string[] expectedCharon = role == CharonInitiates
            ? ["parsed IKE_AUTH response 1 [ N(TS_UNACCEPT) ]"]
            : ["traffic selectors 10.77.1.0/24 === 10.77.2.0/24 unacceptable", "generating IKE_AUTH response 1 [ IDr CERT AUTH N(TS_UNACCEPT) ]", "received DELETE for IKE_SA cg"];
        foreach (string expected in expectedCharon)
        {
            Assert.True(log.Contains(expected, StringComparison.Ordinal), $"charon did not log '{expected}'" + why);
        }
        string sas = "";
        for (int i = 0; i < 40; i++)
        {
            sas = Charon.Swanctl("--list-sas", "--ike", "cg");
            if (!sas.Contains("INSTALLED", StringComparison.Ordinal) && !sas.Contains("ESTABLISHED", StringComparison.Ordinal))
            {
                break;
            }
            Thread.Sleep(50);
        }
        Assert.DoesNotContain("INSTALLED", sas, StringComparison.Ordinal);
    }

    /// <summary>
    /// (d) CREATE_CHILD_SA without REKEY_SA from charon (<c>swanctl --initiate --child</c> on the established IKE SA):
    /// a child whose selectors Certgate allows but that are not the running CHILD_SA's gets NO_ADDITIONAL_SAS (one
    /// policy per IKE SA), one outside Certgate's selectors gets TS_UNACCEPTABLE; the first CHILD_SA keeps carrying.
    /// </summary>
    [Fact]
    public void AdditionalChildFromCharon_IsRefusedWithTheReason_AndTheFirstChildStays()
    {
        ConfigureSelectors("10.77.1.0/24", "10.77.2.0/24", """
                  other {
                    local_ts = 10.77.5.0/24
                    remote_ts = 10.77.2.0/24
                    esp_proposals = aes256gcm16
                    start_action = none
                  }
                  stranger {
                    local_ts = 10.88.5.0/24
                    remote_ts = 10.77.2.0/24
                    esp_proposals = aes256gcm16
                    start_action = none
                  }
            """);
        Process gate = StartGateWithSubnets("10.77.2.0/24", "10.77.1.0/24,10.77.5.0/24", initiate: false);
        try
        {
            InitiateFromCharon(gate);
            WaitUp(gate);
            SetUpGateInside();
            int logStart = Charon.Log().Length;
            (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "other", "--ike", "cg", "--timeout", "10");
            Assert.True(code != 0, $"charon's second child came up:\n{output}");
            (code, output) = Charon.TrySwanctl("--initiate", "--child", "stranger", "--ike", "cg", "--timeout", "10");
            Assert.True(code != 0, $"charon's third child came up:\n{output}");
            string log = Charon.Log()[logStart..];
            string gateOut = f.Net.OutputOf(gate);
            string why = $"\n--- certgate ---\n{gateOut}\n{Charon.LogTail(80)}";
            Assert.True(log.Contains("N(NO_ADD_SAS)", StringComparison.Ordinal), "charon got no NO_ADDITIONAL_SAS" + why);
            Assert.True(log.Contains("N(TS_UNACCEPT)", StringComparison.Ordinal), "charon got no TS_UNACCEPTABLE" + why);
            Assert.Contains("CHILD_CREATE: NO_ADDITIONAL_SAS: the peer asks for a CHILD_SA 10.77.2.0/24 === 10.77.5.0/24 beside", gateOut, StringComparison.Ordinal);
            Assert.Contains("CHILD_CREATE: TS_UNACCEPTABLE: the initiator offered TSi 10.88.5.0/24, TSr 10.77.2.0/24; configured here: remote 10.77.1.0/24, 10.77.5.0/24, local 10.77.2.0/24", gateOut, StringComparison.Ordinal);
            Assert.Equal(("10.77.1.0/24", "10.77.2.0/24"), CharonChildTs());
            PingBothWays();
        }
        finally
        {
            StopGate(gate);
        }
    }
}
