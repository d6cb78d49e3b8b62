using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Certgate.Config.Interfaces;
using Certgate.Config.Schema;
using Certgate.Config.Tree;
using Certgate.Net.Addressing;

namespace Certgate.Config.Ipsec;

/// <summary>IKE <c>authentication-method</c>.</summary>
public enum IkeAuthenticationMethod
{
    PreSharedKeys,
    RsaSignatures,
    EcdsaSignatures256,
    EcdsaSignatures384,
}

/// <summary>Encryption algorithms of IKE and ESP proposals (the supported subset).</summary>
public enum EncryptionAlgorithm
{
    Aes128Cbc,
    Aes256Cbc,
    Aes128Gcm,
    Aes256Gcm,
}

/// <summary>IKE <c>authentication-algorithm</c>: the PRF, and the integrity algorithm with CBC.</summary>
public enum IkeHashAlgorithm
{
    Sha256,
    Sha384,
    Sha512,
}

/// <summary>ESP <c>authentication-algorithm</c> (integrity with truncated ICV).</summary>
public enum EspIntegrityAlgorithm
{
    HmacSha256_128,
    HmacSha384_192,
    HmacSha512_256,
}

/// <summary>A Diffie-Hellman group; the value is the Junos group number, which is the IANA Transform Type 4 id.</summary>
public enum DhGroup
{
    Group14 = 14,
    Group19 = 19,
    Group20 = 20,
    Group21 = 21,
}

/// <summary><c>match-direction</c> of an IPsec rule.</summary>
public enum MatchDirection
{
    Input,
    Output,
}

/// <summary>Kinds of IKE identity.</summary>
public enum IkeIdentityKind
{
    Ipv4Address,
    Ipv6Address,
    Fqdn,
    KeyId,
    /// <summary><c>user-at-hostname</c>: an e-mail identity (ID_RFC822_ADDR), as in the SRX <c>security ike</c> model.</summary>
    Email,
    /// <summary>Local: the subject of the local certificate (no value). Remote: see <see cref="DnMatch"/>.</summary>
    DistinguishedName,
}

/// <summary>How a remote distinguished name is compared (reference §3.6).</summary>
public enum DnMatch
{
    None,
    Container,
    Wildcard,
    ExactMatch,
}

/// <summary>An IKE identity; <see cref="Value"/> is null for a local <c>distinguished-name</c> (taken from the certificate).</summary>
public sealed record IkeIdentity(IkeIdentityKind Kind, string? Value, DnMatch Match = DnMatch.None)
{
    /// <inheritdoc />
    public override string ToString() => Match == DnMatch.None ? $"{Kind} {Value}" : $"{Kind} {Match} {Value}";
}

/// <summary>A pre-shared key. Holds the key bytes: it never prints them and compares in constant time.</summary>
public sealed class PreSharedKey : IEquatable<PreSharedKey>
{
    private readonly byte[] _key;

    public PreSharedKey(ReadOnlySpan<byte> key)
    {
        _key = key.ToArray();
    }

    /// <summary>The key bytes (a copy).</summary>
    public byte[] GetKey() => (byte[])_key.Clone();

    public bool Equals(PreSharedKey? other) => other is not null && CryptographicOperations.FixedTimeEquals(_key, other._key);

    public override bool Equals(object? obj) => Equals(obj as PreSharedKey);

    public override int GetHashCode() => _key.Length;

    /// <summary>Never the key.</summary>
    public override string ToString() => $"pre-shared-key ({_key.Length} bytes)";
}

/// <summary><c>services ipsec-vpn ike proposal NAME</c> with defaults applied.</summary>
public sealed record IkeProposal(string Name, IkeAuthenticationMethod AuthenticationMethod, DhGroup DhGroup,
    EncryptionAlgorithm Encryption, IkeHashAlgorithm Hash, TimeSpan Lifetime);

