using System.Net;
using System.Security.Cryptography;
using Certgate.Ike.Crypto;
using Certgate.Ike.Sessions;

namespace Certgate.Ike.Sa;

/// <summary>
/// Where one IKE SA stands (kept apart from the tasks that move it, as strongSwan's ike_sa_state_t):
/// <code>
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
    {
        Connection = connection;
        SpiI = spiI;
        SpiR = spiR;
        IsOriginalInitiator = isOriginalInitiator;
        Suite = suite;
        Keys = keys;
        Remote = remote;
        Encapsulated = encapsulated;
        EstablishedAt = establishedAt;
        Out = isOriginalInitiator ? Cipher(suite, keys.Skei, keys.Skai) : Cipher(suite, keys.Sker, keys.Skar);
        In = isOriginalInitiator ? Cipher(suite, keys.Sker, keys.Skar) : Cipher(suite, keys.Skei, keys.Skai);
        Kd = new KeyDerivation(suite.PrfHash);
        Tasks = new TaskManager(this);
    }

    public IkeConnection Connection { get; }

    public ulong SpiI { get; }

    public ulong SpiR { get; }

    /// <summary>Whether this side set up this SA (IKE_SA_INIT, or the winning rekey): its messages carry the I flag.</summary>
    public bool IsOriginalInitiator { get; }

    public SaSuite Suite { get; }

    public IkeSaKeys Keys { get; }

    public KeyDerivation Kd { get; }

    public SkCipher Out { get; }

    public SkCipher In { get; }

    public IPEndPoint Remote { get; set; }

    public bool Encapsulated { get; }

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
        Out.Dispose();
        In.Dispose();
        CryptographicOperations.ZeroMemory(Keys.Skd);
    }
}
