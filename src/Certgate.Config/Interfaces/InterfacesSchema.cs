using Certgate.Config.Schema;
using Certgate.Config.Tree;

namespace Certgate.Config.Interfaces;

/// <summary>
/// Declares <c>[edit interfaces]</c>, <c>[edit routing-options static]</c> and the parts of <c>[edit protocols]</c>
/// that matter to service sets (reference §1.5): dynamic routing (<c>ospf</c>, <c>ospf3</c>, <c>isis</c>, <c>rip</c>)
/// and multicast (<c>pim</c>, <c>igmp</c>, <c>mld</c>) are declared so that commit can say where they may run.
/// </summary>
/// <remarks>
/// <c>interfaces</c> holds a keyless list <c>interface</c> (the name Junos' JSON and YANG use), so both forms are
/// Junos': <c>set interfaces ge-0/0/0 unit 0 ...</c> and <c>interfaces { ge-0/0/0 { unit 0 { ... } } }</c>.
/// </remarks>
public static class InterfacesSchema
{
    /// <summary>The routing protocols that run over an interface (list <c>interface</c> or, for RIP, <c>neighbor</c>).</summary>
    public static readonly IReadOnlyList<string> RoutingProtocols = ["ospf", "ospf3", "isis", "rip"];

    /// <summary>The multicast protocols.</summary>
    public static readonly IReadOnlyList<string> MulticastProtocols = ["pim", "igmp", "mld"];

    /// <summary>Adds <c>interfaces</c>, <c>routing-options</c> and <c>protocols</c> to <paramref name="schema"/>.</summary>
    public static void Declare(ConfigSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        schema.Root
            .Container("interfaces", i => i
                .List("interface", InterfaceSyntax.Device(), Interface, description: "a network or services interface")
                .Keyless("interface"))
            .Container("routing-instances", ri => ri
                .List("instance", ValueSyntax.ObjectName(128), i => i
                    .Leaf("instance-type", ValueSyntax.Enum("vrf", "virtual-router"))
                    .List("interface", InterfaceSyntax.Unit())
                    .Container("routing-options", RoutingOptions), description: "a routing instance (VRF)")
                .Keyless("instance"))
            .Container("routing-options", RoutingOptions)
            .Container("protocols", Protocols);
        schema.AddCheck(Check);
    }

    private static void RoutingOptions(Statement r)
    {
        r.Container("static", s => s
            .List("route", ValueSyntax.Prefix(), rt => rt
                .Leaf("next-hop", InterfaceSyntax.NextHop())
                .Flag("discard")
                .Leaf("preference", ValueSyntax.Integer(0, 4294967295))
                .Choice("next-hop", "discard")));
    }

    /// <summary>Every static route with its routing instance (null for the main table).</summary>
    public static IEnumerable<(string? Instance, ConfigNode Route)> StaticRoutes(ConfigNode root)
    {
        ArgumentNullException.ThrowIfNull(root);
        foreach (ConfigNode r in root.Find("routing-options", "static")?.Entries("route") ?? [])
        {
            yield return (null, r);
        }
        foreach (ConfigNode instance in root.Child("routing-instances")?.Entries("instance") ?? [])
        {
            foreach (ConfigNode r in instance.Find("routing-options", "static")?.Entries("route") ?? [])
            {
                yield return (instance.Key, r);
            }
        }
    }

    /// <summary>The routing instance each listed unit belongs to (units not listed are in the main table).</summary>
    public static Dictionary<InterfaceUnit, string> InstanceOfUnits(ConfigNode root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var result = new Dictionary<InterfaceUnit, string>();
        foreach (ConfigNode instance in root.Child("routing-instances")?.Entries("instance") ?? [])
        {
            foreach (ConfigNode i in instance.Entries("interface"))
            {
                result.TryAdd(InterfaceUnit.Parse(i.Key!), instance.Key!);
            }
        }
        return result;
    }

    private static void Interface(Statement i)
    {
        i.Leaf("description", ValueSyntax.String(1, 255))
         .List("unit", ValueSyntax.Integer(0, InterfaceUnit.MaxUnit), u => u
             .Leaf("description", ValueSyntax.String(1, 255))
             .Leaf("service-domain", ValueSyntax.Enum("inside", "outside"))
             .Container("family", f => f
                 .Container("inet", Family, presence: true)
                 .Container("inet6", Family, presence: true)));
    }

    private static void Family(Statement f)
    {
        f.List("address", InterfaceSyntax.Address())
         .Leaf("unnumbered-address", InterfaceSyntax.Unit())
         .Container("service", s => s
             .Container("input", d => d
                 .List("service-set", ValueSyntax.ObjectName(63), e => e.Leaf("service-filter", ValueSyntax.ObjectName(64))))
             .Container("output", d => d
                 .List("service-set", ValueSyntax.ObjectName(63), e => e.Leaf("service-filter", ValueSyntax.ObjectName(64)))));
    }

