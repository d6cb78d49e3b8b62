using Certgate.Ike.Sessions;
using Certgate.Ipsec;

namespace Certgate.Ike.Sa;

/// <summary>
/// One configuration an IKE SA may run under (strongSwan's peer_cfg with its child_cfg): credentials, identities,
/// selectors and proposals; where its CHILD_SAs go; its timers and policy request id.
/// </summary>
/// <param name="Config">Credentials, identities, traffic selectors and proposals.</param>
/// <param name="Plane">Where the CHILD_SAs and the policy go; null: negotiate only.</param>
/// <param name="Options">Timers, ESP endpoints, request id.</param>
public sealed record IkeProfile(IkePeerConfig Config, IIpsecDataPlane? Plane, IkeSaOptions Options)
{
    /// <summary>The caller's name for it (a tunnel), handed back with the connection that chose it.</summary>
    public object? Tag { get; init; }
}
