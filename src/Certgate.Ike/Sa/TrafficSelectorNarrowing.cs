using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Certgate.Ike.Wire;
using TrafficSelector = Certgate.Ike.Wire.Payloads.TrafficSelector;

namespace Certgate.Ike.Sa;

/// <summary>The selectors a CHILD_SA carries: TSi (the initiator's side) and TSr (the responder's side), RFC 7296 §2.9.</summary>
/// <param name="Tsi">The traffic selectors of the initiator's side.</param>
/// <param name="Tsr">The traffic selectors of the responder's side.</param>
public sealed record NarrowedSelectors(IReadOnlyList<TrafficSelector> Tsi, IReadOnlyList<TrafficSelector> Tsr);

/// <summary>
/// Traffic selector narrowing (RFC 7296 §2.9), after strongSwan's child_cfg_t select_ts and child_create's check of
/// the response. Pure functions over the wire selectors (TS_IPV4_ADDR_RANGE and TS_IPV6_ADDR_RANGE, §3.13.1).
/// <code>
///   responder: TSi' = TSi ∩ configured remote selectors, TSr' = TSr ∩ configured local selectors
///              (address range ∩ address range, IP protocol 0 = any, port range ∩ port range; one family each)
///              either empty → N(TS_UNACCEPTABLE)
///   initiator: every selector of the answer lies inside one it offered, else the CHILD_SA is refused and deleted
/// </code>
/// §2.9: "the initiator SHOULD include as the first Traffic Selector in each of TSi and TSr a very specific Traffic
/// Selector including the addresses in the packet triggering the request" — when the whole offer is not acceptable
/// but the policy covers that first selector, the answer is narrowed to a subset that includes it ("the responder MUST
/// narrow the Traffic Selectors to a subset that includes the initiator's first choices").
/// OPAQUE ports (start 65535, end 0, §3.13.1) are not supported: such a selector intersects nothing.
/// </summary>
public static class TrafficSelectorNarrowing
{
    /// <summary>
    /// The responder's choice for one request: the initiator's TSi narrowed to <paramref name="remote"/> (the peer's
    /// side, as configured here) and its TSr narrowed to <paramref name="local"/>; null when either comes out empty.
    /// </summary>
    public static NarrowedSelectors? Respond(IReadOnlyList<TrafficSelector> tsi, IReadOnlyList<TrafficSelector> tsr,
        IReadOnlyList<TrafficSelector> remote, IReadOnlyList<TrafficSelector> local)
    {
        ArgumentNullException.ThrowIfNull(tsi);
        ArgumentNullException.ThrowIfNull(tsr);
        IReadOnlyList<TrafficSelector> narrowedI = Narrow(tsi, remote);
        IReadOnlyList<TrafficSelector> narrowedR = Narrow(tsr, local);
        return narrowedI.Count == 0 || narrowedR.Count == 0 ? null : new NarrowedSelectors(narrowedI, narrowedR);
    }

    /// <summary>
    /// One side's selectors: the intersections of <paramref name="offered"/> with <paramref name="configured"/>, in
    /// the configured order, without duplicates and without selectors that another result contains. When the first
    /// offered selector is the triggering packet's (one address, more selectors after it) and the whole offer is not
    /// acceptable, only the configured selectors that cover the packet are used (§2.9). Empty: nothing acceptable.
    /// </summary>
    public static IReadOnlyList<TrafficSelector> Narrow(IReadOnlyList<TrafficSelector> offered, IReadOnlyList<TrafficSelector> configured)
    {
        ArgumentNullException.ThrowIfNull(offered);
        ArgumentNullException.ThrowIfNull(configured);
        if (offered.Count == 0)
        {
            return [];
        }
        IReadOnlyList<TrafficSelector> all = Intersections(offered, configured);
        TrafficSelector first = offered[0];
        bool packet = offered.Count > 1 && first.Start.Equals(first.End);
        if (packet && !SameSet(all, offered))
        {
            // §2.9: narrow to a subset that includes the initiator's first choice, when the policy allows it at all.
            List<TrafficSelector> covering = [.. configured.Where(c => Contains(c, first))];
            if (covering.Count > 0)
            {
                return Intersections(offered, covering);
            }
        }
        return all;
    }

