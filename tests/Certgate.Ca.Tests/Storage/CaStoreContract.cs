using System.Security.Cryptography.X509Certificates;
using System.Security.Cryptography;
using Certgate.Ca.Audit;
using Certgate.Ca.Storage;
using Certgate.Pki.Revocation;

namespace Certgate.Ca.Tests.Storage;

/// <summary>
/// The storage contract every <see cref="ICaStore"/> must meet. Run against SQLite and PostgreSQL by the derived
/// classes. Concurrency tests use two store instances on one database, as two CA frontends would.
/// </summary>
public abstract class CaStoreContract : IAsyncLifetime
{
    protected static readonly DateTimeOffset T0 = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    protected ICaStore Store { get; private set; } = null!;

    /// <summary>Creates an empty database and opens a store on it.</summary>
    protected abstract Task<ICaStore> CreateStoreAsync();

    /// <summary>Opens a second store instance on the same database (another frontend).</summary>
    protected abstract Task<ICaStore> OpenSecondStoreAsync();

    /// <summary>Creates a database holding what <paramref name="statements"/> write (given the dialect's 64-bit integer
    /// and byte-string column types), then opens a store on it, which migrates it.</summary>
    protected abstract Task<ICaStore> OpenMigratedAsync(Func<string, string, string[]> statements);

    public async Task InitializeAsync() => Store = await CreateStoreAsync();

    public virtual async Task DisposeAsync() => await Store.DisposeAsync();

    private static CertificateRecord Cert(string serial, string subject = "CN=a", string? txid = null) =>
        new(serial, subject, T0, T0.AddDays(365), [0x30, 0x03, 0x02, 0x01, 0x01], "default", "AB", txid, T0);

    private static string NewSerial() => Convert.ToHexString(RandomNumberGenerator.GetBytes(16));

    [Fact]
    public async Task Certificate_round_trips_and_a_duplicate_serial_is_refused()
    {
        CertificateRecord c = Cert("7F01", "CN=gw1", "tx1");
        Assert.True(await Store.TryInsertCertificateAsync(c));
        Assert.False(await Store.TryInsertCertificateAsync(Cert("7F01", "CN=other")));
        CertificateRecord? got = await Store.GetCertificateAsync("7F01");
        Assert.NotNull(got);
        Assert.Equal("CN=gw1", got.Subject);
        Assert.Equal("tx1", got.TransactionId);
        Assert.Equal(c.NotAfter, got.NotAfter);
        Assert.Equal(c.Der, got.Der);
        Assert.False(got.IsRevoked);
        Assert.Null(await Store.GetCertificateAsync("7F02"));
        Assert.Single(await Store.ListCertificatesAsync(0, 10));
    }

    [Fact]
    public async Task Revocation_keeps_the_first_reason_and_lists_revoked()
    {
        await Store.TryInsertCertificateAsync(Cert("01"));
        await Store.TryInsertCertificateAsync(Cert("02"));
        Assert.Equal(RevokeOutcome.Revoked, await Store.RevokeAsync("01", CrlReason.keyCompromise, T0.AddHours(1)));
        Assert.Equal(RevokeOutcome.AlreadyRevoked, await Store.RevokeAsync("01", CrlReason.superseded, T0.AddHours(2)));
        Assert.Equal(RevokeOutcome.NotFound, await Store.RevokeAsync("03", CrlReason.unspecified, T0));
        RevokedEntry e = Assert.Single(await Store.ListRevokedAsync());
        Assert.Equal(("01", T0.AddHours(1), (CrlReason?)CrlReason.keyCompromise), (e.SerialNumberHex, e.RevocationDate, e.Reason));
        Assert.Equal(CrlReason.keyCompromise, (await Store.GetCertificateAsync("01"))!.RevocationReason);
    }

