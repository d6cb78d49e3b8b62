using Certgate.Config.Schema;
using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Config.Tests.Ipsec;

/// <summary>Commit checks of services ipsec-vpn, service-set, interfaces, routes and protocols: each message asserted.</summary>
public sealed class ServiceSetCheckTests
{
    /// <summary>The errors of <paramref name="baseText"/> changed by <paramref name="lines"/>, in the Junos form.</summary>
    private static List<string> Errors(string baseText, params string[] lines)
    {
        ConfigNode root = Cfg.FromSet(baseText);
        ConfigText.ApplySet(root, string.Join('\n', lines));
        return Cfg.Schema.Check(root).Select(e => e.ToString().ReplaceLineEndings("\n")).ToList();
    }

    private static string One(string baseText, params string[] lines) => Assert.Single(Errors(baseText, lines));

    private static string E(string path, string message) => $"[edit {path}]\n  '{message}'";

    [Fact]
    public void Examples_PassEveryCheck()
    {
        Assert.Empty(Errors(Examples.NextHop));
        Assert.Empty(Errors(Examples.Interface));
    }

    [Fact]
    public void TunnelMtu_256To9192_ReadIntoTheServiceSet()
    {
        ConfigNode root = Cfg.FromSet(Examples.NextHop);
        Assert.Null(Certgate.Config.Ipsec.IpsecVpnConfiguration.From(root).ServiceSets.Single().TunnelMtu);
        Assert.Contains("value 9193 is outside the range 256..9192", Cfg.ErrorOf(() => Cfg.Set(root, "services service-set ipsec-1 ipsec-vpn-options tunnel-mtu 9193")));
        Assert.Contains("value 255 is outside the range 256..9192", Cfg.ErrorOf(() => Cfg.Set(root, "services service-set ipsec-1 ipsec-vpn-options tunnel-mtu 255")));
        Cfg.Set(root, "services service-set ipsec-1 ipsec-vpn-options tunnel-mtu 1400");
        Assert.Empty(Cfg.Schema.Check(root));
        Assert.Equal(1400, Certgate.Config.Ipsec.IpsecVpnConfiguration.From(root).ServiceSets.Single().TunnelMtu);
    }

    [Fact]
    public void ReferenceExampleA_Verbatim_ParsesAndCommitSaysWhatToChange()
    {
        // Reference §1.7 A as printed (plus its interfaces' PKI): old algorithms load, commit names each one.
        string a = """
            set security pki ca-profile entrust ca-identity entrust
            set services ipsec-vpn ike proposal ike-cert authentication-method rsa-signatures
            set services ipsec-vpn ike proposal ike-cert dh-group group2
            set services ipsec-vpn ike proposal ike-cert authentication-algorithm sha1
            set services ipsec-vpn ike proposal ike-cert encryption-algorithm 3des-cbc
            set services ipsec-vpn ike policy ike-cert-pol mode main
            set services ipsec-vpn ike policy ike-cert-pol proposals ike-cert
            set services ipsec-vpn ike policy ike-cert-pol local-id fqdn router2.example.com
            set services ipsec-vpn ike policy ike-cert-pol remote-id fqdn router3.example.com
            set services ipsec-vpn ike policy ike-cert-pol local-certificate local-entrust2
            set services ipsec-vpn rule rule-ike term t1 then remote-gateway 10.1.15.1
            set services ipsec-vpn rule rule-ike term t1 then dynamic ike-policy ike-cert-pol
            set services ipsec-vpn rule rule-ike match-direction input
            set interfaces sp-1/2/0 unit 1 family inet
            set interfaces sp-1/2/0 unit 1 service-domain inside
            set interfaces sp-1/2/0 unit 2 family inet
            set interfaces sp-1/2/0 unit 2 service-domain outside
            set services service-set ipsec-1 next-hop-service inside-service-interface sp-1/2/0.1
            set services service-set ipsec-1 next-hop-service outside-service-interface sp-1/2/0.2
            set services service-set ipsec-1 ipsec-vpn-options local-gateway 10.1.15.2
            set services service-set ipsec-1 ipsec-vpn-options trusted-ca entrust
            set services service-set ipsec-1 ipsec-vpn-rules rule-ike
            set protocols ospf area 0.0.0.0 interface sp-1/2/0.1
            """;
        Assert.Equal([
            E("services ipsec-vpn ike proposal ike-cert dh-group", "dh-group group2 is not supported (weak or not implemented); use one of: group14 group19 group20 group21"),
            E("services ipsec-vpn ike proposal ike-cert encryption-algorithm", "encryption-algorithm 3des-cbc is not supported (weak or not implemented); use one of: aes-128-cbc aes-256-cbc aes-128-gcm aes-256-gcm"),
            E("services ipsec-vpn ike proposal ike-cert authentication-algorithm", "authentication-algorithm sha1 is not supported (weak or not implemented); use one of: sha-256 sha-384 sha-512"),
        ], Errors(a));
        Assert.Empty(Errors(a,
            "set services ipsec-vpn ike proposal ike-cert dh-group group14",
            "set services ipsec-vpn ike proposal ike-cert authentication-algorithm sha-256",
            "set services ipsec-vpn ike proposal ike-cert encryption-algorithm aes-256-cbc"));
    }

