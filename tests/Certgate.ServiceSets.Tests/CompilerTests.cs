using System.Net;
using Certgate.Config.Ipsec;
using Certgate.Net.Addressing;
using Certgate.ServiceSets.Plan;
using Certgate.Ipsec.Registry;
using DhGroup = Certgate.Ipsec.Registry.DhGroup;
using EncryptionAlgorithm = Certgate.Ipsec.Registry.EncryptionAlgorithm;

namespace Certgate.ServiceSets.Tests;

public sealed class CompilerTests
{
    private static readonly IpPrefix Any = IpPrefix.Parse("0.0.0.0/0");

    [Fact]
    public void NextHop_Example_OneTunnel_WideSelectors_RouteIntoInsideTun()
    {
        ServiceSetPlan plan = Plans.Compile(Plans.NextHop);
        TunnelPlan t = Assert.Single(plan.Tunnels);
        Assert.Equal(new TunnelId("ipsec-1", "rule-ike", "t1"), t.Id);
        Assert.Equal(ServiceSetStyle.NextHop, t.Style);

        PeerConfig p = t.Peer;
        Assert.Equal(IPAddress.Parse("10.1.15.2"), p.LocalAddress);
        Assert.Equal(IPAddress.Parse("10.1.15.1"), p.RemoteAddress);
        Assert.Equal([new IkeTransformSet(EncryptionAlgorithm.ENCR_AES_GCM_16, 256, PseudorandomFunction.PRF_HMAC_SHA2_256, IntegrityAlgorithm.NONE, DhGroup.ECP_256)], p.Proposals);
        Assert.Equal(AuthMethod.RSA_DIGITAL_SIGNATURE, p.AuthMethod);
        Assert.Equal([AuthMethod.RSA_DIGITAL_SIGNATURE], p.PeerAuthMethods);
        Assert.Equal(new IdentityPlan(IdType.ID_FQDN, "router2.example.com"), p.LocalId);
        Assert.Equal([new IdentityPlan(IdType.ID_FQDN, "router3.example.com")], p.RemoteIds);
        Assert.Equal("local-entrust2", p.LocalCertificate);
        Assert.Null(p.PreSharedKey);
        Assert.Equal(["entrust"], p.TrustedCas);
        Assert.Equal(TimeSpan.FromHours(8), p.Lifetime);

        ChildConfig c = t.Child;
        Assert.Equal([
            new EspTransformSet(EncryptionAlgorithm.ENCR_AES_GCM_16, 256, IntegrityAlgorithm.NONE),
            new EspTransformSet(EncryptionAlgorithm.ENCR_AES_CBC, 256, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128),
        ], c.Proposals);
        Assert.Equal(DhGroup.ECP_256, c.PfsGroup);
        Assert.Equal([Any], c.LocalTrafficSelectors);
        Assert.Equal([Any], c.RemoteTrafficSelectors);
        Assert.Equal(TimeSpan.FromSeconds(3600), c.Lifetime);
        Assert.Equal("ms0-0-0-1", c.Device);

        Assert.Equal([new TunDevicePlan("ms0-0-0-1", "ms-0/0/0.1", "ipsec-1", ServiceSetStyle.NextHop, [])], plan.Devices);
        Assert.Equal([new RoutePlan(IpPrefix.Parse("10.1.56.0/24"), "ms0-0-0-1", "ipsec-1")], plan.Routes);
        Assert.Empty(plan.Selectors);
    }

    [Fact]
    public void Interface_Example_TermIsTheSelector_SteeredOnItsInterface()
    {
        ServiceSetPlan plan = Plans.Compile(Plans.Interface);
        TunnelPlan t = Assert.Single(plan.Tunnels);
        Assert.Equal(ServiceSetStyle.Interface, t.Style);
        Assert.Equal(new IdentityPlan(IdType.ID_DER_ASN1_DN, null), t.Peer.LocalId);
        Assert.Equal([new IdentityPlan(IdType.ID_DER_ASN1_DN, "O=Example, OU=VPN", DnMatch.Container)], t.Peer.RemoteIds);
        Assert.Equal(AuthMethod.ECDSA_SHA_256_P256, t.Peer.AuthMethod);
        Assert.Equal([new IkeTransformSet(EncryptionAlgorithm.ENCR_AES_GCM_16, 128, PseudorandomFunction.PRF_HMAC_SHA2_256, IntegrityAlgorithm.NONE, DhGroup.ECP_256)], t.Peer.Proposals);
        Assert.Equal(new DeadPeerDetection(TimeSpan.FromSeconds(10), 3), t.Peer.DeadPeerDetection);

        IpPrefix local = IpPrefix.Parse("10.1.12.0/24"), remote = IpPrefix.Parse("10.1.56.0/24");
        Assert.Equal([local], t.Child.LocalTrafficSelectors);
        Assert.Equal([remote], t.Child.RemoteTrafficSelectors);
        // No ipsec-policy: the default proposals (docs/decisions.md), no PFS.
        Assert.Equal([
            new EspTransformSet(EncryptionAlgorithm.ENCR_AES_GCM_16, 256, IntegrityAlgorithm.NONE),
            new EspTransformSet(EncryptionAlgorithm.ENCR_AES_GCM_16, 128, IntegrityAlgorithm.NONE),
            new EspTransformSet(EncryptionAlgorithm.ENCR_AES_CBC, 256, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128),
        ], t.Child.Proposals);
        Assert.Null(t.Child.PfsGroup);
        Assert.Equal(TimeSpan.FromSeconds(28800), t.Child.Lifetime);

        Assert.Equal("ms0-0-0-0", t.Child.Device);
        Assert.Equal([new PolicySelectorPlan(t.Id, "eth0", MatchDirection.Output, local, remote, "ms0-0-0-0")], plan.Selectors);
        Assert.Empty(plan.Routes);
    }

