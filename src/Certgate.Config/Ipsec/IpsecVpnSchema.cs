using System.Globalization;
using Certgate.Config.Schema;
using Certgate.Config.Tree;
using Certgate.Net.Addressing;

namespace Certgate.Config.Ipsec;

/// <summary>
/// Declares <c>[edit services ipsec-vpn]</c> (reference §1.3, IKEv2 only) and its commit checks.
/// </summary>
/// <remarks>
/// Historic values (<c>3des-cbc</c>, <c>group2</c>, <c>sha1</c>, <c>version 1</c>, <c>mode aggressive</c>, <c>protocol ah</c>)
/// are accepted by the parser so that an old configuration loads, then refused at commit with what to use instead:
/// an operator sees every line to change at once rather than the first syntax error.
/// GCM (docs/decisions.md): an ESP proposal with AES-GCM refuses <c>authentication-algorithm</c> (RFC 4106 integrity
/// is built in); an IKE proposal with AES-GCM keeps it as the PRF only (RFC 5282 §8: no integrity transform).
/// </remarks>
public static class IpsecVpnSchema
{
    public const int DefaultIkeLifetime = 3600;
    public const int DefaultIpsecLifetime = 28800;

    /// <summary>IKE <c>authentication-method</c> values.</summary>
    public static readonly IReadOnlyList<string> IkeAuthenticationMethods = ["pre-shared-keys", "rsa-signatures", "ecdsa-signatures-256", "ecdsa-signatures-384"];

    /// <summary>Supported DH groups (IANA Transform Type 4: 14 MODP-2048, 19/20/21 ECP-256/384/521).</summary>
    public static readonly IReadOnlyList<string> SupportedDhGroups = ["group14", "group19", "group20", "group21"];

    /// <summary>Supported encryption algorithms (IKE and ESP).</summary>
    public static readonly IReadOnlyList<string> SupportedEncryption = ["aes-128-cbc", "aes-256-cbc", "aes-128-gcm", "aes-256-gcm"];

    /// <summary>Supported IKE <c>authentication-algorithm</c> values (PRF and, with CBC, integrity).</summary>
    public static readonly IReadOnlyList<string> SupportedIkeHashes = ["sha-256", "sha-384", "sha-512"];

    /// <summary>Supported ESP <c>authentication-algorithm</c> values.</summary>
    public static readonly IReadOnlyList<string> SupportedEspIntegrity = ["hmac-sha-256-128", "hmac-sha-384-192", "hmac-sha-512-256"];

    private static readonly string[] AllDhGroups = ["group1", "group2", "group5", "group14", "group15", "group16", "group19", "group20", "group21", "group24"];
    private static readonly string[] AllEncryption = ["des-cbc", "3des-cbc", "aes-128-cbc", "aes-192-cbc", "aes-256-cbc", "aes-128-gcm", "aes-192-gcm", "aes-256-gcm"];
    private static readonly string[] AllIkeHashes = ["md5", "sha1", "sha-256", "sha-384", "sha-512"];
    private static readonly string[] AllEspIntegrity = ["hmac-md5-96", "hmac-sha1-96", "hmac-sha-256-96", "hmac-sha-256-128", "hmac-sha-384-192", "hmac-sha-512-256"];

    /// <summary>Adds <c>services ipsec-vpn</c> to <paramref name="schema"/> (creating <c>services</c> if needed).</summary>
    public static void Declare(ConfigSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        if (schema.Root.Find("services") is null)
        {
            schema.Root.Container("services");
        }
        schema.Root["services"].Container("ipsec-vpn", IpsecVpn, description: "IPsec VPNs: IKE and IPsec proposals and policies, rules");
        schema.AddCheck(Check);
    }