/// <summary><c>services ipsec-vpn ike policy NAME</c>, proposals resolved. Null <see cref="LocalId"/>: the local gateway
/// address; empty <see cref="RemoteIds"/>: whatever the validated certificate proves, when it names the remote-gateway
/// as an iPAddress subjectAltName (DESIGN.md "Decisions", issue #14 §2).</summary>
public sealed record IkePolicy(string Name, IReadOnlyList<IkeProposal> Proposals, IkeIdentity? LocalId,
    IReadOnlyList<IkeIdentity> RemoteIds, string? LocalCertificate, PreSharedKey? PreSharedKey);

/// <summary><c>services ipsec-vpn ipsec proposal NAME</c> (ESP). <see cref="Integrity"/> is null with GCM.</summary>
public sealed record IpsecProposal(string Name, EncryptionAlgorithm Encryption, EspIntegrityAlgorithm? Integrity, TimeSpan Lifetime);

/// <summary><c>services ipsec-vpn ipsec policy NAME</c>; <see cref="PfsGroup"/> null means no PFS.</summary>
public sealed record IpsecPolicy(string Name, IReadOnlyList<IpsecProposal> Proposals, DhGroup? PfsGroup)
{
    /// <summary>The policy used when a rule names no <c>ipsec-policy</c>: AES-256-GCM, AES-128-GCM, then AES-256-CBC
    /// with HMAC-SHA-256-128; no PFS; 28800 s (docs/decisions.md).</summary>
    public static IpsecPolicy Default { get; } = new("default", [
        new IpsecProposal("default-aes256gcm", EncryptionAlgorithm.Aes256Gcm, null, TimeSpan.FromSeconds(IpsecVpnSchema.DefaultIpsecLifetime)),
        new IpsecProposal("default-aes128gcm", EncryptionAlgorithm.Aes128Gcm, null, TimeSpan.FromSeconds(IpsecVpnSchema.DefaultIpsecLifetime)),
        new IpsecProposal("default-aes256cbc", EncryptionAlgorithm.Aes256Cbc, EspIntegrityAlgorithm.HmacSha256_128, TimeSpan.FromSeconds(IpsecVpnSchema.DefaultIpsecLifetime)),
    ], null);
}

/// <summary>Dead peer detection of a term (reference §1.3: defaults 10 s, 3).</summary>
public sealed record DeadPeerDetection(TimeSpan Interval, int Threshold);

/// <summary>One term of an IPsec rule, policies resolved.</summary>
public sealed record IpsecVpnTerm(string Name, IpPrefix? SourceAddress, IpPrefix? DestinationAddress, InterfaceUnit? IpsecInsideInterface,
    IPAddress RemoteGateway, IkePolicy IkePolicy, IpsecPolicy IpsecPolicy, DeadPeerDetection? DeadPeerDetection);

/// <summary><c>services ipsec-vpn rule NAME</c>.</summary>
public sealed record IpsecVpnRule(string Name, MatchDirection MatchDirection, IReadOnlyList<IpsecVpnTerm> Terms);

/// <summary>Where an interface service set is applied: a unit and a direction.</summary>
public sealed record ServiceSetAttachment(InterfaceUnit Unit, MatchDirection Direction, bool IPv6);

/// <summary>A service set (reference §1.4): next-hop or interface style.</summary>
public abstract record ServiceSet(string Name, IPAddress? LocalGateway, IReadOnlyList<string> TrustedCa, IReadOnlyList<IpsecVpnRule> Rules)
{
    /// <summary><c>ipsec-vpn-options tunnel-mtu</c>: the MTU of the set's inside (TUN) device, or null for the
    /// gateway's default (room for the worst-case ESP-in-UDP overhead on the outer path).</summary>
    public int? TunnelMtu { get; init; }
}

/// <summary>A route-based service set: traffic routed into <see cref="Inside"/> is protected.</summary>
public sealed record NextHopServiceSet(string Name, IPAddress? LocalGateway, IReadOnlyList<string> TrustedCa, IReadOnlyList<IpsecVpnRule> Rules,
    InterfaceUnit Inside, InterfaceUnit Outside, bool AllowMulticast)
    : ServiceSet(Name, LocalGateway, TrustedCa, Rules);