    [Fact]
    public void Psk_WithoutLocalId_SendsTheGatewayAddress_AndCbcHasIntegrity()
    {
        ServiceSetPlan plan = Plans.Compile(Plans.NextHop,
            "set services ipsec-vpn ike proposal psk authentication-method pre-shared-keys",
            "set services ipsec-vpn ike proposal psk encryption-algorithm aes-128-cbc",
            "set services ipsec-vpn ike proposal psk authentication-algorithm sha-384",
            "set services ipsec-vpn ike proposal psk dh-group group14",
            "set services ipsec-vpn ike policy psk-pol proposals psk",
            "set services ipsec-vpn ike policy psk-pol pre-shared-key ascii-text s3cret-key",
            "set services ipsec-vpn rule rule-ike term t2 from source-address 2001:db8:1::/48",
            "set services ipsec-vpn rule rule-ike term t2 then remote-gateway 10.1.15.9",
            "set services ipsec-vpn rule rule-ike term t2 then dynamic ike-policy psk-pol");
        TunnelPlan t2 = plan.Find(new TunnelId("ipsec-1", "rule-ike", "t2"))!;
        Assert.Equal(new IdentityPlan(IdType.ID_IPV4_ADDR, "10.1.15.2"), t2.Peer.LocalId);
        Assert.Equal(AuthMethod.SHARED_KEY_MESSAGE_INTEGRITY_CODE, t2.Peer.AuthMethod);
        Assert.Equal("s3cret-key"u8.ToArray(), t2.Peer.PreSharedKey!.GetKey());
        Assert.DoesNotContain("s3cret", t2.ToString());
        Assert.Equal([new IkeTransformSet(EncryptionAlgorithm.ENCR_AES_CBC, 128, PseudorandomFunction.PRF_HMAC_SHA2_384, IntegrityAlgorithm.AUTH_HMAC_SHA2_384_192, DhGroup.MODP_2048)], t2.Peer.Proposals);
        // An IPv6 term without a destination gets the IPv6 wildcard on the other side.
        Assert.Equal([IpPrefix.Parse("::/0")], t2.Child.RemoteTrafficSelectors);
        Assert.Equal(2, plan.Tunnels.Count);
        Assert.Single(plan.Devices);
    }

    [Fact]
    public void ReferenceExampleB_RoutesAndDeviceInTheVrf_TermSelectors()
    {
        ServiceSetPlan plan = Plans.Compile(ReferenceB);
        TunnelPlan t = Assert.Single(plan.Tunnels);
        Assert.Equal(new TunnelId("ipsec-firewall", "to-peer", "ipsec"), t.Id);
        Assert.Equal([IpPrefix.Parse("192.168.167.0/24")], t.Child.LocalTrafficSelectors);
        Assert.Equal([IpPrefix.Parse("192.168.168.0/24")], t.Child.RemoteTrafficSelectors);
        Assert.Equal(AuthMethod.SHARED_KEY_MESSAGE_INTEGRITY_CODE, t.Peer.AuthMethod);
        Assert.Equal(new IdentityPlan(IdType.ID_IPV4_ADDR, "172.31.255.10"), t.Peer.LocalId);
        Assert.Empty(t.Peer.TrustedCas);
        Assert.Equal([new TunDevicePlan("ms0-0-0-11", "ms-0/0/0.11", "ipsec-firewall", ServiceSetStyle.NextHop, [], "ipvpn")], plan.Devices);
        Assert.Equal([new RoutePlan(IpPrefix.Parse("192.168.168.0/24"), "ms0-0-0-11", "ipsec-firewall", "ipvpn")], plan.Routes);
    }

