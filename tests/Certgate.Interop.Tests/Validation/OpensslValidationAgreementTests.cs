using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Interop.Tests.Tools;
using Certgate.Pki.Revocation;
using Certgate.Pki.Validation;

namespace Certgate.Interop.Tests.Validation;

/// <summary>
/// Our path validation and <c>openssl verify -crl_check</c> must agree on certificates and CRLs made by openssl,
/// and ours must name the check that failed.
/// </summary>
public sealed class OpensslValidationAgreementTests(OpensslPki pki) : IClassFixture<OpensslPki>
{
    private sealed record Verdict(bool OpensslOk, string OpensslOutput, ChainValidationResult Ours);

    private Verdict Verify(string leafPem, string[] caFiles, string[] crlFiles, string[]? untrusted = null, bool checkAll = false)
    {
        string caBundle = pki.File($"bundle-{Guid.NewGuid():N}.pem");
        File.WriteAllText(caBundle, string.Concat(caFiles.Select(File.ReadAllText)));
        var args = new List<string> { "verify", checkAll ? "-crl_check_all" : "-crl_check", "-CAfile", caBundle };
        foreach (string crl in crlFiles)
        {
            args.AddRange(["-CRLfile", crl]);
        }
        if (untrusted is not null)
        {
            string inter = pki.File($"untrusted-{Guid.NewGuid():N}.pem");
            File.WriteAllText(inter, string.Concat(untrusted.Select(File.ReadAllText)));
            args.AddRange(["-untrusted", inter]);
        }
        args.Add(leafPem);
        ExternalTool.Result openssl = ExternalTool.Run("openssl", args);

        var crls = new CrlCollection(crlFiles.Select(CertificateRevocationList.LoadFile));
        ChainValidationResult ours = new ChainValidator().Validate(Load(leafPem), new ChainValidationPolicy
        {
            TrustAnchors = caFiles.Select(Load).ToArray(),
            Intermediates = (untrusted ?? []).Select(Load).ToArray(),
            CrlSource = crls,
            RevocationMode = RevocationMode.Check,
        });
        return new Verdict(openssl.ExitCode == 0 && openssl.StdOut.Contains(": OK", StringComparison.Ordinal), openssl.Combined, ours);
    }

    private static X509Certificate2 Load(string pemPath) => X509CertificateLoader.LoadCertificateFromFile(pemPath);

    private static void BothReject(Verdict v, ValidationFailureKind kind, string opensslSays)
    {
        Assert.False(v.OpensslOk, $"openssl accepted it:\n{v.OpensslOutput}");
        Assert.Contains(opensslSays, v.OpensslOutput);
        Assert.False(v.Ours.IsValid, "Certgate accepted what openssl rejected: " + v.OpensslOutput);
        Assert.Equal(kind, v.Ours.Failure!.Kind);
    }

    [Fact]
    public void Valid()
    {
        string leaf = pki.Issue(pki.Root, "valid", "/O=Certgate/CN=gw-valid");
        Verdict v = Verify(leaf, [pki.Root.Certificate], [pki.GenerateCrl(pki.Root, "valid-crl.pem")]);
        Assert.True(v.OpensslOk, v.OpensslOutput);
        Assert.True(v.Ours.IsValid, v.Ours.ToString());
        Assert.Equal(2, v.Ours.Chain.Count);
    }

    [Fact]
    public void Expired()
    {
        string leaf = pki.Issue(pki.Root, "expired", "/O=Certgate/CN=gw-expired", startDate: "200101000000Z", endDate: "210101000000Z");
        Verdict v = Verify(leaf, [pki.Root.Certificate], [pki.GenerateCrl(pki.Root, "expired-crl.pem")]);
        BothReject(v, ValidationFailureKind.Expired, "certificate has expired");
        Assert.Equal("certificate 'CN=gw-expired, O=Certgate' expired at 2021-01-01 00:00 UTC", v.Ours.Failure!.Message);
    }

    [Fact]
    public void Not_yet_valid()
    {
        string leaf = pki.Issue(pki.Root, "future", "/O=Certgate/CN=gw-future", startDate: "490101000000Z", endDate: "491231000000Z");
        Verdict v = Verify(leaf, [pki.Root.Certificate], [pki.GenerateCrl(pki.Root, "future-crl.pem")]);
        BothReject(v, ValidationFailureKind.NotYetValid, "certificate is not yet valid");
        Assert.Contains("CN=gw-future", v.Ours.Failure!.Subject);
    }