/// <summary>A policy-based service set attached to traffic interfaces; rule terms are the traffic selectors.</summary>
public sealed record InterfaceServiceSet(string Name, IPAddress? LocalGateway, IReadOnlyList<string> TrustedCa, IReadOnlyList<IpsecVpnRule> Rules,
    InterfaceUnit ServiceInterface, IReadOnlyList<ServiceSetAttachment> AppliedOn)
    : ServiceSet(Name, LocalGateway, TrustedCa, Rules);

/// <summary>A configured unit of an interface.</summary>
public sealed record InterfaceUnitConfig(InterfaceUnit Unit, string? Description, IReadOnlyList<InterfaceAddress> Addresses, string? ServiceDomain);

/// <summary><c>routing-options static route P next-hop X</c>: exactly one of <see cref="NextHopAddress"/>,
/// <see cref="NextHopInterface"/> or <see cref="Discard"/>; <see cref="RoutingInstance"/> is null for the main table.</summary>
public sealed record StaticRoute(IpPrefix Destination, IPAddress? NextHopAddress, InterfaceUnit? NextHopInterface, bool Discard, string? RoutingInstance = null);

/// <summary><c>routing-instances NAME</c>: a VRF (or virtual router) and its interfaces.</summary>
public sealed record RoutingInstance(string Name, string InstanceType, IReadOnlyList<InterfaceUnit> Interfaces);

/// <summary>
/// The typed view of <c>services ipsec-vpn</c>, <c>services service-set</c>, <c>interfaces</c> and
/// <c>routing-options static</c>, every reference resolved and every default applied. Build it from a committed
/// (checked) tree: on an unchecked tree it throws <see cref="InvalidOperationException"/> at the first dangling reference.
/// </summary>
public sealed class IpsecVpnConfiguration
{
    private IpsecVpnConfiguration(IReadOnlyList<IkeProposal> ikeProposals, IReadOnlyList<IkePolicy> ikePolicies,
        IReadOnlyList<IpsecProposal> ipsecProposals, IReadOnlyList<IpsecPolicy> ipsecPolicies, IReadOnlyList<IpsecVpnRule> rules,
        IReadOnlyList<ServiceSet> serviceSets, IReadOnlyList<InterfaceUnitConfig> units, IReadOnlyList<StaticRoute> routes,
        IReadOnlyList<RoutingInstance> instances)
    {
        RoutingInstances = instances;
        IkeProposals = ikeProposals;
        IkePolicies = ikePolicies;
        IpsecProposals = ipsecProposals;
        IpsecPolicies = ipsecPolicies;
        Rules = rules;
        ServiceSets = serviceSets;
        Units = units;
        StaticRoutes = routes;
    }

    public IReadOnlyList<IkeProposal> IkeProposals { get; }

    public IReadOnlyList<IkePolicy> IkePolicies { get; }

    public IReadOnlyList<IpsecProposal> IpsecProposals { get; }

    public IReadOnlyList<IpsecPolicy> IpsecPolicies { get; }

    public IReadOnlyList<IpsecVpnRule> Rules { get; }

    public IReadOnlyList<ServiceSet> ServiceSets { get; }

    public IReadOnlyList<InterfaceUnitConfig> Units { get; }

    /// <summary>Static routes of the main table and of every routing instance.</summary>
    public IReadOnlyList<StaticRoute> StaticRoutes { get; }

    public IReadOnlyList<RoutingInstance> RoutingInstances { get; }

    /// <summary>The routing instance <paramref name="unit"/> belongs to, or null for the main table.</summary>
    public string? RoutingInstanceOf(InterfaceUnit unit) => RoutingInstances.FirstOrDefault(r => r.Interfaces.Contains(unit))?.Name;

