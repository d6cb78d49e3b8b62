using Certgate.ServiceSets.Plan;

namespace Certgate.ServiceSets;

/// <summary>How a tunnel present in both plans changed: a peer change re-negotiates the IKE SA (and its children);
/// a child-only change rekeys or re-creates the Child SA under the running IKE SA.</summary>
public sealed record TunnelChange(TunnelId Id, bool PeerChanged, bool ChildChanged);

/// <summary>
/// What a commit changes between two plans (issue 6: a commit keeps running tunnels up). Tunnels are matched by
/// <see cref="TunnelId"/> (service set, rule, term) and compared by value; devices, routes and selectors by value.
/// </summary>
public sealed record PlanDiff(
    IReadOnlyList<TunnelId> Unchanged,
    IReadOnlyList<TunnelChange> Changed,
    IReadOnlyList<TunnelPlan> Added,
    IReadOnlyList<TunnelId> Removed,
    IReadOnlyList<TunDevicePlan> DevicesAdded,
    IReadOnlyList<TunDevicePlan> DevicesRemoved,
    IReadOnlyList<RoutePlan> RoutesAdded,
    IReadOnlyList<RoutePlan> RoutesRemoved,
    IReadOnlyList<PolicySelectorPlan> SelectorsAdded,
    IReadOnlyList<PolicySelectorPlan> SelectorsRemoved)
{
    /// <summary>True when the new plan equals the old one (nothing to do).</summary>
    public bool IsEmpty => Changed.Count == 0 && Added.Count == 0 && Removed.Count == 0 && DevicesAdded.Count == 0
        && DevicesRemoved.Count == 0 && RoutesAdded.Count == 0 && RoutesRemoved.Count == 0 && SelectorsAdded.Count == 0 && SelectorsRemoved.Count == 0;

    /// <summary>Compares <paramref name="before"/> (running) with <paramref name="after"/> (just committed).</summary>
    /// <exception cref="ArgumentNullException">A plan is null.</exception>
    public static PlanDiff Compute(ServiceSetPlan before, ServiceSetPlan after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        var unchanged = new List<TunnelId>();
        var changed = new List<TunnelChange>();
        var added = new List<TunnelPlan>();
        foreach (TunnelPlan t in after.Tunnels)
        {
            TunnelPlan? old = before.Find(t.Id);
            if (old is null)
            {
                added.Add(t);
            }
            else if (old == t)
            {
                unchanged.Add(t.Id);
            }
            else
            {
                // A style change moves the tunnel to another device and kind of steering: treat it as a peer change.
                changed.Add(new TunnelChange(t.Id, old.Peer != t.Peer || old.Style != t.Style, old.Child != t.Child));
            }
        }
        var removed = before.Tunnels.Where(t => after.Find(t.Id) is null).Select(t => t.Id).ToList();
        return new PlanDiff(unchanged, changed, added, removed,
            Except(after.Devices, before.Devices), Except(before.Devices, after.Devices),
            Except(after.Routes, before.Routes), Except(before.Routes, after.Routes),
            Except(after.Selectors, before.Selectors), Except(before.Selectors, after.Selectors));
    }

    private static List<T> Except<T>(EquatableArray<T> a, EquatableArray<T> b) => a.Where(x => !b.Contains(x)).ToList();
}
