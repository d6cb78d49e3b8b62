using System.Data.Common;
using Certgate.Ca.Audit;
using Certgate.Pki.Revocation;

namespace Certgate.Ca.Storage.Sql;

/// <summary>
/// The <see cref="ICaStore"/> implementation shared by the SQL backends, written against ADO.NET
/// (<see cref="System.Data.Common"/>) so that Certgate.Ca references no driver. The SQL is the common subset of
/// SQLite ≥ 3.35 and PostgreSQL ≥ 9.5 (<c>ON CONFLICT DO NOTHING</c>, <c>UPDATE … RETURNING</c>); a dialect supplies
/// connections, write transactions, column types and the migration lock.
/// </summary>
/// <remarks>
/// Concurrency: counters (CRL number, audit sequence + head hash) are advanced with <c>UPDATE … RETURNING</c> inside
/// the write transaction. In PostgreSQL that row lock serialises concurrent frontends until commit (READ COMMITTED
/// re-evaluates the row after the lock); in SQLite the write transaction is <c>BEGIN IMMEDIATE</c>, which holds the
/// database write lock. Challenge consumption and request transitions are single conditional UPDATEs
/// (compare-and-set), so exactly one concurrent caller sees one changed row.
/// </remarks>
public abstract class SqlCaStore : ICaStore
{
    /// <inheritdoc/>
    public abstract string Description { get; }

    /// <summary>Column type for 64-bit integers.</summary>
    protected abstract string Int64Type { get; }

    /// <summary>Column type for byte strings.</summary>
    protected abstract string BytesType { get; }

