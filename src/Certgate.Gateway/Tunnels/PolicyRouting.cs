using System.Globalization;
using System.Net;
using Certgate.Config.Ipsec;
using Certgate.ServiceSets.Plan;

namespace Certgate.Gateway.Tunnels;

/// <summary>One <c>ip rule</c> of the policy routing of interface service sets (docs/decisions.md "Interface service
/// sets on Linux"). <see cref="Table"/> null means the main table.</summary>
internal sealed record PolicyRule(bool IPv6, int Priority, string From, string To, string? InputInterface, string? Protocol, int? DestinationPort, int? Table)
{
    /// <summary>The selector and action after <c>ip rule add|del</c>; the same words add and delete exactly this rule.</summary>
    public IReadOnlyList<string> Arguments()
    {
        var a = new List<string> { "priority", Priority.ToString(CultureInfo.InvariantCulture), "from", From, "to", To };
        if (InputInterface is not null)
        {
            a.AddRange(["iif", InputInterface]);
        }
        if (Protocol is not null)
        {
            a.AddRange(["ipproto", Protocol]);
        }
        if (DestinationPort is { } port)
        {
            a.AddRange(["dport", port.ToString(CultureInfo.InvariantCulture)]);
        }
        a.AddRange(["lookup", Table?.ToString(CultureInfo.InvariantCulture) ?? "main"]);
        return a;
    }

    /// <inheritdoc />
    public override string ToString() => $"ip{(IPv6 ? " -6" : "")} rule {string.Join(' ', Arguments())}";
}

/// <summary>A route of a service set's table: <see cref="Destination"/> into the steering TUN device.</summary>
internal sealed record TableRoute(bool IPv6, string Destination, string Device, int Table)
{
    /// <summary>The words after <c>ip route replace|del</c>.</summary>
    public IReadOnlyList<string> Arguments() => [Destination, "dev", Device, "table", Table.ToString(CultureInfo.InvariantCulture)];

    /// <inheritdoc />
    public override string ToString() => $"ip{(IPv6 ? " -6" : "")} route {string.Join(' ', Arguments())}";
}

/// <summary>
/// The policy routing that steers the traffic of interface service sets into their TUN devices, computed from a plan
/// (pure: the runtime applies the difference between two of these with <see cref="ILinkConfigurator"/>).
/// </summary>
/// <remarks>
/// Per service set (one routing table, <see cref="FirstTable"/> + its slot): for every term, a route
/// <c>destination-address dev STEERING table T</c>, and a rule <c>from source-address to destination-address lookup T</c>
/// at priority <see cref="FirstSelectorPriority"/> + slot; a set applied with <c>service input</c> adds
/// <c>iif TRAFFIC-INTERFACE</c> (packets entering that interface), <c>service output</c> matches wherever the packet
/// goes (Linux rules cannot see the outgoing interface of a forwarded packet). Before all of them, at
/// <see cref="ExemptPriority"/>, IKE and ESP-in-UDP to each remote gateway (UDP 500 and 4500) look up the main table,
/// so the tunnel's own packets are never steered into it even when the selectors cover the gateways.
/// </remarks>
internal sealed record PolicyRouting(IReadOnlyList<PolicyRule> Rules, IReadOnlyList<TableRoute> Routes)
{
    /// <summary>Priority of the rules that keep IKE and ESP to the peers in the main table (before every selector).</summary>
    public const int ExemptPriority = 9990;

    /// <summary>Priority of the selector rules of slot 0; slot n uses this + n.</summary>
    public const int FirstSelectorPriority = 10000;

    /// <summary>Routing table of slot 0; slot n uses this + n.</summary>
    public const int FirstTable = 30000;

    /// <summary>The most service sets with policy routing at once.</summary>
    public const int MaxSlots = 1000;

    /// <summary>No interface service set.</summary>
    public static PolicyRouting Empty { get; } = new([], []);

