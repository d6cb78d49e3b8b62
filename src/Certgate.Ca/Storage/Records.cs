using Certgate.Pki.Revocation;

namespace Certgate.Ca.Storage;

/// <summary>An issued certificate as stored. <see cref="Serial"/> is upper-case hex without leading zeros stripped.</summary>
public sealed record CertificateRecord(
    string Serial,
    string Subject,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    byte[] Der,
    string Profile,
    string PublicKeySha256,
    string? TransactionId,
    DateTimeOffset IssuedAt,
    DateTimeOffset? RevokedAt = null,
    CrlReason? RevocationReason = null,
    string? Successor = null,
    DateTimeOffset? SupersededAt = null)
{
    public bool IsRevoked => RevokedAt is not null;

    /// <summary>True when a renewal issued a successor (or is issuing one now): this certificate renews no more.</summary>
    public bool HasSuccessor => Successor is not null;

    /// <summary>The serial for messages: <c>0x0B2B…</c>.</summary>
    public string SerialText => "0x" + Serial;
}

/// <summary>A name a certificate holds, as the CA indexes it to refuse the same name to another key: <c>name</c>
/// (a DNS name or the CN, lower case), <c>ip</c> (canonical notation) or <c>email</c> (lower case).</summary>
public sealed record HeldName(string Kind, string Name);

/// <summary>Outcome of <see cref="ICaStore.RevokeAsync"/>.</summary>
public enum RevokeOutcome
{
    Revoked,
    AlreadyRevoked,
    NotFound,
}

/// <summary>A one-time challenge. Only the SHA-256 of the password is stored (<c>PasswordHash</c>); <c>Id</c> is a short
/// public identifier (first 16 hex digits of the hash) for listings and audit.
/// <c>Binding</c> is the <see cref="Challenges.NameBinding"/> as stored (JSON), null for an unbound challenge.</summary>
public sealed record ChallengeRecord(string Id, byte[] PasswordHash, string? Profile, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, DateTimeOffset? UsedAt,
    string? Binding = null);

/// <summary>Result of an atomic challenge consumption.</summary>
public enum ChallengeStatus
{
    /// <summary>This call consumed it; nobody else can.</summary>
    Consumed,
    Unknown,
    AlreadyUsed,
    Expired,
}

/// <summary>State of an enrollment request, as a SCEP pkiStatus.</summary>
public enum RequestState
{
    Pending,
    /// <summary>Claimed by an approver that is issuing the certificate now.</summary>
    Approving,
    Issued,
    Failed,
}

/// <summary>An enrollment request kept by transactionID (pending ones and answered ones, for duplicates and polling).
/// <c>Csr</c> is kept only while the request waits for approval (empty once issued by challenge or renewal).</summary>
public sealed record RequestRecord(
    string TransactionId,
    RequestState State,
    string PublicKeySha256,
    byte[] Csr,
    string Subject,
    string Requester,
    string Profile,
    string? Serial,
    string? FailReason,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>A stored CRL.</summary>
public sealed record CrlRecord(long Number, DateTimeOffset ThisUpdate, DateTimeOffset NextUpdate, byte[] Der);

/// <summary>An audit entry to append (the store assigns sequence and chain hash).</summary>
public sealed record AuditEntry(
    DateTimeOffset Time,
    string Actor,
    string Event,
    string Outcome,
    string? Subject = null,
    string? Serial = null,
    string? TransactionId = null,
    string? Detail = null);

/// <summary>A stored audit row: <see cref="Hash"/> = SHA-256(previous row's hash || canonical(entry, sequence)).</summary>
public sealed record AuditRecord(long Sequence, AuditEntry Entry, byte[] Hash);
