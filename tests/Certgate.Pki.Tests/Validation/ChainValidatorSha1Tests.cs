using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Revocation;
using Certgate.Pki.Validation;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Pki.Tests.Validation;

/// <summary>
/// SHA-1 signatures on the peer's chain and on CRLs are refused with the reason and the remedy (issue #14 §2), and
/// accepted with the legacy switch (<see cref="ChainValidationPolicy.AllowSha1Signatures"/>). The trust anchor's own
/// signature is not judged: the anchor is trusted as configured.
/// </summary>
public sealed class ChainValidatorSha1Tests : IDisposable
{
    private readonly TestCa _root = TestCa.CreateRoot();

    public void Dispose() => _root.Dispose();

    private ChainValidationResult Validate(X509Certificate2 leaf, bool allowSha1, CertificateRevocationList? crl = null, TestCa? root = null) =>
        new ChainValidator(new FixedTime(TestCa.Now)).Validate(leaf, new ChainValidationPolicy
        {
            TrustAnchors = [(root ?? _root).Certificate],
            CrlSource = new CrlCollection([crl ?? (root ?? _root).Crl()]),
            RevocationMode = RevocationMode.Check,
            AllowSha1Signatures = allowSha1,
        });

    [Fact]
    public void A_certificate_signed_with_SHA1_is_refused_naming_it_and_the_switch()
    {
        X509Certificate2 leaf = _root.Issue("CN=gw-sha1, O=Certgate", new CertOptions { SignatureHash = HashAlgorithmName.SHA1 });
        Assert.Equal("1.2.840.113549.1.1.5", leaf.SignatureAlgorithm.Value);
        ChainValidationResult r = Validate(leaf, allowSha1: false);
        Assert.False(r.IsValid);
        Assert.Equal(ValidationFailureKind.Sha1Signature, r.Failure!.Kind);
        Assert.Equal("the certificate of CN=gw-sha1, O=Certgate is signed with SHA-1 (sha1WithRSAEncryption); set security pki allow-sha1-signatures to accept it",
            r.Failure.Message);
    }

    [Fact]
    public void A_certificate_signed_with_SHA1_is_accepted_with_the_legacy_switch()
    {
        X509Certificate2 leaf = _root.Issue("CN=gw-sha1, O=Certgate", new CertOptions { SignatureHash = HashAlgorithmName.SHA1 });
        ChainValidationResult r = Validate(leaf, allowSha1: true);
        Assert.True(r.IsValid, r.Failure?.Message);
    }

    [Fact]
    public void A_SHA1_intermediate_is_refused_too()
    {
        using TestCa inter = _root.CreateIntermediate("CN=Sha1 Intermediate, O=Certgate", new CertOptions { IsCa = true, SignatureHash = HashAlgorithmName.SHA1 });
        X509Certificate2 leaf = inter.Issue();
        ChainValidationResult r = new ChainValidator(new FixedTime(TestCa.Now)).Validate(leaf, new ChainValidationPolicy
        {
            TrustAnchors = [_root.Certificate],
            Intermediates = [inter.Certificate],
            RevocationMode = RevocationMode.Disabled,
        });
        Assert.Equal(ValidationFailureKind.Sha1Signature, r.Failure!.Kind);
        Assert.Contains("the certificate of CN=Sha1 Intermediate, O=Certgate is signed with SHA-1", r.Failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_self_signed_SHA1_trust_anchor_is_not_judged_by_its_own_signature()
    {
        using TestCa sha1Root = TestCa.CreateRoot("CN=Old Root, O=Certgate", new CertOptions { IsCa = true, SignatureHash = HashAlgorithmName.SHA1 });
        Assert.True(Validate(sha1Root.Issue(), allowSha1: false, root: sha1Root).IsValid);
    }

    [Fact]
    public void A_CRL_signed_with_SHA1_is_refused_and_accepted_with_the_switch()
    {
        X509Certificate2 leaf = _root.Issue();
        CertificateRevocationList crl = _root.Crl(hash: HashAlgorithmName.SHA1);
        ChainValidationResult r = Validate(leaf, allowSha1: false, crl: crl);
        Assert.Equal(ValidationFailureKind.Sha1Signature, r.Failure!.Kind);
        Assert.Contains("is signed with SHA-1 (sha1WithRSAEncryption); set security pki allow-sha1-signatures to accept it", r.Failure.Message, StringComparison.Ordinal);
        Assert.True(Validate(leaf, allowSha1: true, crl: crl).IsValid);
    }
}

/// <summary>A clock stopped at one instant.</summary>
file sealed class FixedTime(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
