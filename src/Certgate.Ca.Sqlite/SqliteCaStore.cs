using System.Data;
using System.Data.Common;
using Certgate.Ca.Storage;
using Certgate.Ca.Storage.Sql;
using Microsoft.Data.Sqlite;

namespace Certgate.Ca.Sqlite;

/// <summary>
/// The embedded SQLite store (the default, <c>DIR/ca.db</c>). WAL journal so readers never block the writer;
/// <c>synchronous=FULL</c> because a certificate handed to a client must survive SIGKILL and power loss;
/// write transactions are <c>BEGIN IMMEDIATE</c> and wait up to the busy timeout for another process.
/// </summary>
public sealed class SqliteCaStore : SqlCaStore
{
    private readonly string _connectionString;

    private SqliteCaStore(string path, TimeSpan busyTimeout)
    {
        Path = path;
        BusyTimeout = busyTimeout;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = (int)Math.Ceiling(busyTimeout.TotalSeconds),
        }.ToString();
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>How long a writer waits for another writer.</summary>
    public TimeSpan BusyTimeout { get; }

    /// <inheritdoc/>
    public override string Description => "sqlite:" + Path;

    protected override string Int64Type => "INTEGER";

    protected override string BytesType => "BLOB";

    protected override IEnumerable<string> AfterMigrationStatements => ["PRAGMA journal_mode=WAL"];

    /// <summary>Opens (creating when missing) the database at <paramref name="path"/> and migrates its schema.</summary>
    /// <exception cref="ArgumentException">Empty path.</exception>
    public static async Task<SqliteCaStore> OpenAsync(string path, TimeSpan? busyTimeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full) && !OperatingSystem.IsWindows())
        {
            // The database holds the CA's records and challenge hashes: owner-only, like the key. SQLite gives its
            // -wal and -shm files the database file's permissions.
            using var created = new FileStream(full, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        var store = new SqliteCaStore(full, busyTimeout ?? TimeSpan.FromSeconds(30));
        await store.MigrateAsync(cancellationToken).ConfigureAwait(false);
        return store;
    }

    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var c = new SqliteConnection(_connectionString);
        try
        {
            await c.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using SqliteCommand cmd = c.CreateCommand();
            // Per-connection settings: FULL fsyncs the WAL on every commit (NORMAL may lose the last commits on power loss).
            cmd.CommandText = $"PRAGMA busy_timeout={(long)BusyTimeout.TotalMilliseconds}; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON";
            await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return c;
        }
        catch
        {
            await c.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    protected override Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        // deferred: false → BEGIN IMMEDIATE: take the write lock now, not on the first write (no upgrade deadlocks).
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(IsolationLevel.Serializable, deferred: false));

    protected override Task LockForMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) =>
        Task.CompletedTask; // BEGIN IMMEDIATE already excludes other writers.

    /// <inheritdoc/>
    public override ValueTask DisposeAsync()
    {
        // Pooled connections keep the file open; release this database's so the file can be deleted.
        using (var c = new SqliteConnection(_connectionString))
        {
            SqliteConnection.ClearPool(c);
        }
        return ValueTask.CompletedTask;
    }
}

/// <summary>Opens <c>sqlite:PATH</c> specifications (PATH relative to the CA directory).</summary>
public sealed class SqliteCaStoreProvider : ICaStoreProvider
{
    /// <inheritdoc/>
    public bool CanOpen(string spec) => spec is not null && spec.StartsWith("sqlite:", StringComparison.Ordinal);

    /// <inheritdoc/>
    public async Task<ICaStore> OpenAsync(string spec, string baseDirectory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string path = spec["sqlite:".Length..];
        if (path.Length == 0)
        {
            throw new ArgumentException("sqlite: needs a file path (sqlite:ca.db)", nameof(spec));
        }
        return await SqliteCaStore.OpenAsync(Path.Combine(baseDirectory ?? ".", path), null, cancellationToken).ConfigureAwait(false);
    }
}