    /// <summary>
    /// The initiator's check of the answer (§2.9: the responder narrows, it never widens): each selector of
    /// <paramref name="answered"/> must lie inside one of <paramref name="offered"/>, and there must be at least one.
    /// Null when it does; else why not, in words.
    /// </summary>
    public static string? CheckSubset(string side, IReadOnlyList<TrafficSelector> answered, IReadOnlyList<TrafficSelector> offered)
    {
        ArgumentNullException.ThrowIfNull(answered);
        ArgumentNullException.ThrowIfNull(offered);
        if (answered.Count == 0)
        {
            return $"the responder's {side} is empty";
        }
        foreach (TrafficSelector ts in answered)
        {
            if (!offered.Any(o => Contains(o, ts)))
            {
                return $"the responder's {side} {Describe(answered)} is not a subset of the {Describe(offered)} offered";
            }
        }
        return null;
    }

    /// <summary>The initiator's check of both answered lists; null when both are subsets of the offer.</summary>
    public static string? CheckAnswer(NarrowedSelectors answered, NarrowedSelectors offered)
    {
        ArgumentNullException.ThrowIfNull(answered);
        ArgumentNullException.ThrowIfNull(offered);
        return CheckSubset("TSi", answered.Tsi, offered.Tsi) ?? CheckSubset("TSr", answered.Tsr, offered.Tsr);
    }

    /// <summary>Why a request's selectors are refused with TS_UNACCEPTABLE: what was offered and what is configured.</summary>
    public static string Unacceptable(IReadOnlyList<TrafficSelector> tsi, IReadOnlyList<TrafficSelector> tsr,
        IReadOnlyList<TrafficSelector> remote, IReadOnlyList<TrafficSelector> local) =>
        $"TS_UNACCEPTABLE: the initiator offered TSi {Describe(tsi)}, TSr {Describe(tsr)}; configured here: remote {Describe(remote)}, local {Describe(local)}";

    /// <summary>
    /// The intersection of two selectors, or null when they share no traffic: the same address family, overlapping
    /// address and port ranges, and IP protocols that agree (0 matches any, §3.13.1).
    /// </summary>
    public static TrafficSelector? Intersect(TrafficSelector a, TrafficSelector b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (Family(a) is not { } family || Family(b) != family)
        {
            return null;
        }
        byte protocol;
        if (a.IpProtocol == b.IpProtocol || b.IpProtocol == 0)
        {
            protocol = a.IpProtocol;
        }
        else if (a.IpProtocol == 0)
        {
            protocol = b.IpProtocol;
        }
        else
        {
            return null;
        }
        ushort startPort = Math.Max(a.StartPort, b.StartPort);
        ushort endPort = Math.Min(a.EndPort, b.EndPort);
        UInt128 start = UInt128.Max(Integer(a.Start), Integer(b.Start));
        UInt128 end = UInt128.Min(Integer(a.End), Integer(b.End));
        if (startPort > endPort || start > end)
        {
            return null;
        }
        return new TrafficSelector(protocol, startPort, endPort, Address(start, family), Address(end, family));
    }

    /// <summary>Whether every packet <paramref name="inner"/> selects, <paramref name="outer"/> selects too.</summary>
    public static bool Contains(TrafficSelector outer, TrafficSelector inner)
    {
        ArgumentNullException.ThrowIfNull(outer);
        ArgumentNullException.ThrowIfNull(inner);
        return Intersect(outer, inner) is { } both && both == inner;
    }

    /// <summary>A selector as an operator reads it: a prefix (<c>10.1.0.0/16</c>) or range, then any protocol and ports.</summary>
    public static string Describe(TrafficSelector ts)
    {
        ArgumentNullException.ThrowIfNull(ts);
        string text = Prefix(ts) ?? (ts.Start.Equals(ts.End) ? ts.Start.ToString() : $"{ts.Start}-{ts.End}");
        if (ts.IpProtocol != 0 || ts.StartPort != 0 || ts.EndPort != 65535)
        {
            string ports = ts.StartPort == 0 && ts.EndPort == 65535 ? "" : ts.StartPort == ts.EndPort
                ? "/" + ts.StartPort.ToString(CultureInfo.InvariantCulture)
                : $"/{ts.StartPort.ToString(CultureInfo.InvariantCulture)}-{ts.EndPort.ToString(CultureInfo.InvariantCulture)}";
            text += $"[{(ts.IpProtocol == 0 ? "any" : ProtocolName(ts.IpProtocol))}{ports}]";
        }
        return text;
    }

