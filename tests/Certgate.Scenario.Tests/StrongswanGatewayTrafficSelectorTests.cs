using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Narrowing in the gateway daemon (issues 5 and 6): the next-hop service set's rule protects 10.77.0.0/16 on the
/// gateway's side and 10.77.1.0/24 on charon's; charon offers 10.77.0.0/16 for its own side and allows only
/// 10.77.2.0/24 for the gateway's. Either way round the CHILD_SA carries 10.77.2.0/24 === 10.77.1.0/24, which the
/// gateway installs and <c>show services ipsec-vpn ipsec security-associations detail</c> shows beside the configured
/// selectors; a ping crosses.
/// </summary>
[Collection(StrongswanGatewayTestBase.Collection)]
public sealed class StrongswanGatewayTrafficSelectorTests(StrongswanFixture fixture) : StrongswanGatewayTestBase(fixture)
{
    [Fact]
    public void GatewayDaemon_NarrowsCharonsWiderOffer_AndInstallsCharonsNarrowing_ShowDisplaysTheNegotiatedTs()
    {
        f.LoadRsaConnection("10.77.0.0/16", "10.77.2.0/24");
        Process gate = StartNextHopGateway("narrow.set", NextHop.Replace("from source-address 10.77.2.0/24", "from source-address 10.77.0.0/16", StringComparison.Ordinal));
        try
        {
            f.Net.WaitFor(gate, "waiting for the peer's IKE_SA_INIT", 60);
            (int code, string initiated) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
            Assert.True(code == 0, $"swanctl --initiate exited {code}:\n{initiated}{Why(gate)}");
            WaitFor(gate, "IKE SA up as responder", 1);
            AssertNarrowed(gate, "charon initiating");

            Charon.TrySwanctl("--terminate", "--ike", "cg", "--force", "--timeout", "2");
            Assert.Contains("1 tunnel(s) cleared", f.Certgate("clear", "services", "ipsec-vpn", "ike", "security-associations"));
            WaitFor(gate, "IKE SA up as initiator", 1);
            AssertNarrowed(gate, "the gateway initiating");
        }
        finally
        {
            Charon.TrySwanctl("--terminate", "--ike", "cg", "--force", "--timeout", "2");
            NetNamespaces.Stop(gate);
        }
        Assert.True(gate.ExitCode == 0, $"the gateway exited {gate.ExitCode}{Why(gate)}");
    }

    private void AssertNarrowed(Process gate, string what)
    {
        string why = $" ({what}){Why(gate)}";
        string sas = Charon.Swanctl("--list-sas", "--ike", "cg");
        Assert.True(Regex.IsMatch(sas, @"INSTALLED[\s\S]*?\n\s*local\s+10\.77\.1\.0/24\s*\n\s*remote\s+10\.77\.2\.0/24"), $"charon's CHILD_SA is not 10.77.1.0/24 === 10.77.2.0/24:\n{sas}{why}");
        string show = f.Certgate("show", "services", "ipsec-vpn", "ipsec", "security-associations", "detail");
        Assert.True(show.Contains("Local identity: ipv4_subnet(any:0,[0..7]=10.77.0.0/16)", StringComparison.Ordinal), $"show lost the configured selector:\n{show}{why}");
        Assert.True(show.Contains("Negotiated traffic selectors: local 10.77.2.0/24, remote 10.77.1.0/24", StringComparison.Ordinal), $"show has no negotiated selectors:\n{show}{why}");
        try
        {
            Assert.Contains("3 received", NetNamespaces.Run("ip", "netns", "exec", f.NsGate, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", StrongswanFixture.GateInner, StrongswanFixture.CharonInner));
        }
        catch (InvalidOperationException e)
        {
            Assert.Fail($"ping failed: {e.Message}{why}");
        }
    }
}