    [Fact]
    public void Revoked()
    {
        string leaf = pki.Issue(pki.Root, "revoked", "/O=Certgate/CN=gw-revoked");
        pki.Revoke(pki.Root, leaf);
        string crl = pki.GenerateCrl(pki.Root, "revoked-crl.pem");
        Verdict v = Verify(leaf, [pki.Root.Certificate], [crl]);
        BothReject(v, ValidationFailureKind.Revoked, "certificate revoked");
        Assert.Contains("(keyCompromise) by CRL #", v.Ours.Failure!.Message);
        Assert.Contains("'CN=Interop Root CA, O=Certgate'", v.Ours.Failure.Message);
    }

    [Fact]
    public void Wrong_issuer()
    {
        string leaf = pki.Issue(pki.Other, "stranger", "/O=Certgate/CN=gw-stranger");
        Verdict v = Verify(leaf, [pki.Root.Certificate], [pki.GenerateCrl(pki.Root, "stranger-crl.pem")]);
        BothReject(v, ValidationFailureKind.IssuerNotFound, "unable to get local issuer certificate");
    }

    [Fact]
    public void Bad_signature()
    {
        string good = pki.Issue(pki.Root, "badsig", "/O=Certgate/CN=gw-badsig");
        string leaf = pki.CorruptSignature(good, "CERTIFICATE", "badsig-corrupt.pem");
        Verdict v = Verify(leaf, [pki.Root.Certificate], [pki.GenerateCrl(pki.Root, "badsig-crl.pem")]);
        BothReject(v, ValidationFailureKind.BadSignature, "certificate signature failure");
    }

    [Fact]
    public void Ca_without_keyCertSign()
    {
        string leaf = pki.Issue(pki.NoSign, "nosign", "/O=Certgate/CN=gw-nosign");
        Verdict v = Verify(leaf, [pki.NoSign.Certificate], [pki.GenerateCrl(pki.NoSign, "nosign-crl.pem")]);
        BothReject(v, ValidationFailureKind.MissingKeyCertSign, "key usage does not include certificate signing");
        Assert.Contains("NoSign", v.Ours.Failure!.Subject);
    }

    [Fact]
    public void Intermediate_chain()
    {
        string leaf = pki.Issue(pki.Intermediate, "chained", "/O=Certgate/CN=gw-chained");
        string[] crls = [pki.GenerateCrl(pki.Root, "chain-root-crl.pem"), pki.GenerateCrl(pki.Intermediate, "chain-inter-crl.pem")];
        Verdict v = Verify(leaf, [pki.Root.Certificate], crls, [pki.Intermediate.Certificate], checkAll: true);
        Assert.True(v.OpensslOk, v.OpensslOutput);
        Assert.True(v.Ours.IsValid, v.Ours.ToString());
        Assert.Equal(3, v.Ours.Chain.Count);
        Assert.Contains("Intermediate", v.Ours.Chain[1].Subject);

        // Without the intermediate, both fail to find the issuer.
        Verdict missing = Verify(leaf, [pki.Root.Certificate], crls, checkAll: true);
        BothReject(missing, ValidationFailureKind.IssuerNotFound, "unable to get local issuer certificate");
    }

    [Fact]
    public void Crl_expired()
    {
        string leaf = pki.Issue(pki.Root, "crlexp", "/O=Certgate/CN=gw-crlexp");
        string crl = pki.GenerateCrl(pki.Root, "expired-crl-2.pem", "20200101000000Z", "20200108000000Z");
        Verdict v = Verify(leaf, [pki.Root.Certificate], [crl]);
        BothReject(v, ValidationFailureKind.CrlExpired, "CRL has expired");
    }

    [Fact]
    public void Crl_bad_signature()
    {
        string leaf = pki.Issue(pki.Root, "crlsig", "/O=Certgate/CN=gw-crlsig");
        string crl = pki.CorruptSignature(pki.GenerateCrl(pki.Root, "crlsig-good.pem"), "X509 CRL", "crlsig-bad.pem");
        Verdict v = Verify(leaf, [pki.Root.Certificate], [crl]);
        BothReject(v, ValidationFailureKind.CrlBadSignature, "CRL signature failure");
    }
}