    private static void IpsecVpn(Statement v)
    {
        ValueSyntax name = ValueSyntax.Identifier(32);
        ValueSyntax description = ValueSyntax.String(1, 80);
        v.Container("ike", ike => ike
            .List("proposal", name, p => p
                .Leaf("description", description)
                .Leaf("authentication-method", ValueSyntax.Enum([.. IkeAuthenticationMethods]))
                .Leaf("dh-group", ValueSyntax.Enum(AllDhGroups), "group14")
                .Leaf("authentication-algorithm", ValueSyntax.Enum(AllIkeHashes), "sha-256")
                .Leaf("encryption-algorithm", ValueSyntax.Enum(AllEncryption), "aes-256-cbc")
                .Leaf("lifetime-seconds", ValueSyntax.Integer(180, 86400), DefaultIkeLifetime.ToString(CultureInfo.InvariantCulture)))
            .List("policy", name, p => p
                .Leaf("description", description)
                .Leaf("mode", ValueSyntax.Enum("main", "aggressive"))
                .Leaf("version", ValueSyntax.Enum("1", "2"), "2")
                .LeafList("proposals", name)
                .Container("local-id", l => l
                    .Leaf("ipv4_addr", ValueSyntax.IpAddress(v6: false), aliases: "ipv4-addr")
                    .Leaf("ipv6-addr", ValueSyntax.IpAddress(v4: false), aliases: "ipv6_addr")
                    .Leaf("fqdn", Fqdn())
                    .Leaf("key-id", KeyId(), aliases: "key_id")
                    .Leaf("user-at-hostname", Email())
                    .Flag("distinguished-name")
                    .Choice("ipv4_addr", "ipv6-addr", "fqdn", "key-id", "user-at-hostname", "distinguished-name"))
                .Container("remote-id", r => r
                    .Flag("any-remote-id")
                    .LeafList("ipv4_addr", ValueSyntax.IpAddress(v6: false), aliases: "ipv4-addr")
                    .LeafList("ipv6-addr", ValueSyntax.IpAddress(v4: false), aliases: "ipv6_addr")
                    .LeafList("fqdn", Fqdn())
                    .LeafList("key-id", KeyId(), aliases: "key_id")
                    .LeafList("user-at-hostname", Email())
                    .Container("distinguished-name", d => d
                        .LeafList("container", ValueSyntax.String(1, 255))
                        .LeafList("wildcard", ValueSyntax.String(1, 255))
                        .LeafList("exact-match", ValueSyntax.String(1, 255))))
                .Leaf("local-certificate", ValueSyntax.ObjectName(32))
                .Container("pre-shared-key", k => k
                    .Leaf("ascii-text", ValueSyntax.Secret())
                    .Leaf("hexadecimal", ValueSyntax.Secret())
                    .Choice("ascii-text", "hexadecimal"))))
         .Container("ipsec", ipsec => ipsec
            .List("proposal", name, p => p
                .Leaf("description", description)
                .Leaf("protocol", ValueSyntax.Enum("esp", "ah", "bundle"), "esp")
                .Leaf("authentication-algorithm", ValueSyntax.Enum(AllEspIntegrity))
                .Leaf("encryption-algorithm", ValueSyntax.Enum(AllEncryption))
                .Leaf("lifetime-seconds", ValueSyntax.Integer(180, 86400), DefaultIpsecLifetime.ToString(CultureInfo.InvariantCulture)))
            .List("policy", name, p => p
                .Leaf("description", description)
                .Container("perfect-forward-secrecy", pfs => pfs.Leaf("keys", ValueSyntax.Enum(AllDhGroups)))
                .LeafList("proposals", name)))
         .List("rule", name, r => r
            .List("term", name, t => t
                .Container("from", f => f
                    .Leaf("source-address", ValueSyntax.Prefix())
                    .Leaf("destination-address", ValueSyntax.Prefix())
                    .Leaf("ipsec-inside-interface", Interfaces.InterfaceSyntax.UnitRequired()))
                .Container("then", th => th
                    .Leaf("remote-gateway", ValueSyntax.IpAddress())
                    .Container("dynamic", d => d
                        .Leaf("ike-policy", name)
                        .Leaf("ipsec-policy", name))
                    .Flag("initiate-dead-peer-detection")
                    .Container("dead-peer-detection", dpd => dpd
                        .Leaf("interval", ValueSyntax.Integer(1, 180), "10")
                        .Leaf("threshold", ValueSyntax.Integer(1, 10), "3"))))
            .Leaf("match-direction", ValueSyntax.Enum("input", "output")));
    }

