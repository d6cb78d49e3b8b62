namespace Certgate.Gateway.Tunnels;

/// <summary>
/// How a <see cref="Tunnel"/> decides who starts and whether it starts over. The gateway's tunnels use
/// <see cref="Gateway"/>; a foreground diagnostic (<c>debug ike-tunnel</c>) fixes the role and negotiates once.
/// </summary>
internal sealed record TunnelOptions
{
    /// <summary>The gateway's tunnels: the address rule picks the role, and every failure or lost SA is negotiated again.</summary>
    public static TunnelOptions Gateway { get; } = new();

    /// <summary>
    /// The role every negotiation starts in; a responder then only waits for the peer (no
    /// <see cref="Tunnel.ResponderPatience"/>). Null: the lower address initiates (docs/decisions.md, "Who initiates a tunnel").
    /// </summary>
    public IkeRole? Role { get; init; }

    /// <summary>
    /// One negotiation only: when it fails, or when the IKE SA it brought up is gone (deleted by either side, the peer
    /// dead), the tunnel ends (<see cref="Tunnel.Ended"/>) instead of negotiating again.
    /// </summary>
    public bool Once { get; init; }
}

/// <summary>How a tunnel that negotiates once ended.</summary>
/// <param name="WasUp">Whether its IKE SA was up (then <paramref name="Reason"/> says why it is gone), or the negotiation failed.</param>
/// <param name="Reason">The IKE SA's close reason or the negotiation's error, in the IKE engine's words.</param>
public sealed record TunnelEnd(bool WasUp, string Reason);
