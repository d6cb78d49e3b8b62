using System.Net;
using System.Net.Sockets;
using Certgate.Config.Interfaces;
using Certgate.Config.Ipsec;
using Certgate.Config.Pki;
using Certgate.Net.Addressing;
using Certgate.ServiceSets.Plan;
using Certgate.Ipsec.Registry;
using Certgate.ServiceSets.Registry;
using DhGroup = Certgate.Ipsec.Registry.DhGroup;
using EncryptionAlgorithm = Certgate.Ipsec.Registry.EncryptionAlgorithm;

namespace Certgate.ServiceSets;

/// <summary>
/// Compiles the typed configuration of a committed configuration into one <see cref="ServiceSetPlan"/>.
/// </summary>
/// <remarks>
/// Order of work: for each service set (configuration order), for each of its rules and their terms, one tunnel:
/// peer (local-gateway ↔ remote-gateway, IKE proposals as IANA transforms, authentication, identities, trusted CAs)
/// and child (ESP proposals, PFS group, traffic selectors). Then the set's TUN device, and its routes (next-hop:
/// static routes into the inside unit) or policy selectors (interface: each term on each interface the set is
/// applied to in the rule's match-direction). Traffic selectors: the term's <c>source-address</c> is the local side and
/// <c>destination-address</c> the remote side; a missing one is 0.0.0.0/0 (or ::/0 for an IPv6 term), so a next-hop
/// term without addresses protects whatever is routed in.
/// </remarks>
public static class ServiceSetCompiler
{
    private static readonly IpPrefix AnyV4 = IpPrefix.Parse("0.0.0.0/0");
    private static readonly IpPrefix AnyV6 = IpPrefix.Parse("::/0");

    /// <summary>Compiles <paramref name="config"/>; <paramref name="pki"/> supplies the CA profiles trusted when a
    /// service set names none.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="InvalidOperationException">A service set with IPsec rules has no local-gateway (the commit
    /// checks refuse such a configuration).</exception>
    public static ServiceSetPlan Compile(IpsecVpnConfiguration config, PkiConfiguration? pki = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        IReadOnlyList<string> allCas = pki?.CaProfiles.Select(p => p.Name).ToList() ?? [];
        var tunnels = new List<TunnelPlan>();
        var devices = new List<TunDevicePlan>();
        var routes = new List<RoutePlan>();
        var selectors = new List<PolicySelectorPlan>();

        foreach (ServiceSet set in config.ServiceSets)
        {
            (InterfaceUnit unit, ServiceSetStyle style) = set switch
            {
                NextHopServiceSet nh => (nh.Inside, ServiceSetStyle.NextHop),
                InterfaceServiceSet i => (i.ServiceInterface, ServiceSetStyle.Interface),
                _ => throw new InvalidOperationException($"service-set {set.Name} has an unknown style"),
            };
            string device = LinuxName(unit);
            IEnumerable<string> addresses = config.Units.FirstOrDefault(u => u.Unit == unit)?.Addresses.Select(a => a.ToString()) ?? [];
            devices.Add(new TunDevicePlan(device, unit.ToString(), set.Name, style, [.. addresses], config.RoutingInstanceOf(unit), set.TunnelMtu));
            EquatableArray<string> cas = [.. set.TrustedCa.Count > 0 ? set.TrustedCa : allCas];

            foreach (IpsecVpnRule rule in set.Rules)
            {
                foreach (IpsecVpnTerm term in rule.Terms)
                {
                    IPAddress local = set.LocalGateway
                        ?? throw new InvalidOperationException($"service-set {set.Name} has IPsec rules but no local-gateway; commit checks refuse this");
                    var id = new TunnelId(set.Name, rule.Name, term.Name);
                    (IpPrefix localTs, IpPrefix remoteTs) = Selectors(term);
                    tunnels.Add(new TunnelPlan(id, style, Peer(local, term, cas), Child(term, localTs, remoteTs, device)));
                    if (set is InterfaceServiceSet iss)
                    {
                        foreach (ServiceSetAttachment a in iss.AppliedOn.Where(a => a.Direction == rule.MatchDirection && a.IPv6 == !localTs.IsIPv4))
                        {
                            selectors.Add(new PolicySelectorPlan(id, LinuxName(a.Unit), a.Direction, localTs, remoteTs, device));
                        }
                    }
                }
            }

            if (set is NextHopServiceSet next)
            {
                foreach (StaticRoute r in config.StaticRoutes.Where(r => r.NextHopInterface == next.Inside))
                {
                    routes.Add(new RoutePlan(r.Destination, device, set.Name, r.RoutingInstance));
                }
            }
        }
        return new ServiceSetPlan([.. tunnels], [.. devices], [.. routes], [.. selectors]);
    }

