using Certgate.Config;
using Certgate.Config.Ipsec;
using Certgate.Config.Pki;
using Certgate.Config.Text;
using Certgate.Config.Tree;
using Certgate.Gateway.Tunnels;
using Certgate.ServiceSets;
using Certgate.ServiceSets.Plan;

namespace Certgate.Gateway.Tests.Tunnels;

/// <summary>Interface service set → <c>ip rule</c> and <c>ip route … table</c> commands (docs/decisions.md "Interface
/// service sets on Linux"). The commands run for real in the scenario tests (InterfaceServiceSetTests).</summary>
public sealed class PolicyRoutingTests
{
    private const string Base = """
        set security pki ca-profile test ca-identity test
        set services ipsec-vpn ike proposal p authentication-method rsa-signatures
        set services ipsec-vpn ike policy ip version 2
        set services ipsec-vpn ike policy ip proposals p
        set services ipsec-vpn ike policy ip local-certificate gw-cert
        set interfaces eth0 unit 0 family inet address 10.88.0.1/24
        set interfaces eth1 unit 0 family inet address 172.30.1.1/24
        set interfaces sp-0/0/0 unit 0 family inet
        set services service-set ss-if interface-service service-interface sp-0/0/0
        set services service-set ss-if ipsec-vpn-options local-gateway 10.88.0.1
        set services service-set ss-if ipsec-vpn-rules rule-if
        set services ipsec-vpn rule rule-if term t1 from source-address 172.30.1.0/24
        set services ipsec-vpn rule rule-if term t1 from destination-address 172.30.2.0/24
        set services ipsec-vpn rule rule-if term t1 then remote-gateway 10.88.0.2
        set services ipsec-vpn rule rule-if term t1 then dynamic ike-policy ip
        set interfaces eth0 unit 0 family inet service output service-set ss-if

        """;

    private static ServiceSetPlan Compile(string text)
    {
        ConfigNode root = ConfigText.ParseSet(GatewaySchema.Instance, text);
        Assert.Empty(GatewaySchema.Instance.Check(root));
        return ServiceSetCompiler.Compile(IpsecVpnConfiguration.From(root), PkiConfiguration.From(root));
    }

    private static string[] Commands(PolicyRouting p) => [.. p.Routes.Select(r => r.ToString()), .. p.Rules.Select(r => r.ToString())];

    [Fact]
    public void OutputDirection_TableRouteIntoTheServiceInterface_SelectorRule_IkeAndEspToThePeerExempt()
    {
        ServiceSetPlan plan = Compile(Base + "set services ipsec-vpn rule rule-if match-direction output\n");
        Assert.Equal(ServiceSetStyle.Interface, Assert.Single(plan.Tunnels).Style);
        Assert.Equal(
        [
            "ip route 172.30.2.0/24 dev sp0-0-0-0 table 30000",
            "ip rule priority 9990 from all to 10.88.0.2/32 ipproto udp dport 500 lookup main",
            "ip rule priority 9990 from all to 10.88.0.2/32 ipproto udp dport 4500 lookup main",
            "ip rule priority 9990 from all to 10.88.0.2/32 ipproto esp lookup main",
            "ip rule priority 10000 from 172.30.1.0/24 to 172.30.2.0/24 lookup 30000",
        ], Commands(PolicyRouting.Compute(plan, new PolicySlots().Of)));
    }

    [Fact]
    public void InputDirection_MatchesTheInterfaceItIsAppliedOn_EachSetItsOwnTableAndPriority()
    {
        string text = Base.Replace("service output", "service input", StringComparison.Ordinal) + """
            set services ipsec-vpn rule rule-if match-direction input
            set interfaces sp-0/0/1 unit 0 family inet
            set services service-set ss-b interface-service service-interface sp-0/0/1
            set services service-set ss-b ipsec-vpn-options local-gateway 10.88.0.1
            set services service-set ss-b ipsec-vpn-rules rule-b
            set services ipsec-vpn rule rule-b term t from destination-address 0.0.0.0/0
            set services ipsec-vpn rule rule-b term t then remote-gateway 10.88.0.3
            set services ipsec-vpn rule rule-b term t then dynamic ike-policy ip
            set services ipsec-vpn rule rule-b match-direction output
            set interfaces eth1 unit 0 family inet service output service-set ss-b

            """;
        var slots = new PolicySlots();
        string[] commands = Commands(PolicyRouting.Compute(Compile(text), slots.Of));
        Assert.Contains("ip rule priority 10000 from 172.30.1.0/24 to 172.30.2.0/24 iif eth0 lookup 30000", commands);
        Assert.Contains("ip route 0.0.0.0/0 dev sp0-0-1-0 table 30001", commands);
        Assert.Contains("ip rule priority 10001 from all to all lookup 30001", commands);
        Assert.Contains("ip rule priority 9990 from all to 10.88.0.3/32 ipproto udp dport 4500 lookup main", commands);
        Assert.Contains("ip rule priority 9990 from all to 10.88.0.3/32 ipproto esp lookup main", commands);
        Assert.Equal(10, commands.Length);
    }

    [Fact]
    public void SlotsStayWithTheirServiceSet_AFreedSlotIsReused()
    {
        var slots = new PolicySlots();
        Assert.Equal(0, slots.Of("a"));
        Assert.Equal(1, slots.Of("b"));
        slots.Retain(["b"]);
        Assert.Equal(1, slots.Of("b"));
        Assert.Equal(0, slots.Of("c"));
    }

