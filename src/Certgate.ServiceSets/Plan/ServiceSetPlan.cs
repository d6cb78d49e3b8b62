using System.Net;
using Certgate.Config.Ipsec;
using Certgate.Net.Addressing;
using Certgate.Ipsec.Registry;
using DhGroup = Certgate.Ipsec.Registry.DhGroup;
using EncryptionAlgorithm = Certgate.Ipsec.Registry.EncryptionAlgorithm;

namespace Certgate.ServiceSets.Plan;

/// <summary>Which kind of service set a tunnel belongs to (reference §4.1).</summary>
public enum ServiceSetStyle
{
    /// <summary>Route-based: what is routed into the inside TUN device is protected.</summary>
    NextHop,

    /// <summary>Policy-based: the rule terms select traffic on the interfaces the set is applied to.</summary>
    Interface,
}

/// <summary>A tunnel's identity across commits: the service set, rule and term it comes from.</summary>
public sealed record TunnelId(string ServiceSet, string Rule, string Term)
{
    /// <inheritdoc />
    public override string ToString() => $"{ServiceSet}/{Rule}/{Term}";
}

/// <summary>One IKE SA proposal: a single transform of each type (RFC 7296 §3.3). <see cref="Integrity"/> is
/// <see cref="IntegrityAlgorithm.NONE"/> with AES-GCM (RFC 5282 §8).</summary>
public sealed record IkeTransformSet(EncryptionAlgorithm Encryption, int KeyLength, PseudorandomFunction Prf, IntegrityAlgorithm Integrity, DhGroup KeyExchange)
{
    /// <inheritdoc />
    public override string ToString() => $"{Encryption}_{KeyLength}/{Prf}/{Integrity}/{KeyExchange}";
}

/// <summary>One ESP proposal (RFC 7296 §3.3; no extended sequence numbers).</summary>
public sealed record EspTransformSet(EncryptionAlgorithm Encryption, int KeyLength, IntegrityAlgorithm Integrity)
{
    /// <inheritdoc />
    public override string ToString() => $"{Encryption}_{KeyLength}/{Integrity}";
}

/// <summary>An IKE identity to send or accept. A local <see cref="IdType.ID_DER_ASN1_DN"/> with a null value is the
/// local certificate's subject; a remote DN carries how it is compared.</summary>
public sealed record IdentityPlan(IdType Type, string? Value, DnMatch Match = DnMatch.None);

/// <summary>The IKE SA side of a tunnel: endpoints, proposals, authentication, identities, trust.</summary>
/// <remarks>
/// <see cref="AuthMethod"/> is how we authenticate (the first proposal's method: IKEv2 does not negotiate it);
/// <see cref="PeerAuthMethods"/> the methods the peer may use (every proposal's). <see cref="RemoteIds"/>: any of
/// these; empty means any identity the validated certificate proves, which must carry <see cref="RemoteAddress"/> as
/// an iPAddress subjectAltName (DESIGN.md, issue #14 §2). <see cref="TrustedCas"/>: CA profiles
/// that may vouch for the peer, <c>trusted-ca</c> or every configured profile when it is empty (DESIGN.md "Decisions";
/// the gateway keeps those with a loaded CA certificate). <see cref="Lifetime"/>: the shortest of the proposals'.
/// </remarks>
public sealed record PeerConfig(
    IPAddress LocalAddress,
    IPAddress RemoteAddress,
    EquatableArray<IkeTransformSet> Proposals,
    AuthMethod AuthMethod,
    EquatableArray<AuthMethod> PeerAuthMethods,
    IdentityPlan LocalId,
    EquatableArray<IdentityPlan> RemoteIds,
    string? LocalCertificate,
    PreSharedKey? PreSharedKey,
    EquatableArray<string> TrustedCas,
    TimeSpan Lifetime,
    DeadPeerDetection? DeadPeerDetection);

/// <summary>The Child SA side of a tunnel: ESP proposals, PFS and traffic selectors (RFC 7296 §2.9), tunnel mode;
/// <see cref="Device"/> is the Linux TUN device that carries the clear traffic.</summary>
public sealed record ChildConfig(
    EquatableArray<EspTransformSet> Proposals,
    DhGroup? PfsGroup,
    EquatableArray<IpPrefix> LocalTrafficSelectors,
    EquatableArray<IpPrefix> RemoteTrafficSelectors,
    TimeSpan Lifetime,
    string Device);

/// <summary>One tunnel to run: a peer and its child.</summary>
public sealed record TunnelPlan(TunnelId Id, ServiceSetStyle Style, PeerConfig Peer, ChildConfig Child);

/// <summary>A TUN device to create. Next-hop: the inside unit (<c>ms-0/0/0.1</c> → <c>ms0-0-0-1</c>) with the unit's
/// addresses; interface style: the set's service interface, a steering device for the selected traffic.
/// <see cref="RoutingInstance"/>: the VRF the device is enslaved to, or null for the main table. <see cref="Mtu"/>: the
/// set's <c>tunnel-mtu</c>, or null for the gateway's default (which depends on the host's outer interface).</summary>
public sealed record TunDevicePlan(string Name, string JunosName, string ServiceSet, ServiceSetStyle Style, EquatableArray<string> Addresses, string? RoutingInstance = null,
    int? Mtu = null);

/// <summary>A route to install: <see cref="Destination"/> via the TUN <see cref="Device"/> (a static route into an
/// inside unit), in the table of <see cref="RoutingInstance"/> (null: the main table).</summary>
public sealed record RoutePlan(IpPrefix Destination, string Device, string ServiceSet, string? RoutingInstance = null);

/// <summary>A policy-routing selector of an interface service set: packets crossing <see cref="TrafficInterface"/> in
/// <see cref="Direction"/> from <see cref="Source"/> to <see cref="Destination"/> are steered into
/// <see cref="SteeringDevice"/> and the tunnel <see cref="Tunnel"/>.</summary>
public sealed record PolicySelectorPlan(TunnelId Tunnel, string TrafficInterface, MatchDirection Direction, IpPrefix Source, IpPrefix Destination, string SteeringDevice);

/// <summary>
/// Everything the gateway runs for a committed configuration, immutable and compared by value: built once per
/// commit by <see cref="ServiceSetCompiler"/> and swapped atomically; <see cref="PlanDiff"/> tells which tunnels a
/// commit leaves running.
/// </summary>
public sealed record ServiceSetPlan(
    EquatableArray<TunnelPlan> Tunnels,
    EquatableArray<TunDevicePlan> Devices,
    EquatableArray<RoutePlan> Routes,
    EquatableArray<PolicySelectorPlan> Selectors)
{
    /// <summary>The plan of a configuration without service sets.</summary>
    public static ServiceSetPlan Empty { get; } = new([], [], [], []);

    /// <summary>The tunnel <paramref name="id"/>, or null.</summary>
    public TunnelPlan? Find(TunnelId id) => Tunnels.FirstOrDefault(t => t.Id == id);
}
