using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec;

namespace Certgate.Ike.Sa;

/// <summary>
/// Where a CHILD_SA stands (strongSwan child_sa_state_t, reduced):
/// <code>
///   Installed --rekey sent--> Rekeying --rekey done--> Rekeyed --our/peer's DELETE--> Deleted
///       |  \----------------- peer's rekey answered --/                                ^
///       \--DELETE sent--> Deleting --answered----------------------------------------/
/// </code>
/// </summary>
public enum ChildSaState
{
    Installed,
    Rekeying,
    Rekeyed,
    Deleting,
    Deleted,
}

/// <summary>A CHILD_SA as <c>show</c> and tests see it.</summary>
/// <param name="InboundSpi">The SPI this side chose (ESP arrives with it).</param>
/// <param name="OutboundSpi">The SPI the peer chose.</param>
/// <param name="State">Where it stands.</param>
/// <param name="Esp">Its algorithms.</param>
/// <param name="Pfs">Whether its keys came from a fresh Diffie-Hellman exchange.</param>
/// <param name="InstalledAt">When it was installed.</param>
public sealed record ChildSaInfo(uint InboundSpi, uint OutboundSpi, ChildSaState State, SaSuite Esp, bool Pfs, DateTimeOffset InstalledAt)
{
    /// <summary>This side's traffic selectors as negotiated (RFC 7296 §2.9).</summary>
    public IReadOnlyList<Payloads.TrafficSelector> LocalTs { get; init; } = [];

    /// <summary>The peer side's traffic selectors as negotiated.</summary>
    public IReadOnlyList<Payloads.TrafficSelector> RemoteTs { get; init; } = [];
}

/// <summary>One CHILD_SA of a connection, with its timers and what a colliding rekey left (§2.8.1).</summary>
internal sealed class ChildSaEntry(uint inboundSpi, uint outboundSpi, SaSuite esp, bool pfs, DateTimeOffset installedAt)
{
    /// <summary>This side's negotiated traffic selectors; a rekey offers them again and must keep within them (§2.9).</summary>
    public IReadOnlyList<Payloads.TrafficSelector> LocalTs { get; init; } = [];

    /// <summary>The peer side's negotiated traffic selectors.</summary>
    public IReadOnlyList<Payloads.TrafficSelector> RemoteTs { get; init; } = [];

    public uint InboundSpi { get; } = inboundSpi;

    public uint OutboundSpi { get; } = outboundSpi;

    public SaSuite Esp { get; } = esp;

    public bool Pfs { get; } = pfs;

    public DateTimeOffset InstalledAt { get; } = installedAt;

    public ChildSaState State { get; set; } = ChildSaState.Installed;

    /// <summary>While this side's rekey of this SA is outstanding: the SA the peer's simultaneous rekey created, with that exchange's nonces.</summary>
    public (ChildSaEntry Child, byte[] Ni, byte[] Nr)? PeerRekey { get; set; }

    /// <summary>
    /// The outbound SA of a CHILD_SA the peer's rekey created, kept out of the data plane until the SA it replaces
    /// is deleted: the peer installs its inbound side only when it reads the response, so sending on it earlier loses packets.
    /// </summary>
    public SaSpec? PendingOutbound { get; set; }

    /// <summary>The CHILD_SA the peer's rekey replaced this one with (its outbound goes in when this one is removed).</summary>
    public ChildSaEntry? Successor { get; set; }

    public ITimer? RekeyTimer { get; set; }

    public ITimer? ExpireTimer { get; set; }

    public ChildSaInfo Info => new(InboundSpi, OutboundSpi, State, Esp, Pfs, InstalledAt) { LocalTs = LocalTs, RemoteTs = RemoteTs };

    public string Name => $"CHILD_SA {InboundSpi:x8}_i {OutboundSpi:x8}_o";

    public void StopTimers()
    {
        RekeyTimer?.Dispose();
        ExpireTimer?.Dispose();
        RekeyTimer = null;
        ExpireTimer = null;
    }
}
