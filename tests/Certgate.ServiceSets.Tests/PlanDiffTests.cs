using Certgate.Config.Session;
using Certgate.Config.Storage;
using Certgate.Config.Ipsec;
using Certgate.Config.Pki;
using Certgate.ServiceSets.Plan;

namespace Certgate.ServiceSets.Tests;

/// <summary>Issue 6: a commit keeps running tunnels up — only tunnels whose configuration changed are touched.</summary>
public sealed class PlanDiffTests
{
    private static readonly TunnelId T1 = new("ipsec-1", "rule-ike", "t1");

    /// <summary>The next-hop example plus a second, interface-style service set with its own tunnel.</summary>
    private static readonly string Two = Plans.NextHop + "\n" + """
        set services ipsec-vpn rule rule-if term a from source-address 10.2.0.0/16
        set services ipsec-vpn rule rule-if term a from destination-address 10.3.0.0/16
        set services ipsec-vpn rule rule-if term a then remote-gateway 10.1.15.3
        set services ipsec-vpn rule rule-if term a then dynamic ike-policy ike-cert-pol
        set services ipsec-vpn rule rule-if match-direction output
        set interfaces eth1 unit 0 family inet service output service-set ss-if
        set services service-set ss-if interface-service service-interface ms-1/0/0
        set services service-set ss-if ipsec-vpn-options local-gateway 10.1.15.2
        set services service-set ss-if ipsec-vpn-rules rule-if
        """;

    private static readonly TunnelId A = new("ss-if", "rule-if", "a");

    [Fact]
    public void SameConfiguration_NothingToDo()
    {
        PlanDiff d = PlanDiff.Compute(Plans.Compile(Two), Plans.Compile(Two));
        Assert.True(d.IsEmpty);
        Assert.Equal([T1, A], d.Unchanged);
    }

    [Fact]
    public void UnrelatedChange_KeepsTunnelsUp()
    {
        PlanDiff d = PlanDiff.Compute(Plans.Compile(Two), Plans.Compile(Two,
            "set interfaces eth1 description lan",
            "set routing-options static route 10.9.0.0/16 next-hop 10.1.15.254",
            "set services ipsec-vpn ike proposal unused authentication-method rsa-signatures"));
        Assert.True(d.IsEmpty);
        Assert.Equal([T1, A], d.Unchanged);
    }

    [Fact]
    public void EspLifetimeChange_ChildOnly_OtherSetUnchanged()
    {
        PlanDiff d = PlanDiff.Compute(Plans.Compile(Two), Plans.Compile(Two, "set services ipsec-vpn ipsec proposal esp-gcm lifetime-seconds 1800"));
        Assert.Equal([new TunnelChange(T1, PeerChanged: false, ChildChanged: true)], d.Changed);
        Assert.Equal([A], d.Unchanged);
        Assert.Empty(d.Added);
        Assert.Empty(d.Removed);
    }

    [Fact]
    public void IkeChange_RenegotiatesEveryTunnelUsingThePolicy()
    {
        PlanDiff d = PlanDiff.Compute(Plans.Compile(Two), Plans.Compile(Two, "set services ipsec-vpn ike proposal ike-cert dh-group group20"));
        Assert.Equal([new TunnelChange(T1, true, false), new TunnelChange(A, true, false)], d.Changed);
        Assert.Empty(d.Unchanged);
    }

    [Fact]
    public void PreSharedKeyChange_IsAPeerChange()
    {
        string psk = Plans.NextHop + "\n" + """
            set services ipsec-vpn ike proposal ike-cert authentication-method pre-shared-keys
            set services ipsec-vpn ike policy ike-cert-pol pre-shared-key ascii-text one
            delete services ipsec-vpn ike policy ike-cert-pol local-certificate
            delete services ipsec-vpn ike policy ike-cert-pol local-id
            """;
        Assert.True(PlanDiff.Compute(Plans.Compile(psk), Plans.Compile(psk)).IsEmpty);
        PlanDiff d = PlanDiff.Compute(Plans.Compile(psk), Plans.Compile(psk, "set services ipsec-vpn ike policy ike-cert-pol pre-shared-key ascii-text two"));
        Assert.Equal([new TunnelChange(T1, true, false)], d.Changed);
    }

    [Fact]
    public void SelectorChange_ChildChange_AndSelectorsSwapped()
    {
        PlanDiff d = PlanDiff.Compute(Plans.Compile(Two), Plans.Compile(Two, "set services ipsec-vpn rule rule-if term a from destination-address 10.4.0.0/16"));
        Assert.Equal([new TunnelChange(A, false, true)], d.Changed);
        Assert.Equal("10.4.0.0/16", Assert.Single(d.SelectorsAdded).Destination.ToString());
        Assert.Equal("10.3.0.0/16", Assert.Single(d.SelectorsRemoved).Destination.ToString());
    }

    [Fact]
    public void TermsAndServiceSets_AddedAndRemoved_WithTheirDevicesAndRoutes()
    {
        ServiceSetPlan one = Plans.Compile(Plans.NextHop);
        ServiceSetPlan two = Plans.Compile(Two, "set routing-options static route 10.5.0.0/16 next-hop ms-0/0/0.1");
        PlanDiff up = PlanDiff.Compute(one, two);
        Assert.Equal([T1], up.Unchanged);
        Assert.Equal([A], up.Added.Select(t => t.Id));
        Assert.Equal(["ms1-0-0-0"], up.DevicesAdded.Select(x => x.Name));
        Assert.Equal(["10.5.0.0/16"], up.RoutesAdded.Select(r => r.Destination.ToString()));
        Assert.Single(up.SelectorsAdded);

        PlanDiff down = PlanDiff.Compute(two, one);
        Assert.Equal([A], down.Removed);
        Assert.Equal(["ms1-0-0-0"], down.DevicesRemoved.Select(x => x.Name));
        Assert.Equal(["10.5.0.0/16"], down.RoutesRemoved.Select(r => r.Destination.ToString()));
        Assert.Equal([T1], down.Unchanged);
    }

    [Fact]
    public void CommitThroughConfigurationMode_KeepsTheUntouchedTunnel()
    {
        string dir = Path.Combine(Path.GetTempPath(), "certgate-ss-" + Guid.NewGuid().ToString("N"));
        try
        {
            var store = new ConfigurationStore(dir);
            var err = new StringWriter();
            var session = new ConfigurationSession(store, TextWriter.Null, err, "tester");
            foreach (string line in Two.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')))
            {
                Assert.True(session.Execute(line), err.ToString());
            }
            Assert.True(session.Execute("commit"), err.ToString());
            ServiceSetPlan running = Compile(store);

            Assert.True(session.Execute("set services ipsec-vpn rule rule-if term a then remote-gateway 10.1.15.4"), err.ToString());
            Assert.True(session.Execute("commit"), err.ToString());
            PlanDiff d = PlanDiff.Compute(running, Compile(store));
            Assert.Equal([T1], d.Unchanged);
            Assert.Equal([new TunnelChange(A, true, false)], d.Changed);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static ServiceSetPlan Compile(ConfigurationStore store)
    {
        var active = store.LoadActive();
        return ServiceSetCompiler.Compile(IpsecVpnConfiguration.From(active), PkiConfiguration.From(active));
    }

    [Fact]
    public void NullPlans_AreArgumentErrors()
    {
        Assert.Throws<ArgumentNullException>("before", () => PlanDiff.Compute(null!, ServiceSetPlan.Empty));
        Assert.Throws<ArgumentNullException>("after", () => PlanDiff.Compute(ServiceSetPlan.Empty, null!));
    }
}
