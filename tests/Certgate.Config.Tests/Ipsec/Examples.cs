namespace Certgate.Config.Tests.Ipsec;

/// <summary>The sample configurations of docs/examples, copied beside the tests.</summary>
internal static class Examples
{
    public static string NextHop => Read("ipsec-next-hop.set");

    public static string Interface => Read("ipsec-interface.set");

    public static string Read(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Examples", name)).ReplaceLineEndings("\n");
}

/// <summary>Reference §1.7 B verbatim (next-hop set on MS-PIC in a VRF, PSK), with the policies it names.</summary>
internal static class ReferenceExamples
{
    public const string B = """
        set services ipsec-vpn ike proposal ike-psk authentication-method pre-shared-keys
        set services ipsec-vpn ike policy ike-peer proposals ike-psk
        set services ipsec-vpn ike policy ike-peer pre-shared-key ascii-text "shared secret"
        set services ipsec-vpn ipsec proposal esp-aes encryption-algorithm aes-256-gcm
        set services ipsec-vpn ipsec policy esp-peer proposals esp-aes
        set interfaces ms-0/0/0 unit 10 family inet unnumbered-address xe-1/2/0.550
        set interfaces ms-0/0/0 unit 10 service-domain outside
        set interfaces ms-0/0/0 unit 11 family inet
        set interfaces ms-0/0/0 unit 11 service-domain inside
        set services service-set ipsec-firewall next-hop-service inside-service-interface ms-0/0/0.11
        set services service-set ipsec-firewall next-hop-service outside-service-interface ms-0/0/0.10
        set services service-set ipsec-firewall ipsec-vpn-options local-gateway 172.31.255.10
        set services service-set ipsec-firewall ipsec-vpn-rules to-peer
        set services ipsec-vpn rule to-peer term ipsec from source-address 192.168.167.0/24
        set services ipsec-vpn rule to-peer term ipsec from destination-address 192.168.168.0/24
        set services ipsec-vpn rule to-peer term ipsec then remote-gateway 80.0.0.2
        set services ipsec-vpn rule to-peer term ipsec then dynamic ike-policy ike-peer
        set services ipsec-vpn rule to-peer term ipsec then dynamic ipsec-policy esp-peer
        set services ipsec-vpn rule to-peer match-direction input
        set routing-instances ipvpn instance-type vrf
        set routing-instances ipvpn interface ms-0/0/0.11
        set routing-instances ipvpn routing-options static route 192.168.168.0/24 next-hop ms-0/0/0.11
        """;
}