    // ---- IKE ----

    [Fact]
    public void IkeVersion1_Refused() =>
        Assert.Equal(E("services ipsec-vpn ike policy ike-cert-pol version", "IKE version 1 is not supported: Certgate speaks IKEv2 only (RFC 7296); set version 2 or delete version"),
            One(Examples.NextHop, "set services ipsec-vpn ike policy ike-cert-pol version 1"));

    [Fact]
    public void AggressiveMode_Refused() =>
        Assert.Equal(E("services ipsec-vpn ike policy ike-cert-pol mode", "mode aggressive is an IKEv1 mode and IKEv2 has none; delete mode"),
            One(Examples.NextHop, "set services ipsec-vpn ike policy ike-cert-pol mode aggressive"));

    [Fact]
    public void IkeProposal_AuthenticationMethodMandatory() =>
        Assert.Equal(E("services ipsec-vpn ike proposal ike-cert", "Missing mandatory statement: 'authentication-method' (one of: pre-shared-keys rsa-signatures ecdsa-signatures-256 ecdsa-signatures-384)"),
            One(Examples.NextHop, "delete services ipsec-vpn ike proposal ike-cert authentication-method"));

    [Fact]
    public void IkeProposal_UnknownMethod_RefusedAtSet() =>
        Assert.Contains("'dsa-signatures' is not one of: pre-shared-keys rsa-signatures ecdsa-signatures-256 ecdsa-signatures-384",
            Cfg.ErrorOf(() => Cfg.FromSet("set services ipsec-vpn ike proposal p authentication-method dsa-signatures")));

    [Fact]
    public void IkeProposal_LifetimeRange_CheckedAtSet()
    {
        Assert.Contains("value 120 is outside the range 180..86400", Cfg.ErrorOf(() => Cfg.FromSet("set services ipsec-vpn ike proposal p lifetime-seconds 120")));
        Assert.Contains("value 90000 is outside the range 180..86400", Cfg.ErrorOf(() => Cfg.FromSet("set services ipsec-vpn ipsec proposal p lifetime-seconds 90000")));
    }

    [Fact]
    public void IkePolicy_ProposalsMandatoryAndResolved()
    {
        Assert.Equal(E("services ipsec-vpn ike policy ike-cert-pol", "Missing mandatory statement: 'proposals' (the IKE proposals to offer, under [edit services ipsec-vpn ike proposal])"),
            One(Examples.NextHop, "delete services ipsec-vpn ike policy ike-cert-pol proposals"));
        Assert.Equal(E("services ipsec-vpn ike policy ike-cert-pol proposals", "Referenced proposal nope must be defined under [edit services ipsec-vpn ike proposal]"),
            One(Examples.NextHop, "set services ipsec-vpn ike policy ike-cert-pol proposals nope"));
    }

    [Fact]
    public void IkePolicy_NoCredentials_Section6Message() =>
        Assert.Equal(E("services ipsec-vpn ike policy ike-cert-pol", "Either pre-shared-key or local-certificate must be configured in the referenced ike policy"),
            One(Examples.NextHop, "delete services ipsec-vpn ike policy ike-cert-pol local-certificate"));

    [Fact]
    public void IkePolicy_CertificateMethodNeedsLocalCertificate() =>
        Assert.Equal(E("services ipsec-vpn ike policy ike-cert-pol", "Proposal ike-cert uses authentication-method rsa-signatures: set local-certificate CERTIFICATE-ID in this ike policy"),
            One(Examples.NextHop,
                "delete services ipsec-vpn ike policy ike-cert-pol local-certificate",
                "set services ipsec-vpn ike proposal psk authentication-method pre-shared-keys",
                "set services ipsec-vpn ike policy ike-cert-pol proposals psk",
                "set services ipsec-vpn ike policy ike-cert-pol pre-shared-key ascii-text secret-1"));

