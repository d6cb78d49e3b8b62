using System.Net;
using Certgate.Ipsec.Registry;

namespace Certgate.Ipsec;

/// <summary>Which way an SA carries traffic, seen from this gateway.</summary>
public enum SaDirection
{
    Inbound,
    Outbound,
}

/// <summary>
/// Traffic limits of an SA (RFC 4301 §4.4.2.1): crossing a soft limit asks IKE to rekey, crossing a hard limit
/// removes the SA. Zero means no limit. Time limits are IKE's (its timers); the data plane counts traffic.
/// </summary>
public sealed record SaLifetime(ulong SoftBytes = 0, ulong HardBytes = 0, ulong SoftPackets = 0, ulong HardPackets = 0)
{
    /// <summary>No traffic limit.</summary>
    public static SaLifetime None { get; } = new();
}

/// <summary>One direction of a CHILD_SA as IKE negotiated it: what the data plane needs to carry its packets.</summary>
public sealed record SaSpec
{
    public required uint Spi { get; init; }

    public required SaDirection Direction { get; init; }

    /// <summary>This gateway's outer address and port (4500 with UDP encapsulation).</summary>
    public required IPEndPoint Local { get; init; }

    /// <summary>The peer's outer address and port.</summary>
    public required IPEndPoint Remote { get; init; }

    /// <summary>ESP in UDP (RFC 3948); false: raw ESP (IP protocol 50).</summary>
    public bool UdpEncapsulation { get; init; } = true;

    public required EncryptionAlgorithm Encryption { get; init; }

    /// <summary>AES key size in bits (128, 192, 256).</summary>
    public required int KeyBits { get; init; }

    public IntegrityAlgorithm Integrity { get; init; } = IntegrityAlgorithm.NONE;

    /// <summary>This direction's KEYMAT (RFC 7296 §2.17): encryption key (‖ salt for GCM) then the integrity key.</summary>
    public required byte[] Keymat { get; init; }

    public bool ExtendedSequenceNumbers { get; init; }

    /// <summary>Anti-replay window (inbound), 64–4096.</summary>
    public int ReplayWindow { get; init; } = 1024;

    public SaLifetime Lifetime { get; init; } = SaLifetime.None;

    /// <summary>The CHILD_SA's traffic on this gateway's side (TSi or TSr as negotiated).</summary>
    public required IReadOnlyList<TrafficSelector> LocalSelectors { get; init; }

    /// <summary>The CHILD_SA's traffic on the peer's side.</summary>
    public required IReadOnlyList<TrafficSelector> RemoteSelectors { get; init; }

    /// <summary>The policy (request id) this SA serves; both directions and every rekeyed successor share it.</summary>
    public required uint ReqId { get; init; }
}

/// <summary>
/// An outbound policy: traffic from <see cref="LocalSelectors"/> to <see cref="RemoteSelectors"/> is protected by
/// the newest outbound SA of <see cref="ReqId"/>. Policies are matched in the order they were added.
/// </summary>
public sealed record IpsecPolicy(uint ReqId, IReadOnlyList<TrafficSelector> LocalSelectors, IReadOnlyList<TrafficSelector> RemoteSelectors);

/// <summary>Traffic an SA has carried.</summary>
public sealed record SaUsage(ulong Bytes, ulong Packets, DateTimeOffset? LastUsed);

/// <summary>Soft: rekey now. Hard: the SA is gone.</summary>
public enum ExpiryKind
{
    Soft,
    Hard,
}

/// <summary>An SA crossed a lifetime limit.</summary>
public sealed record SaExpiry(uint Spi, SaDirection Direction, uint ReqId, ExpiryKind Kind, string Reason);

/// <summary>Outbound traffic matched a policy that has no SA yet: IKE should negotiate one (the kernel's ACQUIRE).</summary>
public sealed record SaAcquire(uint ReqId);

/// <summary>
/// The one contract between IKE and a data plane (after strongSwan's kernel_ipsec_t): SPIs, SAs and policies go
/// in, expiry and acquire events come out. Implementations: the userspace ESP data plane (Certgate.Esp) and an
/// in-memory one for IKE exchange tests (<see cref="MemoryDataPlane"/>).
/// </summary>
/// <remarks>
/// Rekeying without loss: IKE adds the new inbound SA, then the new outbound SA with the same <see cref="SaSpec.ReqId"/>
/// (outbound traffic moves to it at once), and deletes the old SAs only after the exchange; packets still in flight
/// under the old inbound SPI keep decrypting until then.
/// </remarks>
public interface IIpsecDataPlane
{
    /// <summary>A fresh inbound SPI, never 0–255 (RFC 4303 §2.1) and unique among allocated and installed SPIs.</summary>
    uint AllocateSpi();

    /// <summary>Installs an SA. An outbound SA becomes the one its ReqId's policy uses.</summary>
    /// <exception cref="ArgumentException">The SPI is installed already in that direction, or the transform or keys are invalid.</exception>
    void AddSa(SaSpec sa);

    /// <summary>Removes an SA; false when there was none.</summary>
    bool DeleteSa(uint spi, SaDirection direction);

    /// <summary>Traffic counters of an installed SA, null when there is none.</summary>
    SaUsage? QuerySa(uint spi, SaDirection direction);

    /// <summary>Adds an outbound policy (replacing one with the same ReqId).</summary>
    void AddPolicy(IpsecPolicy policy);

    /// <summary>Removes the policy of <paramref name="reqId"/>; false when there was none.</summary>
    bool DeletePolicy(uint reqId);

    /// <summary>Raised (off the packet path) when an SA crosses a soft or hard limit.</summary>
    event Action<SaExpiry>? Expired;

    /// <summary>Raised (off the packet path, at most once a second per policy) when a policy without an SA sees traffic.</summary>
    event Action<SaAcquire>? Acquire;
}