    /// <summary>Reads the typed view from a configuration root.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="root"/> is null.</exception>
    /// <exception cref="InvalidOperationException">The tree has not passed the commit checks (a reference does not resolve).</exception>
    public static IpsecVpnConfiguration From(ConfigNode root)
    {
        ArgumentNullException.ThrowIfNull(root);
        ConfigNode? vpn = root.Find("services", "ipsec-vpn");
        var ikeProposals = vpn?.Find("ike")?.Entries("proposal").Select(ReadIkeProposal).ToList() ?? [];
        var ikePolicies = vpn?.Find("ike")?.Entries("policy").Select(p => ReadIkePolicy(p, ikeProposals)).ToList() ?? [];
        var ipsecProposals = vpn?.Find("ipsec")?.Entries("proposal").Select(ReadIpsecProposal).ToList() ?? [];
        var ipsecPolicies = vpn?.Find("ipsec")?.Entries("policy").Select(p => new IpsecPolicy(
            p.Key!,
            Resolve(p.Child("proposals")?.Values ?? [], ipsecProposals, x => x.Name, p.Path),
            p.Find("perfect-forward-secrecy", "keys")?.Value is { } g ? Group(g) : null)).ToList() ?? [];
        var rules = vpn?.Entries("rule").Select(r => ReadRule(r, ikePolicies, ipsecPolicies)).ToList() ?? [];
        var units = InterfacesSchema.Units(root).Select(u => new InterfaceUnitConfig(
            u.Unit,
            u.Node.Leaf("description"),
            (u.Node.Find("family", "inet")?.Entries("address") ?? []).Concat(u.Node.Find("family", "inet6")?.Entries("address") ?? [])
                .Select(a => InterfaceAddress.TryParse(a.Key, out InterfaceAddress? x) ? x : throw Unchecked(a.Path)).ToList(),
            u.Node.Leaf("service-domain"))).ToList();
        var sets = root.Find("services")?.Entries("service-set").Select(s => ReadServiceSet(root, s, rules)).ToList() ?? [];
        var routes = InterfacesSchema.StaticRoutes(root).Select(r => ReadRoute(r.Route, r.Instance)).ToList();
        var instances = root.Child("routing-instances")?.Entries("instance").Select(i => new RoutingInstance(
            i.Key!, i.Leaf("instance-type") ?? throw Unchecked(i.Path), i.Entries("interface").Select(x => InterfaceUnit.Parse(x.Key!)).ToList())).ToList() ?? [];
        return new IpsecVpnConfiguration(ikeProposals, ikePolicies, ipsecProposals, ipsecPolicies, rules, sets, units, routes, instances);
    }

    private static IkeProposal ReadIkeProposal(ConfigNode p) => new(
        p.Key!,
        p.Leaf("authentication-method") switch
        {
            "pre-shared-keys" => IkeAuthenticationMethod.PreSharedKeys,
            "rsa-signatures" => IkeAuthenticationMethod.RsaSignatures,
            "ecdsa-signatures-256" => IkeAuthenticationMethod.EcdsaSignatures256,
            "ecdsa-signatures-384" => IkeAuthenticationMethod.EcdsaSignatures384,
            _ => throw Unchecked(p.Path),
        },
        Group(p.LeafOrDefault("dh-group")!),
        Encryption(p.LeafOrDefault("encryption-algorithm")!, p.Path),
        p.LeafOrDefault("authentication-algorithm") switch
        {
            "sha-256" => IkeHashAlgorithm.Sha256,
            "sha-384" => IkeHashAlgorithm.Sha384,
            "sha-512" => IkeHashAlgorithm.Sha512,
            _ => throw Unchecked(p.Path),
        },
        Seconds(p.LeafOrDefault("lifetime-seconds")!));