    [Fact]
    public void IkePolicy_PskMethodNeedsKey() =>
        Assert.Equal(E("services ipsec-vpn ike policy ike-cert-pol", "Proposal psk uses authentication-method pre-shared-keys: set pre-shared-key ascii-text KEY in this ike policy"),
            One(Examples.NextHop,
                "set services ipsec-vpn ike proposal psk authentication-method pre-shared-keys",
                "set services ipsec-vpn ike policy ike-cert-pol proposals psk"));

    [Fact]
    public void IkePolicy_PskForbiddenWithCertificatesOnly() =>
        Assert.Equal(E("services ipsec-vpn ike policy ike-cert-pol pre-shared-key", "pre-shared-key is configured but no proposal of this policy uses authentication-method pre-shared-keys; delete pre-shared-key (the certificate authenticates)"),
            One(Examples.NextHop, "set services ipsec-vpn ike policy ike-cert-pol pre-shared-key ascii-text secret-1"));

    [Fact]
    public void IkePolicy_HexadecimalKeyMustBeHex()
    {
        string psk = """
            set services ipsec-vpn ike proposal psk authentication-method pre-shared-keys
            set services ipsec-vpn ike policy p proposals psk
            """;
        Assert.Empty(Errors(psk, "set services ipsec-vpn ike policy p pre-shared-key hexadecimal 00a1FF"));
        Assert.Equal(E("services ipsec-vpn ike policy p pre-shared-key hexadecimal", "pre-shared-key hexadecimal must be hexadecimal digits, two per byte; use ascii-text for a passphrase"),
            One(psk, "set services ipsec-vpn ike policy p pre-shared-key hexadecimal xyz"));
    }

    [Fact]
    public void IkePolicy_LocalIdDistinguishedNameNeedsCertificate() =>
        Assert.Contains(E("services ipsec-vpn ike policy p local-id distinguished-name", "local-id distinguished-name takes the subject of local-certificate: set local-certificate CERTIFICATE-ID"),
            Errors("set services ipsec-vpn ike policy p local-id distinguished-name"));

    [Fact]
    public void IkePolicy_AnyRemoteId_Refused()
    {
        Assert.Equal(E("services ipsec-vpn ike policy ike-cert-pol remote-id any-remote-id", "any-remote-id excludes every other remote-id value"),
            One(Examples.NextHop, "set services ipsec-vpn ike policy ike-cert-pol remote-id any-remote-id"));
        Assert.Equal(E("services ipsec-vpn ike policy ike-cert-pol remote-id any-remote-id", "any-remote-id is for dynamic endpoints (ike-access-profile), which are not supported; delete remote-id to accept any identity the peer's certificate proves"),
            One(Examples.NextHop, "delete services ipsec-vpn ike policy ike-cert-pol remote-id", "set services ipsec-vpn ike policy ike-cert-pol remote-id any-remote-id"));
    }

    [Fact]
    public void IkeIdentities_SyntaxCheckedAtSet()
    {
        Assert.Contains("'gw_1.example' is not valid (expected a domain name such as gw1.example.com)", Cfg.ErrorOf(() => Cfg.FromSet("set services ipsec-vpn ike policy p local-id fqdn gw_1.example")));
        Assert.Contains("'2001:db8::1' is not an IPv4 address", Cfg.ErrorOf(() => Cfg.FromSet("set services ipsec-vpn ike policy p remote-id ipv4_addr 2001:db8::1")));
        Assert.Contains("'abc' is not valid (expected hexadecimal digits, two per byte)", Cfg.ErrorOf(() => Cfg.FromSet("set services ipsec-vpn ike policy p remote-id key_id abc")));
        Assert.Contains("'gw.example.net' is not valid (expected an e-mail address such as gw1@example.com)", Cfg.ErrorOf(() => Cfg.FromSet("set services ipsec-vpn ike policy p local-id user-at-hostname gw.example.net")));
    }

