using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Audit;
using Certgate.Ca.Challenges;
using Certgate.Ca.Issuance;
using Certgate.Ca.Settings;
using Certgate.Ca.Storage;
using Certgate.Ca.Tests.Fixtures;
using Certgate.Pki.Revocation;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Ca.Tests.Issuance;

public sealed class AuthorityTests
{
    private static EnrollmentRequest Pkcs(byte[] csr, string txid, X509Certificate2? signer = null) =>
        new(csr, txid, EnrollmentMessageType.PkcsReq, signer, "192.0.2.7");

    private static async Task<List<string>> EventsAsync(TestAuthority t) =>
        (await t.Store.ReadAuditAsync(0, 1000)).Select(r => $"{r.Entry.Event}:{r.Entry.Outcome}").ToList();

    [Fact]
    public async Task One_time_challenge_issues_once_then_refuses()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        CreatedChallenge ch = await t.Ca.CreateChallengeAsync(TimeSpan.FromHours(1), null, "admin");
        Assert.Equal(ChallengeService.PasswordLength, ch.Password.Length);
        Assert.Matches("^[A-Z2-7]{20}$", ch.Password);
        using ECDsa k1 = TestPki.NewEcKey(), k2 = TestPki.NewEcKey();

        EnrollmentResult ok = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k1, challenge: ch.Password), "tx1"));
        Assert.Equal(EnrollmentStatus.Issued, ok.Status);
        Assert.NotNull(await t.Store.GetCertificateAsync(ok.Certificate!.SerialNumber));

        EnrollmentResult again = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k2, challenge: ch.Password), "tx2"));
        Assert.Equal(EnrollmentStatus.Failed, again.Status);
        Assert.Equal(EnrollmentFailInfo.BadRequest, again.FailInfo);
        Assert.Contains("already used", again.Message, StringComparison.Ordinal);

        // Only the hash is stored.
        ChallengeRecord stored = (await t.Store.FindChallengeAsync(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(ch.Password))))!;
        Assert.NotNull(stored.UsedAt);
        foreach (string file in new[] { t.DatabasePath, t.DatabasePath + "-wal" }.Where(File.Exists))
        {
            Assert.DoesNotContain(ch.Password, System.Text.Encoding.Latin1.GetString(await File.ReadAllBytesAsync(file)), StringComparison.Ordinal);
        }

        List<string> events = await EventsAsync(t);
        Assert.Contains("challenge-created:success", events);
        Assert.Contains("challenge-used:success", events);
        Assert.Contains("certificate-issued:success", events);
        Assert.Contains("challenge-refused:refused", events);
        Assert.Contains("enrollment-refused:refused", events);
        Assert.DoesNotContain((await t.Store.ReadAuditAsync(0, 1000)), r => (r.Entry.Detail ?? "").Contains(ch.Password, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Expired_unknown_and_missing_challenges_are_refused()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        CreatedChallenge ch = await t.Ca.CreateChallengeAsync(TimeSpan.FromMinutes(10), null, "admin");
        t.Clock.Advance(TimeSpan.FromMinutes(11));
        using ECDsa k = TestPki.NewEcKey();
        EnrollmentResult expired = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k, challenge: ch.Password), "tx1"));
        Assert.Equal(EnrollmentFailInfo.BadRequest, expired.FailInfo);
        Assert.Contains("expired", expired.Message, StringComparison.Ordinal);

        // Same length, one character different: refused as unknown.
        string wrong = (ch.Password[0] == 'A' ? "B" : "A") + ch.Password[1..];
        EnrollmentResult unknown = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k, challenge: wrong), "tx2"));
        Assert.Contains("not valid", unknown.Message, StringComparison.Ordinal);
        Assert.Null(await t.Ca.Challenges.FindAsync(wrong));

        EnrollmentResult none = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k), "tx3"));
        Assert.Equal(EnrollmentFailInfo.BadRequest, none.FailInfo);
        Assert.Contains("no challengePassword", none.Message, StringComparison.Ordinal);
        Assert.Empty(await t.Store.ListCertificatesAsync(0, 10));
    }

    [Fact]
    public async Task A_refused_request_does_not_burn_the_challenge()
    {
        var settings = CaSettings.CreateDefault() with
        {
            Profiles = new Dictionary<string, CertificateProfile> { ["default"] = new() { Name = "default", AllowedSans = SanTypes.Dns } },
        };
        await using TestAuthority t = await TestAuthority.CreateAsync(settings);
        CreatedChallenge ch = await t.Ca.CreateChallengeAsync(TimeSpan.FromHours(1), null, "admin");
        using ECDsa k = TestPki.NewEcKey();
        EnrollmentResult bad = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k, challenge: ch.Password, emails: ["x@example.net"]), "tx1"));
        Assert.Equal(EnrollmentStatus.Failed, bad.Status);
        EnrollmentResult good = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k, challenge: ch.Password, dns: ["gw.example.net"]), "tx2"));
        Assert.Equal(EnrollmentStatus.Issued, good.Status);
    }

    [Fact]
    public async Task Challenge_profile_selects_the_profile()
    {
        var settings = CaSettings.CreateDefault() with
        {
            Profiles = new Dictionary<string, CertificateProfile>
            {
                ["default"] = new() { Name = "default" },
                ["short"] = new() { Name = "short", ValidityDays = 7, ExtendedKeyUsages = [Oids.ClientAuth] },
            },
        };
        await using TestAuthority t = await TestAuthority.CreateAsync(settings);
        CreatedChallenge ch = await t.Ca.CreateChallengeAsync(TimeSpan.FromHours(1), "short", "admin");
        using ECDsa k = TestPki.NewEcKey();
        EnrollmentResult r = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k, challenge: ch.Password), "tx1"));
        Assert.Equal(t.Clock.GetUtcNow().AddDays(7), new DateTimeOffset(r.Certificate!.NotAfter.ToUniversalTime()));
        Assert.Equal("short", (await t.Store.GetCertificateAsync(r.Certificate.SerialNumber))!.Profile);
        await Assert.ThrowsAsync<ArgumentException>(() => t.Ca.CreateChallengeAsync(TimeSpan.FromHours(1), "nope", "admin"));
    }

    [Fact]
    public async Task Renewal_is_authorised_by_a_current_certificate_of_this_ca_both_ways()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        using ECDsa oldKey = TestPki.NewEcKey(), newKey = TestPki.NewEcKey(), newKey2 = TestPki.NewEcKey();
        X509Certificate2 old = (await t.EnrollWithChallengeAsync(oldKey)).Certificate!;
        X509Certificate2 signer = old.CopyWithPrivateKey(oldKey);

        // RFC 8894 RenewalReq, no challenge.
        EnrollmentResult renewed = await t.Ca.EnrollAsync(new EnrollmentRequest(TestPki.Csr(newKey), "r1", EnrollmentMessageType.RenewalReq, signer, "x"));
        Assert.Equal(EnrollmentStatus.Issued, renewed.Status);
        Assert.NotEqual(old.SerialNumber, renewed.Certificate!.SerialNumber);

        // Cisco: PKCSReq signed by the current certificate, no challenge (the renewed one: a certificate renews once,
        // issue #14).
        EnrollmentResult cisco = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(newKey2), "r2", renewed.Certificate.CopyWithPrivateKey(newKey)));
        Assert.Equal(EnrollmentStatus.Issued, cisco.Status);
        Assert.Contains((await t.Store.ReadAuditAsync(0, 100)), r => (r.Entry.Detail ?? "").Contains("renewal of " + old.SerialNumber, StringComparison.Ordinal));
        Assert.Contains((await t.Store.ReadAuditAsync(0, 100)), r => (r.Entry.Detail ?? "").Contains("renewal of " + renewed.Certificate.SerialNumber + " (PkcsReq)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Renewal_is_refused_for_foreign_revoked_expired_or_other_subject_certificates()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        using ECDsa oldKey = TestPki.NewEcKey(), newKey = TestPki.NewEcKey();
        X509Certificate2 old = (await t.EnrollWithChallengeAsync(oldKey)).Certificate!;

        // Another CA with the same name: not ours.
        using TestCa otherCa = TestPki.CreateAuthority(t.Clock.GetUtcNow());
        X509Certificate2 forged = otherCa.Issue("CN=gw1.example.net,O=Example", oldKey, new CertOptions
        {
            NotBefore = t.Clock.GetUtcNow().AddDays(-1),
            NotAfter = t.Clock.GetUtcNow().AddDays(10),
            Serial = old.GetSerialNumber().Reverse().ToArray(),
        });
        EnrollmentResult r = await t.Ca.EnrollAsync(new EnrollmentRequest(TestPki.Csr(newKey), "f1", EnrollmentMessageType.RenewalReq, forged, "x"));
        Assert.Equal(EnrollmentFailInfo.BadRequest, r.FailInfo);
        Assert.Contains("not signed by a certificate this CA issued", r.Message, StringComparison.Ordinal);
        // A Cisco-style PKCSReq with a foreign signer is an initial enrollment: needs a challenge.
        Assert.Contains("no challengePassword", (await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(newKey), "f2", forged))).Message, StringComparison.Ordinal);

        // Other subject.
        EnrollmentResult other = await t.Ca.EnrollAsync(new EnrollmentRequest(TestPki.Csr(newKey, subject: "CN=admin"), "s1", EnrollmentMessageType.RenewalReq, old, "x"));
        Assert.Contains("asks for subject", other.Message, StringComparison.Ordinal);

        // Expired.
        t.Clock.Advance(TimeSpan.FromDays(366));
        EnrollmentResult expired = await t.Ca.EnrollAsync(new EnrollmentRequest(TestPki.Csr(newKey), "e1", EnrollmentMessageType.RenewalReq, old, "x"));
        Assert.Equal(EnrollmentFailInfo.BadTime, expired.FailInfo);
        t.Clock.Advance(TimeSpan.FromDays(-366));

        // Revoked.
        Assert.Equal(RevokeOutcome.Revoked, await t.Ca.RevokeAsync(old.SerialNumber, CrlReason.keyCompromise, "admin"));
        EnrollmentResult revoked = await t.Ca.EnrollAsync(new EnrollmentRequest(TestPki.Csr(newKey), "v1", EnrollmentMessageType.RenewalReq, old, "x"));
        Assert.Contains("revoked", revoked.Message, StringComparison.Ordinal);
        Assert.Single(await t.Store.ListCertificatesAsync(0, 10));
    }

    [Fact]
    public async Task Manual_profile_queues_then_approve_issues_and_reject_fails()
    {
        var settings = CaSettings.CreateDefault() with
        {
            Profiles = new Dictionary<string, CertificateProfile> { ["default"] = new() { Name = "default", Approval = ApprovalMode.Manual } },
        };
        await using TestAuthority t = await TestAuthority.CreateAsync(settings);
        using ECDsa k1 = TestPki.NewEcKey(), k2 = TestPki.NewEcKey();
        Assert.Equal(EnrollmentStatus.Pending, (await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k1), "p1"))).Status);
        Assert.Equal(EnrollmentStatus.Pending, (await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k2), "p2"))).Status);
        Assert.Equal(["p1", "p2"], (await t.Ca.ListPendingAsync()).Select(r => r.TransactionId));
        Assert.Equal(EnrollmentStatus.Pending, (await t.Ca.PollAsync("p1")).Status);
        // A retransmission is answered the same way and does not queue twice.
        Assert.Equal(EnrollmentStatus.Pending, (await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k1), "p1"))).Status);

        EnrollmentResult approved = await t.Ca.ApproveAsync("p1", "admin");
        Assert.Equal(EnrollmentStatus.Issued, approved.Status);
        EnrollmentResult polled = await t.Ca.PollAsync("p1");
        Assert.Equal(approved.Certificate!.RawData, polled.Certificate!.RawData);
        await Assert.ThrowsAsync<CaOperationException>(() => t.Ca.ApproveAsync("p1", "admin"));

        await t.Ca.RejectAsync("p2", "admin", "unknown device");
        EnrollmentResult rejected = await t.Ca.PollAsync("p2");
        Assert.Equal(EnrollmentStatus.Failed, rejected.Status);
        Assert.Equal(EnrollmentFailInfo.BadRequest, rejected.FailInfo);
        Assert.Contains("unknown device", rejected.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<CaOperationException>(() => t.Ca.ApproveAsync("p2", "admin"));
        await Assert.ThrowsAsync<CaOperationException>(() => t.Ca.RejectAsync("nope", "admin", null));
        Assert.Equal(EnrollmentFailInfo.BadCertId, (await t.Ca.PollAsync("nope")).FailInfo);
        Assert.Empty(await t.Ca.ListPendingAsync());

        List<string> events = await EventsAsync(t);
        Assert.Equal(2, events.Count(e => e == "request-pending:pending"));
        Assert.Contains("request-approved:success", events);
        Assert.Contains("request-rejected:success", events);
    }

    [Fact]
    public async Task Concurrent_approvals_issue_once()
    {
        var settings = CaSettings.CreateDefault() with
        {
            Profiles = new Dictionary<string, CertificateProfile> { ["default"] = new() { Name = "default", Approval = ApprovalMode.Manual } },
        };
        await using TestAuthority t = await TestAuthority.CreateAsync(settings);
        using ECDsa k = TestPki.NewEcKey();
        await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k), "p1"));
        Task<EnrollmentResult>[] tasks = Enumerable.Range(0, 4).Select(_ => Task.Run(() => t.Ca.ApproveAsync("p1", "admin"))).ToArray();
        int ok = 0, refused = 0;
        foreach (Task<EnrollmentResult> task in tasks)
        {
            try { await task; ok++; }
            catch (CaOperationException) { refused++; }
        }
        Assert.Equal(1, ok);
        Assert.Equal(3, refused);
        Assert.Single(await t.Store.ListCertificatesAsync(0, 10));
    }

    [Fact]
    public async Task Duplicate_transaction_id_same_key_gets_the_same_certificate_other_key_is_refused()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        using ECDsa k1 = TestPki.NewEcKey(), k2 = TestPki.NewEcKey();
        EnrollmentResult first = await t.EnrollWithChallengeAsync(k1, txid: "dup");
        // Retransmission (same key, challenge already spent): the same certificate, no second issuance.
        EnrollmentResult again = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k1, challenge: "ALREADYSPENTXXXXXXXX"), "dup"));
        Assert.Equal(EnrollmentStatus.Issued, again.Status);
        Assert.Equal(first.Certificate!.SerialNumber, again.Certificate!.SerialNumber);
        EnrollmentResult other = await t.EnrollWithChallengeAsync(k2, txid: "dup");
        Assert.Equal(EnrollmentStatus.Failed, other.Status);
        Assert.Contains("different public key", other.Message, StringComparison.Ordinal);
        Assert.Single(await t.Store.ListCertificatesAsync(0, 10));
    }

    [Fact]
    public async Task Revocation_regenerates_the_crl_with_increasing_numbers()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        using ECDsa k = TestPki.NewEcKey();
        X509Certificate2 cert = (await t.EnrollWithChallengeAsync(k)).Certificate!;
        CrlRecord first = await t.Ca.GetCurrentCrlAsync("admin");
        Assert.Equal(1, first.Number);
        CertificateRevocationListBuilder.Load(first.Der, out var number1);
        Assert.Equal(1, (int)number1);

        Assert.Equal(RevokeOutcome.Revoked, await t.Ca.RevokeAsync(cert.SerialNumber.ToLowerInvariant(), CertificateAuthority.ParseReason("KEYCOMPROMISE"), "admin"));
        Assert.Equal(RevokeOutcome.AlreadyRevoked, await t.Ca.RevokeAsync(cert.SerialNumber, CrlReason.superseded, "admin"));
        Assert.Equal(RevokeOutcome.NotFound, await t.Ca.RevokeAsync("0102", CrlReason.superseded, "admin"));
        CrlRecord latest = (await t.Store.GetLatestCrlAsync())!;
        Assert.Equal(2, latest.Number);
        CertificateRevocationListBuilder.Load(latest.Der, out var number2);
        Assert.Equal(2, (int)number2);
        Assert.True(latest.NextUpdate - latest.ThisUpdate == t.Ca.Settings.Crl.Validity);
        // The CRL names the revoked serial.
        Assert.True(latest.Der.AsSpan().IndexOf(cert.GetSerialNumber().Reverse().ToArray()) > 0);
        // Not due yet → the same CRL; in the overlap window → a new one.
        Assert.Equal(2, (await t.Ca.GetCurrentCrlAsync("admin")).Number);
        t.Clock.Advance(t.Ca.Settings.Crl.Validity - t.Ca.Settings.Crl.Overlap);
        Assert.Equal(3, (await t.Ca.GetCurrentCrlAsync("admin")).Number);
        Assert.Throws<ArgumentException>(() => CertificateAuthority.ParseReason("bogus"));
        Assert.Equal("serial", Assert.Throws<ArgumentException>(() => CertificateAuthority.NormalizeSerial("xyz")).ParamName);
    }

    [Fact]
    public async Task Audit_chain_covers_every_operation_and_verifies()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        using ECDsa k = TestPki.NewEcKey();
        X509Certificate2 cert = (await t.EnrollWithChallengeAsync(k)).Certificate!;
        await t.Ca.RevokeAsync(cert.SerialNumber, CrlReason.cessationOfOperation, "admin");
        AuditVerification v = await t.Ca.VerifyAuditChainAsync();
        Assert.True(v.Valid, v.Problem);
        List<string> events = await EventsAsync(t);
        Assert.Equal(["challenge-created:success", "challenge-used:success", "certificate-issued:success", "certificate-revoked:success", "crl-issued:success"], events);
        AuditRecord issued = (await t.Store.ReadAuditAsync(0, 10))[2];
        Assert.Equal(cert.SerialNumber, issued.Entry.Serial);
        Assert.Equal("CN=gw1.example.net, O=Example", issued.Entry.Subject);
        Assert.Equal("scep:127.0.0.1", issued.Entry.Actor);
    }

    [Fact]
    public async Task GetCACaps_offers_sha1_and_des3_only_when_the_profile_allows()
    {
        var settings = CaSettings.CreateDefault() with
        {
            Profiles = new Dictionary<string, CertificateProfile>
            {
                ["default"] = new() { Name = "default" },
                ["legacy"] = new() { Name = "legacy", AllowSha1Des3 = true },
            },
        };
        await using TestAuthority t = await TestAuthority.CreateAsync(settings);
        IReadOnlyList<string> caps = t.Ca.GetCaCapabilities();
        Assert.Contains("SHA-256", caps);
        Assert.Contains("AES", caps);
        Assert.Contains("Renewal", caps);
        Assert.Contains("POSTPKIOperation", caps);
        Assert.DoesNotContain("SHA-1", caps);
        Assert.DoesNotContain("DES3", caps);
        Assert.Contains("DES3", t.Ca.GetCaCapabilities("legacy"));
        Assert.Single(t.Ca.GetCaCertificates());
    }

    [Fact]
    public async Task Eight_parallel_enrollments_get_distinct_serials()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        // Eight gateways (eight names: one name belongs to one key, issue #14).
        EnrollmentResult[] results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            using ECDsa k = TestPki.NewEcKey();
            return await t.EnrollWithChallengeAsync(k, $"CN=gw{i}.example.net,O=Example");
        })));
        Assert.All(results, r => Assert.Equal(EnrollmentStatus.Issued, r.Status));
        Assert.Equal(8, results.Select(r => r.Certificate!.SerialNumber).Distinct().Count());
        Assert.True((await t.Ca.VerifyAuditChainAsync()).Valid);
    }
}