    [Fact]
    public async Task Challenge_is_consumed_once_and_expires()
    {
        byte[] h1 = SHA256.HashData("one"u8), h2 = SHA256.HashData("two"u8);
        await Store.InsertChallengeAsync(new ChallengeRecord("id1", h1, "ipsec", T0, T0.AddHours(1), null));
        await Store.InsertChallengeAsync(new ChallengeRecord("id2", h2, null, T0, T0.AddHours(1), null));
        ChallengeRecord? found = await Store.FindChallengeAsync(h1);
        Assert.Equal("ipsec", found!.Profile);
        Assert.Null(found.UsedAt);
        Assert.Equal(ChallengeStatus.Consumed, await Store.ConsumeChallengeAsync(h1, T0.AddMinutes(1)));
        Assert.Equal(ChallengeStatus.AlreadyUsed, await Store.ConsumeChallengeAsync(h1, T0.AddMinutes(2)));
        Assert.Equal(T0.AddMinutes(1), (await Store.FindChallengeAsync(h1))!.UsedAt);
        Assert.Equal(ChallengeStatus.Expired, await Store.ConsumeChallengeAsync(h2, T0.AddHours(1)));
        Assert.Equal(ChallengeStatus.Unknown, await Store.ConsumeChallengeAsync(SHA256.HashData("three"u8), T0));
    }

    [Fact]
    public async Task Requests_insert_once_and_transition_by_compare_and_set()
    {
        var r = new RequestRecord("tx1", RequestState.Pending, "KEY", [1, 2], "CN=a", "10.0.0.1", "default", null, null, T0, T0);
        Assert.True(await Store.TryInsertRequestAsync(r));
        Assert.False(await Store.TryInsertRequestAsync(r with { PublicKeySha256 = "OTHER" }));
        Assert.Single(await Store.ListRequestsAsync(RequestState.Pending));
        Assert.True(await Store.TryTransitionRequestAsync("tx1", RequestState.Pending, RequestState.Approving, null, null, T0.AddMinutes(1)));
        Assert.False(await Store.TryTransitionRequestAsync("tx1", RequestState.Pending, RequestState.Approving, null, null, T0.AddMinutes(1)));
        Assert.True(await Store.TryTransitionRequestAsync("tx1", RequestState.Approving, RequestState.Issued, "7F01", null, T0.AddMinutes(2)));
        RequestRecord got = (await Store.GetRequestAsync("tx1"))!;
        Assert.Equal(RequestState.Issued, got.State);
        Assert.Equal("7F01", got.Serial);
        Assert.Equal("KEY", got.PublicKeySha256);
        Assert.Equal(new byte[] { 1, 2 }, got.Csr);
        Assert.Equal(T0.AddMinutes(2), got.UpdatedAt);
        Assert.Empty(await Store.ListRequestsAsync(RequestState.Pending));
        Assert.Null(await Store.GetRequestAsync("nope"));
    }