    private static IkePolicy ReadIkePolicy(ConfigNode p, List<IkeProposal> proposals)
    {
        ConfigNode? local = p.Child("local-id");
        IkeIdentity? localId = local?.Children.FirstOrDefault() is { } l ? new IkeIdentity(Kind(l.Name), l.Value) : null;
        var remote = new List<IkeIdentity>();
        foreach (ConfigNode r in p.Child("remote-id")?.Children ?? [])
        {
            if (r.Name == "distinguished-name")
            {
                foreach (ConfigNode d in r.Children)
                {
                    DnMatch m = d.Name switch { "container" => DnMatch.Container, "wildcard" => DnMatch.Wildcard, _ => DnMatch.ExactMatch };
                    remote.AddRange(d.Values.Select(v => new IkeIdentity(IkeIdentityKind.DistinguishedName, v, m)));
                }
            }
            else if (r.Name != "any-remote-id")
            {
                remote.AddRange(r.Values.Select(v => new IkeIdentity(Kind(r.Name), v)));
            }
        }
        PreSharedKey? psk = null;
        if (p.Find("pre-shared-key", "ascii-text")?.Value is { } ascii)
        {
            psk = new PreSharedKey(Encoding.UTF8.GetBytes(SecretValue.Reveal(ascii) ?? throw Unchecked(p.Path)));
        }
        else if (p.Find("pre-shared-key", "hexadecimal")?.Value is { } hex)
        {
            psk = new PreSharedKey(Convert.FromHexString(SecretValue.Reveal(hex) ?? throw Unchecked(p.Path)));
        }
        return new IkePolicy(p.Key!, Resolve(p.Child("proposals")?.Values ?? [], proposals, x => x.Name, p.Path),
            localId, remote, p.Leaf("local-certificate"), psk);
    }

    private static IpsecProposal ReadIpsecProposal(ConfigNode p) => new(
        p.Key!,
        Encryption(p.Leaf("encryption-algorithm") ?? throw Unchecked(p.Path), p.Path),
        p.Leaf("authentication-algorithm") switch
        {
            null => null,
            "hmac-sha-256-128" => EspIntegrityAlgorithm.HmacSha256_128,
            "hmac-sha-384-192" => EspIntegrityAlgorithm.HmacSha384_192,
            "hmac-sha-512-256" => EspIntegrityAlgorithm.HmacSha512_256,
            _ => throw Unchecked(p.Path),
        },
        Seconds(p.LeafOrDefault("lifetime-seconds")!));

    private static IpsecVpnRule ReadRule(ConfigNode r, List<IkePolicy> ike, List<IpsecPolicy> ipsec) => new(
        r.Key!,
        r.Leaf("match-direction") == "output" ? MatchDirection.Output : MatchDirection.Input,
        r.Entries("term").Select(t =>
        {
            ConfigNode? then = t.Child("then");
            string ikeName = then?.Find("dynamic", "ike-policy")?.Value ?? throw Unchecked(t.Path);
            string? ipsecName = then.Find("dynamic", "ipsec-policy")?.Value;
            ConfigNode? dpd = then.Child("dead-peer-detection");
            return new IpsecVpnTerm(
                t.Key!,
                t.Find("from", "source-address")?.Value is { } s ? IpPrefix.Parse(s) : null,
                t.Find("from", "destination-address")?.Value is { } d ? IpPrefix.Parse(d) : null,
                t.Find("from", "ipsec-inside-interface")?.Value is { } i ? InterfaceUnit.Parse(i) : null,
                IPAddress.Parse(then.Leaf("remote-gateway") ?? throw Unchecked(t.Path)),
                ike.FirstOrDefault(x => x.Name == ikeName) ?? throw Unchecked(t.Path),
                ipsecName is null ? IpsecPolicy.Default : ipsec.FirstOrDefault(x => x.Name == ipsecName) ?? throw Unchecked(t.Path),
                then.Has("initiate-dead-peer-detection")
                    ? new DeadPeerDetection(Seconds((dpd ?? Defaults(then, "dead-peer-detection")).LeafOrDefault("interval")!),
                        int.Parse((dpd ?? Defaults(then, "dead-peer-detection")).LeafOrDefault("threshold")!, CultureInfo.InvariantCulture))
                    : null);
        }).ToList());