    /// <summary>Selectors as an operator reads them, comma-separated (strongSwan's notation).</summary>
    public static string Describe(IReadOnlyList<TrafficSelector> selectors)
    {
        ArgumentNullException.ThrowIfNull(selectors);
        return selectors.Count == 0 ? "(none)" : string.Join(", ", selectors.Select(Describe));
    }

    /// <summary>The data plane's form of a wire selector (RFC 4301 SPD selectors).</summary>
    public static Ipsec.TrafficSelector ToPolicy(TrafficSelector ts)
    {
        ArgumentNullException.ThrowIfNull(ts);
        return new(ts.Start, ts.End, ts.IpProtocol, ts.StartPort, ts.EndPort);
    }

    /// <summary>The data plane's form of wire selectors.</summary>
    public static IReadOnlyList<Ipsec.TrafficSelector> ToPolicy(IReadOnlyList<TrafficSelector> selectors)
    {
        ArgumentNullException.ThrowIfNull(selectors);
        return [.. selectors.Select(ToPolicy)];
    }

    /// <summary>
    /// Whether a selector is well formed for this side's configuration: start and end of one family (IPv4 or IPv6),
    /// start ≤ end for addresses and ports. Null when it is; else why not.
    /// </summary>
    public static string? Validate(TrafficSelector ts)
    {
        ArgumentNullException.ThrowIfNull(ts);
        if (Family(ts) is null)
        {
            return $"traffic selector {ts.Start}-{ts.End}: start and end must be addresses of one family";
        }
        if (Integer(ts.Start) > Integer(ts.End))
        {
            return $"traffic selector {ts.Start}-{ts.End}: the address range is reversed";
        }
        return ts.StartPort > ts.EndPort ? $"traffic selector {Describe(ts)}: the port range {ts.StartPort}-{ts.EndPort} is reversed" : null;
    }

    private static List<TrafficSelector> Intersections(IReadOnlyList<TrafficSelector> offered, IReadOnlyList<TrafficSelector> configured)
    {
        var result = new List<TrafficSelector>();
        foreach (TrafficSelector mine in configured)
        {
            foreach (TrafficSelector theirs in offered)
            {
                if (Intersect(theirs, mine) is { } both && !result.Contains(both))
                {
                    result.Add(both);
                }
            }
        }
        // A selector inside another one of the answer adds nothing (the triggering packet's, once its range is in).
        return [.. result.Where((ts, i) => !result.Where((other, j) => j != i && other != ts).Any(other => Contains(other, ts)))];
    }

    private static bool SameSet(IReadOnlyList<TrafficSelector> a, IReadOnlyList<TrafficSelector> b) =>
        a.All(x => b.Any(y => Contains(y, x))) && b.All(y => a.Any(x => Contains(x, y)));

    private static AddressFamily? Family(TrafficSelector ts) =>
        ts.Start.AddressFamily == ts.End.AddressFamily && ts.Start.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6
            ? ts.Start.AddressFamily
            : null;

    private static UInt128 Integer(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out int written);
        return written == 4 ? BinaryPrimitives.ReadUInt32BigEndian(bytes) : BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }

    private static IPAddress Address(UInt128 value, AddressFamily family)
    {
        if (family == AddressFamily.InterNetwork)
        {
            byte[] v4 = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(v4, (uint)value);
            return new IPAddress(v4);
        }
        byte[] v6 = new byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(v6, value);
        return new IPAddress(v6);
    }

    /// <summary>"a.b.c.d/n" when the range is exactly one prefix, else null.</summary>
    private static string? Prefix(TrafficSelector ts)
    {
        if (Family(ts) is not { } family)
        {
            return null;
        }
        int bits = family == AddressFamily.InterNetwork ? 32 : 128;
        UInt128 start = Integer(ts.Start);
        UInt128 end = Integer(ts.End);
        UInt128 span = end - start;
        if (start > end || (((span + 1) & span) != 0 && span != UInt128.MaxValue))
        {
            return null;
        }
        int host = span == UInt128.MaxValue ? 128 : 128 - (int)UInt128.LeadingZeroCount(span + 1) - 1;
        if (host > 0 && (start & span) != 0)
        {
            return null;
        }
        return $"{ts.Start}/{(bits - host).ToString(CultureInfo.InvariantCulture)}";
    }

    private static string ProtocolName(byte protocol) => protocol switch
    {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        58 => "ipv6-icmp",
        _ => protocol.ToString(CultureInfo.InvariantCulture),
    };
}
