using System.Net;
using System.Text;
using Certgate.Config.Interfaces;
using Certgate.Config.Ipsec;
using Certgate.Net.Addressing;

namespace Certgate.Config.Tests.Ipsec;

/// <summary>The typed view of the IPsec VPN configuration: references resolved, defaults applied.</summary>
public sealed class IpsecVpnConfigurationTests
{
    [Fact]
    public void NextHopExample_TypedView()
    {
        IpsecVpnConfiguration c = IpsecVpnConfiguration.From(Cfg.FromSet(Examples.NextHop));
        IkeProposal ike = Assert.Single(c.IkeProposals);
        Assert.Equal(new IkeProposal("ike-cert", IkeAuthenticationMethod.RsaSignatures, DhGroup.Group19, EncryptionAlgorithm.Aes256Gcm, IkeHashAlgorithm.Sha256, TimeSpan.FromHours(8)), ike);

        IkePolicy policy = Assert.Single(c.IkePolicies);
        Assert.Same(ike, Assert.Single(policy.Proposals));
        Assert.Equal(new IkeIdentity(IkeIdentityKind.Fqdn, "router2.example.com"), policy.LocalId);
        Assert.Equal([new IkeIdentity(IkeIdentityKind.Fqdn, "router3.example.com")], policy.RemoteIds);
        Assert.Equal("local-entrust2", policy.LocalCertificate);
        Assert.Null(policy.PreSharedKey);

        IpsecPolicy esp = Assert.Single(c.IpsecPolicies);
        Assert.Equal(DhGroup.Group19, esp.PfsGroup);
        Assert.Equal([
            new IpsecProposal("esp-gcm", EncryptionAlgorithm.Aes256Gcm, null, TimeSpan.FromSeconds(3600)),
            new IpsecProposal("esp-cbc", EncryptionAlgorithm.Aes256Cbc, EspIntegrityAlgorithm.HmacSha256_128, TimeSpan.FromSeconds(28800)),
        ], esp.Proposals);

        IpsecVpnRule rule = Assert.Single(c.Rules);
        Assert.Equal(MatchDirection.Input, rule.MatchDirection);
        IpsecVpnTerm term = Assert.Single(rule.Terms);
        Assert.Null(term.SourceAddress);
        Assert.Equal(IPAddress.Parse("10.1.15.1"), term.RemoteGateway);
        Assert.Same(policy, term.IkePolicy);
        Assert.Same(esp, term.IpsecPolicy);
        Assert.Null(term.DeadPeerDetection);

        NextHopServiceSet set = Assert.IsType<NextHopServiceSet>(Assert.Single(c.ServiceSets));
        Assert.Equal(new InterfaceUnit("ms-0/0/0", 1), set.Inside);
        Assert.Equal(new InterfaceUnit("ms-0/0/0", 2), set.Outside);
        Assert.Equal(IPAddress.Parse("10.1.15.2"), set.LocalGateway);
        Assert.Equal(["entrust"], set.TrustedCa);
        Assert.Same(rule, Assert.Single(set.Rules));
        Assert.True(set.AllowMulticast);

        StaticRoute route = Assert.Single(c.StaticRoutes);
        Assert.Equal(IpPrefix.Parse("10.1.56.0/24"), route.Destination);
        Assert.Equal(new InterfaceUnit("ms-0/0/0", 1), route.NextHopInterface);
        Assert.Null(route.NextHopAddress);

        InterfaceUnitConfig eth0 = c.Units.Single(u => u.Unit.Device == "eth0");
        Assert.Equal([new InterfaceAddress(IPAddress.Parse("10.1.15.2"), 24)], eth0.Addresses);
        Assert.Equal("inside", c.Units.Single(u => u.Unit == new InterfaceUnit("ms-0/0/0", 1)).ServiceDomain);
    }

