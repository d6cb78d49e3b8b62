using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Rekeys under continuous traffic (issues 5 and 6): the gateway daemon with the next-hop service set against charon,
/// a ping every 10 ms across the tunnel while charon rekeys the CHILD_SA, Certgate rekeys it (<c>clear services
/// ipsec-vpn ipsec security-associations</c>) and charon rekeys the IKE SA. After each, both sides show the same new
/// SPIs, the ping went on past the rekey, and at most <see cref="MaxLost"/> of its packets were lost.
/// </summary>
public sealed partial class StrongswanGatewayTests
{
    /// <summary>Echo requests per rekey: 10 ms apart, so the rekey (started after <see cref="LeadIn"/> replies) has seconds to finish within the flow.</summary>
    private const int PingCount = 700;

    private const int LeadIn = 50;

    /// <summary>A handful: the packets in flight while one side switched to the new SA before the other had it.</summary>
    private const int MaxLost = 5;

    [Fact]
    public void GatewayDaemon_RekeysUnderContinuousPing_LoseAtMostAHandful()
    {
        ConfigureCharon();
        Process gate = StartNextHopGateway("rekey.set", NextHop);
        var lost = new List<string>();
        try
        {
            f.Net.WaitFor(gate, "waiting for the peer's IKE_SA_INIT", 60);
            (int code, string initiated) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
            Assert.True(code == 0, $"swanctl --initiate exited {code}:\n{initiated}{Why(gate)}");
            WaitFor(gate, "IKE SA up as responder", 1);
            (string In, string Out) child = ChildAgrees(gate, null, "after the first CHILD_SA");
            (string I, string R) ike = IkeAgrees(gate, null, "after IKE_AUTH");

            lost.Add(UnderPing(gate, "charon rekeys the CHILD_SA", () => Charon.Swanctl("--rekey", "--child", "net"),
                () => child = ChildAgrees(gate, child, "after charon's CHILD_SA rekey")));
            lost.Add(UnderPing(gate, "Certgate rekeys the CHILD_SA",
                () => Assert.Contains("1 tunnel(s) cleared", f.Certgate("clear", "services", "ipsec-vpn", "ipsec", "security-associations")),
                () => child = ChildAgrees(gate, child, "after Certgate's CHILD_SA rekey")));
            lost.Add(UnderPing(gate, "charon rekeys the IKE SA", () => Charon.Swanctl("--rekey", "--ike", "cg"), () =>
            {
                ike = IkeAgrees(gate, ike, "after charon's IKE SA rekey");
                // The CHILD_SA moves to the new IKE SA unchanged (RFC 7296 §2.8).
                Assert.Equal(child, ChildAgrees(gate, null, "after charon's IKE SA rekey"));
            }));
            output.WriteLine(string.Join(Environment.NewLine, lost));
        }
        finally
        {
            Charon.TrySwanctl("--terminate", "--ike", "cg", "--force", "--timeout", "2");
            NetNamespaces.Stop(gate);
        }
        Assert.True(gate.ExitCode == 0, $"the gateway exited {gate.ExitCode}{Why(gate)}");
    }

    /// <summary>
    /// Pings charon's inside address from the gateway's every 10 ms; after <see cref="LeadIn"/> replies runs
    /// <paramref name="rekey"/>, waits with <paramref name="agree"/> until both sides show the new SAs, and checks the
    /// flow went on past that point and lost at most <see cref="MaxLost"/>. Returns "what: sent N, lost M".
    /// </summary>
    private string UnderPing(Process gate, string what, Action rekey, Action agree)
    {
        Process ping = f.Net.Start(f.NsGate, "ping", "-n", "-i", "0.01", "-c", PingCount.ToString(CultureInfo.InvariantCulture),
            "-W", "1", "-I", StrongswanFixture.GateInner, StrongswanFixture.CharonInner);
        try
        {
            f.Net.WaitFor(ping, $"icmp_seq={LeadIn} ", 30);
            rekey();
            agree();
            int agreedAt = LastReply(ping);
            Assert.True(ping.WaitForExit(60_000), $"{what}: ping did not end within 60 s");
            ping.WaitForExit();
            string pinged = f.Net.OutputOf(ping);
            Match stats = Regex.Match(pinged, @"(\d+) packets transmitted, (\d+) received");
            Assert.True(stats.Success, $"{what}: ping printed no statistics:\n{pinged}");
            int sent = int.Parse(stats.Groups[1].Value, CultureInfo.InvariantCulture);
            int received = int.Parse(stats.Groups[2].Value, CultureInfo.InvariantCulture);
            string result = $"{what}: sent {sent}, received {received}, lost {sent - received}";
            // The rekey must have happened inside the flow: replies kept coming after both sides showed the new SAs.
            Assert.True(agreedAt < PingCount - LeadIn && LastReply(ping) > agreedAt + LeadIn,
                $"{what}: the flow did not go on after the rekey (last reply icmp_seq {agreedAt} when both sides agreed, {LastReply(ping)} at the end of {sent}){Why(gate)}");
            Assert.True(sent - received <= MaxLost, $"{result} (at most {MaxLost} may be lost){Why(gate)}");
            return result;
        }
        finally
        {
            NetNamespaces.Stop(ping);
        }
    }