    /// <summary>user-at-hostname (ID_RFC822_ADDR, RFC 7296 §3.5) is a local-id choice and a remote-id list like the others.</summary>
    [Fact]
    public void UserAtHostname_IsALocalIdChoice_AndARemoteIdList()
    {
        ConfigNode tree = Cfg.FromSet(
            "set services ipsec-vpn ike policy p local-id fqdn gw1.example.net",
            "set services ipsec-vpn ike policy p local-id user-at-hostname gw1@example.net",
            "set services ipsec-vpn ike policy p remote-id user-at-hostname gw2@example.net",
            "set services ipsec-vpn ike policy p remote-id user-at-hostname gw3@example.net");
        string set = ConfigText.WriteSet(tree);
        Assert.DoesNotContain("local-id fqdn", set);
        Assert.Contains("set services ipsec-vpn ike policy p local-id user-at-hostname gw1@example.net", set);
        Assert.Contains("set services ipsec-vpn ike policy p remote-id user-at-hostname [ gw2@example.net gw3@example.net ]", set);
    }

    // ---- IPsec ----

    [Fact]
    public void Gcm_RefusesAuthenticationAlgorithm() =>
        Assert.Equal(E("services ipsec-vpn ipsec proposal esp-gcm authentication-algorithm", "authentication-algorithm cannot be used with aes-256-gcm: AES-GCM authenticates the packet itself (RFC 4106); delete authentication-algorithm"),
            One(Examples.NextHop, "set services ipsec-vpn ipsec proposal esp-gcm authentication-algorithm hmac-sha-256-128"));

    [Fact]
    public void IkeGcm_KeepsAuthenticationAlgorithmAsPrf() =>
        Assert.Empty(Errors(Examples.NextHop, "set services ipsec-vpn ike proposal ike-cert authentication-algorithm sha-384"));

    [Fact]
    public void Cbc_NeedsAuthenticationAlgorithm() =>
        Assert.Equal(E("services ipsec-vpn ipsec proposal esp-cbc", "aes-256-cbc needs an authentication-algorithm (ESP encryption without integrity is refused, RFC 8221 §5); set authentication-algorithm hmac-sha-256-128 or use aes-256-gcm"),
            One(Examples.NextHop, "delete services ipsec-vpn ipsec proposal esp-cbc authentication-algorithm"));

    [Fact]
    public void IpsecProposal_EncryptionMandatory_EspOnly_WeakRefused()
    {
        Assert.Equal(E("services ipsec-vpn ipsec proposal esp-gcm", "Missing mandatory statement: 'encryption-algorithm' (one of: aes-128-cbc aes-256-cbc aes-128-gcm aes-256-gcm)"),
            One(Examples.NextHop, "delete services ipsec-vpn ipsec proposal esp-gcm encryption-algorithm"));
        Assert.Equal(E("services ipsec-vpn ipsec proposal esp-gcm protocol", "protocol ah is not supported: Certgate protects traffic with ESP only (RFC 4303); set protocol esp"),
            One(Examples.NextHop, "set services ipsec-vpn ipsec proposal esp-gcm protocol ah"));
        Assert.Equal(E("services ipsec-vpn ipsec proposal esp-cbc authentication-algorithm", "authentication-algorithm hmac-sha1-96 is not supported (weak or not implemented); use one of: hmac-sha-256-128 hmac-sha-384-192 hmac-sha-512-256"),
            One(Examples.NextHop, "set services ipsec-vpn ipsec proposal esp-cbc authentication-algorithm hmac-sha1-96"));
    }

    [Fact]
    public void IpsecPolicy_ProposalsResolved_PfsGroupSupported()
    {
        Assert.Equal(E("services ipsec-vpn ipsec policy esp-pol proposals", "Referenced proposal gone must be defined under [edit services ipsec-vpn ipsec proposal]"),
            One(Examples.NextHop, "set services ipsec-vpn ipsec policy esp-pol proposals gone"));
        Assert.Equal(E("services ipsec-vpn ipsec policy esp-pol perfect-forward-secrecy keys", "keys group5 is not supported (weak or not implemented); use one of: group14 group19 group20 group21"),
            One(Examples.NextHop, "set services ipsec-vpn ipsec policy esp-pol perfect-forward-secrecy keys group5"));
    }

    // ---- rules ----

    [Fact]
    public void Rule_MatchDirectionAndTermsMandatory()
    {
        Assert.Equal(E("services ipsec-vpn rule rule-ike", "Missing mandatory statement: 'match-direction' (input or output)"),
            One(Examples.NextHop, "delete services ipsec-vpn rule rule-ike match-direction"));
        Assert.Equal(E("services ipsec-vpn rule r2", "A rule needs at least one term: set term NAME then remote-gateway ADDRESS"),
            One(Examples.NextHop, "set services ipsec-vpn rule r2 match-direction input"));
    }

