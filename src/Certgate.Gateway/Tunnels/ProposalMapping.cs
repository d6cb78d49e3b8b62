using Certgate.Ipsec.Registry;
using Certgate.Ike.Sessions;
using Certgate.ServiceSets.Plan;

namespace Certgate.Gateway.Tunnels;

/// <summary>
/// The plan's transform sets as the IKE engine's proposals (issue 5): what the Junos ike/ipsec proposals configure is
/// what is offered and accepted. Both name the one IANA registry (Certgate.Ipsec.Registry), so nothing is cast.
/// </summary>
internal static class ProposalMapping
{
    /// <summary>The IKE proposals of <paramref name="peer"/>, in the ike policy's order.</summary>
    public static IReadOnlyList<SaSuite> Ike(PeerConfig peer) =>
        [.. peer.Proposals.Select(p => new SaSuite(p.Encryption, p.KeyLength, p.Integrity, p.KeyExchange, p.Prf))];

    /// <summary>The ESP proposals of <paramref name="child"/>, in the ipsec policy's order.</summary>
    public static IReadOnlyList<SaSuite> Esp(ChildConfig child) =>
        [.. child.Proposals.Select(p => new SaSuite(p.Encryption, p.KeyLength, p.Integrity, DhGroup.NONE))];

    /// <summary>The PFS group of CHILD_SA rekeys (ipsec policy perfect-forward-secrecy keys), NONE without PFS.</summary>
    public static DhGroup Pfs(ChildConfig child) => child.PfsGroup ?? DhGroup.NONE;
}