    private int LastReply(Process ping) =>
        Regex.Matches(f.Net.OutputOf(ping), @"icmp_seq=(\d+) ").Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max();

    /// <summary>The one tunnel of <c>show services ipsec-vpn (ike|ipsec) security-associations</c> as JSON.</summary>
    private JsonNode? GateShow(string kind)
    {
        string json = f.Certgate("--json", "show", "services", "ipsec-vpn", kind, "security-associations");
        return JsonNode.Parse(json)?[$"{kind}-security-associations"]?.AsArray().SingleOrDefault();
    }

    /// <summary>
    /// Waits until charon has exactly one installed CHILD_SA (none rekeyed or deleting) whose SPIs are the gateway's
    /// (charon's inbound is the gateway's outbound) and other than <paramref name="previous"/>; returns (in, out) as the gateway names them.
    /// </summary>
    private (string In, string Out) ChildAgrees(Process gate, (string In, string Out)? previous, string what)
    {
        string seen = "";
        for (int i = 0; i < 60; i++)
        {
            string sas = Charon.Swanctl("--list-sas", "--ike", "cg");
            MatchCollection children = Regex.Matches(sas, @"INSTALLED.*\n.*\n\s*in\s+([0-9a-f]{8}).*\n\s*out\s+([0-9a-f]{8})");
            JsonArray? gateSas = GateShow("ipsec")?["security-associations"]?.AsArray();
            string? gateIn = gateSas?.FirstOrDefault(s => (string?)s?["direction"] == "inbound")?["spi-hex"]?.GetValue<string>();
            string? gateOut = gateSas?.FirstOrDefault(s => (string?)s?["direction"] == "outbound")?["spi-hex"]?.GetValue<string>();
            seen = $"charon: {sas}\ngateway: in {gateIn} out {gateOut}";
            if (children.Count == 1 && !sas.Contains("REKEYED", StringComparison.Ordinal) && !sas.Contains("DELETING", StringComparison.Ordinal)
                && gateIn == children[0].Groups[2].Value && gateOut == children[0].Groups[1].Value && (gateIn, gateOut) != previous)
            {
                return (gateIn, gateOut);
            }
            Thread.Sleep(250);
        }
        Assert.Fail($"{what}: the gateway's and charon's CHILD_SA SPIs do not agree (previous {previous}):\n{seen}{Why(gate)}");
        return default;
    }

    /// <summary>Waits until charon's one IKE SA has the gateway's current IKE SPIs, other than <paramref name="previous"/>.</summary>
    private (string I, string R) IkeAgrees(Process gate, (string I, string R)? previous, string what)
    {
        string seen = "";
        for (int i = 0; i < 60; i++)
        {
            string sas = Charon.Swanctl("--list-sas", "--ike", "cg");
            Match m = Regex.Match(sas, @"ESTABLISHED, IKEv2, ([0-9a-f]{16})_i\*? ([0-9a-f]{16})_r");
            JsonNode? tunnel = GateShow("ike");
            (string I, string R) gateSpis = ((string?)tunnel?["ike-initiator-spi"] ?? "", (string?)tunnel?["ike-responder-spi"] ?? "");
            seen = $"charon: {sas}\ngateway: {gateSpis}";
            if (m.Success && Regex.Matches(sas, "IKEv2").Count == 1 && gateSpis == (m.Groups[1].Value, m.Groups[2].Value) && gateSpis != previous)
            {
                return gateSpis;
            }
            Thread.Sleep(250);
        }
        Assert.Fail($"{what}: the gateway's and charon's IKE SA SPIs do not agree (previous {previous}):\n{seen}{Why(gate)}");
        return default;
    }
}