    private static void Protocols(Statement p)
    {
        ValueSyntax area = ValueSyntax.String(1, 15, @"^([0-9]{1,10}|[0-9]{1,3}(\.[0-9]{1,3}){3})$", "an area id such as 0.0.0.0 or 0");
        foreach (string ospf in new[] { "ospf", "ospf3" })
        {
            p.Container(ospf, o => o
                .List("area", area, a => a
                    .List("interface", InterfaceSyntax.ProtocolInterface(), e => e
                        .Flag("passive")
                        .Leaf("metric", ValueSyntax.Integer(1, 65535)))));
        }
        p.Container("isis", i => i.List("interface", InterfaceSyntax.ProtocolInterface(), e => e.Flag("passive")))
         .Container("rip", r => r.List("group", ValueSyntax.ObjectName(64), g => g.List("neighbor", InterfaceSyntax.ProtocolInterface())))
         .Container("pim", m => m.List("interface", InterfaceSyntax.ProtocolInterface(), e => e.Leaf("mode", ValueSyntax.Enum("sparse", "dense", "sparse-dense"))))
         .Container("igmp", m => m.List("interface", InterfaceSyntax.ProtocolInterface(), e => e.Leaf("version", ValueSyntax.Integer(1, 3))))
         .Container("mld", m => m.List("interface", InterfaceSyntax.ProtocolInterface(), e => e.Leaf("version", ValueSyntax.Integer(1, 2))));
    }

    /// <summary>Every (protocol, interface entry) under <c>protocols</c>: OSPF areas, IS-IS, RIP neighbors, PIM, IGMP, MLD.</summary>
    public static IEnumerable<(string Protocol, ConfigNode Entry)> ProtocolInterfaces(ConfigNode root)
    {
        ArgumentNullException.ThrowIfNull(root);
        ConfigNode? protocols = root.Child("protocols");
        if (protocols is null)
        {
            yield break;
        }
        foreach (string ospf in new[] { "ospf", "ospf3" })
        {
            foreach (ConfigNode area in protocols.Child(ospf)?.Entries("area") ?? [])
            {
                foreach (ConfigNode e in area.Entries("interface"))
                {
                    yield return (ospf, e);
                }
            }
        }
        foreach (ConfigNode e in protocols.Child("isis")?.Entries("interface") ?? [])
        {
            yield return ("isis", e);
        }
        foreach (ConfigNode g in protocols.Child("rip")?.Entries("group") ?? [])
        {
            foreach (ConfigNode e in g.Entries("neighbor"))
            {
                yield return ("rip", e);
            }
        }
        foreach (string m in MulticastProtocols)
        {
            foreach (ConfigNode e in protocols.Child(m)?.Entries("interface") ?? [])
            {
                yield return (m, e);
            }
        }
    }

    /// <summary>Every configured unit: <c>interfaces DEVICE unit N</c>.</summary>
    public static IEnumerable<(InterfaceUnit Unit, ConfigNode Node)> Units(ConfigNode root)
    {
        ArgumentNullException.ThrowIfNull(root);
        foreach (ConfigNode device in root.Child("interfaces")?.Entries("interface") ?? [])
        {
            foreach (ConfigNode unit in device.Entries("unit"))
            {
                yield return (new InterfaceUnit(device.Key!, int.Parse(unit.Key!, System.Globalization.CultureInfo.InvariantCulture)), unit);
            }
        }
    }

    /// <summary>The commit checks of <c>interfaces</c>.</summary>
    internal static IEnumerable<CommitError> Check(ConfigNode root)
    {
        var member = new Dictionary<InterfaceUnit, string>();
        foreach (ConfigNode instance in root.Child("routing-instances")?.Entries("instance") ?? [])
        {
            if (instance.Leaf("instance-type") is null)
            {
                yield return new CommitError(instance.Path, "Missing mandatory statement: 'instance-type' (vrf or virtual-router)");
            }
            foreach (ConfigNode i in instance.Entries("interface"))
            {
                InterfaceUnit unit = InterfaceUnit.Parse(i.Key!);
                if (!member.TryAdd(unit, instance.Key!))
                {
                    yield return new CommitError(i.Path, $"{unit} is already an interface of routing-instance {member[unit]}; an interface belongs to one routing instance");
                }
            }
        }
        foreach ((InterfaceUnit unit, ConfigNode node) in Units(root))
        {
            if (node.Leaf("service-domain") is not null && !unit.IsServiceInterface)
            {
                yield return new CommitError([.. node.Path, "service-domain"],
                    $"service-domain is only valid on a services interface (ms-, sp- or si-), not on {unit.Device}");
            }
            if (unit.LinuxName is null)
            {
                yield return new CommitError(node.Path,
                    $"The Linux name of {unit} would be longer than {InterfaceUnit.MaxLinuxNameLength} characters; use a shorter interface name or unit number");
            }
            foreach (string family in new[] { "inet", "inet6" })
            {
                ConfigNode? f = node.Find("family", family);
                if (f is not null && f.Entries("address").Any() && f.Leaf("unnumbered-address") is not null)
                {
                    yield return new CommitError([.. f.Path, "unnumbered-address"], "unnumbered-address cannot be combined with address; delete one of them");
                }
            }
        }
    }
}
