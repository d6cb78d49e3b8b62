using System.Net;
using Certgate.Config.Interfaces;
using Certgate.Config.Schema;
using Certgate.Config.Tree;

namespace Certgate.Config.Ipsec;

/// <summary>
/// Declares <c>[edit services service-set]</c> (reference §1.4) and the checks that tie service sets, IPsec rules,
/// interfaces, static routes and routing protocols together (§1.5, §4). <see cref="Declare"/> also declares
/// <c>services ipsec-vpn</c>, <c>interfaces</c>, <c>routing-options</c> and <c>protocols</c>: one call in
/// <see cref="GatewaySchema"/> adds everything IPsec VPNs need.
/// </summary>
public static class ServiceSetSchema
{
    /// <summary>Why an interface service set refuses dynamic routing and multicast (reference §4.1, DESIGN.md "Service sets").</summary>
    public const string PolicyBasedNoRouting =
        "IPsec policy-based (interface) service sets carry no dynamic routing or multicast";

    /// <summary>Adds the IPsec VPN hierarchies to <paramref name="schema"/>.</summary>
    public static void Declare(ConfigSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        InterfacesSchema.Declare(schema);
        IpsecVpnSchema.Declare(schema);
        schema.Root["services"].List("service-set", ValueSyntax.ObjectName(63), ServiceSet, description: "a service set: where IPsec rules apply");
        schema.AddCheck(Check);
    }

    private static void ServiceSet(Statement s)
    {
        s.Container("interface-service", i => i
             .Leaf("service-interface", InterfaceSyntax.Unit()))
         .Container("next-hop-service", n => n
             .Leaf("inside-service-interface", InterfaceSyntax.UnitRequired())
             .Leaf("outside-service-interface", InterfaceSyntax.UnitRequired()))
         .Choice("interface-service", "next-hop-service")
         .Container("ipsec-vpn-options", o => o
             .Leaf("local-gateway", ValueSyntax.IpAddress())
             .LeafList("trusted-ca", ValueSyntax.ObjectName(32), maxElements: 20)
             .Leaf("tunnel-mtu", ValueSyntax.Integer(256, 9192)))
         .LeafList("ipsec-vpn-rules", ValueSyntax.Identifier(32))
         .Flag("allow-multicast");
    }

    /// <summary>The commit checks across service sets, rules, interfaces, routes and protocols.</summary>
    internal static IEnumerable<CommitError> Check(ConfigNode root)
    {
        var sets = root.Find("services")?.Entries("service-set").ToList() ?? [];
        var rules = root.Find("services", "ipsec-vpn")?.Entries("rule").ToDictionary(r => r.Key!, StringComparer.Ordinal) ?? [];
        var units = InterfacesSchema.Units(root).ToDictionary(u => u.Unit, u => u.Node);
        var owners = new Dictionary<InterfaceUnit, string>();
        var errors = new List<CommitError>();

        foreach (ConfigNode set in sets)
        {
            CheckServiceSet(root, set, rules, units, owners, errors);
        }
        CheckAttachments(root, sets, errors);
        CheckRoutes(root, sets, errors);
        return errors;
    }