    [Fact]
    public void Term_RemoteGatewayAndIkePolicyMandatory()
    {
        Assert.Equal(E("services ipsec-vpn rule rule-ike term t1", "Missing mandatory statement: 'then remote-gateway' (dynamic endpoints without a remote gateway are not supported)"),
            One(Examples.NextHop, "delete services ipsec-vpn rule rule-ike term t1 then remote-gateway"));
        Assert.Equal(E("services ipsec-vpn rule rule-ike term t1", "Missing mandatory statement: 'then dynamic ike-policy' (the IKE policy that authenticates this tunnel)"),
            One(Examples.NextHop, "delete services ipsec-vpn rule rule-ike term t1 then dynamic ike-policy"));
    }

    [Fact]
    public void Term_PoliciesMustExist()
    {
        Assert.Equal(E("services ipsec-vpn rule rule-ike term t1 then dynamic ike-policy", "Referenced ike policy x must be defined under [edit services ipsec-vpn ike policy]"),
            One(Examples.NextHop, "set services ipsec-vpn rule rule-ike term t1 then dynamic ike-policy x"));
        Assert.Equal(E("services ipsec-vpn rule rule-ike term t1 then dynamic ipsec-policy", "Referenced ipsec policy y must be defined under [edit services ipsec-vpn ipsec policy]"),
            One(Examples.NextHop, "set services ipsec-vpn rule rule-ike term t1 then dynamic ipsec-policy y"));
    }

    [Fact]
    public void Term_DpdNeedsInitiate_AddressFamiliesAgree()
    {
        Assert.Equal(E("services ipsec-vpn rule rule-ike term t1 then dead-peer-detection", "dead-peer-detection requires initiate-dead-peer-detection"),
            One(Examples.NextHop, "set services ipsec-vpn rule rule-ike term t1 then dead-peer-detection interval 5"));
        Assert.Equal(E("services ipsec-vpn rule rule-ike term t1 from", "source-address and destination-address must both be IPv4 or both IPv6"),
            One(Examples.NextHop, "set services ipsec-vpn rule rule-ike term t1 from source-address 10.0.0.0/8 destination-address 2001:db8::/32"));
        Assert.Equal(E("services ipsec-vpn rule rule-ike term t1 then remote-gateway", "remote-gateway 2001:db8::1 and the local-gateway 10.1.15.2 of service-set ipsec-1 must be of the same address family"),
            One(Examples.NextHop, "set services ipsec-vpn rule rule-ike term t1 then remote-gateway 2001:db8::1"));
    }

    // ---- service sets ----

    [Fact]
    public void ServiceSet_ExactlyOneStyle()
    {
        Assert.Equal(E("services service-set empty", "A service set needs exactly one of interface-service (service-interface ms-0/0/0) or next-hop-service (inside-service-interface and outside-service-interface)"),
            One(Examples.NextHop, "set services service-set empty ipsec-vpn-options trusted-ca entrust"));
        // Setting the other style replaces the first (a schema choice), as Junos does.
        ConfigNode root = Cfg.FromSet(Examples.NextHop);
        Cfg.Set(root, "services service-set ipsec-1 interface-service service-interface ms-1/0/0");
        Assert.Null(root.Find("services", "service-set", "ipsec-1", "next-hop-service"));
    }

    [Fact]
    public void NextHop_UnitsMustExistWithMatchingServiceDomain()
    {
        Assert.Equal(E("services service-set ipsec-1 next-hop-service inside-service-interface", "Referenced inside-service-interface ms-0/0/0.1 must be configured with 'service-domain inside' under [edit interfaces ms-0/0/0 unit 1]"),
            One(Examples.NextHop, "set interfaces ms-0/0/0 unit 1 service-domain outside", "set interfaces ms-0/0/0 unit 2 service-domain outside"));
        Assert.Equal(E("services service-set ipsec-1 next-hop-service outside-service-interface", "Referenced outside-service-interface ms-0/0/0.3 must be configured with 'service-domain outside' under [edit interfaces ms-0/0/0 unit 3]"),
            One(Examples.NextHop, "set services service-set ipsec-1 next-hop-service outside-service-interface ms-0/0/0.3"));
        Assert.Equal(E("services service-set ipsec-1 next-hop-service", "Missing mandatory statement: 'outside-service-interface' (a unit of a services interface, such as ms-0/0/0.1, with service-domain outside)"),
            One(Examples.NextHop, "delete services service-set ipsec-1 next-hop-service outside-service-interface"));
        Assert.Contains("'ms-0/0/0' is not a logical interface with its unit, such as ms-0/0/0.1",
            Cfg.ErrorOf(() => Cfg.FromSet("set services service-set s next-hop-service inside-service-interface ms-0/0/0")));
    }

