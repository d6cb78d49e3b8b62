using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Certgate.Scenario.Tests;

/// <summary>
/// The xUnit collection of the strongSwan IKE test classes: they share one <see cref="StrongswanFixture"/> (one pair of
/// namespaces and one charon) and run one after another, as the cases of one class did before (issue #13 §3).
/// </summary>
[CollectionDefinition(StrongswanIkeTestBase.Collection)]
public sealed class StrongswanIkeCollection : ICollectionFixture<StrongswanFixture>;

/// <summary>
/// What the strongSwan IKE test classes (<see cref="StrongswanIkeTests"/>, <see cref="StrongswanProposalTests"/>,
/// <see cref="StrongswanIkeSaTests"/>, <see cref="StrongswanEsnTests"/>, <see cref="StrongswanTrafficSelectorTests"/>)
/// do alike: configure charon, start <c>certgate debug ike-tunnel</c> in the gateway's namespace, drive it through its
/// control file, and wait until both sides agree on the SAs.
/// </summary>
public abstract class StrongswanIkeTestBase(StrongswanFixture fixture)
{
    /// <summary>The name of <see cref="StrongswanIkeCollection"/>.</summary>
    public const string Collection = "strongswan-ike";

    /// <summary>The shared namespaces, CA and charon.</summary>
    protected StrongswanFixture f { get; } = fixture;

    protected const string CharonInitiates = "charon-initiates";
    protected const string CertgateInitiates = "certgate-initiates";

    protected Charon Charon => f.Charon;

    protected void Configure(string ike, string esp, string charonCert, string gateCert, bool rfc7427, string charonSettings = "") =>
        Configure(ike, esp, rfc7427, f.PubkeyAuth(charonCert, gateCert), "", charonSettings);

    protected void Configure(string ike, string esp, bool rfc7427, string authRounds, string secrets, string charonSettings = "")
    {
        Charon.WriteSettings(rfc7427, charonSettings);
        Charon.Swanctl("--reload-settings");
        Charon.LoadConnection(StrongswanFixture.CharonOuter, StrongswanFixture.GateOuter, authRounds, "10.77.1.0/24", "10.77.2.0/24", ike, esp, secrets: secrets);
    }

    protected Process StartGate(string certId, bool initiate, string? remoteIdentity = null, params string[] options) =>
        StartGate(["certificate-id", certId], initiate, remoteIdentity, options);

    protected Process StartGate(string[] auth, bool initiate, string? remoteIdentity, params string[] options)
    {
        List<string> args = ["dotnet", f.Dll, "--state", f.State, "debug", "ike-tunnel", "tun", "cg0", "local", StrongswanFixture.GateOuter,
            "remote", StrongswanFixture.CharonOuter, .. auth, "local-subnet", "10.77.2.0/24", "remote-subnet", "10.77.1.0/24"];
        if (remoteIdentity is not null)
        {
            args.AddRange(["remote-identity", remoteIdentity]);
        }
        args.AddRange(options);
        if (initiate)
        {
            args.Add("initiate");
        }
        Process p = f.Net.Start(f.NsGate, [.. args]);
        f.Net.WaitFor(p, "IKE: ");
        return p;
    }

    protected static void StopGate(Process gate)
    {
        if (!gate.HasExited)
        {
            NetNamespaces.Stop(gate);
        }
    }
    protected string ControlFile => Path.Combine(f.Dir, "gate-control");

    protected void SetUpGateInside()
    {
        NetNamespaces.Run("ip", "-n", f.NsGate, "addr", "add", StrongswanFixture.GateInner + "/32", "dev", "cg0");
        NetNamespaces.Run("ip", "-n", f.NsGate, "link", "set", "cg0", "up");
        NetNamespaces.Run("ip", "-n", f.NsGate, "route", "add", "10.77.1.0/24", "dev", "cg0", "src", StrongswanFixture.GateInner);
    }

    protected void PingBothWays()
    {
        Assert.Contains("3 received", Charon.Ping(f.NsCharon, StrongswanFixture.CharonInner, StrongswanFixture.GateInner));
        Assert.Contains("3 received", Charon.Ping(f.NsGate, StrongswanFixture.GateInner, StrongswanFixture.CharonInner));
    }

    protected void Control(Process gate, string command)
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
    protected (string In, string Out) AssertChildAgrees(Process gate, (string In, string Out)? previous)
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
    protected (string I, string R) AssertIkeAgrees(Process gate, (string I, string R)? previous)
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

    protected void Eventually(Func<bool> condition, Process gate, string why, int seconds = 30)
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
