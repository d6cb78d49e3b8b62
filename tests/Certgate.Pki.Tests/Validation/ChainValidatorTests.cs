using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Revocation;
using Certgate.Tests.Shared.TestPki;
using Certgate.Pki.Validation;

namespace Certgate.Pki.Tests.Validation;

public sealed class ChainValidatorTests : IDisposable
{
    private static readonly DateTimeOffset Now = TestCa.Now;
    private readonly TestCa _root = TestCa.CreateRoot();

    public void Dispose() => _root.Dispose();

    private static ChainValidationResult Validate(X509Certificate2 leaf, TestCa root, IEnumerable<X509Certificate2>? intermediates = null,
        IEnumerable<CertificateRevocationList>? crls = null, RevocationMode mode = RevocationMode.Check, ICrlSource? source = null) =>
        new ChainValidator(new FixedTime(Now)).Validate(leaf, new ChainValidationPolicy
        {
            TrustAnchors = [root.Certificate],
            Intermediates = (intermediates ?? []).ToArray(),
            CrlSource = source ?? new CrlCollection(crls),
            RevocationMode = mode,
        });

    private static void AssertFails(ChainValidationResult r, ValidationFailureKind kind, string subjectContains, params string[] messageParts)
    {
        Assert.False(r.IsValid, "expected a failure but the chain validated");
        Assert.Equal(kind, r.Failure!.Kind);
        Assert.Contains(subjectContains, r.Failure.Subject);
        foreach (string part in messageParts)
        {
            Assert.Contains(part, r.Failure.Message);
        }
    }

    [Fact]
    public void Valid_leaf_with_crl_builds_the_chain()
    {
        X509Certificate2 leaf = _root.Issue();
        ChainValidationResult r = Validate(leaf, _root, crls: [_root.Crl()]);
        Assert.True(r.IsValid, r.ToString());
        Assert.Equal([leaf.Thumbprint, _root.Certificate.Thumbprint], r.Chain.Select(c => c.Thumbprint));
        Assert.Empty(r.Warnings);
    }

    [Fact]
    public void Valid_ecdsa_chain_through_an_intermediate()
    {
        using TestCa root = TestCa.CreateRoot("CN=EC Root", new CertOptions { Ecdsa = true });
        using TestCa inter = root.CreateIntermediate("CN=EC Inter", new CertOptions { Ecdsa = true });
        X509Certificate2 leaf = inter.Issue("CN=ec-leaf", new CertOptions { Ecdsa = true });
        ChainValidationResult r = Validate(leaf, root, [inter.Certificate], [root.Crl(), inter.Crl()]);
        Assert.True(r.IsValid, r.ToString());
        Assert.Equal(3, r.Chain.Count);
    }

