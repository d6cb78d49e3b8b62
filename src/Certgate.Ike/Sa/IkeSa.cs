using System.Net;
using System.Security.Cryptography;
using Certgate.Ike.Crypto;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;

namespace Certgate.Ike.Sa;

/// <summary>
/// Where one IKE SA stands (kept apart from the tasks that move it, as strongSwan's ike_sa_state_t):
/// <code>
///   Connecting (IKE_SA_INIT, IKE_AUTH) --IKE_AUTH done--> Established;  --refused / no answer / half-open too long--> Closed
///   Established --IKE rekey sent--> Rekeying --done/lost--> Rekeyed (children moved; DELETE sent or awaited) --> Closed
///        \--peer's rekey answered--------------------------/
///        \--DELETE sent--> Deleting --answered / no answer--> Closed
/// </code>
/// </summary>
public enum IkeSaState
{
    Established,
    Rekeying,
    Rekeyed,
    Deleting,
    Closed,

    /// <summary>IKE_SA_INIT and IKE_AUTH are running (strongSwan's IKE_CONNECTING): no keys before the IKE_SA_INIT response, no CHILD_SA yet.</summary>
    Connecting,
}

/// <summary>
/// One IKE SA (one SPI pair): its keys, the SK protection of each direction (keys follow the original roles, §2.14),
/// and the task manager that runs its exchanges. The CHILD_SAs belong to the <see cref="IkeConnection"/>, which
/// moves them from SA to SA on an IKE rekey (§2.18).
/// </summary>
internal sealed class IkeSa : IDisposable
{
    public IkeSa(IkeConnection connection, ulong spiI, ulong spiR, bool isOriginalInitiator, SaSuite suite, IkeSaKeys keys, IPEndPoint remote, bool encapsulated,
        DateTimeOffset establishedAt)
        : this(connection, spiI, spiR, isOriginalInitiator, remote, establishedAt)
    {
        Encapsulated = encapsulated;
        SetKeys(suite, keys);
    }

    /// <summary>An IKE SA being set up (<see cref="IkeSaState.Connecting"/>): keys come with <see cref="SetKeys"/> once IKE_SA_INIT is done.</summary>
    public IkeSa(IkeConnection connection, ulong spiI, ulong spiR, bool isOriginalInitiator, IPEndPoint remote, DateTimeOffset establishedAt)
    {
        Connection = connection;
        SpiI = spiI;
        SpiR = spiR;
        IsOriginalInitiator = isOriginalInitiator;
        Remote = remote;
        EstablishedAt = establishedAt;
        Tasks = new TaskManager(this);
    }

    /// <summary>The suite and keys (§2.14; each direction's SK protection follows the original roles).</summary>
    public void SetKeys(SaSuite suite, IkeSaKeys keys)
    {
        Suite = suite;
        Keys = keys;
        Out = IsOriginalInitiator ? Cipher(suite, keys.Skei, keys.Skai) : Cipher(suite, keys.Sker, keys.Skar);
        In = IsOriginalInitiator ? Cipher(suite, keys.Sker, keys.Skar) : Cipher(suite, keys.Skei, keys.Skai);
        Kd = new KeyDerivation(suite.PrfHash);
    }

    public IkeConnection Connection { get; }

    public ulong SpiI { get; }

    /// <summary>SPIr: zero until the IKE_SA_INIT response names it (initiator).</summary>
    public ulong SpiR { get; set; }

    /// <summary>Whether this side set up this SA (IKE_SA_INIT, or the winning rekey): its messages carry the I flag.</summary>
    public bool IsOriginalInitiator { get; }

    public SaSuite Suite { get; private set; } = null!;

    public IkeSaKeys Keys { get; private set; } = null!;

    public KeyDerivation Kd { get; private set; } = null!;

    public SkCipher Out { get; private set; } = null!;

    public SkCipher In { get; private set; } = null!;

    public IPEndPoint Remote { get; set; }

    /// <summary>Whether IKE runs on UDP 4500 with the non-ESP marker (§2.23); set when IKE floats during IKE_AUTH.</summary>
    public bool Encapsulated { get; set; }

    /// <summary>Whether both sides announced RFC 7383 fragmentation in IKE_SA_INIT: encrypted messages above the fragment size go as fragments.</summary>
    public bool Fragmentation { get; set; }

    /// <summary>The peer's fragmented requests being collected (RFC 7383 §2.6); requests and responses number apart.</summary>
    public FragmentReassembler RequestFragments { get; } = new();

    /// <summary>The peer's fragmented responses being collected.</summary>
    public FragmentReassembler ResponseFragments { get; } = new();

    public DateTimeOffset EstablishedAt { get; }

    public IkeSaState State { get; set; } = IkeSaState.Established;

    public TaskManager Tasks { get; }

    /// <summary>While this side's IKE rekey is outstanding: the SA the peer's simultaneous rekey created, with that exchange's nonces (§2.8.2).</summary>
    public (IkeSa Sa, byte[] Ni, byte[] Nr)? PeerRekey { get; set; }

    public ITimer? RekeyTimer { get; set; }

    public ITimer? ExpireTimer { get; set; }

    public string Name => $"IKE_SA {SpiI:x16}_i {SpiR:x16}_r";

    public static SkCipher Cipher(SaSuite suite, byte[] encryptionKey, byte[] integrityKey) =>
        suite.IsAead ? SkCipher.Gcm(encryptionKey) : SkCipher.CbcHmac(encryptionKey, integrityKey, suite.IntegrityHash);

    public void StopTimers()
    {
        RekeyTimer?.Dispose();
        ExpireTimer?.Dispose();
        RekeyTimer = null;
        ExpireTimer = null;
    }

    public void Dispose()
    {
        StopTimers();
        Tasks.Dispose();
        Out?.Dispose();
        In?.Dispose();
        if (Keys is not null)
        {
            CryptographicOperations.ZeroMemory(Keys.Skd);
        }
    }
}