    [Fact]
    public void NextHop_UnitsMustBeServiceInterfaces()
    {
        List<string> errors = Errors(Examples.NextHop, "set services service-set ipsec-1 next-hop-service inside-service-interface eth1.0");
        Assert.Contains(E("services service-set ipsec-1 next-hop-service inside-service-interface", "inside-service-interface must be a unit of a services interface (ms-, sp- or si-), not eth1.0"), errors);
    }

    [Fact]
    public void ServiceDomain_OnlyOnServicesInterfaces() =>
        Assert.Equal(E("interfaces eth1 unit 0 service-domain", "service-domain is only valid on a services interface (ms-, sp- or si-), not on eth1"),
            One(Examples.NextHop, "set interfaces eth1 unit 0 service-domain inside"));

    [Fact]
    public void EachUnit_ServesOneServiceSet() =>
        Assert.Equal([
            E("services service-set ipsec-2 next-hop-service inside-service-interface", "ms-0/0/0.1 is already used by service-set ipsec-1; each service interface unit serves one service set"),
            E("services service-set ipsec-2 next-hop-service outside-service-interface", "ms-0/0/0.2 is already used by service-set ipsec-1; each service interface unit serves one service set"),
        ], Errors(Examples.NextHop,
            "set services service-set ipsec-2 next-hop-service inside-service-interface ms-0/0/0.1",
            "set services service-set ipsec-2 next-hop-service outside-service-interface ms-0/0/0.2"));

    [Fact]
    public void LocalGateway_RequiredWithRules_MustBeAnAddress()
    {
        Assert.Equal(E("services service-set ipsec-1", "Local gateway must be configured with IPSec rules"),
            One(Examples.NextHop, "delete services service-set ipsec-1 ipsec-vpn-options local-gateway"));
        Assert.Contains("'gw.example.com' is not an IPv4 or IPv6 address",
            Cfg.ErrorOf(() => Cfg.FromSet("set services service-set s ipsec-vpn-options local-gateway gw.example.com")));
    }

    [Fact]
    public void TrustedCa_AndRules_MustExist()
    {
        Assert.Equal(E("services service-set ipsec-1 ipsec-vpn-options trusted-ca", "Referenced ca-profile other must be defined under [edit security pki ca-profile]"),
            One(Examples.NextHop, "set services service-set ipsec-1 ipsec-vpn-options trusted-ca other"));
        Assert.Equal(E("services service-set ipsec-1 ipsec-vpn-rules", "Referenced ipsec-vpn rule r9 must be defined under [edit services ipsec-vpn rule]"),
            One(Examples.NextHop, "set services service-set ipsec-1 ipsec-vpn-rules r9"));
    }

    [Fact]
    public void IpsecInsideInterface_MustBeTheInsideUnit()
    {
        Assert.Empty(Errors(Examples.NextHop, "set services ipsec-vpn rule rule-ike term t1 from ipsec-inside-interface ms-0/0/0.1"));
        Assert.Equal(E("services ipsec-vpn rule rule-ike term t1 from ipsec-inside-interface", "ipsec-inside-interface ms-0/0/0.7 must be the inside-service-interface of service-set ipsec-1 (ms-0/0/0.1)"),
            One(Examples.NextHop, "set services ipsec-vpn rule rule-ike term t1 from ipsec-inside-interface ms-0/0/0.7"));
        Assert.Equal(E("services ipsec-vpn rule rule-if term t1 from ipsec-inside-interface", "ipsec-inside-interface is only valid in a next-hop service set, and service-set ss-if is an interface service set"),
            One(Examples.Interface, "set services ipsec-vpn rule rule-if term t1 from ipsec-inside-interface ms-0/0/0.1"));
    }

    [Fact]
    public void NextHop_RuleMatchesInput() =>
        Assert.Equal(E("services ipsec-vpn rule rule-ike match-direction", "match-direction output in next-hop service-set ipsec-1 would match traffic routed into the outside-service-interface, which is not supported; use match-direction input and route traffic into the inside-service-interface"),
            One(Examples.NextHop, "set services ipsec-vpn rule rule-ike match-direction output"));

