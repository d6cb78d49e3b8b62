using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;

namespace Certgate.Ike.Sessions;

/// <summary>
/// The responder's defence against IKE_SA_INIT floods (RFC 7296 §2.6): it counts half-open IKE SAs (IKE_SA_INIT
/// answered, IKE_AUTH not yet done), and at or above <see cref="Threshold"/> answers IKE_SA_INIT with N(COOKIE)
/// and keeps no state until the initiator repeats its request with that cookie. The cookie is stateless, as §2.6
/// suggests: <c>Cookie = &lt;VersionIDofSecret&gt; | Hash(Ni | IPi | SPIi | &lt;secret&gt;)</c>, here one version octet
/// and HMAC-SHA-256 keyed with the secret (33 octets; §3.10.1 allows 1 to 64). The secret is replaced every
/// <see cref="SecretLifetime"/>; a cookie made with the previous secret is still accepted, so a cookie stays good
/// for one to two lifetimes — ample for the one round trip it needs.
/// </summary>
/// <remarks>
/// Default threshold 30, strongSwan's <c>charon.cookie_threshold</c> (5.9): a Certgate gateway has a few
/// configured peers, so more than a few dozen IKE SAs half-open at once is a flood, not a reboot of the peers; and
/// below the threshold no legitimate initiator pays the extra round trip. One instance is shared by all responders
/// of a process (<see cref="Shared"/>) so that the count is the process's.
/// </remarks>
public sealed class IkeCookies
{
    /// <summary>strongSwan's default <c>cookie_threshold</c>, and Certgate's.</summary>
    public const int DefaultThreshold = 30;

    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private int _halfOpen;
    private (byte Version, byte[] Key, DateTimeOffset Created) _current;
    private (byte Version, byte[] Key)? _previous;

    /// <summary>A guard with its own count and secret.</summary>
    /// <param name="threshold">Half-open IKE SAs at which cookies are demanded; 0 demands them always.</param>
    /// <param name="secretLifetime">How long a secret makes new cookies (default 30 s).</param>
    /// <param name="time">The clock (tests pass a fake one).</param>
    public IkeCookies(int threshold = DefaultThreshold, TimeSpan? secretLifetime = null, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threshold);
        Threshold = threshold;
        SecretLifetime = secretLifetime ?? TimeSpan.FromSeconds(30);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(SecretLifetime, TimeSpan.Zero, nameof(secretLifetime));
        _time = time ?? TimeProvider.System;
        _current = (1, RandomNumberGenerator.GetBytes(32), _time.GetUtcNow());
    }

    /// <summary>The process-wide guard with the default threshold.</summary>
    public static IkeCookies Shared { get; } = new();

    /// <summary>Half-open IKE SAs at which cookies are demanded.</summary>
    public int Threshold { get; }

    /// <summary>How long one secret makes cookies.</summary>
    public TimeSpan SecretLifetime { get; }

    /// <summary>IKE SAs half-open now.</summary>
    public int HalfOpen => Volatile.Read(ref _halfOpen);

    /// <summary>Whether an IKE_SA_INIT request must carry a valid cookie before the responder creates state.</summary>
    public bool Required => HalfOpen >= Threshold;

    /// <summary>Counts one half-open IKE SA until the returned handle is disposed (IKE_AUTH done or failed).</summary>
    public IDisposable Enter()
    {
        Interlocked.Increment(ref _halfOpen);
        return new HalfOpenSa(this);
    }

    /// <summary>The cookie for this initiator under the current secret.</summary>
    public byte[] Generate(ReadOnlySpan<byte> ni, IPAddress initiator, ulong spiI)
    {
        ArgumentNullException.ThrowIfNull(initiator);
        (byte version, byte[] key) = Secrets().Current;
        byte[] cookie = new byte[1 + 32];
        cookie[0] = version;
        Mac(key, ni, initiator, spiI, cookie.AsSpan(1));
        return cookie;
    }

    /// <summary>
    /// Whether <paramref name="cookie"/> is one this responder made for this Ni, address and SPIi with the current or
    /// the previous secret (compared in constant time).
    /// </summary>
    public bool Verify(ReadOnlySpan<byte> cookie, ReadOnlySpan<byte> ni, IPAddress initiator, ulong spiI)
    {
        ArgumentNullException.ThrowIfNull(initiator);
        if (cookie.Length != 33)
        {
            return false;
        }
        ((byte Version, byte[] Key) current, (byte Version, byte[] Key)? previous) = Secrets();
        byte[]? key = cookie[0] == current.Version ? current.Key : previous is { } p && cookie[0] == p.Version ? p.Key : null;
        if (key is null)
        {
            return false;
        }
        Span<byte> expected = stackalloc byte[32];
        Mac(key, ni, initiator, spiI, expected);
        return CryptographicOperations.FixedTimeEquals(expected, cookie[1..]);
    }

    private ((byte Version, byte[] Key) Current, (byte Version, byte[] Key)? Previous) Secrets()
    {
        lock (_lock)
        {
            DateTimeOffset now = _time.GetUtcNow();
            TimeSpan age = now - _current.Created;
            if (age >= SecretLifetime)
            {
                // After one lifetime the secret retires to "previous"; after two nothing of it is left.
                _previous = age >= 2 * SecretLifetime ? null : (_current.Version, _current.Key);
                _current = ((byte)(_current.Version + 1), RandomNumberGenerator.GetBytes(32), now);
            }
            return ((_current.Version, _current.Key), _previous);
        }
    }

    private static void Mac(byte[] key, ReadOnlySpan<byte> ni, IPAddress initiator, ulong spiI, Span<byte> output)
    {
        IPAddress address = initiator.IsIPv4MappedToIPv6 ? initiator.MapToIPv4() : initiator;
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(ni);
        hmac.AppendData(address.GetAddressBytes());
        Span<byte> spi = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(spi, spiI);
        hmac.AppendData(spi);
        hmac.GetHashAndReset(output);
    }

    private sealed class HalfOpenSa(IkeCookies owner) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref owner._halfOpen);
            }
        }
    }
}