    /// <summary>The rules and routes of every interface service set of <paramref name="plan"/>; <paramref name="slot"/>
    /// gives each service set its table and priority offset.</summary>
    public static PolicyRouting Compute(ServiceSetPlan plan, Func<string, int> slot)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(slot);
        var rules = new List<PolicyRule>();
        var routes = new List<TableRoute>();
        foreach (PolicySelectorPlan s in plan.Selectors)
        {
            int n = slot(s.Tunnel.ServiceSet);
            bool v6 = !s.Source.IsIPv4;
            int table = FirstTable + n;
            Add(routes, new TableRoute(v6, s.Destination.ToString(), s.SteeringDevice, table));
            Add(rules, new PolicyRule(v6, FirstSelectorPriority + n, Any(s.Source), Any(s.Destination),
                s.Direction == MatchDirection.Input ? s.TrafficInterface : null, null, null, table));
        }
        var exempt = new List<PolicyRule>();
        foreach (IPAddress remote in plan.Tunnels
            .Where(t => t.Style == ServiceSetStyle.Interface && plan.Selectors.Any(s => s.Tunnel == t.Id))
            .Select(t => t.Peer.RemoteAddress).Distinct())
        {
            bool v6 = remote.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
            string to = $"{remote}/{(v6 ? 128 : 32)}";
            Add(exempt, new PolicyRule(v6, ExemptPriority, "all", to, null, "udp", 500, null));
            Add(exempt, new PolicyRule(v6, ExemptPriority, "all", to, null, "udp", 4500, null));
            Add(exempt, new PolicyRule(v6, ExemptPriority, "all", to, null, "esp", null, null));
        }
        return new PolicyRouting([.. exempt, .. rules], routes);
    }

    /// <summary>What turns the running policy routing (this) into <paramref name="next"/>: rules and routes compared by
    /// value, so a commit touches exactly what differs. Routes into a device the commit re-creates
    /// (<paramref name="recreated"/>) vanished with the old device and are added again; they are not deleted first.</summary>
    public PolicyChanges To(PolicyRouting next, IReadOnlySet<string> recreated)
    {
        ArgumentNullException.ThrowIfNull(next);
        ArgumentNullException.ThrowIfNull(recreated);
        return new PolicyChanges(
            [.. Rules.Where(r => !next.Rules.Contains(r))],
            [.. Routes.Where(r => !next.Routes.Contains(r) && !recreated.Contains(r.Device))],
            [.. next.Routes.Where(r => !Routes.Contains(r) || recreated.Contains(r.Device))],
            [.. next.Rules.Where(r => !Rules.Contains(r))]);
    }

    private static string Any(Certgate.Net.Addressing.IpPrefix p) => p.Length == 0 ? "all" : p.ToString();

    private static void Add<T>(List<T> list, T item)
    {
        if (!list.Contains(item))
        {
            list.Add(item);
        }
    }
}

/// <summary>The changes of one commit, in the order they are applied: rules and routes removed (before the devices
/// go), then routes added (after new devices exist) before the rules that point at them, so a rule never sends
/// packets into an empty table where they would fall through to main and leave in clear.</summary>
internal sealed record PolicyChanges(IReadOnlyList<PolicyRule> RulesRemoved, IReadOnlyList<TableRoute> RoutesRemoved,
    IReadOnlyList<TableRoute> RoutesAdded, IReadOnlyList<PolicyRule> RulesAdded);

/// <summary>Hands out the slot (table and rule priority offset) of each interface service set, stable for as long as the
/// set exists, so a commit that changes another set never renumbers this one's table.</summary>
internal sealed class PolicySlots
{
    private readonly Dictionary<string, int> _slots = new(StringComparer.Ordinal);

    /// <summary>The slot of <paramref name="serviceSet"/>, the lowest free one the first time.</summary>
    /// <exception cref="InvalidOperationException">Every slot is taken.</exception>
    public int Of(string serviceSet)
    {
        if (_slots.TryGetValue(serviceSet, out int n))
        {
            return n;
        }
        for (n = 0; n < PolicyRouting.MaxSlots; n++)
        {
            if (!_slots.ContainsValue(n))
            {
                _slots[serviceSet] = n;
                return n;
            }
        }
        throw new InvalidOperationException($"service-set {serviceSet}: more than {PolicyRouting.MaxSlots} interface service sets");
    }

    /// <summary>Frees the slots of the service sets not in <paramref name="keep"/>.</summary>
    public void Retain(IEnumerable<string> keep)
    {
        var k = new HashSet<string>(keep, StringComparer.Ordinal);
        foreach (string s in _slots.Keys.Where(s => !k.Contains(s)).ToList())
        {
            _slots.Remove(s);
        }
    }
}