    [Fact]
    public void NextHopPlan_NoPolicyRouting()
    {
        string text = """
            set services ipsec-vpn ike proposal p authentication-method rsa-signatures
            set services ipsec-vpn ike policy ip proposals p
            set services ipsec-vpn ike policy ip local-certificate gw-cert
            set services ipsec-vpn rule r term t then remote-gateway 10.88.0.2
            set services ipsec-vpn rule r term t then dynamic ike-policy ip
            set services ipsec-vpn rule r match-direction input
            set interfaces ms-0/0/0 unit 1 family inet address 172.30.1.1/24
            set interfaces ms-0/0/0 unit 1 service-domain inside
            set interfaces ms-0/0/0 unit 2 family inet
            set interfaces ms-0/0/0 unit 2 service-domain outside
            set services service-set s next-hop-service inside-service-interface ms-0/0/0.1
            set services service-set s next-hop-service outside-service-interface ms-0/0/0.2
            set services service-set s ipsec-vpn-options local-gateway 10.88.0.1
            set services service-set s ipsec-vpn-rules r

            """;
        Assert.Equal(PolicyRouting.Empty.Rules, PolicyRouting.Compute(Compile(text), new PolicySlots().Of).Rules);
    }

    private const string SecondSet = """
        set interfaces eth2 unit 0 family inet address 10.99.0.1/24
        set interfaces sp-0/0/1 unit 0 family inet
        set services service-set ss-b interface-service service-interface sp-0/0/1
        set services service-set ss-b ipsec-vpn-options local-gateway 10.99.0.1
        set services service-set ss-b ipsec-vpn-rules rule-b
        set services ipsec-vpn rule rule-b term t from source-address 192.168.1.0/24
        set services ipsec-vpn rule rule-b term t from destination-address 192.168.2.0/24
        set services ipsec-vpn rule rule-b term t then remote-gateway 10.99.0.2
        set services ipsec-vpn rule rule-b term t then dynamic ike-policy ip
        set services ipsec-vpn rule rule-b match-direction output
        set interfaces eth2 unit 0 family inet service output service-set ss-b

        """;

    private static readonly HashSet<string> NoDevice = [];

    [Fact]
    public void Commit_ChangedTerm_ReplacesExactlyThatRuleAndRoute_TheOtherSetAndTheExemptionsStay()
    {
        var slots = new PolicySlots();
        string before = Base + SecondSet + "set services ipsec-vpn rule rule-if match-direction output\n";
        PolicyRouting running = PolicyRouting.Compute(Compile(before), slots.Of);
        PolicyRouting next = PolicyRouting.Compute(Compile(before.Replace("destination-address 172.30.2.0/24", "destination-address 172.30.3.0/24", StringComparison.Ordinal)), slots.Of);
        PolicyChanges c = running.To(next, NoDevice);
        Assert.Equal(["ip rule priority 10000 from 172.30.1.0/24 to 172.30.2.0/24 lookup 30000"], c.RulesRemoved.Select(r => r.ToString()));
        Assert.Equal(["ip route 172.30.2.0/24 dev sp0-0-0-0 table 30000"], c.RoutesRemoved.Select(r => r.ToString()));
        Assert.Equal(["ip route 172.30.3.0/24 dev sp0-0-0-0 table 30000"], c.RoutesAdded.Select(r => r.ToString()));
        Assert.Equal(["ip rule priority 10000 from 172.30.1.0/24 to 172.30.3.0/24 lookup 30000"], c.RulesAdded.Select(r => r.ToString()));
    }

    [Fact]
    public void Commit_SetRemoved_RemovesItsRulesRoutesAndExemptions_TheOtherSetKeepsItsSlot()
    {
        var slots = new PolicySlots();
        string both = Base + SecondSet + "set services ipsec-vpn rule rule-if match-direction output\n";
        PolicyRouting running = PolicyRouting.Compute(Compile(both), slots.Of);
        string onlyB = both.Replace("set interfaces eth0 unit 0 family inet service output service-set ss-if\n", "", StringComparison.Ordinal)
            .Replace("set services service-set ss-if ", "# ", StringComparison.Ordinal);
        slots.Retain(["ss-b"]);
        PolicyRouting next = PolicyRouting.Compute(Compile(onlyB), slots.Of);
        PolicyChanges c = running.To(next, new HashSet<string>(["sp0-0-0-0"]));
        Assert.Equal(
        [
            "ip rule priority 9990 from all to 10.88.0.2/32 ipproto udp dport 500 lookup main",
            "ip rule priority 9990 from all to 10.88.0.2/32 ipproto udp dport 4500 lookup main",
            "ip rule priority 9990 from all to 10.88.0.2/32 ipproto esp lookup main",
            "ip rule priority 10000 from 172.30.1.0/24 to 172.30.2.0/24 lookup 30000",
        ], c.RulesRemoved.Select(r => r.ToString()));
        // The removed device took its table's route with it.
        Assert.Empty(c.RoutesRemoved);
        Assert.Empty(c.RoutesAdded);
        Assert.Empty(c.RulesAdded);
        Assert.Contains("ip rule priority 10001 from 192.168.1.0/24 to 192.168.2.0/24 lookup 30001", next.Rules.Select(r => r.ToString()));
    }

    [Fact]
    public void Commit_DeviceRecreated_ItsRoutesAreAddedAgain()
    {
        PolicyRouting p = PolicyRouting.Compute(Compile(Base + "set services ipsec-vpn rule rule-if match-direction output\n"), new PolicySlots().Of);
        PolicyChanges c = p.To(p, new HashSet<string>(["sp0-0-0-0"]));
        Assert.Empty(c.RulesRemoved);
        Assert.Empty(c.RulesAdded);
        Assert.Empty(c.RoutesRemoved);
        Assert.Equal(["ip route 172.30.2.0/24 dev sp0-0-0-0 table 30000"], c.RoutesAdded.Select(r => r.ToString()));
    }
}