    [Fact]
    public void InterfaceServiceSet_ServiceInterfaceMustBeAServicesPic() =>
        Assert.Equal(E("services service-set ss-if interface-service service-interface", "service-interface must be a services interface (ms-, sp- or si-), not eth1"),
            One(Examples.Interface, "set services service-set ss-if interface-service service-interface eth1"));

    [Fact]
    public void AppliedServiceSet_MustExistAndBeInterfaceStyle()
    {
        Assert.Equal(E("interfaces eth0 unit 0 family inet service input service-set nope", "Referenced service-set nope must be defined under [edit services service-set]"),
            One(Examples.Interface, "set interfaces eth0 unit 0 family inet service input service-set nope"));
        Assert.Equal(E("interfaces eth1 unit 0 family inet service output service-set ipsec-1", "service-set ipsec-1 is a next-hop service set: only interface-service sets are applied on an interface; route traffic into its inside-service-interface instead"),
            One(Examples.NextHop, "set interfaces eth1 unit 0 family inet service output service-set ipsec-1"));
    }

    private const string PolicyBasedAdvice =
        "IPsec policy-based (interface) service sets carry no dynamic routing or multicast. Use a next-hop service set (next-hop-service inside-service-interface ms-0/0/0.N outside-service-interface ms-0/0/0.M) and run ";

    [Fact]
    public void InterfaceServiceSet_WithOspf_RefusedWithAdvice() =>
        Assert.Equal(E("protocols ospf area 0.0.0.0 interface eth0.0", "ospf (dynamic routing) cannot run on eth0.0: interface service set ss-if is applied there, and " + PolicyBasedAdvice + "ospf on its inside-service-interface"),
            One(Examples.Interface, "set protocols ospf area 0.0.0.0 interface eth0.0"));

    [Fact]
    public void InterfaceServiceSet_UnitlessProtocolInterfaceMeansUnit0_AndAllMatches()
    {
        Assert.Contains("ospf3 (dynamic routing) cannot run on eth0.0", One(Examples.Interface, "set protocols ospf3 area 0 interface eth0"));
        // "all" covers the traffic interface and the set's own service interface.
        List<string> all = Errors(Examples.Interface, "set protocols isis interface all");
        Assert.Equal(2, all.Count);
        Assert.Contains("isis (dynamic routing) cannot run on eth0.0", all[0]);
        Assert.Contains("isis (dynamic routing) cannot run on ms-0/0/0.0", all[1]);
        Assert.Contains("rip (dynamic routing) cannot run on eth0.0", One(Examples.Interface, "set protocols rip group g neighbor eth0.0"));
        // OSPF elsewhere is fine.
        Assert.Empty(Errors(Examples.Interface, "set protocols ospf area 0.0.0.0 interface eth1.0"));
    }

    [Fact]
    public void InterfaceServiceSet_WithMulticast_Refused()
    {
        Assert.Equal(E("protocols pim interface eth0.0", "pim (multicast) cannot run on eth0.0: interface service set ss-if is applied there, and " + PolicyBasedAdvice + "pim on its inside-service-interface"),
            One(Examples.Interface, "set protocols pim interface eth0.0 mode sparse"));
        Assert.Contains("igmp (multicast) cannot run on ms-0/0/0.0: interface service set ss-if is applied there", One(Examples.Interface, "set protocols igmp interface ms-0/0/0"));
        Assert.Equal(E("services service-set ss-if allow-multicast", "allow-multicast is only valid with next-hop-service: IPsec policy-based (interface) service sets carry no dynamic routing or multicast; use a next-hop service set"),
            One(Examples.Interface, "set services service-set ss-if allow-multicast"));
    }

    [Fact]
    public void NextHopServiceSet_WithOspfAndMulticast_CommitsCleanly() =>
        Assert.Empty(Errors(Examples.NextHop,
            "set protocols ospf3 area 0.0.0.0 interface ms-0/0/0.1",
            "set protocols pim interface ms-0/0/0.1 mode sparse",
            "set protocols igmp interface ms-0/0/0.1"));

