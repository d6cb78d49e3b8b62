using Certgate.Ipsec.Registry;
using Certgate.Ike.Wire;

namespace Certgate.Ike.Sa.Tasks;

/// <summary>
/// The traffic selector side of CREATE_CHILD_SA (RFC 7296 §1.3.1, §2.9) for <see cref="ChildCreate"/>: which
/// selectors the responder answers with, or which error it answers instead.
/// <code>
///   N(REKEY_SA) present: TSi/TSr narrowed to the rekeyed CHILD_SA's own selectors; nothing left → TS_UNACCEPTABLE
///   a new CHILD_SA:      TSi/TSr narrowed to the configured ones;                 nothing left → TS_UNACCEPTABLE
///                        other selectors than the CHILD_SA that runs              → NO_ADDITIONAL_SAS
/// </code>
/// Why NO_ADDITIONAL_SAS: a connection has one data-plane policy (one ReqId) whose newest outbound SA carries all of
/// its traffic, so a second CHILD_SA with other selectors would take the first one's traffic. One with the same
/// selectors (the peer starts the same child again) is accepted as before. Several policies per IKE SA are #5.
/// </summary>
internal static class ChildSelectors
{
    /// <summary>The TSi and TSr of a CREATE_CHILD_SA message (both required for a CHILD_SA).</summary>
    /// <exception cref="Sessions.IkeException">One of them is missing.</exception>
    public static NarrowedSelectors Read(IReadOnlyList<RawPayload> message, string where)
    {
        RawPayload? tsi = message.FirstOrDefault(p => p.Type == PayloadType.TsInitiator);
        RawPayload? tsr = message.FirstOrDefault(p => p.Type == PayloadType.TsResponder);
        if (tsi is null || tsr is null)
        {
            throw new Sessions.IkeException($"{where} for a CHILD_SA has no TSi/TSr");
        }
        return new NarrowedSelectors(Payloads.ReadTs(tsi.Body.Span), Payloads.ReadTs(tsr.Body.Span));
    }

    /// <summary>The responder's selectors for <paramref name="offered"/> (TSi, TSr as on the wire).</summary>
    /// <exception cref="Sessions.IkeException">Refused: TS_UNACCEPTABLE or NO_ADDITIONAL_SAS, the message says why.</exception>
    public static NarrowedSelectors Respond(IkeConnection connection, ChildSaEntry? rekeyed, NarrowedSelectors offered, string task)
    {
        if (rekeyed is not null)
        {
            // The successor carries the rekeyed SA's traffic, no more (§2.8: "the new SA ... with the same traffic selectors").
            if (TrafficSelectorNarrowing.Respond(offered.Tsi, offered.Tsr, rekeyed.RemoteTs, rekeyed.LocalTs) is not { } kept)
            {
                throw new Sessions.IkeException($"{task} of {rekeyed.Name}: {TrafficSelectorNarrowing.Unacceptable(offered.Tsi, offered.Tsr, rekeyed.RemoteTs, rekeyed.LocalTs)} (the rekeyed SA's selectors)",
                    NotifyType.TS_UNACCEPTABLE);
            }
            return kept;
        }
        if (TrafficSelectorNarrowing.Respond(offered.Tsi, offered.Tsr, connection.RemoteTs, connection.LocalTs) is not { } narrowed)
        {
            throw new Sessions.IkeException($"{task}: {TrafficSelectorNarrowing.Unacceptable(offered.Tsi, offered.Tsr, connection.RemoteTs, connection.LocalTs)}",
                NotifyType.TS_UNACCEPTABLE);
        }
        List<ChildSaEntry> live = [.. connection.LiveChildren];
        if (live.Count > 0 && !live.Any(c => Same(c.RemoteTs, narrowed.Tsi) && Same(c.LocalTs, narrowed.Tsr)))
        {
            ChildSaEntry running = live[^1];
            throw new Sessions.IkeException($"{task}: NO_ADDITIONAL_SAS: the peer asks for a CHILD_SA {TrafficSelectorNarrowing.Describe(narrowed.Tsr)} === "
                + $"{TrafficSelectorNarrowing.Describe(narrowed.Tsi)} beside {running.Name} ({TrafficSelectorNarrowing.Describe(running.LocalTs)} === "
                + $"{TrafficSelectorNarrowing.Describe(running.RemoteTs)}); Certgate runs one policy per IKE SA (#5)", NotifyType.NO_ADDITIONAL_SAS);
        }
        return narrowed;
    }

    private static bool Same(IReadOnlyList<Payloads.TrafficSelector> a, IReadOnlyList<Payloads.TrafficSelector> b) =>
        a.Count == b.Count && a.All(b.Contains);
}
