using Certgate.Pki.Revocation;

namespace Certgate.Ca.Storage;

/// <summary>
/// The CA's storage contract. Every method is atomic on its own; implementations must be safe when several CA
/// processes share one database (SQLite file or PostgreSQL). Times are stored with millisecond precision.
/// A contract test suite (tests/Certgate.Ca.Tests/Storage) runs against every implementation.
/// </summary>
public interface ICaStore : IAsyncDisposable
{
    /// <summary>A short description for logs (no password).</summary>
    string Description { get; }

    // ---- certificates ----

    /// <summary>Records an issued certificate. Returns false, changing nothing, when the serial already exists
    /// (the caller draws a new serial and signs again).</summary>
    Task<bool> TryInsertCertificateAsync(CertificateRecord certificate, CancellationToken cancellationToken = default);

    /// <summary>The certificate with this serial (upper-case hex), or null.</summary>
    Task<CertificateRecord?> GetCertificateAsync(string serial, CancellationToken cancellationToken = default);

    /// <summary>Certificates in issue order, at most <paramref name="limit"/>, after <paramref name="offset"/>.</summary>
    Task<IReadOnlyList<CertificateRecord>> ListCertificatesAsync(int offset, int limit, CancellationToken cancellationToken = default);

    /// <summary>Marks a certificate revoked; a second revocation keeps the first time and reason.</summary>
    Task<RevokeOutcome> RevokeAsync(string serial, CrlReason reason, DateTimeOffset time, CancellationToken cancellationToken = default);

    /// <summary>Current certificates (not revoked, notAfter after <paramref name="now"/>) that hold
    /// <paramref name="name"/> (at most 16, oldest first). Names are indexed when a certificate is inserted.</summary>
    Task<IReadOnlyList<CertificateRecord>> FindCurrentHoldersAsync(HeldName name, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Claims the right to renew a certificate: sets its successor to <paramref name="marker"/> when it has
    /// none (or already that marker, for a retransmitted renewal). False when another successor exists.</summary>
    Task<bool> TryClaimSuccessionAsync(string serial, string marker, CancellationToken cancellationToken = default);

    /// <summary>Ends a claim: records <paramref name="successor"/> and the time it superseded the certificate, or
    /// releases the claim when <paramref name="successor"/> is null (the renewal was refused).</summary>
    Task CompleteSuccessionAsync(string serial, string marker, string? successor, DateTimeOffset time, CancellationToken cancellationToken = default);

    /// <summary>Certificates with a successor that are not yet revoked, oldest supersession first.</summary>
    Task<IReadOnlyList<CertificateRecord>> ListSupersededUnrevokedAsync(CancellationToken cancellationToken = default);

    /// <summary>Every revoked certificate (for the CRL), in revocation order.</summary>
    Task<IReadOnlyList<RevokedEntry>> ListRevokedAsync(CancellationToken cancellationToken = default);

    // ---- one-time challenges ----

    /// <summary>Stores a new challenge (hash only).</summary>
    Task InsertChallengeAsync(ChallengeRecord challenge, CancellationToken cancellationToken = default);

    /// <summary>The challenge with this password hash, used or not, or null. Does not consume it.</summary>
    Task<ChallengeRecord?> FindChallengeAsync(byte[] passwordHash, CancellationToken cancellationToken = default);

    /// <summary>Atomically marks the challenge used when it exists, is unused and has not expired at <paramref name="now"/>.
    /// Of concurrent callers exactly one gets <see cref="ChallengeStatus.Consumed"/>.</summary>
    Task<ChallengeStatus> ConsumeChallengeAsync(byte[] passwordHash, DateTimeOffset now, CancellationToken cancellationToken = default);

    // ---- enrollment requests (pending queue, duplicates, polling) ----

    /// <summary>Records a request. Returns false, changing nothing, when the transactionID exists.</summary>
    Task<bool> TryInsertRequestAsync(RequestRecord request, CancellationToken cancellationToken = default);

    Task<RequestRecord?> GetRequestAsync(string transactionId, CancellationToken cancellationToken = default);

    /// <summary>Requests in the given state (all when null), oldest first.</summary>
    Task<IReadOnlyList<RequestRecord>> ListRequestsAsync(RequestState? state, CancellationToken cancellationToken = default);

    /// <summary>Moves a request from <paramref name="from"/> to <paramref name="to"/> (compare-and-set). Returns false
    /// when its state was not <paramref name="from"/> (another approver won).</summary>
    Task<bool> TryTransitionRequestAsync(string transactionId, RequestState from, RequestState to, string? serial, string? failReason, DateTimeOffset time, CancellationToken cancellationToken = default);

    // ---- CRLs ----

    /// <summary>In ONE transaction: allocates the next CRL number (strictly greater than every earlier one, also across
    /// processes), calls <paramref name="sign"/> with it, and stores the result. Returns the stored CRL.</summary>
    Task<CrlRecord> SaveNextCrlAsync(DateTimeOffset thisUpdate, DateTimeOffset nextUpdate, Func<long, byte[]> sign, CancellationToken cancellationToken = default);

    /// <summary>The CRL with the highest number, or null.</summary>
    Task<CrlRecord?> GetLatestCrlAsync(CancellationToken cancellationToken = default);

    /// <summary>The number of the latest stored CRL, or null when none exists: a cheap check whether a CRL already in
    /// memory is still the latest (a 1,000,000-entry CRL is 38 MB to read).</summary>
    Task<long?> GetLatestCrlNumberAsync(CancellationToken cancellationToken = default);

    // ---- audit ----

    /// <summary>Appends an entry to the hash chain (see <see cref="Audit.AuditChain"/>), atomically with reading the
    /// previous hash.</summary>
    Task<AuditRecord> AppendAuditAsync(AuditEntry entry, CancellationToken cancellationToken = default);

    /// <summary>Audit rows with sequence greater than <paramref name="afterSequence"/>, in order, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<AuditRecord>> ReadAuditAsync(long afterSequence, int limit, CancellationToken cancellationToken = default);
}

/// <summary>Opens stores for one URL scheme (<c>sqlite</c>, <c>postgres</c>). Implemented by the storage projects.</summary>
public interface ICaStoreProvider
{
    /// <summary>True when this provider handles <paramref name="spec"/> (e.g. starts with <c>sqlite:</c>).</summary>
    bool CanOpen(string spec);

