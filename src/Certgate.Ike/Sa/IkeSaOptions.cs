using System.Net;
using System.Security.Cryptography;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Sa;

/// <summary>How an established IKE SA behaves: where its ESP goes, its timers, and what it offers when it rekeys.</summary>
public sealed record IkeSaOptions
{
    /// <summary>The data-plane policy (request id) the CHILD_SAs serve; every rekeyed successor keeps it.</summary>
    public required uint ReqId { get; init; }

    /// <summary>This gateway's ESP endpoint (the address; the port is 4500 for ESP in UDP).</summary>
    public required IPEndPoint EspLocal { get; init; }

    /// <summary>
    /// ESP in UDP 4500 (RFC 3948), used when a NAT was detected; raw ESP (IP protocol 50) otherwise, which is what a
    /// peer that saw no NAT sends (RFC 7296 §2.23: UDP encapsulation only "if a NAT is detected").
    /// </summary>
    public bool UdpEncapsulation { get; init; } = true;

    /// <summary>The peer's ESP endpoint.</summary>
    public required IPEndPoint EspRemote { get; init; }

    /// <summary>
    /// First retransmit timeout; later ones grow by <see cref="RetransmitBase"/> (RFC 7296 §2.1: "retransmission
    /// times MUST increase exponentially"), strongSwan's defaults 4 s × 1.8^n, 5 tries, shortened here.
    /// </summary>
    public TimeSpan RetransmitTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Growth factor of the retransmit timeout.</summary>
    public double RetransmitBase { get; init; } = 1.8;

    /// <summary>Retransmits before the peer is declared dead and the IKE SA closed.</summary>
    public int RetransmitTries { get; init; } = 5;

    /// <summary>Liveness check (§2.4) after this long without a message from the peer; null: none.</summary>
    public TimeSpan? DpdDelay { get; init; }

    /// <summary>Hard lifetime of an IKE SA (Junos ike proposal lifetime-seconds); rekeyed before it runs out. Null: never.</summary>
    public TimeSpan? IkeLifetime { get; init; }

    /// <summary>Hard lifetime of a CHILD_SA (ipsec proposal lifetime-seconds); rekeyed before it runs out. Null: never.</summary>
    public TimeSpan? ChildLifetime { get; init; }

    /// <summary>
    /// The soft lifetime (rekey) is the hard one times (1 − margin − jitter × random): each side rekeys at its own
    /// time, so two peers with equal lifetimes rarely collide (§2.8: "SHOULD ... jitter").
    /// </summary>
    public double RekeyMargin { get; init; } = 0.1;

    /// <summary>The random part of the soft lifetime (see <see cref="RekeyMargin"/>).</summary>
    public double RekeyJitter { get; init; } = 0.1;

    /// <summary>How long to wait before retrying an exchange the peer answered with TEMPORARY_FAILURE (§2.25).</summary>
    public TimeSpan TemporaryFailureDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long an SA the peer replaced waits for the peer's DELETE (§2.8: "the initiator of the rekey ... deletes the
    /// old SA") before this side deletes it itself, so a lost DELETE leaves no SA behind.
    /// </summary>
    public TimeSpan RekeyedGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Diffie-Hellman group for PFS when this side rekeys a CHILD_SA (NONE: no KE payload).</summary>
    public DhGroup PfsGroup { get; init; } = DhGroup.NONE;

    /// <summary>IKE proposals offered and accepted when the IKE SA is rekeyed (null: the defaults); as in <see cref="Sessions.IkePeerConfig.IkeProposals"/>.</summary>
    public IReadOnlyList<Sessions.SaSuite>? IkeProposals { get; init; }

    /// <summary>ESP proposals offered and accepted in CREATE_CHILD_SA (null: the defaults).</summary>
    public IReadOnlyList<Sessions.SaSuite>? EspProposals { get; init; }

    /// <summary>
    /// The largest IP datagram an encrypted IKE message may make before it goes as RFC 7383 fragments (when both
    /// sides announced them), headers included; as <see cref="Sessions.IkePeerConfig.FragmentSize"/>.
    /// </summary>
    public int FragmentSize { get; init; } = 1280;

    /// <summary>
    /// How long a responder's IKE SA may stay half-open (IKE_SA_INIT answered, IKE_AUTH not done) before it is
    /// dropped; strongSwan's <c>half_open_timeout</c> default.
    /// </summary>
    public TimeSpan HalfOpenTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Where fragments and cookies are counted (null: not counted).</summary>
    public Sessions.IkeCounters? Counters { get; init; }

    /// <summary>Nonces (and new IKE SPIs); injected so exchange tests replay exactly.</summary>
    public Func<int, byte[]> Random { get; init; } = RandomNumberGenerator.GetBytes;

    /// <summary>Log lines; each names the IKE SA or CHILD_SA.</summary>
    public Action<string>? Log { get; init; }
}
