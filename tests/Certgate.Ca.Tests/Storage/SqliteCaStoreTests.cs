using Certgate.Ca.Audit;
using Certgate.Ca.Sqlite;
using Certgate.Ca.Storage;
using Certgate.Ca.Tests.Fixtures;
using Microsoft.Data.Sqlite;

namespace Certgate.Ca.Tests.Storage;

/// <summary>The storage contract on SQLite (temporary file), plus SQLite specifics.</summary>
public sealed class SqliteCaStoreTests : CaStoreContract
{
    private readonly TempDirectory _dir = new();

    private string DbPath => _dir.File("ca.db");

    protected override async Task<ICaStore> CreateStoreAsync() => await SqliteCaStore.OpenAsync(DbPath);

    protected override async Task<ICaStore> OpenSecondStoreAsync() => await SqliteCaStore.OpenAsync(DbPath);

    protected override async Task<ICaStore> OpenMigratedAsync(Func<string, string, string[]> statements)
    {
        string path = _dir.File("old.db");
        await using (var c = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await c.OpenAsync();
            foreach (string sql in statements("INTEGER", "BLOB"))
            {
                await using SqliteCommand cmd = c.CreateCommand();
                cmd.CommandText = sql;
                await cmd.ExecuteNonQueryAsync();
            }
        }
        return await SqliteCaStore.OpenAsync(path);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _dir.Dispose();
    }

    private async Task<string> PragmaAsync(string pragma)
    {
        await using var c = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        await c.OpenAsync();
        await using SqliteCommand cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA " + pragma;
        return Convert.ToString(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture)!;
    }

    [Fact]
    public async Task Database_and_its_wal_files_are_owner_only()
    {
        await PragmaAsync("journal_mode");
        const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(DbPath));
        foreach (string side in new[] { DbPath + "-wal", DbPath + "-shm" }.Where(File.Exists))
        {
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(side) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | OwnerOnly));
        }
    }

    [Fact]
    public async Task Database_is_in_wal_mode_at_the_current_schema_version()
    {
        Assert.Equal("wal", await PragmaAsync("journal_mode"));
        await using var c = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        await c.OpenAsync();
        await using SqliteCommand cmd = c.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*), MAX(version) FROM schema_version";
        await using SqliteDataReader r = await cmd.ExecuteReaderAsync();
        Assert.True(await r.ReadAsync());
        // Opened once by the contract's setup: one row per migration (2: issue #14's names and bindings), none re-applied.
        Assert.Equal(((SqliteCaStore)Store).SchemaVersion, r.GetInt64(0));
        Assert.Equal(((SqliteCaStore)Store).SchemaVersion, r.GetInt64(1));
    }

    [Fact]
    public async Task Tampering_with_an_audit_row_is_detected()
    {
        for (int i = 0; i < 4; i++)
        {
            await Store.AppendAuditAsync(new AuditEntry(T0.AddSeconds(i), "admin", AuditEvents.CertificateRevoked, "success", Serial: $"0{i}"));
        }
        Assert.True((await AuditChain.VerifyAsync(Store)).Valid);
        await using (var c = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            await c.OpenAsync();
            await using SqliteCommand cmd = c.CreateCommand();
            cmd.CommandText = "UPDATE audit SET actor = 'mallory' WHERE seq = 2";
            await cmd.ExecuteNonQueryAsync();
        }
        AuditVerification v = await AuditChain.VerifyAsync(Store);
        Assert.False(v.Valid);
        Assert.Equal(2, v.FirstBadSequence);
        Assert.Equal(1, v.VerifiedRows);

        await using (var c = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            await c.OpenAsync();
            await using SqliteCommand cmd = c.CreateCommand();
            cmd.CommandText = "UPDATE audit SET actor = 'admin' WHERE seq = 2; DELETE FROM audit WHERE seq = 3";
            await cmd.ExecuteNonQueryAsync();
        }
        v = await AuditChain.VerifyAsync(Store);
        Assert.False(v.Valid);
        Assert.Equal(3, v.FirstBadSequence);
        Assert.Contains("missing", v.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Factory_opens_sqlite_relative_to_the_base_directory_and_refuses_unknown_schemes()
    {
        var factory = new CaStoreFactory(new SqliteCaStoreProvider(), new Certgate.Ca.Postgres.PostgresCaStoreProvider());
        await using (ICaStore s = await factory.OpenAsync("sqlite:other.db", _dir.Path))
        {
            Assert.Equal("sqlite:" + _dir.File("other.db"), s.Description);
        }
        Assert.True(File.Exists(_dir.File("other.db")));
        ArgumentException e = await Assert.ThrowsAsync<ArgumentException>(() => factory.OpenAsync("mysql:x", _dir.Path));
        Assert.Equal("spec", e.ParamName);
    }
}
