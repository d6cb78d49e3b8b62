using System.Security.Cryptography;
using System.Text;
using Certgate.Ca.Storage;

namespace Certgate.Ca.Challenges;

/// <summary>A newly created one-time challenge. <c>Password</c> is shown once and never stored.
/// <c>Binding</c> is null for an unbound challenge.</summary>
public sealed record CreatedChallenge(string Id, string Password, string? Profile, DateTimeOffset ExpiresAt, NameBinding? Binding = null);

/// <summary>
/// One-time challenge passwords (instead of one static challenge for everyone). Stored as SHA-256 hashes with an
/// expiry and an optional profile; consumed atomically by the store; compared in constant time.
/// </summary>
public sealed class ChallengeService
{
    /// <summary>Password length: 20 base32 characters = 100 random bits.</summary>
    public const int PasswordLength = 20;

    /// <summary>Longest challenge accepted in a request (longer ones are refused without hashing gigabytes).</summary>
    public const int MaxPasswordLength = 255;

    private const string Base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    private static readonly byte[] NoSuchHash = new byte[32];

    private readonly ICaStore _store;
    private readonly TimeProvider _time;

    public ChallengeService(ICaStore store, TimeProvider time)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _time = time ?? throw new ArgumentNullException(nameof(time));
    }

    /// <summary>SHA-256 of the UTF-8 password: what the store keeps and looks up.</summary>
    public static byte[] Hash(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        return SHA256.HashData(Encoding.UTF8.GetBytes(password));
    }

    /// <summary>Creates and stores a challenge valid for <paramref name="ttl"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="ttl"/> is not positive or longer than a year.</exception>
    public async Task<CreatedChallenge> CreateAsync(TimeSpan ttl, string? profile, CancellationToken cancellationToken = default) =>
        await CreateAsync(ttl, profile, null, cancellationToken).ConfigureAwait(false);

    /// <summary>Creates and stores a challenge valid for <paramref name="ttl"/>, bound to <paramref name="binding"/>'s
    /// names (unbound when null or empty).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="ttl"/> is not positive or longer than a year.</exception>
    public async Task<CreatedChallenge> CreateAsync(TimeSpan ttl, string? profile, NameBinding? binding, CancellationToken cancellationToken = default)
    {
        if (ttl <= TimeSpan.Zero || ttl > TimeSpan.FromDays(366))
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "a challenge lives more than zero and at most 366 days");
        }
        string password = NewPassword();
        byte[] hash = Hash(password);
        DateTimeOffset now = _time.GetUtcNow();
        binding = binding is { IsEmpty: false } ? binding : null;
        var record = new ChallengeRecord(Convert.ToHexString(hash, 0, 8), hash, profile, now, now + ttl, null, binding?.Encode());
        await _store.InsertChallengeAsync(record, cancellationToken).ConfigureAwait(false);
        return new CreatedChallenge(record.Id, password, profile, record.ExpiresAt, binding);
    }

    /// <summary>Looks a challenge up without consuming it (to choose the profile before the request is checked).
    /// Null when unknown.</summary>
    public async Task<ChallengeRecord?> FindAsync(string password, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (password.Length > MaxPasswordLength)
        {
            return null;
        }
        byte[] hash = Hash(password);
        ChallengeRecord? found = await _store.FindChallengeAsync(hash, cancellationToken).ConfigureAwait(false);
        // The store looks up by hash (an index probe leaks at most which hash prefix exists, useless without a
        // preimage); the final equality is constant-time and runs on the same path whether found or not.
        bool equal = CryptographicOperations.FixedTimeEquals(found?.PasswordHash ?? NoSuchHash, hash);
        return equal ? found : null;
    }

    /// <summary>Consumes a challenge: exactly one caller ever gets <see cref="ChallengeStatus.Consumed"/>.</summary>
    public async Task<ChallengeStatus> ConsumeAsync(string password, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (password.Length > MaxPasswordLength)
        {
            return ChallengeStatus.Unknown;
        }
        return await _store.ConsumeChallengeAsync(Hash(password), _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
    }

    private static string NewPassword()
    {
        Span<byte> random = stackalloc byte[PasswordLength];
        RandomNumberGenerator.Fill(random);
        var sb = new StringBuilder(PasswordLength);
        foreach (byte b in random)
        {
            sb.Append(Base32[b & 31]); // 256 is a multiple of 32: no modulo bias
        }
        return sb.ToString();
    }
}
