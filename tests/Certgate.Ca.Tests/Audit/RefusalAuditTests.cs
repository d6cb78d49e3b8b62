using System.Security.Cryptography;
using Certgate.Ca.Audit;
using Certgate.Ca.Issuance;
using Certgate.Ca.Settings;
using Certgate.Ca.Storage;
using Certgate.Ca.Tests.Fixtures;

namespace Certgate.Ca.Tests.Audit;

/// <summary>Refusals are audited once per address, reason and interval, then counted; the rows per interval are
/// capped; the hash chain stays valid; issued certificates are still audited one by one.</summary>
public sealed class RefusalAuditTests
{
    private static async Task<List<AuditEntry>> AuditAsync(TestAuthority t) =>
        [.. (await t.Store.ReadAuditAsync(0, 100_000)).Select(r => r.Entry)];

    [Fact]
    public async Task A_flood_from_one_address_writes_one_row_then_one_count_per_interval()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        for (int i = 0; i < 500; i++)
        {
            await t.Ca.Refusals.RecordAsync("198.51.100.9", AuditEvents.MessageRefused, $"tx{i}", "HTTP 400: garbage");
        }
        List<AuditEntry> during = await AuditAsync(t);
        AuditEntry first = Assert.Single(during);
        Assert.Equal(("scep:198.51.100.9", "message-refused", "refused", "tx0"), (first.Actor, first.Event, first.Outcome, first.TransactionId));

        t.Clock.Advance(TimeSpan.FromMinutes(1));
        await t.Ca.Refusals.FlushAsync();
        List<AuditEntry> after = await AuditAsync(t);
        Assert.Equal(2, after.Count);
        AuditEntry summary = after[1];
        Assert.Equal(RefusalAudit.SummaryEvent, summary.Event);
        Assert.StartsWith("499 further refusals (message-refused) from 198.51.100.9 between ", summary.Detail, StringComparison.Ordinal);
        Assert.True((await t.Ca.VerifyAuditChainAsync()).Valid);

        // The next interval starts again with a full row.
        await t.Ca.Refusals.RecordAsync("198.51.100.9", AuditEvents.MessageRefused, "tx-next", "HTTP 400: garbage");
        Assert.Equal("tx-next", (await AuditAsync(t))[^1].TransactionId);
        Assert.Equal(499, t.Ca.Refusals.Aggregated);
    }

    [Fact]
    public async Task Many_addresses_are_capped_per_interval_with_one_row_for_the_rest()
    {
        var settings = CaSettings.CreateDefault() with { Limits = new CaLimits { RefusalAudit = new RefusalAuditLimits { RowsPerInterval = 10 } } };
        await using TestAuthority t = await TestAuthority.CreateAsync(settings);
        for (int a = 0; a < 1000; a++)
        {
            for (int k = 0; k < 3; k++)
            {
                await t.Ca.Refusals.RecordAsync($"10.0.{a / 256}.{a % 256}", AuditEvents.RateLimited, null, "too many requests");
            }
        }
        Assert.Equal(5, (await AuditAsync(t)).Count); // RowsPerInterval / 2 pairs written in full

        // A later refusal (no timer needed) writes the ended interval's summaries first.
        t.Clock.Advance(TimeSpan.FromSeconds(61));
        await t.Ca.Refusals.RecordAsync("10.9.9.9", AuditEvents.RateLimited, null, "too many requests");
        List<AuditEntry> rows = await AuditAsync(t);
        Assert.Equal(5 + 5 + 1 + 1, rows.Count);
        Assert.Equal(5, rows.Count(r => r.Event == RefusalAudit.SummaryEvent && r.Detail!.StartsWith("2 further refusals (rate-limited)", StringComparison.Ordinal)));
        AuditEntry overflow = Assert.Single(rows, r => r.Event == RefusalAudit.OverflowEvent);
        Assert.Contains("2985 further refusals from more than 10 addresses", overflow.Detail, StringComparison.Ordinal);
        Assert.Contains("cap of 10 refusal rows per 60 s", overflow.Detail, StringComparison.Ordinal);
        Assert.Equal("10.9.9.9", rows[^1].Actor["scep:".Length..]);
        Assert.True((await t.Ca.VerifyAuditChainAsync()).Valid);
    }

    [Fact]
    public async Task Enrollment_refusals_are_aggregated_but_issuances_and_operator_actions_are_not()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        using ECDsa key = TestPki.NewEcKey();
        for (int i = 0; i < 20; i++)
        {
            byte[] csr = TestPki.Csr(key, $"CN=bad{i}", challenge: "not-a-challenge");
            EnrollmentResult r = await t.Ca.EnrollAsync(new EnrollmentRequest(csr, $"bad{i}", EnrollmentMessageType.PkcsReq, null, "203.0.113.5"));
            Assert.Equal(EnrollmentStatus.Failed, r.Status);
        }
        for (int i = 0; i < 3; i++)
        {
            using ECDsa good = TestPki.NewEcKey();
            Assert.Equal(EnrollmentStatus.Issued, (await t.EnrollWithChallengeAsync(good, $"CN=good{i}")).Status);
        }
        await t.Ca.Refusals.FlushAsync(all: true);
        List<AuditEntry> rows = await AuditAsync(t);
        Assert.Single(rows, r => r.Event == AuditEvents.ChallengeRefused);
        Assert.Single(rows, r => r.Event == AuditEvents.EnrollmentRefused);
        Assert.Equal(2, rows.Count(r => r.Event == RefusalAudit.SummaryEvent && r.Detail!.StartsWith("19 further refusals", StringComparison.Ordinal)));
        Assert.Equal(3, rows.Count(r => r.Event == AuditEvents.CertificateIssued));
        Assert.Equal(3, rows.Count(r => r.Event == AuditEvents.ChallengeCreated));
        Assert.True((await t.Ca.VerifyAuditChainAsync()).Valid);
    }
}
