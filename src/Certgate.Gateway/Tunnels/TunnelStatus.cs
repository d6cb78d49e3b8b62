using System.Net;
using Certgate.ServiceSets.Plan;

namespace Certgate.Gateway.Tunnels;

/// <summary>Which side started the IKE SA.</summary>
public enum IkeRole
{
    Initiator,
    Responder,
}

/// <summary>One direction of an installed IPsec SA with what the data plane counted.</summary>
/// <param name="Spi">The SPI of this direction.</param>
/// <param name="Bytes">Inner bytes carried.</param>
/// <param name="Packets">Packets carried.</param>
public sealed record IpsecSaStatus(uint Spi, ulong Bytes, ulong Packets);

/// <summary>
/// A snapshot of one tunnel for <c>show services ipsec-vpn …</c>: the plan it runs and, once IKE is done, the SA
/// both sides agreed on. <see cref="InitiatorSpi"/> and <see cref="ResponderSpi"/> are the Child SA's SPIs as the
/// initiator and the responder chose them, so both gateways show the same pair.
/// </summary>
public sealed record TunnelStatus
{
    /// <summary>Service set, rule and term.</summary>
    public required TunnelId Id { get; init; }

    /// <summary>This gateway's address (local-gateway).</summary>
    public required IPAddress LocalAddress { get; init; }

    /// <summary>The peer's address (remote-gateway).</summary>
    public required IPAddress RemoteAddress { get; init; }

    /// <summary>The role of the latest negotiation (before one: the role the address rule gives).</summary>
    public required IkeRole Role { get; init; }

    /// <summary>True while SAs are installed.</summary>
    public required bool Established { get; init; }

    /// <summary>Why the last attempt failed, when it did.</summary>
    public string? LastError { get; init; }

    /// <summary>Why the tunnel has not started (its local-gateway address is not usable yet); null once it runs.</summary>
    public string? NotStarted { get; init; }

    /// <summary>The tunnel's inside TUN device.</summary>
    public required string Device { get; init; }

    /// <summary>Local traffic selectors as configured (this gateway's side).</summary>
    public required string LocalSelector { get; init; }

    /// <summary>Remote traffic selectors as configured.</summary>
    public required string RemoteSelector { get; init; }

    /// <summary>The current Child SA's traffic selectors on this side as negotiated (narrowed, RFC 7296 §2.9); null while down.</summary>
    public string? NegotiatedLocalSelector { get; init; }

    /// <summary>The current Child SA's traffic selectors on the peer's side as negotiated; null while down.</summary>
    public string? NegotiatedRemoteSelector { get; init; }

    /// <summary>The planned IKE SA lifetime.</summary>
    public required TimeSpan IkeLifetime { get; init; }

    /// <summary>The planned Child SA lifetime.</summary>
    public required TimeSpan IpsecLifetime { get; init; }

    /// <summary>When the SAs were installed.</summary>
    public DateTimeOffset? EstablishedAt { get; init; }

    /// <summary>When the current IKE SA was set up (IKE_AUTH or its latest rekey).</summary>
    public DateTimeOffset? IkeSaSince { get; init; }

    /// <summary>When the current Child SA was installed (IKE_AUTH or its latest rekey).</summary>
    public DateTimeOffset? ChildSaSince { get; init; }

    /// <summary>The current IKE SA's SPIi (0 while down).</summary>
    public ulong IkeInitiatorSpi { get; init; }

    /// <summary>The current IKE SA's SPIr (0 while down).</summary>
    public ulong IkeResponderSpi { get; init; }

    /// <summary>The Child SA SPI chosen by the initiator (its inbound SPI).</summary>
    public uint InitiatorSpi { get; init; }

    /// <summary>The Child SA SPI chosen by the responder (its inbound SPI).</summary>
    public uint ResponderSpi { get; init; }

    /// <summary>The identity the peer proved, with its IANA ID type: "CN=gw2, O=Example (ID_DER_ASN1_DN)".</summary>
    public string? PeerIdentity { get; init; }

    /// <summary>The identity this gateway sent, with its IANA ID type: "10.0.0.1 (ID_IPV4_ADDR)".</summary>
    public string? LocalIdentity { get; init; }

    /// <summary>IKE SA algorithms (encryption/PRF/DH group).</summary>
    public string? IkeAlgorithms { get; init; }

    /// <summary>ESP algorithms.</summary>
    public string? EspAlgorithms { get; init; }

    /// <summary>Whether the current Child SA negotiated 64-bit extended sequence numbers (RFC 4303 §2.2.1).</summary>
    public bool ExtendedSequenceNumbers { get; init; }

    /// <summary>AUTH method this side used.</summary>
    public string? LocalAuthMethod { get; init; }

    /// <summary>AUTH method the peer used.</summary>
    public string? PeerAuthMethod { get; init; }

    /// <summary>Whether IKE detected a NAT.</summary>
    public bool NatDetected { get; init; }

    /// <summary>The inbound SA, when installed.</summary>
    public IpsecSaStatus? Inbound { get; init; }

    /// <summary>The outbound SA, when installed.</summary>
    public IpsecSaStatus? Outbound { get; init; }

    /// <summary>Packets the data plane of this tunnel's local-gateway dropped, by reason (every reason, zeros included);
    /// the data plane is shared by the tunnels of one local-gateway address, so are these counts.</summary>
    public IReadOnlyList<(string Reason, long Packets)> Drops { get; init; } = [];
}
