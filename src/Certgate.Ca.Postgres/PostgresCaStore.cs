using System.Data;
using System.Data.Common;
using Certgate.Ca.Storage;
using Certgate.Ca.Storage.Sql;
using Npgsql;

namespace Certgate.Ca.Postgres;

/// <summary>
/// The PostgreSQL store, for many CA frontends sharing one database. READ COMMITTED transactions; counters are
/// advanced with <c>UPDATE … RETURNING</c>, whose row lock orders concurrent frontends; migrations take a
/// transaction-scoped advisory lock so frontends starting together migrate once.
/// </summary>
public sealed class PostgresCaStore : SqlCaStore
{
    /// <summary>Advisory lock key for migrations ("CERT").</summary>
    private const long MigrationLockKey = 0x43455254;

    private readonly NpgsqlDataSource _dataSource;

    private PostgresCaStore(NpgsqlDataSource dataSource, string description)
    {
        _dataSource = dataSource;
        Description = description;
    }

    /// <inheritdoc/>
    public override string Description { get; }

    protected override string Int64Type => "BIGINT";

    protected override string BytesType => "BYTEA";

    /// <summary>Opens the database named by an Npgsql connection string or a <c>postgres://</c> URI and migrates it.</summary>
    /// <exception cref="ArgumentException">The connection string is malformed.</exception>
    public static async Task<PostgresCaStore> OpenAsync(string connectionStringOrUri, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionStringOrUri);
        NpgsqlConnectionStringBuilder b = ParseConnectionString(connectionStringOrUri);
        string description = $"postgres:Host={b.Host};Port={b.Port};Database={b.Database};Username={b.Username}";
        var store = new PostgresCaStore(NpgsqlDataSource.Create(b.ConnectionString), description);
        try
        {
            await store.MigrateAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return store;
    }

    /// <summary>Accepts <c>Host=…;Port=…</c> or <c>postgres[ql]://user[:password]@host[:port]/database</c>.</summary>
    public static NpgsqlConnectionStringBuilder ParseConnectionString(string s)
    {
        if (s.StartsWith("postgres://", StringComparison.Ordinal) || s.StartsWith("postgresql://", StringComparison.Ordinal))
        {
            var uri = new Uri(s);
            var b = new NpgsqlConnectionStringBuilder
            {
                Host = uri.Host,
                Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
                Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')),
            };
            if (uri.UserInfo.Length > 0)
            {
                string[] parts = uri.UserInfo.Split(':', 2);
                b.Username = Uri.UnescapeDataString(parts[0]);
                if (parts.Length == 2)
                {
                    b.Password = Uri.UnescapeDataString(parts[1]);
                }
            }
            return b;
        }
        try
        {
            return new NpgsqlConnectionStringBuilder(s);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            // Npgsql's message may quote the string, password included: do not pass it on.
            throw new ArgumentException("postgres: malformed connection string (expected Host=…;Port=…;Username=…;Database=… or postgres://user@host:port/db)", nameof(s));
        }
    }

    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    protected override async Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await ((NpgsqlConnection)connection).BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);

    protected override async Task LockForMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) =>
        await ExecAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({MigrationLockKey})", cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}

/// <summary>Opens <c>postgres:CONNSTRING</c> and <c>postgres://…</c> specifications.</summary>
public sealed class PostgresCaStoreProvider : ICaStoreProvider
{
    /// <inheritdoc/>
    public bool CanOpen(string spec) => spec is not null && (spec.StartsWith("postgres:", StringComparison.Ordinal) || spec.StartsWith("postgresql://", StringComparison.Ordinal));

    /// <inheritdoc/>
    public async Task<ICaStore> OpenAsync(string spec, string baseDirectory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string cs = spec.StartsWith("postgres://", StringComparison.Ordinal) || spec.StartsWith("postgresql://", StringComparison.Ordinal) ? spec : spec["postgres:".Length..];
        return await PostgresCaStore.OpenAsync(cs, cancellationToken).ConfigureAwait(false);
    }
}