    private static void CheckServiceSet(ConfigNode root, ConfigNode set, Dictionary<string, ConfigNode> rules,
        Dictionary<InterfaceUnit, ConfigNode> units, Dictionary<InterfaceUnit, string> owners, List<CommitError> errors)
    {
        string name = set.Key!;
        ConfigNode? nh = set.Child("next-hop-service");
        ConfigNode? itf = set.Child("interface-service");
        if ((nh is null) == (itf is null))
        {
            errors.Add(new CommitError(set.Path,
                "A service set needs exactly one of interface-service (service-interface ms-0/0/0) or next-hop-service (inside-service-interface and outside-service-interface)"));
        }

        InterfaceUnit? inside = null;
        if (nh is not null)
        {
            inside = ServiceUnit(nh, "inside-service-interface", "inside", units, errors);
            InterfaceUnit? outside = ServiceUnit(nh, "outside-service-interface", "outside", units, errors);
            if (inside is not null && inside == outside)
            {
                errors.Add(new CommitError([.. nh.Path, "outside-service-interface"], "inside-service-interface and outside-service-interface must be different units"));
            }
            Own(inside, nh, "inside-service-interface", name, owners, errors);
            Own(outside, nh, "outside-service-interface", name, owners, errors);
        }
        if (itf is not null)
        {
            string? text = itf.Leaf("service-interface");
            if (text is null)
            {
                errors.Add(new CommitError(itf.Path, "Missing mandatory statement: 'service-interface' (a services interface such as ms-0/0/0)"));
            }
            else
            {
                InterfaceUnit u = InterfaceUnit.Parse(text);
                if (!u.IsServiceInterface)
                {
                    errors.Add(new CommitError([.. itf.Path, "service-interface"], $"service-interface must be a services interface (ms-, sp- or si-), not {text}"));
                }
                Own(u, itf, "service-interface", name, owners, errors);
            }
            if (set.Has("allow-multicast"))
            {
                errors.Add(new CommitError([.. set.Path, "allow-multicast"],
                    $"allow-multicast is only valid with next-hop-service: {PolicyBasedNoRouting}; use a next-hop service set"));
            }
        }

        ConfigNode? options = set.Child("ipsec-vpn-options");
        string? gateway = options?.Leaf("local-gateway");
        IReadOnlyList<string> ruleNames = set.Child("ipsec-vpn-rules")?.Values ?? [];
        if (ruleNames.Count > 0 && gateway is null)
        {
            errors.Add(new CommitError(set.Path, "Local gateway must be configured with IPSec rules"));
        }
        foreach (string ca in options?.Child("trusted-ca")?.Values ?? [])
        {
            if (root.Find("security", "pki", "ca-profile", ca) is null)
            {
                errors.Add(new CommitError([.. options!.Path, "trusted-ca"], $"Referenced ca-profile {ca} must be defined under [edit security pki ca-profile]"));
            }
        }
        foreach (string r in ruleNames)
        {
            if (!rules.TryGetValue(r, out ConfigNode? rule))
            {
                errors.Add(new CommitError([.. set.Path, "ipsec-vpn-rules"], $"Referenced ipsec-vpn rule {r} must be defined under [edit services ipsec-vpn rule]"));
                continue;
            }
            if (nh is not null && rule.Leaf("match-direction") == "output")
            {
                // Reference §4.2: in a next-hop set, "output" matches what is routed into the outside unit.
                errors.Add(new CommitError([.. rule.Path, "match-direction"],
                    $"match-direction output in next-hop service-set {name} would match traffic routed into the outside-service-interface, which is not supported; use match-direction input and route traffic into the inside-service-interface"));
            }
            foreach (ConfigNode term in rule.Entries("term"))
            {
                CheckTermInSet(term, name, nh is not null, inside, gateway, errors);
            }
        }
    }

    private static void CheckTermInSet(ConfigNode term, string set, bool nextHop, InterfaceUnit? inside, string? gateway, List<CommitError> errors)
    {
        if (term.Find("from", "ipsec-inside-interface")?.Value is { } iif)
        {
            if (!nextHop)
            {
                errors.Add(new CommitError([.. term.Path, "from", "ipsec-inside-interface"],
                    $"ipsec-inside-interface is only valid in a next-hop service set, and service-set {set} is an interface service set"));
            }
            else if (inside is not null && InterfaceUnit.Parse(iif) != inside)
            {
                errors.Add(new CommitError([.. term.Path, "from", "ipsec-inside-interface"],
                    $"ipsec-inside-interface {iif} must be the inside-service-interface of service-set {set} ({inside})"));
            }
        }
        if (gateway is not null && term.Find("then", "remote-gateway")?.Value is { } remote
            && IPAddress.Parse(remote).AddressFamily != IPAddress.Parse(gateway).AddressFamily)
        {
            errors.Add(new CommitError([.. term.Path, "then", "remote-gateway"],
                $"remote-gateway {remote} and the local-gateway {gateway} of service-set {set} must be of the same address family"));
        }
    }

    private static InterfaceUnit? ServiceUnit(ConfigNode nh, string leaf, string domain, Dictionary<InterfaceUnit, ConfigNode> units, List<CommitError> errors)
    {
        string? text = nh.Leaf(leaf);
        if (text is null)
        {
            errors.Add(new CommitError(nh.Path, $"Missing mandatory statement: '{leaf}' (a unit of a services interface, such as ms-0/0/0.1, with service-domain {domain})"));
            return null;
        }
        InterfaceUnit u = InterfaceUnit.Parse(text);
        IReadOnlyList<string> at = [.. nh.Path, leaf];
        if (!u.IsServiceInterface)
        {
            errors.Add(new CommitError(at, $"{leaf} must be a unit of a services interface (ms-, sp- or si-), not {text}"));
        }
        else if (!units.TryGetValue(u, out ConfigNode? unit) || unit.Leaf("service-domain") != domain)
        {
            errors.Add(new CommitError(at, $"Referenced {leaf} {text} must be configured with 'service-domain {domain}' under [edit interfaces {u.Device} unit {u.Unit}]"));
        }
        return u;
    }

    private static void Own(InterfaceUnit? unit, ConfigNode node, string leaf, string set, Dictionary<InterfaceUnit, string> owners, List<CommitError> errors)
    {
        if (unit is null)
        {
            return;
        }
        if (owners.TryGetValue(unit.Value, out string? owner))
        {
            errors.Add(new CommitError([.. node.Path, leaf], $"{unit} is already used by service-set {owner}; each service interface unit serves one service set"));
        }
        else
        {
            owners[unit.Value] = set;
        }
    }