    [Fact]
    public void InterfaceExample_TypedView_DefaultsApplied()
    {
        IpsecVpnConfiguration c = IpsecVpnConfiguration.From(Cfg.FromSet(Examples.Interface));
        IkeProposal ike = Assert.Single(c.IkeProposals);
        Assert.Equal(IkeHashAlgorithm.Sha256, ike.Hash);
        Assert.Equal(TimeSpan.FromSeconds(3600), ike.Lifetime);
        IkePolicy policy = Assert.Single(c.IkePolicies);
        Assert.Equal(new IkeIdentity(IkeIdentityKind.DistinguishedName, null), policy.LocalId);
        Assert.Equal([new IkeIdentity(IkeIdentityKind.DistinguishedName, "O=Example, OU=VPN", DnMatch.Container)], policy.RemoteIds);

        IpsecVpnTerm term = Assert.Single(Assert.Single(c.Rules).Terms);
        Assert.Equal(IpPrefix.Parse("10.1.12.0/24"), term.SourceAddress);
        Assert.Equal(IpPrefix.Parse("10.1.56.0/24"), term.DestinationAddress);
        Assert.Same(IpsecPolicy.Default, term.IpsecPolicy);
        Assert.Equal(new DeadPeerDetection(TimeSpan.FromSeconds(10), 3), term.DeadPeerDetection);

        InterfaceServiceSet set = Assert.IsType<InterfaceServiceSet>(Assert.Single(c.ServiceSets));
        Assert.Equal(new InterfaceUnit("ms-0/0/0", 0), set.ServiceInterface);
        Assert.Equal([
            new ServiceSetAttachment(new InterfaceUnit("eth0", 0), MatchDirection.Input, false),
            new ServiceSetAttachment(new InterfaceUnit("eth0", 0), MatchDirection.Output, false),
        ], set.AppliedOn);
    }

    [Fact]
    public void PreSharedKeys_AsciiAndHex_NeverPrinted()
    {
        IpsecVpnConfiguration c = IpsecVpnConfiguration.From(Cfg.FromSet(
            "set services ipsec-vpn ike proposal psk authentication-method pre-shared-keys",
            "set services ipsec-vpn ike policy a proposals psk",
            "set services ipsec-vpn ike policy a pre-shared-key ascii-text \"key one\"",
            "set services ipsec-vpn ike policy h proposals psk",
            "set services ipsec-vpn ike policy h pre-shared-key hexadecimal 6b6579206f6e65"));
        PreSharedKey a = c.IkePolicies[0].PreSharedKey!;
        PreSharedKey h = c.IkePolicies[1].PreSharedKey!;
        Assert.Equal(Encoding.UTF8.GetBytes("key one"), a.GetKey());
        Assert.Equal(a, h);
        Assert.Equal("pre-shared-key (7 bytes)", a.ToString());
        Assert.DoesNotContain("key one", c.IkePolicies[0].ToString());
        Assert.NotEqual(a, new PreSharedKey("key two"u8));
    }

    [Fact]
    public void UncheckedTree_Throws_WithPath()
    {
        var e = Assert.Throws<InvalidOperationException>(() => IpsecVpnConfiguration.From(Cfg.FromSet(
            "set services ipsec-vpn rule r term t then remote-gateway 192.0.2.1",
            "set services ipsec-vpn rule r term t then dynamic ike-policy missing")));
        Assert.StartsWith("[edit services ipsec-vpn rule r term t] has not passed the commit checks", e.Message);
        Assert.Throws<ArgumentNullException>("root", () => IpsecVpnConfiguration.From(null!));
    }

    [Fact]
    public void Empty_HasNothing()
    {
        IpsecVpnConfiguration c = IpsecVpnConfiguration.From(Cfg.Empty());
        Assert.Empty(c.ServiceSets);
        Assert.Empty(c.Rules);
        Assert.Empty(c.StaticRoutes);
    }

    [Theory]
    [InlineData("ms-0/0/0.11", "ms0-0-0-11")]
    [InlineData("ms-0/0/0", "ms0-0-0-0")]
    [InlineData("sp-1/2/0.1", "sp1-2-0-1")]
    [InlineData("ge-0/0/0.0", "ge0-0-0")]
    [InlineData("ge-0/0/1.100", "ge0-0-1.100")]
    [InlineData("eth0", "eth0")]
    [InlineData("veth-a.5", "veth-a.5")]
    public void LinuxNames(string junos, string linux) => Assert.Equal(linux, InterfaceUnit.Parse(junos).LinuxName);

    [Fact]
    public void LinuxNames_TooLong_AndBadNames()
    {
        Assert.Null(InterfaceUnit.Parse("ms-10/10/10.16000").LinuxName);
        Assert.False(InterfaceUnit.TryParse("ge-0/0", out _));
        Assert.False(InterfaceUnit.TryParse("eth0.x", out _));
        Assert.False(InterfaceUnit.TryParse("eth0.16385", out _));
        Assert.Contains("'a/b' is not an interface name", Assert.Throws<FormatException>(() => InterfaceUnit.Parse("a/b")).Message);
    }
}
