using System.Security.Cryptography;
using Certgate.Ca.Audit;
using Certgate.Ca.Issuance;
using Certgate.Ca.Settings;
using Certgate.Ca.Storage;
using Certgate.Ca.Tests.Fixtures;

namespace Certgate.Ca.Tests.Issuance;

/// <summary>The manual-approval queue is capped in total, per address and per subject; a request over a cap is a
/// FAILURE (badRequest) with the reason, audited; nothing already queued is lost.</summary>
public sealed class PendingQueueCapTests
{
    private static CaSettings Manual(PendingLimits caps) => CaSettings.CreateDefault() with
    {
        Profiles = new Dictionary<string, CertificateProfile> { ["default"] = new() { Name = "default", Approval = ApprovalMode.Manual } },
        Limits = new CaLimits { Pending = caps },
    };

    private static async Task<EnrollmentResult> RequestAsync(TestAuthority t, string subject, string from, string? txid = null)
    {
        using ECDsa key = TestPki.NewEcKey();
        return await t.Ca.EnrollAsync(new EnrollmentRequest(TestPki.Csr(key, subject), txid ?? Guid.NewGuid().ToString("N"), EnrollmentMessageType.PkcsReq, null, from));
    }

    [Fact]
    public async Task Per_subject_cap_refuses_the_next_request_and_keeps_the_queued_one()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync(Manual(new PendingLimits { PerSubject = 1 }));
        Assert.Equal(EnrollmentStatus.Pending, (await RequestAsync(t, "CN=gw1", "192.0.2.1", "first")).Status);
        EnrollmentResult second = await RequestAsync(t, "CN=gw1", "192.0.2.1", "second");
        Assert.Equal((EnrollmentStatus.Failed, EnrollmentFailInfo.BadRequest), (second.Status, second.FailInfo!.Value));
        Assert.Equal("1 requests for subject 'CN=gw1' already wait for approval (limits.pending.perSubject is 1); approve or reject them first", second.Message);
        // The retransmission of the queued request is still answered PENDING, and another subject still queues.
        Assert.Equal(EnrollmentStatus.Pending, (await t.Ca.PollAsync("first")).Status);
        Assert.Equal(EnrollmentStatus.Pending, (await RequestAsync(t, "CN=gw2", "192.0.2.1")).Status);
        Assert.Equal(2, (await t.Ca.ListPendingAsync()).Count);
        AuditEntry full = Assert.Single((await t.Store.ReadAuditAsync(0, 100)).Select(r => r.Entry), e => e.Event == AuditEvents.PendingQueueFull);
        Assert.Equal(("scep:192.0.2.1", "second"), (full.Actor, full.TransactionId));
        // Once the operator decides, the subject may queue again.
        await t.Ca.RejectAsync("first", "admin", null);
        Assert.Equal(EnrollmentStatus.Pending, (await RequestAsync(t, "CN=gw1", "192.0.2.1", "third")).Status);
    }

    [Fact]
    public async Task Per_address_and_total_caps()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync(Manual(new PendingLimits { Total = 5, PerAddress = 3, PerSubject = 10 }));
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(EnrollmentStatus.Pending, (await RequestAsync(t, $"CN=a{i}", "192.0.2.1")).Status);
        }
        EnrollmentResult overAddress = await RequestAsync(t, "CN=a9", "192.0.2.1");
        Assert.Equal(EnrollmentStatus.Failed, overAddress.Status);
        Assert.Equal("3 requests from 192.0.2.1 already wait for approval (limits.pending.perAddress is 3)", overAddress.Message);
        Assert.Equal(EnrollmentStatus.Pending, (await RequestAsync(t, "CN=b0", "192.0.2.2")).Status);
        Assert.Equal(EnrollmentStatus.Pending, (await RequestAsync(t, "CN=c0", "192.0.2.3")).Status);
        EnrollmentResult overTotal = await RequestAsync(t, "CN=d0", "192.0.2.4");
        Assert.Equal(EnrollmentStatus.Failed, overTotal.Status);
        Assert.StartsWith("the approval queue is full (5 requests wait, limits.pending.total is 5)", overTotal.Message, StringComparison.Ordinal);
        Assert.Equal(5, (await t.Ca.ListPendingAsync()).Count);
        Assert.True((await t.Ca.VerifyAuditChainAsync()).Valid);
    }

    [Fact]
    public async Task Concurrent_requests_do_not_pass_the_total_cap_together()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync(Manual(new PendingLimits { Total = 4, PerAddress = 100, PerSubject = 100 }));
        EnrollmentResult[] results = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => RequestAsync(t, $"CN=r{i}", $"192.0.2.{i}"))));
        Assert.Equal(4, results.Count(r => r.Status == EnrollmentStatus.Pending));
        Assert.Equal(12, results.Count(r => r.Status == EnrollmentStatus.Failed));
        Assert.Equal(4, (await t.Ca.ListPendingAsync()).Count);
    }
}