    [Fact]
    public void StaticRoute_IntoServicesUnit_MustBeAnInsideUnit()
    {
        Assert.Equal(E("routing-options static route 10.9.0.0/16 next-hop", "next-hop ms-0/0/0.2 is not the inside-service-interface of any next-hop service set; traffic to protect is routed into an inside-service-interface"),
            One(Examples.NextHop, "set routing-options static route 10.9.0.0/16 next-hop ms-0/0/0.2"));
        Assert.Empty(Errors(Examples.NextHop, "set routing-options static route 10.9.0.0/16 next-hop 10.1.15.254", "set routing-options static route 10.8.0.0/16 discard"));
        Assert.Equal(E("routing-options static route 10.7.0.0/16", "Missing mandatory statement: 'next-hop' (an address or an interface such as ms-0/0/0.1) or 'discard'"),
            One(Examples.NextHop, "set routing-options static route 10.7.0.0/16 preference 5"));
        Assert.Contains("'ms-0/0/0.x' is not an IP address or a logical interface such as ms-0/0/0.1",
            Cfg.ErrorOf(() => Cfg.FromSet("set routing-options static route 10.7.0.0/16 next-hop ms-0/0/0.x")));
    }

    [Fact]
    public void ReferenceExampleB_VrfRoutes_Commit()
    {
        Assert.Empty(Errors(ReferenceExamples.B));
        string curly = ConfigText.WriteCurly(Cfg.FromSet(ReferenceExamples.B));
        Assert.Contains("routing-instances {\n    ipvpn {\n        instance-type vrf;\n        interface ms-0/0/0.11;\n", curly);
        Assert.True(Cfg.FromSet(ReferenceExamples.B).StructurallyEquals(ConfigText.ParseCurly(Cfg.Schema, curly)));
    }

    [Fact]
    public void VrfRoutes_NextHopMustBeInTheSameTable()
    {
        Assert.Equal(E("routing-options static route 192.168.169.0/24 next-hop", "next-hop ms-0/0/0.11 is an interface of routing-instance ipvpn; configure the route under [edit routing-instances ipvpn routing-options static]"),
            One(ReferenceExamples.B, "set routing-options static route 192.168.169.0/24 next-hop ms-0/0/0.11"));
        Assert.Equal(E("routing-instances ipvpn routing-options static route 192.168.168.0/24 next-hop", "next-hop ms-0/0/0.11 is not an interface of routing-instance ipvpn; set routing-instances ipvpn interface ms-0/0/0.11"),
            One(ReferenceExamples.B, "delete routing-instances ipvpn interface ms-0/0/0.11"));
        Assert.Equal(E("routing-instances other interface ms-0/0/0.11", "ms-0/0/0.11 is already an interface of routing-instance ipvpn; an interface belongs to one routing instance"),
            One(ReferenceExamples.B, "set routing-instances other instance-type vrf", "set routing-instances other interface ms-0/0/0.11"));
        Assert.Equal(E("routing-instances v2", "Missing mandatory statement: 'instance-type' (vrf or virtual-router)"),
            One(ReferenceExamples.B, "set routing-instances v2 interface eth5.0"));
    }

    [Fact]
    public void Interfaces_NamesAddressesAndLinuxNameLength()
    {
        Assert.Contains("'ge-0/0' is not an interface such as ge-0/0/0, ms-0/0/0 or a Linux name such as eth0", Cfg.ErrorOf(() => Cfg.FromSet("set interfaces ge-0/0 unit 0")));
        Assert.Contains("value 16385 is outside the range 0..16384", Cfg.ErrorOf(() => Cfg.FromSet("set interfaces eth0 unit 16385")));
        Assert.Contains("'10.1.15.2' is not an interface address with its prefix length", Cfg.ErrorOf(() => Cfg.FromSet("set interfaces eth0 unit 0 family inet address 10.1.15.2")));
        Assert.Equal(E("interfaces ms-10/10/10 unit 16000", "The Linux name of ms-10/10/10.16000 would be longer than 15 characters; use a shorter interface name or unit number"),
            One(Examples.NextHop, "set interfaces ms-10/10/10 unit 16000 family inet"));
        Assert.Equal(E("interfaces eth0 unit 0 family inet unnumbered-address", "unnumbered-address cannot be combined with address; delete one of them"),
            One(Examples.NextHop, "set interfaces eth0 unit 0 family inet unnumbered-address eth1.0"));
    }

    [Fact]
    public void AllErrorsAreCommitErrors_WithPaths()
    {
        IReadOnlyList<CommitError> errors = Cfg.Schema.Check(Cfg.FromSet("set services service-set s ipsec-vpn-rules r"));
        Assert.All(errors, e => Assert.NotEmpty(e.Path));
        Assert.Equal(3, errors.Count);
    }
}
