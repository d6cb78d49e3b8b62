using System.Net;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sessions;

namespace Certgate.Ike.Sa;

/// <summary>
/// What IKE_SA_INIT leaves for IKE_AUTH on one side (strongSwan keeps it in the ike_sa and its keymat): the peer
/// configuration, both nonces, both IKE_SA_INIT messages as sent (AUTH signs them, RFC 7296 §2.15), the peer's
/// signature hashes, and whether a NAT was seen. Lives only while the IKE SA is <see cref="IkeSaState.Connecting"/>.
/// </summary>
internal sealed class IkeSetup(IkePeerConfig config, IPEndPoint local, bool natTraversal)
{
    /// <summary>The configuration in force: the initiator's; the responder's first candidate until IKE_AUTH chooses.</summary>
    public IkePeerConfig Config { get; set; } = config;

    /// <summary>Responder: the configurations for the peer's address, one of which IKE_AUTH picks by identity and traffic selectors.</summary>
    public IReadOnlyList<IkeProfile> Candidates { get; set; } = [];

    /// <summary>This side's IKE endpoint on UDP 500 (the NAT_DETECTION hashes name it).</summary>
    public IPEndPoint Local { get; } = local;

    /// <summary>Whether UDP 4500 is reachable, so NAT detection is announced (initiator) or answered (responder).</summary>
    public bool NatTraversal { get; } = natTraversal;

    public byte[] Ni { get; set; } = [];

    public byte[] Nr { get; set; } = [];

    /// <summary>The IKE_SA_INIT request as sent (the initiator signs it).</summary>
    public byte[] Request { get; set; } = [];

    /// <summary>The IKE_SA_INIT response as sent (the responder signs it).</summary>
    public byte[] Response { get; set; } = [];

    /// <summary>SPIr of the IKE_SA_INIT response, for the initiator's IkeInit.</summary>
    public ulong ResponderSpi { get; set; }

    public IReadOnlyCollection<SignatureHash>? PeerHashes { get; set; }

    /// <summary>Initiator: the NAT_DETECTION hashes did not match. Responder: IKE_AUTH came on UDP 4500.</summary>
    public bool NatDetected { get; set; }

    /// <summary>The responder's count of half-open IKE SAs (RFC 7296 §2.6), released when IKE_AUTH ends either way.</summary>
    public IDisposable? HalfOpen { get; set; }
}
