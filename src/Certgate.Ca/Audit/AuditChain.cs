using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Certgate.Ca.Storage;

namespace Certgate.Ca.Audit;

/// <summary>
/// The audit log's hash chain (tamper evidence in the EJBCA manner): row n stores
/// <c>SHA-256(hash(n−1) || canonical(n))</c>, with 32 zero bytes before row 1. Changing, deleting or reordering
/// any row breaks every later hash; <see cref="VerifyAsync"/> finds the first broken row.
/// </summary>
/// <remarks>canonical(n) = u64 sequence || i64 unix milliseconds || each text field (actor, event, outcome, subject,
/// serial, transactionID, detail) as 0x00 (null) or 0x01 u32 length UTF-8 — length-prefixed so that no two
/// different rows encode alike.</remarks>
public static class AuditChain
{
    /// <summary>The "previous hash" of the first row.</summary>
    public static ReadOnlySpan<byte> Genesis => new byte[32];

    /// <summary>Computes a row's chain hash.</summary>
    public static byte[] ComputeHash(ReadOnlySpan<byte> previousHash, long sequence, AuditEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (previousHash.Length != 32)
        {
            throw new ArgumentException("the previous hash must be 32 bytes", nameof(previousHash));
        }
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(previousHash);
        Span<byte> num = stackalloc byte[8];
        Span<byte> head = stackalloc byte[5];
        BinaryPrimitives.WriteInt64BigEndian(num, sequence);
        h.AppendData(num);
        BinaryPrimitives.WriteInt64BigEndian(num, entry.Time.ToUnixTimeMilliseconds());
        h.AppendData(num);
        foreach (string? field in (ReadOnlySpan<string?>)[entry.Actor, entry.Event, entry.Outcome, entry.Subject, entry.Serial, entry.TransactionId, entry.Detail])
        {
            if (field is null)
            {
                h.AppendData([0]);
                continue;
            }
            byte[] utf8 = Encoding.UTF8.GetBytes(field);
            head[0] = 1;
            BinaryPrimitives.WriteInt32BigEndian(head[1..], utf8.Length);
            h.AppendData(head);
            h.AppendData(utf8);
        }
        return h.GetHashAndReset();
    }

    /// <summary>Reads the whole audit log in order and recomputes the chain.</summary>
    public static async Task<AuditVerification> VerifyAsync(ICaStore store, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        byte[] previous = Genesis.ToArray();
        long expected = 1;
        while (true)
        {
            IReadOnlyList<AuditRecord> page = await store.ReadAuditAsync(expected - 1, 1000, cancellationToken).ConfigureAwait(false);
            if (page.Count == 0)
            {
                return new AuditVerification(true, expected - 1, null, null);
            }
            foreach (AuditRecord row in page)
            {
                if (row.Sequence != expected)
                {
                    return new AuditVerification(false, expected - 1, expected, $"row {expected} is missing (next row is {row.Sequence})");
                }
                byte[] hash = ComputeHash(previous, row.Sequence, row.Entry);
                if (!CryptographicOperations.FixedTimeEquals(hash, row.Hash))
                {
                    return new AuditVerification(false, expected - 1, expected, $"row {expected} does not match its chain hash (changed, or an earlier row was)");
                }
                previous = hash;
                expected++;
            }
        }
    }
}

/// <summary>Result of <see cref="AuditChain.VerifyAsync"/>.</summary>
/// <param name="Valid">True when every row matches its chain hash and no row is missing.</param>
/// <param name="VerifiedRows">Rows verified before the first problem (all rows when valid).</param>
/// <param name="FirstBadSequence">The first row that fails, or null.</param>
/// <param name="Problem">What is wrong, in words, or null.</param>
public sealed record AuditVerification(bool Valid, long VerifiedRows, long? FirstBadSequence, string? Problem);

/// <summary>Audit event names (the <c>event</c> column).</summary>
public static class AuditEvents
{
    public const string CertificateIssued = "certificate-issued";
    public const string CertificateRevoked = "certificate-revoked";
    public const string CrlIssued = "crl-issued";
    public const string ChallengeCreated = "challenge-created";
    public const string ChallengeUsed = "challenge-used";
    public const string ChallengeRefused = "challenge-refused";
    public const string EnrollmentRefused = "enrollment-refused";
    public const string RequestPending = "request-pending";
    public const string RequestApproved = "request-approved";
    public const string RequestRejected = "request-rejected";
    public const string PendingQueueFull = "pending-queue-full";
    public const string MessageRefused = "message-refused";
    public const string RateLimited = "rate-limited";
}
