using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Auth;
using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;
using Certgate.Pki.Identity;

namespace Certgate.Ike.Sessions;

/// <summary>
/// The child SA both sides agreed on: SPIs, KEYMAT per direction (encryption key [‖ salt] then integrity key,
/// RFC 7296 §2.17), the ESP and IKE algorithms, and the peer's certificate.
/// </summary>
public sealed record ChildSa(uint InboundSpi, uint OutboundSpi, byte[] InboundKeymat, byte[] OutboundKeymat, X509Certificate2? PeerCertificate,
    SaSuite Esp, SaSuite Ike)
{
    /// <summary>The identity the peer proved, as people write it (<see cref="IkeIdentities.Value"/>): a DN, address, FQDN or e-mail.</summary>
    public string PeerIdentity { get; init; } = "";

    /// <summary>The peer's IDi/IDr as received and checked.</summary>
    public IkeIdentity? PeerId { get; init; }

    /// <summary>The IDi/IDr this side sent.</summary>
    public IkeIdentity? LocalId { get; init; }

    /// <summary>Whether IKE moved to UDP 4500 because a NAT was detected (or faked, as strongSwan's libipsec does).</summary>
    public bool NatDetected { get; init; }

    /// <summary>The AUTH method this side used (RFC 7296 §3.8 / RFC 7427).</summary>
    public AuthMethod LocalAuthMethod { get; init; }

    /// <summary>The AUTH method the peer used.</summary>
    public AuthMethod PeerAuthMethod { get; init; }

    /// <summary>The IKE SA that carries this child, for CREATE_CHILD_SA and INFORMATIONAL after establishment.</summary>
    public EstablishedIkeSa? IkeSa { get; init; }

    /// <summary>This side's traffic selectors as negotiated (narrowed, RFC 7296 §2.9): TSi on the initiator, TSr on the responder.</summary>
    public IReadOnlyList<Payloads.TrafficSelector> LocalTs { get; init; } = [];

    /// <summary>The peer side's traffic selectors as negotiated.</summary>
    public IReadOnlyList<Payloads.TrafficSelector> RemoteTs { get; init; } = [];
}