    private static ValueSyntax Fqdn() =>
        ValueSyntax.String(1, 255, @"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$", "a domain name such as gw1.example.com");

    // Certgate extension (SRX "user-at-hostname"): services ipsec-vpn has no e-mail identity, RFC 7296 §3.5 does.
    private static ValueSyntax Email() =>
        ValueSyntax.String(3, 255, @"^[A-Za-z0-9._%+=-]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$", "an e-mail address such as gw1@example.com");

    private static ValueSyntax KeyId() => ValueSyntax.String(2, 255, "^([0-9A-Fa-f]{2})+$", "hexadecimal digits, two per byte");

    /// <summary>The commit checks of <c>services ipsec-vpn</c>.</summary>
    internal static IEnumerable<CommitError> Check(ConfigNode root)
    {
        ConfigNode? vpn = root.Find("services", "ipsec-vpn");
        if (vpn is null)
        {
            yield break;
        }
        var ikeProposals = vpn.Find("ike")?.Entries("proposal").ToDictionary(p => p.Key!, StringComparer.Ordinal) ?? [];
        var ikePolicies = vpn.Find("ike")?.Entries("policy").ToDictionary(p => p.Key!, StringComparer.Ordinal) ?? [];
        var ipsecProposals = vpn.Find("ipsec")?.Entries("proposal").ToDictionary(p => p.Key!, StringComparer.Ordinal) ?? [];
        var ipsecPolicies = vpn.Find("ipsec")?.Entries("policy").ToDictionary(p => p.Key!, StringComparer.Ordinal) ?? [];

        foreach (ConfigNode p in ikeProposals.Values)
        {
            if (p.Leaf("authentication-method") is null)
            {
                yield return new CommitError(p.Path, $"Missing mandatory statement: 'authentication-method' (one of: {string.Join(' ', IkeAuthenticationMethods)})");
            }
            foreach (CommitError e in Supported(p, "dh-group", SupportedDhGroups)
                .Concat(Supported(p, "encryption-algorithm", SupportedEncryption))
                .Concat(Supported(p, "authentication-algorithm", SupportedIkeHashes)))
            {
                yield return e;
            }
        }

        foreach (ConfigNode p in ikePolicies.Values)
        {
            foreach (CommitError e in CheckIkePolicy(p, ikeProposals))
            {
                yield return e;
            }
        }

        foreach (ConfigNode p in ipsecProposals.Values)
        {
            if (p.Leaf("protocol") is { } protocol && protocol != "esp")
            {
                yield return new CommitError([.. p.Path, "protocol"], $"protocol {protocol} is not supported: Certgate protects traffic with ESP only (RFC 4303); set protocol esp");
            }
            string? enc = p.Leaf("encryption-algorithm");
            string? auth = p.Leaf("authentication-algorithm");
            if (enc is null)
            {
                yield return new CommitError(p.Path, $"Missing mandatory statement: 'encryption-algorithm' (one of: {string.Join(' ', SupportedEncryption)})");
            }
            else if (enc.EndsWith("-gcm", StringComparison.Ordinal) && auth is not null)
            {
                yield return new CommitError([.. p.Path, "authentication-algorithm"],
                    $"authentication-algorithm cannot be used with {enc}: AES-GCM authenticates the packet itself (RFC 4106); delete authentication-algorithm");
            }
            else if (enc.EndsWith("-cbc", StringComparison.Ordinal) && auth is null)
            {
                yield return new CommitError(p.Path,
                    $"{enc} needs an authentication-algorithm (ESP encryption without integrity is refused, RFC 8221 §5); set authentication-algorithm hmac-sha-256-128 or use aes-256-gcm");
            }
            foreach (CommitError e in Supported(p, "encryption-algorithm", SupportedEncryption).Concat(Supported(p, "authentication-algorithm", SupportedEspIntegrity)))
            {
                yield return e;
            }
        }

        foreach (ConfigNode p in ipsecPolicies.Values)
        {
            foreach (CommitError e in References(p, "proposals", ipsecProposals, "services ipsec-vpn ipsec proposal"))
            {
                yield return e;
            }
            if (p.Child("perfect-forward-secrecy") is { } pfs)
            {
                foreach (CommitError e in Supported(pfs, "keys", SupportedDhGroups))
                {
                    yield return e;
                }
            }
        }

        foreach (ConfigNode rule in vpn.Entries("rule"))
        {
            if (rule.Leaf("match-direction") is null)
            {
                yield return new CommitError(rule.Path, "Missing mandatory statement: 'match-direction' (input or output)");
            }
            if (!rule.Entries("term").Any())
            {
                yield return new CommitError(rule.Path, "A rule needs at least one term: set term NAME then remote-gateway ADDRESS");
            }
            foreach (ConfigNode term in rule.Entries("term"))
            {
                foreach (CommitError e in CheckTerm(term, ikePolicies, ipsecPolicies))
                {
                    yield return e;
                }
            }
        }
    }