    [Fact]
    public async Task Crl_numbers_increase_and_a_failed_signing_stores_nothing()
    {
        Assert.Null(await Store.GetLatestCrlAsync());
        Assert.Null(await Store.GetLatestCrlNumberAsync());
        CrlRecord a = await Store.SaveNextCrlAsync(T0, T0.AddDays(7), n => [(byte)n]);
        CrlRecord b = await Store.SaveNextCrlAsync(T0.AddHours(1), T0.AddDays(7), n => [(byte)n]);
        Assert.Equal(1, a.Number);
        Assert.Equal(2, b.Number);
        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.SaveNextCrlAsync(T0, T0, _ => throw new InvalidOperationException("signer down")));
        CrlRecord c = await Store.SaveNextCrlAsync(T0.AddHours(2), T0.AddDays(8), n => [(byte)n]);
        Assert.Equal(3, c.Number); // the failed attempt's number was rolled back with it
        CrlRecord latest = (await Store.GetLatestCrlAsync())!;
        Assert.Equal(3, latest.Number);
        Assert.Equal(3, await Store.GetLatestCrlNumberAsync());
        Assert.Equal(new byte[] { 3 }, latest.Der);
        Assert.Equal(T0.AddDays(8), latest.NextUpdate);
    }

    [Fact]
    public async Task Audit_rows_chain_and_verify()
    {
        for (int i = 0; i < 5; i++)
        {
            AuditRecord r = await Store.AppendAuditAsync(new AuditEntry(T0.AddSeconds(i), "admin", AuditEvents.CertificateIssued, "success", "CN=a", $"0{i}", "tx", i % 2 == 0 ? null : "detail"));
            Assert.Equal(i + 1, r.Sequence);
        }
        IReadOnlyList<AuditRecord> rows = await Store.ReadAuditAsync(0, 100);
        Assert.Equal(5, rows.Count);
        Assert.Null(rows[0].Entry.Detail);
        Assert.Equal("detail", rows[1].Entry.Detail);
        AuditVerification v = await AuditChain.VerifyAsync(Store);
        Assert.True(v.Valid, v.Problem);
        Assert.Equal(5, v.VerifiedRows);
        Assert.Equal(2, (await Store.ReadAuditAsync(3, 100)).Count);
    }

    [Fact]
    public async Task Opening_again_migrates_idempotently_and_sees_the_data()
    {
        await Store.TryInsertCertificateAsync(Cert("0A"));
        await using ICaStore second = await OpenSecondStoreAsync();
        Assert.NotNull(await second.GetCertificateAsync("0A"));
    }

    [Fact]
    public async Task Concurrent_inserts_of_one_serial_exactly_one_wins()
    {
        await using ICaStore second = await OpenSecondStoreAsync();
        bool[] results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => (i % 2 == 0 ? Store : second).TryInsertCertificateAsync(Cert("55AA", $"CN=c{i}")))));
        Assert.Equal(1, results.Count(r => r));
    }

    [Fact]
    public async Task Eight_parallel_issuers_never_duplicate_a_serial()
    {
        await using ICaStore second = await OpenSecondStoreAsync();
        const int perIssuer = 25;
        var serials = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            ICaStore s = i % 2 == 0 ? Store : second;
            for (int n = 0; n < perIssuer; n++)
            {
                string serial = NewSerial();
                if (await s.TryInsertCertificateAsync(Cert(serial)))
                {
                    serials.Add(serial);
                }
            }
        })));
        Assert.Equal(8 * perIssuer, serials.Count);
        Assert.Equal(8 * perIssuer, serials.Distinct().Count());
        Assert.Equal(8 * perIssuer, (await Store.ListCertificatesAsync(0, 1000)).Select(c => c.Serial).Distinct().Count());
    }

    [Fact]
    public async Task Concurrent_consumption_of_one_challenge_exactly_one_wins()
    {
        await using ICaStore second = await OpenSecondStoreAsync();
        byte[] h = SHA256.HashData("shared"u8);
        await Store.InsertChallengeAsync(new ChallengeRecord("id", h, null, T0, T0.AddHours(1), null));
        ChallengeStatus[] results = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => (i % 2 == 0 ? Store : second).ConsumeChallengeAsync(h, T0.AddMinutes(1)))));
        Assert.Equal(1, results.Count(r => r == ChallengeStatus.Consumed));
        Assert.Equal(15, results.Count(r => r == ChallengeStatus.AlreadyUsed));
    }

    [Fact]
    public async Task Crl_numbers_strictly_increase_under_concurrency()
    {
        await using ICaStore second = await OpenSecondStoreAsync();
        var perTask = new List<long>[8];
        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            var mine = new List<long>();
            ICaStore s = i % 2 == 0 ? Store : second;
            for (int n = 0; n < 5; n++)
            {
                CrlRecord crl = await s.SaveNextCrlAsync(T0, T0.AddDays(1), num => BitConverter.GetBytes(num));
                Assert.Equal(crl.Number, BitConverter.ToInt64(crl.Der));
                mine.Add(crl.Number);
            }
            perTask[i] = mine;
        })));
        long[] all = perTask.SelectMany(l => l).Order().ToArray();
        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), all);
        Assert.All(perTask, l => Assert.True(l.SequenceEqual(l.Order()) && l.Distinct().Count() == l.Count, "each frontend sees increasing numbers"));
        Assert.Equal(40, (await Store.GetLatestCrlAsync())!.Number);
    }

    [Fact]
    public async Task Concurrent_audit_appends_keep_the_chain_valid()
    {
        await using ICaStore second = await OpenSecondStoreAsync();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            for (int n = 0; n < 5; n++)
            {
                await (i % 2 == 0 ? Store : second).AppendAuditAsync(new AuditEntry(T0, $"frontend{i}", AuditEvents.CrlIssued, "success", Detail: n.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }
        })));
        AuditVerification v = await AuditChain.VerifyAsync(Store);
        Assert.True(v.Valid, v.Problem);
        Assert.Equal(40, v.VerifiedRows);
    }

    // ---- issue #14: held names, succession, challenge bindings, schema 2 ----

    private static byte[] RealCertificate(string subject, string[] dns, string[] ips)
    {
        using var ca = Certgate.Tests.Shared.TestPki.TestCa.CreateRoot("CN=Store CA");
        using X509Certificate2 c = ca.Issue(subject, new Certgate.Tests.Shared.TestPki.CertOptions
        {
            DnsNames = dns,
            IpAddresses = [.. ips.Select(System.Net.IPAddress.Parse)],
            NotBefore = T0.AddDays(-1),
            NotAfter = T0.AddDays(365),
        });
        return c.RawData;
    }

    [Fact]
    public async Task Names_of_an_inserted_certificate_are_found_while_it_is_current()
    {
        byte[] der = RealCertificate("CN=gw2.example.net,O=Example", ["gw2.example.net", "GW2-alt.example.net"], ["192.0.2.2"]);
        Assert.True(await Store.TryInsertCertificateAsync(Cert("A1") with { Der = der }));
        CertificateRecord holder = Assert.Single(await Store.FindCurrentHoldersAsync(new HeldName("name", "gw2.example.net"), T0));
        Assert.Equal("A1", holder.Serial);
        Assert.Single(await Store.FindCurrentHoldersAsync(new HeldName("name", "gw2-alt.example.net"), T0));
        Assert.Single(await Store.FindCurrentHoldersAsync(new HeldName("ip", "192.0.2.2"), T0));
        Assert.Empty(await Store.FindCurrentHoldersAsync(new HeldName("ip", "192.0.2.3"), T0));
        Assert.Empty(await Store.FindCurrentHoldersAsync(new HeldName("name", "gw2.example.net"), T0.AddDays(366)));
        await Store.RevokeAsync("A1", CrlReason.keyCompromise, T0);
        Assert.Empty(await Store.FindCurrentHoldersAsync(new HeldName("name", "gw2.example.net"), T0));
    }

    [Fact]
    public async Task Succession_is_claimed_once_completed_and_released()
    {
        await Store.TryInsertCertificateAsync(Cert("B1"));
        Assert.True(await Store.TryClaimSuccessionAsync("B1", "renewing:t1"));
        Assert.True(await Store.TryClaimSuccessionAsync("B1", "renewing:t1"));   // the same transaction again
        Assert.False(await Store.TryClaimSuccessionAsync("B1", "renewing:t2"));
        await Store.CompleteSuccessionAsync("B1", "renewing:t1", null, T0);       // refused: released
        Assert.Null((await Store.GetCertificateAsync("B1"))!.Successor);
        Assert.True(await Store.TryClaimSuccessionAsync("B1", "renewing:t2"));
        await Store.CompleteSuccessionAsync("B1", "renewing:t2", "B2", T0.AddHours(1));
        CertificateRecord b1 = (await Store.GetCertificateAsync("B1"))!;
        Assert.Equal(("B2", (DateTimeOffset?)T0.AddHours(1)), (b1.Successor, b1.SupersededAt));
        Assert.False(await Store.TryClaimSuccessionAsync("B1", "renewing:t3"));
        Assert.Equal("B1", Assert.Single(await Store.ListSupersededUnrevokedAsync()).Serial);
        await Store.RevokeAsync("B1", CrlReason.superseded, T0.AddDays(1));
        Assert.Empty(await Store.ListSupersededUnrevokedAsync());
    }

    [Fact]
    public async Task Challenge_binding_round_trips()
    {
        byte[] hash = RandomNumberGenerator.GetBytes(32);
        await Store.InsertChallengeAsync(new ChallengeRecord("AB", hash, null, T0, T0.AddHours(1), null, "{\"dns\":[\"gw1.example.net\"]}"));
        Assert.Equal("{\"dns\":[\"gw1.example.net\"]}", (await Store.FindChallengeAsync(hash))!.Binding);
    }

    [Fact]
    public async Task Schema_1_database_migrates_keeping_its_certificates_and_indexing_their_names()
    {
        byte[] der = RealCertificate("CN=old-gw.example.net,O=Example", ["old-gw.example.net"], ["192.0.2.9"]);
        await using ICaStore old = await OpenMigratedAsync((int64, bytes) =>
        [
            // What Certgate wrote before issue #14 (schema version 1), with one certificate and one challenge.
            $"CREATE TABLE certificates (serial TEXT PRIMARY KEY, subject TEXT NOT NULL, not_before {int64} NOT NULL, not_after {int64} NOT NULL, der {bytes} NOT NULL, profile TEXT NOT NULL, pubkey_sha256 TEXT NOT NULL, transaction_id TEXT, issued_at {int64} NOT NULL, revoked_at {int64}, revocation_reason {int64})",
            "CREATE INDEX certificates_issued ON certificates (issued_at, serial)",
            "CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL",
            $"CREATE TABLE challenges (hash {bytes} PRIMARY KEY, id TEXT NOT NULL, profile TEXT, created_at {int64} NOT NULL, expires_at {int64} NOT NULL, used_at {int64})",
            $"CREATE TABLE requests (transaction_id TEXT PRIMARY KEY, state TEXT NOT NULL, pubkey_sha256 TEXT NOT NULL, csr {bytes} NOT NULL, subject TEXT NOT NULL, requester TEXT NOT NULL, profile TEXT NOT NULL, serial TEXT, fail_reason TEXT, created_at {int64} NOT NULL, updated_at {int64} NOT NULL)",
            "CREATE INDEX requests_state ON requests (state, created_at)",
            $"CREATE TABLE crl_counter (id {int64} PRIMARY KEY, last_number {int64} NOT NULL)",
            "INSERT INTO crl_counter (id, last_number) VALUES (1, 0)",
            $"CREATE TABLE crls (number {int64} PRIMARY KEY, this_update {int64} NOT NULL, next_update {int64} NOT NULL, der {bytes} NOT NULL)",
            $"CREATE TABLE audit_head (id {int64} PRIMARY KEY, seq {int64} NOT NULL, hash {bytes})",
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, NULL)",
            $"CREATE TABLE audit (seq {int64} PRIMARY KEY, time {int64} NOT NULL, actor TEXT NOT NULL, event TEXT NOT NULL, outcome TEXT NOT NULL, subject TEXT, serial TEXT, transaction_id TEXT, detail TEXT, hash {bytes} NOT NULL)",
            $"CREATE TABLE schema_version (version {int64} NOT NULL)",
            "INSERT INTO schema_version (version) VALUES (1)",
            $"INSERT INTO certificates VALUES ('0C01', 'CN=old-gw.example.net, O=Example', {T0.AddDays(-1).ToUnixTimeMilliseconds()}, {T0.AddDays(365).ToUnixTimeMilliseconds()}, {Hex(der, bytes)}, 'default', 'AB', 'tx-old', {T0.ToUnixTimeMilliseconds()}, NULL, NULL)",
            $"INSERT INTO challenges VALUES ({Hex(new byte[32], bytes)}, '0000', NULL, {T0.ToUnixTimeMilliseconds()}, {T0.AddHours(1).ToUnixTimeMilliseconds()}, NULL)",
        ]);
        CertificateRecord kept = (await old.GetCertificateAsync("0C01"))!;
        Assert.Equal(der, kept.Der);
        Assert.Null(kept.Successor);
        Assert.Equal("0C01", Assert.Single(await old.FindCurrentHoldersAsync(new HeldName("name", "old-gw.example.net"), T0)).Serial);
        Assert.Single(await old.FindCurrentHoldersAsync(new HeldName("ip", "192.0.2.9"), T0));
        Assert.Null((await old.FindChallengeAsync(new byte[32]))!.Binding);
        Assert.True(await old.TryClaimSuccessionAsync("0C01", "renewing:x"));
    }

    private static string Hex(byte[] data, string bytesType) =>
        bytesType == "BLOB" ? $"X'{Convert.ToHexString(data)}'" : $"'\\x{Convert.ToHexString(data)}'::bytea";
}