    /// <summary>Reference §1.7 B verbatim, with the policies it names (tests/Shared/Examples).</summary>
    private static string ReferenceB => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Examples", "reference-1.7b.set"));

    [Fact]
    public void Ipv6Gateways_PskIdentityIsTheIpv6Address_OneRuleInTwoSetsGivesTwoTunnels()
    {
        ServiceSetPlan plan = Plans.Compile(Plans.NextHop,
            "set services ipsec-vpn ike proposal psk authentication-method pre-shared-keys",
            "set services ipsec-vpn ike policy psk-pol proposals psk",
            "set services ipsec-vpn ike policy psk-pol pre-shared-key hexadecimal 0011223344556677",
            "set services ipsec-vpn rule r6 term t then remote-gateway 2001:db8::2",
            "set services ipsec-vpn rule r6 term t then dynamic ike-policy psk-pol",
            "set services ipsec-vpn rule r6 match-direction input",
            "set interfaces ms-0/0/0 unit 3 service-domain inside",
            "set interfaces ms-0/0/0 unit 4 service-domain outside",
            "set interfaces ms-0/0/0 unit 5 service-domain inside",
            "set interfaces ms-0/0/0 unit 6 service-domain outside",
            "set services service-set v6a next-hop-service inside-service-interface ms-0/0/0.3 outside-service-interface ms-0/0/0.4",
            "set services service-set v6a ipsec-vpn-options local-gateway 2001:db8::1",
            "set services service-set v6a ipsec-vpn-rules r6",
            "set services service-set v6b next-hop-service inside-service-interface ms-0/0/0.5 outside-service-interface ms-0/0/0.6",
            "set services service-set v6b ipsec-vpn-options local-gateway 2001:db8::1",
            "set services service-set v6b ipsec-vpn-rules r6");
        TunnelPlan a = plan.Find(new TunnelId("v6a", "r6", "t"))!;
        TunnelPlan b = plan.Find(new TunnelId("v6b", "r6", "t"))!;
        Assert.Equal(new IdentityPlan(IdType.ID_IPV6_ADDR, "2001:db8::1"), a.Peer.LocalId);
        Assert.Equal(new byte[] { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77 }, a.Peer.PreSharedKey!.GetKey());
        Assert.Equal(a.Peer, b.Peer);
        Assert.Equal("ms0-0-0-3", a.Child.Device);
        Assert.Equal("ms0-0-0-5", b.Child.Device);
        Assert.Equal(3, plan.Tunnels.Count);
    }

    [Fact]
    public void EmptyTrustedCa_TrustsEveryConfiguredProfile()
    {
        ServiceSetPlan plan = Plans.Compile(Plans.NextHop,
            "delete services service-set ipsec-1 ipsec-vpn-options trusted-ca",
            "set security pki ca-profile second ca-identity second");
        Assert.Equal(["entrust", "second"], Assert.Single(plan.Tunnels).Peer.TrustedCas);
    }

    [Fact]
    public void InsideUnitAddresses_GoOnTheTunDevice_OnlyRoutesIntoItsInsideAreInstalled()
    {
        ServiceSetPlan plan = Plans.Compile(Plans.NextHop,
            "set interfaces ms-0/0/0 unit 1 family inet address 169.254.1.1/30",
            "set routing-options static route 10.9.0.0/16 next-hop 10.1.15.254");
        Assert.Equal(["169.254.1.1/30"], Assert.Single(plan.Devices).Addresses);
        Assert.Equal([IpPrefix.Parse("10.1.56.0/24")], plan.Routes.Select(r => r.Destination));
    }

    [Fact]
    public void Plan_IsAValue_SameConfigurationSamePlan()
    {
        ServiceSetPlan a = Plans.Compile(Plans.NextHop);
        ServiceSetPlan b = Plans.Compile(Plans.NextHop);
        Assert.NotSame(a, b);
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, Plans.Compile(Plans.Interface));
    }

    [Fact]
    public void NoServiceSets_EmptyPlan()
    {
        Assert.Equal(ServiceSetPlan.Empty, Plans.Compile("set security pki ca-profile a ca-identity a"));
        Assert.Throws<ArgumentNullException>("config", () => ServiceSetCompiler.Compile(null!));
    }

    [Fact]
    public void TunnelMtu_GoesToTheInsideDevice_NullLeavesTheDefaultToTheGateway()
    {
        Assert.Null(Assert.Single(Plans.Compile(Plans.NextHop).Devices).Mtu);
        ServiceSetPlan plan = Plans.Compile(Plans.NextHop, "set services service-set ipsec-1 ipsec-vpn-options tunnel-mtu 1360");
        Assert.Equal(1360, Assert.Single(plan.Devices).Mtu);
    }
}