    private static IEnumerable<CommitError> CheckIkePolicy(ConfigNode p, Dictionary<string, ConfigNode> proposals)
    {
        if (p.Leaf("version") == "1")
        {
            yield return new CommitError([.. p.Path, "version"], "IKE version 1 is not supported: Certgate speaks IKEv2 only (RFC 7296); set version 2 or delete version");
        }
        if (p.Leaf("mode") == "aggressive")
        {
            yield return new CommitError([.. p.Path, "mode"], "mode aggressive is an IKEv1 mode and IKEv2 has none; delete mode");
        }
        IReadOnlyList<string> names = p.Child("proposals")?.Values ?? [];
        if (names.Count == 0)
        {
            yield return new CommitError(p.Path, "Missing mandatory statement: 'proposals' (the IKE proposals to offer, under [edit services ipsec-vpn ike proposal])");
        }
        foreach (CommitError e in References(p, "proposals", proposals, "services ipsec-vpn ike proposal"))
        {
            yield return e;
        }

        bool hasCert = p.Leaf("local-certificate") is not null;
        ConfigNode? psk = p.Child("pre-shared-key");
        bool hasPsk = psk is not null && psk.Children.Count > 0;
        if (!hasCert && !hasPsk)
        {
            // Reference §6; Junos' text has the typo "referencd".
            yield return new CommitError(p.Path, "Either pre-shared-key or local-certificate must be configured in the referenced ike policy");
        }
        else
        {
            bool anyPskMethod = false;
            foreach (string n in names)
            {
                string? method = proposals.GetValueOrDefault(n)?.Leaf("authentication-method");
                if (method == "pre-shared-keys")
                {
                    anyPskMethod = true;
                    if (!hasPsk)
                    {
                        yield return new CommitError(p.Path, $"Proposal {n} uses authentication-method pre-shared-keys: set pre-shared-key ascii-text KEY in this ike policy");
                    }
                }
                else if (method is not null && !hasCert)
                {
                    yield return new CommitError(p.Path, $"Proposal {n} uses authentication-method {method}: set local-certificate CERTIFICATE-ID in this ike policy");
                }
            }
            if (hasPsk && !anyPskMethod && names.Count > 0)
            {
                yield return new CommitError([.. p.Path, "pre-shared-key"],
                    "pre-shared-key is configured but no proposal of this policy uses authentication-method pre-shared-keys; delete pre-shared-key (the certificate authenticates)");
            }
        }
        if (psk?.Leaf("hexadecimal") is { } hex && SecretValue.Reveal(hex) is { } plain && !IsHex(plain))
        {
            yield return new CommitError([.. psk.Path, "hexadecimal"], "pre-shared-key hexadecimal must be hexadecimal digits, two per byte; use ascii-text for a passphrase");
        }
        if (p.Find("local-id", "distinguished-name") is not null && !hasCert)
        {
            yield return new CommitError([.. p.Path, "local-id", "distinguished-name"], "local-id distinguished-name takes the subject of local-certificate: set local-certificate CERTIFICATE-ID");
        }
        ConfigNode? remote = p.Child("remote-id");
        if (remote?.Has("any-remote-id") == true)
        {
            string message = remote.Children.Count > 1
                ? "any-remote-id excludes every other remote-id value"
                : "any-remote-id is for dynamic endpoints (ike-access-profile), which are not supported; delete remote-id to accept any identity the peer's certificate proves";
            yield return new CommitError([.. remote.Path, "any-remote-id"], message);
        }
    }