    private static (IpPrefix Local, IpPrefix Remote) Selectors(IpsecVpnTerm term)
    {
        bool v6 = (term.SourceAddress ?? term.DestinationAddress) is { IsIPv4: false };
        IpPrefix any = v6 ? AnyV6 : AnyV4;
        return (term.SourceAddress ?? any, term.DestinationAddress ?? any);
    }

    private static PeerConfig Peer(IPAddress local, IpsecVpnTerm term, EquatableArray<string> cas)
    {
        IkePolicy policy = term.IkePolicy;
        IdentityPlan localId = policy.LocalId is { } l ? Identity(l)
            : policy.LocalCertificate is not null ? new IdentityPlan(IdType.ID_DER_ASN1_DN, null)
            : new IdentityPlan(local.AddressFamily == AddressFamily.InterNetwork ? IdType.ID_IPV4_ADDR : IdType.ID_IPV6_ADDR, local.ToString());
        return new PeerConfig(
            local,
            term.RemoteGateway,
            [.. policy.Proposals.Select(Ike)],
            Method(policy.Proposals[0].AuthenticationMethod),
            [.. policy.Proposals.Select(p => Method(p.AuthenticationMethod)).Distinct()],
            localId,
            [.. policy.RemoteIds.Select(Identity)],
            policy.LocalCertificate,
            policy.PreSharedKey,
            cas,
            policy.Proposals.Min(p => p.Lifetime),
            term.DeadPeerDetection);
    }

    private static ChildConfig Child(IpsecVpnTerm term, IpPrefix localTs, IpPrefix remoteTs, string device)
    {
        IpsecPolicy policy = term.IpsecPolicy;
        return new ChildConfig(
            [.. policy.Proposals.Select(Esp)],
            policy.PfsGroup is { } g ? JunosNames.Of(g).Id : null,
            [localTs],
            [remoteTs],
            policy.Proposals.Min(p => p.Lifetime),
            device);
    }

    /// <summary>Junos IKE proposal → IANA transforms (<see cref="JunosNames"/>). With GCM the hash is the PRF only (RFC 5282 §8: no integrity).</summary>
    internal static IkeTransformSet Ike(IkeProposal p)
    {
        JunosNames.Encryption enc = JunosNames.Of(p.Encryption);
        JunosNames.IkeHash hash = JunosNames.Of(p.Hash);
        return new IkeTransformSet(enc.Id, enc.KeyBits, hash.Prf, enc.Id == EncryptionAlgorithm.ENCR_AES_GCM_16 ? IntegrityAlgorithm.NONE : hash.Integrity,
            JunosNames.Of(p.DhGroup).Id);
    }

    /// <summary>Junos ESP proposal → IANA transforms (<see cref="JunosNames"/>).</summary>
    internal static EspTransformSet Esp(IpsecProposal p)
    {
        JunosNames.Encryption enc = JunosNames.Of(p.Encryption);
        return new EspTransformSet(enc.Id, enc.KeyBits, p.Integrity is { } i ? JunosNames.Of(i).Id : IntegrityAlgorithm.NONE);
    }

    private static AuthMethod Method(IkeAuthenticationMethod m) => JunosNames.Of(m).Id;

    private static IdentityPlan Identity(IkeIdentity i) => new(i.Kind switch
    {
        IkeIdentityKind.Ipv4Address => IdType.ID_IPV4_ADDR,
        IkeIdentityKind.Ipv6Address => IdType.ID_IPV6_ADDR,
        IkeIdentityKind.Fqdn => IdType.ID_FQDN,
        IkeIdentityKind.KeyId => IdType.ID_KEY_ID,
        IkeIdentityKind.Email => IdType.ID_RFC822_ADDR,
        _ => IdType.ID_DER_ASN1_DN,
    }, i.Value, i.Match);

    private static string LinuxName(InterfaceUnit unit) =>
        unit.LinuxName ?? throw new InvalidOperationException($"{unit} has no Linux name of at most {InterfaceUnit.MaxLinuxNameLength} characters; commit checks refuse this");
}