    /// <summary>Opens the store and brings its schema up to date.</summary>
    /// <param name="spec">The storage specification.</param>
    /// <param name="baseDirectory">Directory relative paths are resolved against (the CA directory).</param>
    /// <param name="cancellationToken">Cancels opening and migration.</param>
    Task<ICaStore> OpenAsync(string spec, string baseDirectory, CancellationToken cancellationToken = default);
}

/// <summary>Chooses a storage provider by specification: <c>sqlite:PATH</c> or <c>postgres:CONNSTRING</c>.</summary>
/// <remarks>The composition root passes the providers (Certgate.Ca does not reference database drivers):
/// <c>new CaStoreFactory(new SqliteCaStoreProvider(), new PostgresCaStoreProvider())</c>.</remarks>
public sealed class CaStoreFactory(params ICaStoreProvider[] providers)
{
    /// <summary>Opens the store <paramref name="spec"/> names.</summary>
    /// <exception cref="ArgumentException">No provider handles the specification.</exception>
    public Task<ICaStore> OpenAsync(string spec, string baseDirectory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        foreach (ICaStoreProvider p in providers)
        {
            if (p.CanOpen(spec))
            {
                return p.OpenAsync(spec, baseDirectory, cancellationToken);
            }
        }
        throw new ArgumentException("database: expected sqlite:PATH or postgres:CONNSTRING", nameof(spec));
    }

    /// <summary>Opens the store synchronously (CLI convenience).</summary>
    public ICaStore Open(string spec, string baseDirectory = ".") => OpenAsync(spec, baseDirectory).GetAwaiter().GetResult();
}
