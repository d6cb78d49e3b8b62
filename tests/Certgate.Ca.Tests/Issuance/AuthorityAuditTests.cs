using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Challenges;
using Certgate.Ca.Issuance;
using Certgate.Ca.Storage;
using Certgate.Ca.Tests.Fixtures;
using Certgate.Pki.Revocation;

namespace Certgate.Ca.Tests.Issuance;

/// <summary>Refusals leave an audit trail; repeated transactionIDs get the same answer; Cisco-style renewal.</summary>
public sealed class AuthorityAuditTests
{
    private static EnrollmentRequest Pkcs(byte[] csr, string txid, X509Certificate2? signer = null) =>
        new(csr, txid, EnrollmentMessageType.PkcsReq, signer, "192.0.2.7");

    private static async Task<List<AuditEntry>> AuditAsync(TestAuthority t) =>
        [.. (await t.Store.ReadAuditAsync(0, 1000)).Select(r => r.Entry)];

    [Fact]
    public async Task Used_and_expired_challenges_are_badRequest_with_an_audit_entry_naming_the_challenge()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        CreatedChallenge used = await t.Ca.CreateChallengeAsync(TimeSpan.FromHours(1), null, "admin");
        CreatedChallenge expiring = await t.Ca.CreateChallengeAsync(TimeSpan.FromMinutes(10), null, "admin");
        using ECDsa k1 = TestPki.NewEcKey(), k2 = TestPki.NewEcKey(), k3 = TestPki.NewEcKey();
        Assert.Equal(EnrollmentStatus.Issued, (await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k1, challenge: used.Password), "first"))).Status);

        EnrollmentResult again = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k2, "CN=second", challenge: used.Password), "second"));
        Assert.Equal(EnrollmentStatus.Failed, again.Status);
        Assert.Equal(EnrollmentFailInfo.BadRequest, again.FailInfo);

        t.Clock.Advance(TimeSpan.FromMinutes(11));
        EnrollmentResult expired = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k3, "CN=third", challenge: expiring.Password), "third"));
        Assert.Equal(EnrollmentStatus.Failed, expired.Status);
        Assert.Equal(EnrollmentFailInfo.BadRequest, expired.FailInfo);

        List<AuditEntry> audit = await AuditAsync(t);
        AuditEntry spent = Assert.Single(audit, e => e.Event == "challenge-refused" && e.TransactionId == "second");
        Assert.Equal("refused", spent.Outcome);
        Assert.Equal("CN=second", spent.Subject);
        Assert.Equal("scep:192.0.2.7", spent.Actor);
        Assert.Equal($"the challenge password was already used (challenge {used.Id})", spent.Detail);
        AuditEntry late = Assert.Single(audit, e => e.Event == "challenge-refused" && e.TransactionId == "third");
        Assert.Equal($"the challenge password has expired (challenge {expiring.Id})", late.Detail);
        Assert.Equal(t.Clock.GetUtcNow(), late.Time);
        // The refusal as the client saw it, failInfo included.
        Assert.Contains(audit, e => e.Event == "enrollment-refused" && e.TransactionId == "third" && e.Detail!.StartsWith("BadRequest: ", StringComparison.Ordinal));
        Assert.DoesNotContain(audit, e => (e.Detail ?? "").Contains(used.Password, StringComparison.Ordinal) || (e.Detail ?? "").Contains(expiring.Password, StringComparison.Ordinal));
        Assert.True((await t.Ca.VerifyAuditChainAsync()).Valid);
        Assert.Single(await t.Store.ListCertificatesAsync(0, 10));
    }

    [Fact]
    public async Task Repeated_transaction_ids_get_the_same_answer_every_time()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        CreatedChallenge ch = await t.Ca.CreateChallengeAsync(TimeSpan.FromHours(1), null, "admin");
        using ECDsa k = TestPki.NewEcKey(), other = TestPki.NewEcKey(), late = TestPki.NewEcKey();
        byte[] csr = TestPki.Csr(k, challenge: ch.Password);
        EnrollmentResult first = await t.Ca.EnrollAsync(Pkcs(csr, "tx-issued"));
        Assert.Equal(EnrollmentStatus.Issued, first.Status);

        // RFC 8894 §3.2.1.1: a retransmission (same transactionID, same key) is the same transaction — the same
        // certificate, whether the client resends the PKCSReq or polls, and no second issuance.
        for (int i = 0; i < 3; i++)
        {
            EnrollmentResult resent = await t.Ca.EnrollAsync(Pkcs(csr, "tx-issued"));
            Assert.Equal(EnrollmentStatus.Issued, resent.Status);
            Assert.Equal(first.Certificate!.RawData, resent.Certificate!.RawData);
        }
        Assert.Equal(first.Certificate!.RawData, (await t.Ca.PollAsync("tx-issued")).Certificate!.RawData);

        // The same transactionID with another key is not a retransmission.
        EnrollmentResult hijack = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(other, challenge: ch.Password), "tx-issued"));
        Assert.Equal(EnrollmentFailInfo.BadRequest, hijack.FailInfo);
        Assert.Contains("different public key", hijack.Message, StringComparison.Ordinal);

        // A refused request resent unchanged is refused the same way, every time.
        byte[] spent = TestPki.Csr(late, "CN=late", challenge: ch.Password);
        EnrollmentResult refused1 = await t.Ca.EnrollAsync(Pkcs(spent, "tx-refused"));
        EnrollmentResult refused2 = await t.Ca.EnrollAsync(Pkcs(spent, "tx-refused"));
        Assert.Equal((EnrollmentStatus.Failed, EnrollmentFailInfo.BadRequest, refused1.Message), (refused2.Status, refused2.FailInfo!.Value, refused2.Message));
        Assert.Equal(EnrollmentFailInfo.BadCertId, (await t.Ca.PollAsync("tx-refused")).FailInfo);

        Assert.Single(await t.Store.ListCertificatesAsync(0, 10));
        Assert.Single(await AuditAsync(t), e => e.Event == "certificate-issued");
    }

    [Fact]
    public async Task Cisco_style_PKCSReq_signed_by_a_current_certificate_renews_and_is_refused_once_it_is_revoked()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        using ECDsa oldKey = TestPki.NewEcKey(), newKey = TestPki.NewEcKey(), thirdKey = TestPki.NewEcKey();
        X509Certificate2 old = (await t.EnrollWithChallengeAsync(oldKey)).Certificate!;
        X509Certificate2 signer = old.CopyWithPrivateKey(oldKey);

        // Cisco IOS re-enrolls with a PKCSReq (not RenewalReq) signed by its current certificate, no challenge.
        EnrollmentResult renewed = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(newKey), "cisco-1", signer));
        Assert.Equal(EnrollmentStatus.Issued, renewed.Status);
        Assert.Equal(old.SubjectName.Name, renewed.Certificate!.SubjectName.Name);
        Assert.Contains(await AuditAsync(t), e => e.Event == "certificate-issued" && e.TransactionId == "cisco-1"
            && e.Detail!.Contains($"renewal of {old.SerialNumber} (PkcsReq)", StringComparison.Ordinal));

        Assert.Equal(RevokeOutcome.Revoked, await t.Ca.RevokeAsync(old.SerialNumber, CrlReason.keyCompromise, "admin"));
        EnrollmentResult refused = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(thirdKey), "cisco-2", signer));
        Assert.Equal(EnrollmentStatus.Failed, refused.Status);
        Assert.Equal(EnrollmentFailInfo.BadRequest, refused.FailInfo);
        Assert.Contains($"certificate {old.SerialNumber}, which is revoked", refused.Message, StringComparison.Ordinal);
        Assert.Contains(await AuditAsync(t), e => e.Event == "enrollment-refused" && e.TransactionId == "cisco-2"
            && e.Detail!.Contains("revoked", StringComparison.Ordinal));
        Assert.Equal(2, (await t.Store.ListCertificatesAsync(0, 10)).Count);
    }
}