    /// <summary><c>family inet service input|output service-set S</c>, and the routing/multicast refusal for interface sets.</summary>
    private static void CheckAttachments(ConfigNode root, List<ConfigNode> sets, List<CommitError> errors)
    {
        var byName = sets.ToDictionary(s => s.Key!, StringComparer.Ordinal);
        // The units each interface service set touches: where it is applied, and its own service interface.
        var policyBased = new Dictionary<InterfaceUnit, string>();
        foreach (ConfigNode s in sets)
        {
            if (s.Find("interface-service", "service-interface")?.Value is { } si)
            {
                policyBased.TryAdd(InterfaceUnit.Parse(si), s.Key!);
            }
        }
        foreach ((InterfaceUnit unit, ConfigNode node) in InterfacesSchema.Units(root))
        {
            foreach (string family in new[] { "inet", "inet6" })
            {
                foreach (string direction in new[] { "input", "output" })
                {
                    foreach (ConfigNode use in node.Find("family", family, "service", direction)?.Entries("service-set") ?? [])
                    {
                        if (!byName.TryGetValue(use.Key!, out ConfigNode? set))
                        {
                            errors.Add(new CommitError(use.Path, $"Referenced service-set {use.Key} must be defined under [edit services service-set]"));
                        }
                        else if (set.Child("interface-service") is null)
                        {
                            errors.Add(new CommitError(use.Path,
                                $"service-set {use.Key} is a next-hop service set: only interface-service sets are applied on an interface; route traffic into its inside-service-interface instead"));
                        }
                        else
                        {
                            policyBased.TryAdd(unit, use.Key!);
                        }
                    }
                }
            }
        }

        foreach ((string protocol, ConfigNode entry) in InterfacesSchema.ProtocolInterfaces(root))
        {
            IEnumerable<KeyValuePair<InterfaceUnit, string>> hit = entry.Key == "all"
                ? policyBased
                : policyBased.Where(p => p.Key == InterfaceUnit.Parse(entry.Key!));
            foreach ((InterfaceUnit unit, string set) in hit.OrderBy(p => p.Key.ToString(), StringComparer.Ordinal))
            {
                string what = InterfacesSchema.MulticastProtocols.Contains(protocol) ? "multicast" : "dynamic routing";
                errors.Add(new CommitError(entry.Path,
                    $"{protocol} ({what}) cannot run on {unit}: interface service set {set} is applied there, and {PolicyBasedNoRouting}. " +
                    $"Use a next-hop service set (next-hop-service inside-service-interface ms-0/0/0.N outside-service-interface ms-0/0/0.M) and run {protocol} on its inside-service-interface"));
            }
        }
    }

    /// <summary>A static route into a services unit must name the inside unit of a next-hop service set.</summary>
    private static void CheckRoutes(ConfigNode root, List<ConfigNode> sets, List<CommitError> errors)
    {
        var insides = new HashSet<InterfaceUnit>();
        foreach (ConfigNode s in sets)
        {
            if (s.Find("next-hop-service", "inside-service-interface")?.Value is { } i)
            {
                insides.Add(InterfaceUnit.Parse(i));
            }
        }
        Dictionary<InterfaceUnit, string> instances = InterfacesSchema.InstanceOfUnits(root);
        foreach ((string? instance, ConfigNode route) in InterfacesSchema.StaticRoutes(root))
        {
            string? hop = route.Leaf("next-hop");
            if (hop is null && !route.Has("discard"))
            {
                errors.Add(new CommitError(route.Path, "Missing mandatory statement: 'next-hop' (an address or an interface such as ms-0/0/0.1) or 'discard'"));
                continue;
            }
            if (hop is null || IPAddress.TryParse(hop, out _) || !InterfaceUnit.TryParse(hop, out InterfaceUnit unit) || !unit.IsServiceInterface)
            {
                continue;
            }
            if (!insides.Contains(unit))
            {
                errors.Add(new CommitError([.. route.Path, "next-hop"],
                    $"next-hop {hop} is not the inside-service-interface of any next-hop service set; traffic to protect is routed into an inside-service-interface"));
            }
            else if (instances.GetValueOrDefault(unit) != instance)
            {
                string? vrf = instances.GetValueOrDefault(unit);
                string message = vrf is not null
                    ? $"next-hop {unit} is an interface of routing-instance {vrf}; configure the route under [edit routing-instances {vrf} routing-options static]"
                    : $"next-hop {unit} is not an interface of routing-instance {instance}; set routing-instances {instance} interface {unit}";
                errors.Add(new CommitError([.. route.Path, "next-hop"], message));
            }
        }
    }
}
