using Certgate.Ca.Postgres;
using Certgate.Ca.Storage;
using Certgate.Ca.Tests.Fixtures;
using Certgate.Tests.Shared;

namespace Certgate.Ca.Tests.Storage;

/// <summary>The storage contract on a private PostgreSQL server; a fresh database per test.</summary>
public sealed class PostgresCaStoreTests(PostgresServerFixture server) : CaStoreContract, IClassFixture<PostgresServerFixture>
{
    private string? _connectionString;

    protected override async Task<ICaStore> CreateStoreAsync()
    {
        _connectionString = await server.CreateDatabaseAsync("ca");
        return await PostgresCaStore.OpenAsync(_connectionString);
    }

    protected override async Task<ICaStore> OpenSecondStoreAsync() => await PostgresCaStore.OpenAsync(_connectionString!);

    protected override async Task<ICaStore> OpenMigratedAsync(Func<string, string, string[]> statements)
    {
        string cs = await server.CreateDatabaseAsync("old");
        await using (var c = new Npgsql.NpgsqlConnection(cs))
        {
            await c.OpenAsync();
            foreach (string sql in statements("BIGINT", "BYTEA"))
            {
                await using var cmd = new Npgsql.NpgsqlCommand(sql, c);
                await cmd.ExecuteNonQueryAsync();
            }
        }
        return await PostgresCaStore.OpenAsync(cs);
    }

    [Fact]
    public async Task Factory_opens_postgres_specifications_and_hides_the_password()
    {
        var factory = new CaStoreFactory(new Certgate.Ca.Sqlite.SqliteCaStoreProvider(), new PostgresCaStoreProvider());
        await using ICaStore s = await factory.OpenAsync("postgres:" + _connectionString + ";Password=secret", "/");
        Assert.StartsWith("postgres:Host=127.0.0.1;Port=" + server.Port, s.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", s.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Concurrent_frontends_migrate_one_new_database_once()
    {
        string cs = await server.CreateDatabaseAsync("mig");
        PostgresCaStore[] stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => PostgresCaStore.OpenAsync(cs))));
        try
        {
            Assert.True(await stores[0].TryInsertCertificateAsync(new CertificateRecord("01", "CN=a", DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, [1], "p", "k", null, DateTimeOffset.UnixEpoch)));
            Assert.NotNull(await stores[3].GetCertificateAsync("01"));
        }
        finally
        {
            foreach (PostgresCaStore s in stores)
            {
                await s.DisposeAsync();
            }
        }
    }

    [Fact]
    public void Uri_connection_strings_are_accepted()
    {
        var b = PostgresCaStore.ParseConnectionString("postgres://ca:pw@127.0.0.1:6543/certgate");
        Assert.Equal("127.0.0.1", b.Host);
        Assert.Equal(6543, b.Port);
        Assert.Equal("certgate", b.Database);
        Assert.Equal("ca", b.Username);
        Assert.Equal("pw", b.Password);
    }
}