    private static ServiceSet ReadServiceSet(ConfigNode root, ConfigNode s, List<IpsecVpnRule> rules)
    {
        ConfigNode? options = s.Child("ipsec-vpn-options");
        IPAddress? gateway = options?.Leaf("local-gateway") is { } g ? IPAddress.Parse(g) : null;
        IReadOnlyList<string> cas = options?.Child("trusted-ca")?.Values ?? [];
        int? mtu = options?.Leaf("tunnel-mtu") is { } m ? int.Parse(m, CultureInfo.InvariantCulture) : null;
        var setRules = Resolve(s.Child("ipsec-vpn-rules")?.Values ?? [], rules, r => r.Name, s.Path);
        if (s.Child("next-hop-service") is { } nh)
        {
            return new NextHopServiceSet(s.Key!, gateway, cas, setRules,
                InterfaceUnit.Parse(nh.Leaf("inside-service-interface") ?? throw Unchecked(nh.Path)),
                InterfaceUnit.Parse(nh.Leaf("outside-service-interface") ?? throw Unchecked(nh.Path)),
                s.Has("allow-multicast")) { TunnelMtu = mtu };
        }
        ConfigNode itf = s.Child("interface-service") ?? throw Unchecked(s.Path);
        var applied = new List<ServiceSetAttachment>();
        foreach ((InterfaceUnit unit, ConfigNode node) in InterfacesSchema.Units(root))
        {
            foreach (string family in new[] { "inet", "inet6" })
            {
                foreach (string direction in new[] { "input", "output" })
                {
                    if (node.Find("family", family, "service", direction, "service-set", s.Key!) is not null)
                    {
                        applied.Add(new ServiceSetAttachment(unit, direction == "input" ? MatchDirection.Input : MatchDirection.Output, family == "inet6"));
                    }
                }
            }
        }
        return new InterfaceServiceSet(s.Key!, gateway, cas, setRules,
            InterfaceUnit.Parse(itf.Leaf("service-interface") ?? throw Unchecked(itf.Path)), applied) { TunnelMtu = mtu };
    }

    private static StaticRoute ReadRoute(ConfigNode r, string? instance)
    {
        string? hop = r.Leaf("next-hop");
        IPAddress? address = hop is not null && IPAddress.TryParse(hop, out IPAddress? a) && (hop.Contains(':') || hop.Count(c => c == '.') == 3) ? a : null;
        InterfaceUnit? unit = hop is not null && address is null ? InterfaceUnit.Parse(hop) : null;
        return new StaticRoute(IpPrefix.Parse(r.Key!), address, unit, r.Has("discard"), instance);
    }

    private static List<T> Resolve<T>(IEnumerable<string> names, List<T> items, Func<T, string> name, IReadOnlyList<string> at) =>
        names.Select(n => items.FirstOrDefault(i => name(i) == n) ?? throw Unchecked(at)).ToList();

    private static IkeIdentityKind Kind(string statement) => statement switch
    {
        "ipv4_addr" => IkeIdentityKind.Ipv4Address,
        "ipv6-addr" => IkeIdentityKind.Ipv6Address,
        "fqdn" => IkeIdentityKind.Fqdn,
        "key-id" => IkeIdentityKind.KeyId,
        "user-at-hostname" => IkeIdentityKind.Email,
        _ => IkeIdentityKind.DistinguishedName,
    };

    private static DhGroup Group(string junos) => junos switch
    {
        "group14" => DhGroup.Group14,
        "group19" => DhGroup.Group19,
        "group20" => DhGroup.Group20,
        "group21" => DhGroup.Group21,
        _ => throw new InvalidOperationException($"dh-group {junos} is not supported; run the commit checks first"),
    };

    private static EncryptionAlgorithm Encryption(string junos, IReadOnlyList<string> at) => junos switch
    {
        "aes-128-cbc" => EncryptionAlgorithm.Aes128Cbc,
        "aes-256-cbc" => EncryptionAlgorithm.Aes256Cbc,
        "aes-128-gcm" => EncryptionAlgorithm.Aes128Gcm,
        "aes-256-gcm" => EncryptionAlgorithm.Aes256Gcm,
        _ => throw Unchecked(at),
    };

    private static TimeSpan Seconds(string s) => TimeSpan.FromSeconds(int.Parse(s, CultureInfo.InvariantCulture));

    private static ConfigNode Defaults(ConfigNode parent, string name) => new(parent.Statement[name], null, null);

    private static InvalidOperationException Unchecked(IReadOnlyList<string> at) =>
        new($"[edit {string.Join(' ', at)}] has not passed the commit checks; build the typed view from a committed configuration");
}