    private static IEnumerable<CommitError> CheckTerm(ConfigNode term, Dictionary<string, ConfigNode> ikePolicies, Dictionary<string, ConfigNode> ipsecPolicies)
    {
        ConfigNode? then = term.Child("then");
        if (then?.Leaf("remote-gateway") is null)
        {
            yield return new CommitError(term.Path, "Missing mandatory statement: 'then remote-gateway' (dynamic endpoints without a remote gateway are not supported)");
        }
        string? ike = then?.Find("dynamic", "ike-policy")?.Value;
        if (ike is null)
        {
            yield return new CommitError(term.Path, "Missing mandatory statement: 'then dynamic ike-policy' (the IKE policy that authenticates this tunnel)");
        }
        else if (!ikePolicies.ContainsKey(ike))
        {
            yield return new CommitError([.. term.Path, "then", "dynamic", "ike-policy"], $"Referenced ike policy {ike} must be defined under [edit services ipsec-vpn ike policy]");
        }
        if (then?.Find("dynamic", "ipsec-policy")?.Value is { } ipsec && !ipsecPolicies.ContainsKey(ipsec))
        {
            yield return new CommitError([.. term.Path, "then", "dynamic", "ipsec-policy"], $"Referenced ipsec policy {ipsec} must be defined under [edit services ipsec-vpn ipsec policy]");
        }
        if (then?.Has("dead-peer-detection") == true && !then.Has("initiate-dead-peer-detection"))
        {
            yield return new CommitError([.. then.Path, "dead-peer-detection"], "dead-peer-detection requires initiate-dead-peer-detection");
        }
        string? src = term.Find("from", "source-address")?.Value;
        string? dst = term.Find("from", "destination-address")?.Value;
        if (src is not null && dst is not null && IpPrefix.Parse(src).IsIPv4 != IpPrefix.Parse(dst).IsIPv4)
        {
            yield return new CommitError([.. term.Path, "from"], "source-address and destination-address must both be IPv4 or both IPv6");
        }
    }

    private static IEnumerable<CommitError> Supported(ConfigNode node, string leaf, IReadOnlyList<string> supported)
    {
        if (node.Leaf(leaf) is { } v && !supported.Contains(v))
        {
            yield return new CommitError([.. node.Path, leaf], $"{leaf} {v} is not supported (weak or not implemented); use one of: {string.Join(' ', supported)}");
        }
    }

    internal static IEnumerable<CommitError> References(ConfigNode node, string leafList, Dictionary<string, ConfigNode> targets, string where)
    {
        foreach (string v in node.Child(leafList)?.Values ?? [])
        {
            if (!targets.ContainsKey(v))
            {
                yield return new CommitError([.. node.Path, leafList], $"Referenced proposal {v} must be defined under [edit {where}]");
            }
        }
    }

    private static bool IsHex(string s) => s.Length % 2 == 0 && s.Length > 0 && s.All(char.IsAsciiHexDigit);
}