    [Fact]
    public void Expired_leaf_names_the_date()
    {
        X509Certificate2 leaf = _root.Issue(options: new CertOptions { NotBefore = Now.AddYears(-1), NotAfter = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero) });
        AssertFails(Validate(leaf, _root, crls: [_root.Crl()]), ValidationFailureKind.Expired, "CN=gw1",
            "certificate 'CN=gw1, O=Certgate' expired at 2026-01-01 00:00 UTC");
    }

    [Fact]
    public void Not_yet_valid_leaf()
    {
        X509Certificate2 leaf = _root.Issue(options: new CertOptions { NotBefore = Now.AddDays(1) });
        AssertFails(Validate(leaf, _root, crls: [_root.Crl()]), ValidationFailureKind.NotYetValid, "CN=gw1", "is not valid before");
    }

    [Fact]
    public void Expired_root_fails_on_the_root()
    {
        using TestCa root = TestCa.CreateRoot("CN=Old Root", new CertOptions { NotBefore = Now.AddYears(-3), NotAfter = Now.AddDays(-1) });
        AssertFails(Validate(root.Issue(), root, crls: [root.Crl()]), ValidationFailureKind.Expired, "CN=Old Root");
    }

    [Fact]
    public void Corrupted_signature_is_a_bad_signature()
    {
        X509Certificate2 leaf = _root.Issue(options: new CertOptions { CorruptSignature = true });
        AssertFails(Validate(leaf, _root, crls: [_root.Crl()]), ValidationFailureKind.BadSignature, "CN=gw1", "does not verify with the key of 'CN=Test Root CA");
    }

    [Fact]
    public void Same_name_other_key_is_a_bad_signature()
    {
        using TestCa impostor = TestCa.CreateRoot(_root.Name);
        X509Certificate2 leaf = impostor.Issue(options: new CertOptions { OmitAuthorityKeyIdentifier = true });
        AssertFails(Validate(leaf, _root, crls: [_root.Crl()]), ValidationFailureKind.BadSignature, "CN=gw1");
    }

    [Fact]
    public void Unknown_issuer_is_issuer_not_found()
    {
        using TestCa other = TestCa.CreateRoot("CN=Other CA");
        AssertFails(Validate(other.Issue(), _root), ValidationFailureKind.IssuerNotFound, "CN=gw1", "'CN=Other CA'");
    }

    [Fact]
    public void Self_signed_untrusted_is_untrusted_root()
    {
        using TestCa other = TestCa.CreateRoot("CN=Self");
        AssertFails(Validate(other.Certificate, _root), ValidationFailureKind.UntrustedRoot, "CN=Self");
    }

    [Fact]
    public void Missing_intermediate_is_issuer_not_found_and_supplied_intermediate_works()
    {
        using TestCa inter = _root.CreateIntermediate();
        X509Certificate2 leaf = inter.Issue();
        AssertFails(Validate(leaf, _root), ValidationFailureKind.IssuerNotFound, "CN=gw1");
        Assert.True(Validate(leaf, _root, [inter.Certificate], [_root.Crl(), inter.Crl()]).IsValid);
    }

    [Fact]
    public void Issuer_without_keyCertSign()
    {
        using TestCa root = TestCa.CreateRoot("CN=No Sign", new CertOptions { KeyUsage = X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature });
        AssertFails(Validate(root.Issue(), root, crls: [root.Crl()]), ValidationFailureKind.MissingKeyCertSign, "CN=No Sign", "keyCertSign");
    }

    [Fact]
    public void Intermediate_that_is_not_a_ca()
    {
        using TestCa inter = _root.CreateIntermediate("CN=Not CA", new CertOptions { OmitBasicConstraints = true });
        AssertFails(Validate(inter.Issue(), _root, [inter.Certificate], [_root.Crl(), inter.Crl()]), ValidationFailureKind.NotACa, "CN=Not CA");
    }

    [Fact]
    public void Path_length_constraint_is_enforced()
    {
        using TestCa root = TestCa.CreateRoot("CN=PL Root", new CertOptions { PathLength = 0 });
        using TestCa inter = root.CreateIntermediate("CN=PL Inter");
        AssertFails(Validate(inter.Issue(), root, [inter.Certificate], [root.Crl(), inter.Crl()]),
            ValidationFailureKind.PathLengthExceeded, "CN=PL Root", "allows 0");
    }

    [Fact]
    public void Unknown_critical_extension_is_rejected()
    {
        X509Certificate2 leaf = _root.Issue(options: new CertOptions { ExtraExtensions = [new X509Extension("1.2.3.99", [0x05, 0x00], true)] });
        AssertFails(Validate(leaf, _root, crls: [_root.Crl()]), ValidationFailureKind.UnsupportedCriticalExtension, "CN=gw1", "1.2.3.99");
    }

    [Fact]
    public void Revoked_leaf_names_date_reason_crl_number_and_issuer()
    {
        X509Certificate2 leaf = _root.Issue();
        AssertFails(Validate(leaf, _root, crls: [_root.Crl([leaf], number: 7)]), ValidationFailureKind.Revoked, "CN=gw1",
            "certificate 'CN=gw1, O=Certgate' was revoked at 2026-05-31 12:00 UTC (keyCompromise) by CRL #7 of 'CN=Test Root CA, O=Certgate'");
    }

    [Fact]
    public void Revoked_intermediate_is_reported_on_the_intermediate()
    {
        using TestCa inter = _root.CreateIntermediate();
        AssertFails(Validate(inter.Issue(), _root, [inter.Certificate], [_root.Crl([inter.Certificate]), inter.Crl()]),
            ValidationFailureKind.Revoked, "CN=Test Intermediate CA");
    }

    [Fact]
    public void Expired_crl()
    {
        CertificateRevocationList crl = _root.Crl(thisUpdate: Now.AddDays(-10), nextUpdate: Now.AddDays(-3));
        AssertFails(Validate(_root.Issue(), _root, crls: [crl]), ValidationFailureKind.CrlExpired, "CN=gw1", "expired at");
    }

    [Fact]
    public void Expired_crl_is_a_warning_when_skipping_unavailable()
    {
        CertificateRevocationList crl = _root.Crl(thisUpdate: Now.AddDays(-10), nextUpdate: Now.AddDays(-3));
        ChainValidationResult r = Validate(_root.Issue(), _root, crls: [crl], mode: RevocationMode.SkipWhenUnavailable);
        Assert.True(r.IsValid);
        Assert.Contains(r.Warnings, w => w.Contains("expired", StringComparison.Ordinal));
    }

    [Fact]
    public void Crl_from_the_future_is_not_yet_valid()
    {
        AssertFails(Validate(_root.Issue(), _root, crls: [_root.Crl(thisUpdate: Now.AddDays(1), nextUpdate: Now.AddDays(8))]),
            ValidationFailureKind.CrlNotYetValid, "CN=gw1");
    }

    [Fact]
    public void Crl_with_bad_signature()
    {
        AssertFails(Validate(_root.Issue(), _root, crls: [_root.Crl(corruptSignature: true)]), ValidationFailureKind.CrlBadSignature, "CN=gw1", "#7");
    }

    [Fact]
    public void Crl_signed_by_another_key_with_the_same_name_is_rejected()
    {
        using TestCa other = TestCa.CreateRoot("CN=Forger");
        var source = new FixedSource(_root.Crl(signer: other));
        ChainValidationResult r = Validate(_root.Issue(), _root, source: source);
        Assert.False(r.IsValid);
        Assert.Contains(r.Failure!.Kind, new[] { ValidationFailureKind.CrlBadSignature, ValidationFailureKind.CrlIssuerMismatch });
    }

    [Fact]
    public void Crl_without_authorityKeyIdentifier_is_matched_by_issuer_name()
    {
        // Issue #13: a CA with a subjectKeyIdentifier and a CRL without authorityKeyIdentifier (openssl ca -gencrl's
        // default) was "no CRL loaded". RFC 5280 §6.3.3 (b) matches a complete CRL by issuer name.
        X509Certificate2 good = _root.Issue();
        X509Certificate2 revoked = _root.Issue(subject: "CN=gw2, O=Certgate");
        CertificateRevocationList crl = _root.Crl([revoked], omitAuthorityKeyIdentifier: true);
        Assert.Equal(CrlLookupStatus.Found, new CrlCollection([crl]).GetCrl(_root.Certificate).Status);
        ChainValidationResult r = Validate(good, _root, crls: [crl]);
        Assert.True(r.IsValid, r.ToString());
        AssertFails(Validate(revoked, _root, crls: [crl]), ValidationFailureKind.Revoked, "CN=gw2", "keyCompromise");
    }

    [Fact]
    public void Crl_of_another_ca_is_an_issuer_mismatch()
    {
        using TestCa other = TestCa.CreateRoot("CN=Other CA");
        AssertFails(Validate(_root.Issue(), _root, source: new FixedSource(other.Crl())), ValidationFailureKind.CrlIssuerMismatch, "CN=gw1", "CN=Other CA");
    }

    [Fact]
    public void Crl_issuer_without_crlSign()
    {
        using TestCa root = TestCa.CreateRoot("CN=No CRL Sign", new CertOptions { KeyUsage = X509KeyUsageFlags.KeyCertSign });
        AssertFails(Validate(root.Issue(), root, crls: [root.Crl()]), ValidationFailureKind.MissingCrlSign, "CN=gw1", "cRLSign");
    }

    [Fact]
    public void Missing_crl_fails_in_check_mode_warns_in_skip_mode_and_is_ignored_when_disabled()
    {
        X509Certificate2 leaf = _root.Issue();
        AssertFails(Validate(leaf, _root), ValidationFailureKind.CrlUnavailable, "CN=gw1", "no CRL is available");
        AssertFails(Validate(leaf, _root, source: new FixedSource(CrlLookup.DownloadFailed("http://ca/crl: connection refused"))),
            ValidationFailureKind.CrlUnavailable, "CN=gw1", "download failed", "connection refused");
        ChainValidationResult skip = Validate(leaf, _root, mode: RevocationMode.SkipWhenUnavailable);
        Assert.True(skip.IsValid);
        Assert.Single(skip.Warnings);
        ChainValidationResult off = Validate(leaf, _root, crls: [_root.Crl([leaf])], mode: RevocationMode.Disabled);
        Assert.True(off.IsValid);
    }

    [Fact]
    public void Revoked_is_still_revoked_when_skipping_unavailable()
    {
        X509Certificate2 leaf = _root.Issue();
        AssertFails(Validate(leaf, _root, crls: [_root.Crl([leaf])], mode: RevocationMode.SkipWhenUnavailable), ValidationFailureKind.Revoked, "CN=gw1");
    }

    [Fact]
    public void Time_comes_from_the_time_provider()
    {
        X509Certificate2 leaf = _root.Issue(options: new CertOptions { NotAfter = Now.AddDays(1) });
        var validator = new ChainValidator(new FixedTime(Now.AddDays(2)));
        ChainValidationResult r = validator.Validate(leaf, new ChainValidationPolicy { TrustAnchors = [_root.Certificate], RevocationMode = RevocationMode.Disabled });
        Assert.Equal(ValidationFailureKind.Expired, r.Failure!.Kind);
    }

    [Fact]
    public void Arguments_are_checked()
    {
        var v = new ChainValidator();
        Assert.Equal("certificate", Assert.Throws<ArgumentNullException>(() => v.Validate(null!, new ChainValidationPolicy { TrustAnchors = [_root.Certificate] })).ParamName);
        Assert.Equal("policy", Assert.Throws<ArgumentException>(() => v.Validate(_root.Certificate, new ChainValidationPolicy { TrustAnchors = [] })).ParamName);
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private sealed class FixedSource(CrlLookup lookup) : ICrlSource
    {
        public FixedSource(CertificateRevocationList crl) : this(CrlLookup.Found(crl))
        {
        }

        public CrlLookup GetCrl(X509Certificate2 issuer) => lookup;
    }
}
