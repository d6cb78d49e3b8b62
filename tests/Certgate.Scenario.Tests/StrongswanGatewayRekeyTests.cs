using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Rekeys under continuous traffic (issues 5 and 6): the gateway daemon with the next-hop service set against charon,
/// a ping every 10 ms across the tunnel while charon rekeys the CHILD_SA, Certgate rekeys it (<c>clear services
/// ipsec-vpn ipsec security-associations</c>) and charon rekeys the IKE SA. After each, both sides show the same new
/// SPIs, the ping went on past the rekey, and every lost echo falls inside the rekey (between its start and both
/// sides agreeing, plus what was in flight then), at most <see cref="MaxLost"/> of them.
/// </summary>
/// <remarks>The flow runs until it has gone on <see cref="LeadIn"/> replies past the agreement, however long the rekey
/// and the show commands take on a loaded machine (issue 13: a fixed count of 700 echoes ended before two loaded cores
/// got there). The bound is a second of the flow: the packets one side sent under the new SA before the other had it
/// (the responder moves its traffic at once); a lost echo outside the rekey is a failure whatever the count.</remarks>
[Collection(StrongswanGatewayTestBase.Collection)]
public sealed class StrongswanGatewayRekeyTests(StrongswanFixture fixture, ITestOutputHelper output) : StrongswanGatewayTestBase(fixture)
{
    /// <summary>Replies before the rekey starts and after both sides agree.</summary>
    private const int LeadIn = 50;

    /// <summary>One second of the 10 ms flow.</summary>
    private const int MaxLost = 100;

    [Fact]
    public void GatewayDaemon_RekeysUnderContinuousPing_LosesOnlyAroundTheRekey()
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
    /// <paramref name="rekey"/>, waits with <paramref name="agree"/> until both sides show the new SAs, lets the flow go
    /// on <see cref="LeadIn"/> replies more and stops it. Returns "what: sent N, lost M (icmp_seq …)".
    /// </summary>
    private string UnderPing(Process gate, string what, Action rekey, Action agree)
    {
        Process ping = f.Net.Start(f.NsGate, "ping", "-n", "-i", "0.01", "-W", "1", "-I", StrongswanFixture.GateInner, StrongswanFixture.CharonInner);
        try
        {
            f.Net.WaitFor(ping, $"icmp_seq={LeadIn} ", 60);
            int startedAt = LastReply(ping);
            rekey();
            agree();
            int agreedAt = LastReply(ping);
            // The rekey must have happened inside the flow: replies keep coming after both sides showed the new SAs.
            DateTime until = DateTime.UtcNow.AddSeconds(60);
            while (LastReply(ping) <= agreedAt + LeadIn && !ping.HasExited && DateTime.UtcNow < until)
            {
                Thread.Sleep(100);
            }
            int last = LastReply(ping);
            Assert.True(last > agreedAt + LeadIn,
                $"{what}: the flow did not go on after the rekey (last reply icmp_seq {agreedAt} when both sides agreed, {last} 60 s later){Why(gate)}");
            NetNamespaces.Run("kill", "-INT", ping.Id.ToString(CultureInfo.InvariantCulture));
            Assert.True(ping.WaitForExit(10_000), $"{what}: ping did not end on SIGINT");
            ping.WaitForExit();
            string pinged = f.Net.OutputOf(ping);
            Match stats = Regex.Match(pinged, @"(\d+) packets transmitted, (\d+) received");
            Assert.True(stats.Success, $"{what}: ping printed no statistics:\n{pinged}");
            // Echoes up to the last reply without a reply of their own (the ones still out when it stopped are not lost).
            var replied = Replies(ping).ToHashSet();
            List<int> lost = [.. Enumerable.Range(1, last).Where(seq => !replied.Contains(seq))];
            string result = $"{what}: sent {stats.Groups[1].Value}, received {stats.Groups[2].Value}, lost {lost.Count} (icmp_seq {string.Join(' ', lost)}; rekey from {startedAt}, agreed at {agreedAt})";
            // In flight when both sides agreed: what one more second of the flow adds.
            List<int> outside = [.. lost.Where(seq => seq <= startedAt || seq > agreedAt + MaxLost)];
            Assert.True(outside.Count == 0, $"{result}: echoes lost outside the rekey{Why(gate)}");
            Assert.True(lost.Count <= MaxLost, $"{result} (at most {MaxLost} may be lost){Why(gate)}");
            return result;
        }
        finally
        {
            NetNamespaces.Stop(ping);
        }
    }

    private IEnumerable<int> Replies(Process ping) =>
        Regex.Matches(f.Net.OutputOf(ping), @"icmp_seq=(\d+) ").Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));

    private int LastReply(Process ping) => Replies(ping).DefaultIfEmpty(0).Max();

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