    /// <summary>Opens a connection ready for use (per-connection settings applied).</summary>
    protected abstract Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    /// <summary>Begins a transaction that writes (SQLite: BEGIN IMMEDIATE; PostgreSQL: READ COMMITTED).</summary>
    protected abstract Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>Serialises concurrent migrations inside <paramref name="transaction"/>.</summary>
    protected abstract Task LockForMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken);

    /// <summary>Dialect statements run once after the schema is created (e.g. SQLite's journal mode).</summary>
    protected virtual IEnumerable<string> AfterMigrationStatements => [];

    /// <inheritdoc/>
    public abstract ValueTask DisposeAsync();

    /// <summary>Schema versions, in order. Each is applied once, in a transaction, and recorded in <c>schema_version</c>.</summary>
    private IReadOnlyList<string[]> Migrations =>
    [
        [
            $"""
            CREATE TABLE certificates (
              serial TEXT PRIMARY KEY, subject TEXT NOT NULL, not_before {Int64Type} NOT NULL, not_after {Int64Type} NOT NULL,
              der {BytesType} NOT NULL, profile TEXT NOT NULL, pubkey_sha256 TEXT NOT NULL, transaction_id TEXT,
              issued_at {Int64Type} NOT NULL, revoked_at {Int64Type}, revocation_reason {Int64Type})
            """,
            "CREATE INDEX certificates_issued ON certificates (issued_at, serial)",
            "CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL",
            $"""
            CREATE TABLE challenges (
              hash {BytesType} PRIMARY KEY, id TEXT NOT NULL, profile TEXT, created_at {Int64Type} NOT NULL,
              expires_at {Int64Type} NOT NULL, used_at {Int64Type})
            """,
            $"""
            CREATE TABLE requests (
              transaction_id TEXT PRIMARY KEY, state TEXT NOT NULL, pubkey_sha256 TEXT NOT NULL, csr {BytesType} NOT NULL,
              subject TEXT NOT NULL, requester TEXT NOT NULL, profile TEXT NOT NULL, serial TEXT, fail_reason TEXT,
              created_at {Int64Type} NOT NULL, updated_at {Int64Type} NOT NULL)
            """,
            "CREATE INDEX requests_state ON requests (state, created_at)",
            $"CREATE TABLE crl_counter (id {Int64Type} PRIMARY KEY, last_number {Int64Type} NOT NULL)",
            "INSERT INTO crl_counter (id, last_number) VALUES (1, 0)",
            $"CREATE TABLE crls (number {Int64Type} PRIMARY KEY, this_update {Int64Type} NOT NULL, next_update {Int64Type} NOT NULL, der {BytesType} NOT NULL)",
            $"CREATE TABLE audit_head (id {Int64Type} PRIMARY KEY, seq {Int64Type} NOT NULL, hash {BytesType})",
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, NULL)",
            $"""
            CREATE TABLE audit (
              seq {Int64Type} PRIMARY KEY, time {Int64Type} NOT NULL, actor TEXT NOT NULL, event TEXT NOT NULL, outcome TEXT NOT NULL,
              subject TEXT, serial TEXT, transaction_id TEXT, detail TEXT, hash {BytesType} NOT NULL)
            """,
        ],
        // 2 (issue #14): names bound to a challenge; a renewed certificate's successor; the names each certificate
        // holds, so that a name held by one key is refused to another (filled from the stored certificates).
        [
            "ALTER TABLE challenges ADD COLUMN binding TEXT",
            "ALTER TABLE certificates ADD COLUMN successor TEXT",
            $"ALTER TABLE certificates ADD COLUMN superseded_at {Int64Type}",
            "CREATE TABLE certificate_names (kind TEXT NOT NULL, name TEXT NOT NULL, serial TEXT NOT NULL, PRIMARY KEY (kind, name, serial))",
            "CREATE INDEX certificates_superseded ON certificates (superseded_at) WHERE superseded_at IS NOT NULL",
        ],
    ];

    /// <summary>The schema version this code writes.</summary>
    public int SchemaVersion => Migrations.Count;

    /// <summary>Creates or upgrades the schema. Idempotent; safe when several processes start at once.</summary>
    public async Task MigrateAsync(CancellationToken cancellationToken = default)
    {
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (DbTransaction tx = await BeginWriteAsync(c, cancellationToken).ConfigureAwait(false))
        {
            await LockForMigrationAsync(c, tx, cancellationToken).ConfigureAwait(false);
            await ExecAsync(c, tx, $"CREATE TABLE IF NOT EXISTS schema_version (version {Int64Type} NOT NULL)", cancellationToken).ConfigureAwait(false);
            object? v = await ScalarAsync(c, tx, "SELECT MAX(version) FROM schema_version", cancellationToken).ConfigureAwait(false);
            long current = v is null or DBNull ? 0 : Convert.ToInt64(v, System.Globalization.CultureInfo.InvariantCulture);
            if (current > Migrations.Count)
            {
                throw new InvalidOperationException($"{Description}: the database schema is version {current}, newer than this Certgate ({Migrations.Count}); upgrade Certgate");
            }
            for (int i = (int)current; i < Migrations.Count; i++)
            {
                foreach (string sql in Migrations[i])
                {
                    await ExecAsync(c, tx, sql, cancellationToken).ConfigureAwait(false);
                }
                if (i == 1)
                {
                    await BackfillNamesAsync(c, tx, cancellationToken).ConfigureAwait(false);
                }
                await ExecAsync(c, tx, "INSERT INTO schema_version (version) VALUES (@v)", cancellationToken, ("@v", (long)(i + 1))).ConfigureAwait(false);
            }
            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        foreach (string sql in AfterMigrationStatements)
        {
            await ExecAsync(c, null, sql, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Schema 2: indexes the names of every certificate stored before it (a page at a time).</summary>
    private static async Task BackfillNamesAsync(DbConnection c, DbTransaction tx, CancellationToken ct)
    {
        const int page = 500;
        for (long offset = 0; ; offset += page)
        {
            List<(string Serial, byte[] Der)> rows = await QueryAsync(c, "SELECT serial, der FROM certificates ORDER BY serial LIMIT @l OFFSET @o",
                r => (r.GetString(0), Bytes(r, 1)), ct, tx, ("@l", (long)page), ("@o", offset)).ConfigureAwait(false);
            foreach ((string serial, byte[] der) in rows)
            {
                await InsertNamesAsync(c, tx, serial, Issuance.CertificateNames.Of(der), ct).ConfigureAwait(false);
            }
            if (rows.Count < page)
            {
                return;
            }
        }
    }

    private static async Task InsertNamesAsync(DbConnection c, DbTransaction tx, string serial, IReadOnlyList<HeldName> names, CancellationToken ct)
    {
        foreach (HeldName n in names)
        {
            await ExecAsync(c, tx, "INSERT INTO certificate_names (kind, name, serial) VALUES (@k, @n, @s) ON CONFLICT DO NOTHING", ct,
                ("@k", n.Kind), ("@n", n.Name), ("@s", serial)).ConfigureAwait(false);
        }
    }

    // ---- certificates ----

    private const string CertificateColumns = "serial, subject, not_before, not_after, der, profile, pubkey_sha256, transaction_id, issued_at, revoked_at, revocation_reason, successor, superseded_at";

    /// <inheritdoc/>
    public async Task<bool> TryInsertCertificateAsync(CertificateRecord certificate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        IReadOnlyList<HeldName> names = Issuance.CertificateNames.Of(certificate.Der);
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using DbTransaction tx = await BeginWriteAsync(c, cancellationToken).ConfigureAwait(false);
        int n = await ExecAsync(c, tx,
            $"INSERT INTO certificates ({CertificateColumns}) VALUES (@s, @subj, @nb, @na, @der, @p, @k, @t, @i, @ra, @rr, @su, @sa) ON CONFLICT DO NOTHING",
            cancellationToken,
            ("@s", certificate.Serial), ("@subj", certificate.Subject), ("@nb", Ms(certificate.NotBefore)), ("@na", Ms(certificate.NotAfter)),
            ("@der", certificate.Der), ("@p", certificate.Profile), ("@k", certificate.PublicKeySha256), ("@t", certificate.TransactionId),
            ("@i", Ms(certificate.IssuedAt)), ("@ra", certificate.RevokedAt is { } ra ? Ms(ra) : null),
            ("@rr", certificate.RevocationReason is { } rr ? (long)rr : null), ("@su", certificate.Successor),
            ("@sa", certificate.SupersededAt is { } sa ? Ms(sa) : null)).ConfigureAwait(false);
        if (n == 1)
        {
            // In the same transaction: a certificate is never stored without its names (the held-name check reads them).
            await InsertNamesAsync(c, tx, certificate.Serial, names, cancellationToken).ConfigureAwait(false);
        }
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return n == 1;
    }

    /// <inheritdoc/>
    public async Task<CertificateRecord?> GetCertificateAsync(string serial, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(serial);
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        List<CertificateRecord> rows = await QueryAsync(c, $"SELECT {CertificateColumns} FROM certificates WHERE serial = @s", ReadCertificate, cancellationToken, ("@s", serial)).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<CertificateRecord>> ListCertificatesAsync(int offset, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await QueryAsync(c, $"SELECT {CertificateColumns} FROM certificates ORDER BY issued_at, serial LIMIT @l OFFSET @o", ReadCertificate, cancellationToken, ("@l", (long)limit), ("@o", (long)offset)).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task<RevokeOutcome> RevokeAsync(string serial, CrlReason reason, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(serial);
        if (!Enum.IsDefined(reason))
        {
            throw new ArgumentOutOfRangeException(nameof(reason), reason, "not an RFC 5280 CRLReason");
        }
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        int n = await ExecAsync(c, null, "UPDATE certificates SET revoked_at = @t, revocation_reason = @r WHERE serial = @s AND revoked_at IS NULL",
            cancellationToken, ("@t", Ms(time)), ("@r", (long)reason), ("@s", serial)).ConfigureAwait(false);
        if (n == 1)
        {
            return RevokeOutcome.Revoked;
        }
        object? exists = await ScalarAsync(c, null, "SELECT 1 FROM certificates WHERE serial = @s", cancellationToken, ("@s", serial)).ConfigureAwait(false);
        return exists is null or DBNull ? RevokeOutcome.NotFound : RevokeOutcome.AlreadyRevoked;
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<CertificateRecord>> FindCurrentHoldersAsync(HeldName name, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        string columns = string.Join(", ", CertificateColumns.Split(", ").Select(col => "c." + col));
        return await QueryAsync(c,
            $"SELECT {columns} FROM certificate_names n JOIN certificates c ON c.serial = n.serial WHERE n.kind = @k AND n.name = @n AND c.revoked_at IS NULL AND c.not_after > @now ORDER BY c.issued_at, c.serial LIMIT 16",
            ReadCertificate, cancellationToken, ("@k", name.Kind), ("@n", name.Name), ("@now", Ms(now))).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task<bool> TryClaimSuccessionAsync(string serial, string marker, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(serial);
        ArgumentNullException.ThrowIfNull(marker);
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        int n = await ExecAsync(c, null, "UPDATE certificates SET successor = @m WHERE serial = @s AND (successor IS NULL OR successor = @m)",
            cancellationToken, ("@m", marker), ("@s", serial)).ConfigureAwait(false);
        return n == 1;
    }

    /// <inheritdoc/>
    public async Task CompleteSuccessionAsync(string serial, string marker, string? successor, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(serial);
        ArgumentNullException.ThrowIfNull(marker);
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await ExecAsync(c, null, "UPDATE certificates SET successor = @n, superseded_at = @t WHERE serial = @s AND successor = @m",
            cancellationToken, ("@n", successor), ("@t", successor is null ? null : Ms(time)), ("@s", serial), ("@m", marker)).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<CertificateRecord>> ListSupersededUnrevokedAsync(CancellationToken cancellationToken = default)
    {
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await QueryAsync(c, $"SELECT {CertificateColumns} FROM certificates WHERE superseded_at IS NOT NULL AND revoked_at IS NULL ORDER BY superseded_at, serial",
            ReadCertificate, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<RevokedEntry>> ListRevokedAsync(CancellationToken cancellationToken = default)
    {
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await QueryAsync(c, "SELECT serial, revoked_at, revocation_reason FROM certificates WHERE revoked_at IS NOT NULL ORDER BY revoked_at, serial",
            r => new RevokedEntry(Convert.FromHexString(r.GetString(0)), FromMs(L(r, 1)), (CrlReason)L(r, 2)), cancellationToken).ConfigureAwait(false);
    }

    // ---- challenges ----

    /// <inheritdoc/>
    public async Task InsertChallengeAsync(ChallengeRecord challenge, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(challenge);
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await ExecAsync(c, null, "INSERT INTO challenges (hash, id, profile, created_at, expires_at, used_at, binding) VALUES (@h, @id, @p, @c, @e, @u, @b)",
            cancellationToken, ("@h", challenge.PasswordHash), ("@id", challenge.Id), ("@p", challenge.Profile), ("@c", Ms(challenge.CreatedAt)),
            ("@e", Ms(challenge.ExpiresAt)), ("@u", challenge.UsedAt is { } u ? Ms(u) : null), ("@b", challenge.Binding)).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task<ChallengeRecord?> FindChallengeAsync(byte[] passwordHash, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(passwordHash);
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        List<ChallengeRecord> rows = await QueryAsync(c, "SELECT hash, id, profile, created_at, expires_at, used_at, binding FROM challenges WHERE hash = @h",
            r => new ChallengeRecord(r.GetString(1), Bytes(r, 0), NullableString(r, 2), FromMs(L(r, 3)), FromMs(L(r, 4)), r.IsDBNull(5) ? null : FromMs(L(r, 5)), NullableString(r, 6)),
            cancellationToken, ("@h", passwordHash)).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <inheritdoc/>
    public async Task<ChallengeStatus> ConsumeChallengeAsync(byte[] passwordHash, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(passwordHash);
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        // One conditional UPDATE: of concurrent consumers exactly one changes the row (compare-and-set).
        int n = await ExecAsync(c, null, "UPDATE challenges SET used_at = @now WHERE hash = @h AND used_at IS NULL AND expires_at > @now",
            cancellationToken, ("@now", Ms(now)), ("@h", passwordHash)).ConfigureAwait(false);
        if (n == 1)
        {
            return ChallengeStatus.Consumed;
        }
        List<bool> used = await QueryAsync(c, "SELECT used_at FROM challenges WHERE hash = @h", r => !r.IsDBNull(0), cancellationToken, ("@h", passwordHash)).ConfigureAwait(false);
        return used.Count == 0 ? ChallengeStatus.Unknown : used[0] ? ChallengeStatus.AlreadyUsed : ChallengeStatus.Expired;
    }

    // ---- requests ----

    private const string RequestColumns = "transaction_id, state, pubkey_sha256, csr, subject, requester, profile, serial, fail_reason, created_at, updated_at";

    /// <inheritdoc/>
    public async Task<bool> TryInsertRequestAsync(RequestRecord request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        int n = await ExecAsync(c, null,
            $"INSERT INTO requests ({RequestColumns}) VALUES (@t, @st, @k, @csr, @subj, @req, @p, @s, @f, @c, @u) ON CONFLICT DO NOTHING",
            cancellationToken, ("@t", request.TransactionId), ("@st", StateName(request.State)), ("@k", request.PublicKeySha256), ("@csr", request.Csr),
            ("@subj", request.Subject), ("@req", request.Requester), ("@p", request.Profile), ("@s", request.Serial), ("@f", request.FailReason),
            ("@c", Ms(request.CreatedAt)), ("@u", Ms(request.UpdatedAt))).ConfigureAwait(false);
        return n == 1;
    }

    /// <inheritdoc/>
    public async Task<RequestRecord?> GetRequestAsync(string transactionId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transactionId);
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        List<RequestRecord> rows = await QueryAsync(c, $"SELECT {RequestColumns} FROM requests WHERE transaction_id = @t", ReadRequest, cancellationToken, ("@t", transactionId)).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<RequestRecord>> ListRequestsAsync(RequestState? state, CancellationToken cancellationToken = default)
    {
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return state is { } s
            ? await QueryAsync(c, $"SELECT {RequestColumns} FROM requests WHERE state = @st ORDER BY created_at, transaction_id", ReadRequest, cancellationToken, ("@st", StateName(s))).ConfigureAwait(false)
            : await QueryAsync(c, $"SELECT {RequestColumns} FROM requests ORDER BY created_at, transaction_id", ReadRequest, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task<bool> TryTransitionRequestAsync(string transactionId, RequestState from, RequestState to, string? serial, string? failReason, DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transactionId);
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        int n = await ExecAsync(c, null,
            "UPDATE requests SET state = @to, serial = COALESCE(@s, serial), fail_reason = COALESCE(@f, fail_reason), updated_at = @u WHERE transaction_id = @t AND state = @from",
            cancellationToken, ("@to", StateName(to)), ("@s", serial), ("@f", failReason), ("@u", Ms(time)), ("@t", transactionId), ("@from", StateName(from))).ConfigureAwait(false);
        return n == 1;
    }

    // ---- CRLs ----

    /// <inheritdoc/>
    public async Task<CrlRecord> SaveNextCrlAsync(DateTimeOffset thisUpdate, DateTimeOffset nextUpdate, Func<long, byte[]> sign, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sign);
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using DbTransaction tx = await BeginWriteAsync(c, cancellationToken).ConfigureAwait(false);
        // The counter row is locked by this UPDATE until commit: the number, the signature and the stored CRL are
        // one unit, and numbers only grow (RFC 5280 §5.2.3: "a monotonically increasing sequence number").
        long number = Convert.ToInt64(await ScalarAsync(c, tx, "UPDATE crl_counter SET last_number = last_number + 1 WHERE id = 1 RETURNING last_number", cancellationToken).ConfigureAwait(false),
            System.Globalization.CultureInfo.InvariantCulture);
        byte[] der = sign(number);
        await ExecAsync(c, tx, "INSERT INTO crls (number, this_update, next_update, der) VALUES (@n, @t, @u, @d)", cancellationToken,
            ("@n", number), ("@t", Ms(thisUpdate)), ("@u", Ms(nextUpdate)), ("@d", der)).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new CrlRecord(number, Truncate(thisUpdate), Truncate(nextUpdate), der);
    }

    /// <inheritdoc/>
    public async Task<CrlRecord?> GetLatestCrlAsync(CancellationToken cancellationToken = default)
    {
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        List<CrlRecord> rows = await QueryAsync(c, "SELECT number, this_update, next_update, der FROM crls ORDER BY number DESC LIMIT 1",
            r => new CrlRecord(L(r, 0), FromMs(L(r, 1)), FromMs(L(r, 2)), Bytes(r, 3)), cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <inheritdoc/>
    public async Task<long?> GetLatestCrlNumberAsync(CancellationToken cancellationToken = default)
    {
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        List<long> rows = await QueryAsync(c, "SELECT number FROM crls ORDER BY number DESC LIMIT 1", r => L(r, 0), cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    // ---- audit ----

    /// <inheritdoc/>
    public async Task<AuditRecord> AppendAuditAsync(AuditEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        entry = entry with { Time = Truncate(entry.Time) };
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using DbTransaction tx = await BeginWriteAsync(c, cancellationToken).ConfigureAwait(false);
        // Locks the chain head until commit, so concurrent appenders (also in other processes) chain in order.
        var head = await QueryAsync(c, "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash",
            r => (Seq: L(r, 0), Hash: r.IsDBNull(1) ? null : Bytes(r, 1)), cancellationToken, tx).ConfigureAwait(false);
        long seq = head[0].Seq;
        byte[] hash = AuditChain.ComputeHash(head[0].Hash ?? AuditChain.Genesis.ToArray(), seq, entry);
        await ExecAsync(c, tx, "INSERT INTO audit (seq, time, actor, event, outcome, subject, serial, transaction_id, detail, hash) VALUES (@q, @t, @a, @e, @o, @s, @n, @x, @d, @h)",
            cancellationToken, ("@q", seq), ("@t", Ms(entry.Time)), ("@a", entry.Actor), ("@e", entry.Event), ("@o", entry.Outcome), ("@s", entry.Subject),
            ("@n", entry.Serial), ("@x", entry.TransactionId), ("@d", entry.Detail), ("@h", hash)).ConfigureAwait(false);
        await ExecAsync(c, tx, "UPDATE audit_head SET hash = @h WHERE id = 1", cancellationToken, ("@h", hash)).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new AuditRecord(seq, entry, hash);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<AuditRecord>> ReadAuditAsync(long afterSequence, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        await using DbConnection c = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await QueryAsync(c, "SELECT seq, time, actor, event, outcome, subject, serial, transaction_id, detail, hash FROM audit WHERE seq > @a ORDER BY seq LIMIT @l",
            r => new AuditRecord(L(r, 0),
                new AuditEntry(FromMs(L(r, 1)), r.GetString(2), r.GetString(3), r.GetString(4), NullableString(r, 5), NullableString(r, 6), NullableString(r, 7), NullableString(r, 8)),
                Bytes(r, 9)),
            cancellationToken, ("@a", afterSequence), ("@l", (long)limit)).ConfigureAwait(false);
    }

    // ---- helpers ----

    /// <summary>Runs a statement; returns the number of rows changed.</summary>
    protected static async Task<int> ExecAsync(DbConnection c, DbTransaction? tx, string sql, CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using DbCommand cmd = Command(c, tx, sql, parameters);
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Runs a query; returns the first column of the first row, or null.</summary>
    protected static async Task<object?> ScalarAsync(DbConnection c, DbTransaction? tx, string sql, CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using DbCommand cmd = Command(c, tx, sql, parameters);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
    }

    private static Task<List<T>> QueryAsync<T>(DbConnection c, string sql, Func<DbDataReader, T> read, CancellationToken ct, params (string Name, object? Value)[] parameters) =>
        QueryAsync(c, sql, read, ct, null, parameters);

    private static async Task<List<T>> QueryAsync<T>(DbConnection c, string sql, Func<DbDataReader, T> read, CancellationToken ct, DbTransaction? tx, params (string Name, object? Value)[] parameters)
    {
        await using DbCommand cmd = Command(c, tx, sql, parameters);
        await using DbDataReader r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var list = new List<T>();
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(read(r));
        }
        return list;
    }

    private static DbCommand Command(DbConnection c, DbTransaction? tx, string sql, (string Name, object? Value)[] parameters)
    {
        DbCommand cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach ((string name, object? value) in parameters)
        {
            DbParameter p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

    private static CertificateRecord ReadCertificate(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), FromMs(L(r, 2)), FromMs(L(r, 3)), Bytes(r, 4), r.GetString(5), r.GetString(6), NullableString(r, 7),
        FromMs(L(r, 8)), r.IsDBNull(9) ? null : FromMs(L(r, 9)), r.IsDBNull(10) ? null : (CrlReason)L(r, 10),
        NullableString(r, 11), r.IsDBNull(12) ? null : FromMs(L(r, 12)));

    private static RequestRecord ReadRequest(DbDataReader r) => new(
        r.GetString(0), ParseState(r.GetString(1)), r.GetString(2), Bytes(r, 3), r.GetString(4), r.GetString(5), r.GetString(6),
        NullableString(r, 7), NullableString(r, 8), FromMs(L(r, 9)), FromMs(L(r, 10)));

    private static string StateName(RequestState s) => s switch
    {
        RequestState.Pending => "pending",
        RequestState.Approving => "approving",
        RequestState.Issued => "issued",
        RequestState.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(s), s, null),
    };

    private static RequestState ParseState(string s) => s switch
    {
        "pending" => RequestState.Pending,
        "approving" => RequestState.Approving,
        "issued" => RequestState.Issued,
        "failed" => RequestState.Failed,
        _ => throw new InvalidDataException($"requests.state '{s}' is not a known state"),
    };

    private static long L(DbDataReader r, int i) => Convert.ToInt64(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);

    private static byte[] Bytes(DbDataReader r, int i) => (byte[])r.GetValue(i);

    private static string? NullableString(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    private static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private static DateTimeOffset Truncate(DateTimeOffset t) => FromMs(Ms(t));
}
