using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Interop.Tests.Tools;
using Certgate.Pki.Revocation;
using Certgate.Pki.Validation;

namespace Certgate.Interop.Tests.Validation;

/// <summary>Our CRL reader reads openssl's CRLs; openssl reads (and verifies) ours.</summary>
public sealed class OpensslCrlInteropTests(OpensslPki pki) : IClassFixture<OpensslPki>
{
    [Fact]
    public void Reader_reads_openssl_crl_fields_and_entries()
    {
        string a = pki.Issue(pki.Root, "crl-a", "/O=Certgate/CN=crl-a");
        string b = pki.Issue(pki.Root, "crl-b", "/O=Certgate/CN=crl-b");
        string c = pki.Issue(pki.Root, "crl-c", "/O=Certgate/CN=crl-c");
        pki.Revoke(pki.Root, a, "keyCompromise");
        pki.Revoke(pki.Root, b, "superseded");
        string crlPath = pki.GenerateCrl(pki.Root, "reader.pem");
        string text = ExternalTool.Check("openssl", "crl", "-in", crlPath, "-noout", "-text").StdOut;

        CertificateRevocationList crl = CertificateRevocationList.LoadFile(crlPath);
        using X509Certificate2 root = X509CertificateLoader.LoadCertificateFromFile(pki.Root.Certificate);
        Assert.True(crl.VerifySignature(root));
        Assert.Equal(root.SubjectName.RawData, crl.Issuer.RawData);
        Assert.NotNull(crl.CrlNumber);
        Assert.Contains($"X509v3 CRL Number: \n                {crl.CrlNumber}", text.Replace("\r", "", StringComparison.Ordinal));
        Assert.NotNull(crl.NextUpdate);
        Assert.NotNull(crl.AuthorityKeyIdentifier);
        Assert.Equal(X509SubjectKeyIdentifierExtensionBytes(root), crl.AuthorityKeyIdentifier!.Value.ToArray());

        Assert.True(crl.TryGetRevocation(Load(a), out RevokedEntry ea));
        Assert.Equal(CrlReason.keyCompromise, ea.Reason);
        Assert.True(crl.TryGetRevocation(Load(b), out RevokedEntry eb));
        Assert.Equal(CrlReason.superseded, eb.Reason);
        Assert.False(crl.TryGetRevocation(Load(c), out _));
        foreach (RevokedEntry e in crl)
        {
            Assert.Contains("Serial Number: " + e.SerialNumberHex, text);
        }
        // DER form too.
        string der = pki.File("reader.der");
        ExternalTool.Check("openssl", "crl", "-in", crlPath, "-outform", "DER", "-out", der);
        Assert.Equal(crl.Count, CertificateRevocationList.LoadFile(der).Count);
    }

    [Fact]
    public void Openssl_reads_and_verifies_our_crl_and_honours_it()
    {
        using X509Certificate2 root = X509CertificateLoader.LoadCertificateFromFile(pki.Root.Certificate);
        using RSA key = RSA.Create();
        key.ImportFromPem(File.ReadAllText(pki.Root.Key));
        string revokedPem = pki.Issue(pki.Root, "ours-revoked", "/O=Certgate/CN=ours-revoked");
        string goodPem = pki.Issue(pki.Root, "ours-good", "/O=Certgate/CN=ours-good");

        var builder = new CrlBuilder(root)
        {
            ThisUpdate = DateTimeOffset.UtcNow.AddMinutes(-5),
            NextUpdate = DateTimeOffset.UtcNow.AddDays(1),
            CrlNumber = new BigInteger(4242),
        };
        builder.AddEntry(Load(revokedPem).SerialNumberBytes.Span, DateTimeOffset.UtcNow.AddMinutes(-1), CrlReason.keyCompromise);
        builder.AddEntry([0x7F, 0x01], DateTimeOffset.UtcNow.AddMinutes(-1));
        builder.AddEntry([0xC0, 0xFF, 0xEE], DateTimeOffset.UtcNow.AddMinutes(-1), CrlReason.cessationOfOperation);
        string derPath = pki.File("ours.crl");
        File.WriteAllBytes(derPath, builder.Sign(key, HashAlgorithmName.SHA256));

        ExternalTool.Result r = ExternalTool.Check("openssl", "crl", "-inform", "DER", "-in", derPath, "-noout", "-text", "-CAfile", pki.Root.Certificate);
        Assert.Contains("verify OK", r.Combined);
        Assert.Contains("4242", r.StdOut);
        Assert.Contains("Key Compromise", r.StdOut);
        Assert.Contains("Cessation Of Operation", r.StdOut);
        Assert.Contains("Serial Number: C0FFEE", r.StdOut);
        Assert.Contains("Serial Number: 7F01", r.StdOut);

        string pemPath = pki.File("ours-crl.pem");
        ExternalTool.Check("openssl", "crl", "-inform", "DER", "-in", derPath, "-out", pemPath);
        ExternalTool.Result revoked = ExternalTool.Run("openssl", ["verify", "-crl_check", "-CAfile", pki.Root.Certificate, "-CRLfile", pemPath, revokedPem]);
        Assert.NotEqual(0, revoked.ExitCode);
        Assert.Contains("certificate revoked", revoked.Combined);
        ExternalTool.Result good = ExternalTool.Run("openssl", ["verify", "-crl_check", "-CAfile", pki.Root.Certificate, "-CRLfile", pemPath, goodPem]);
        Assert.True(good.ExitCode == 0, good.Combined);
    }

    [Fact]
    public void Openssl_verifies_our_ecdsa_and_pss_crls()
    {
        using X509Certificate2 rootCert = X509CertificateLoader.LoadCertificateFromFile(pki.Root.Certificate);
        using RSA key = RSA.Create();
        key.ImportFromPem(File.ReadAllText(pki.Root.Key));
        var pss = new CrlBuilder(rootCert) { ThisUpdate = DateTimeOffset.UtcNow, NextUpdate = DateTimeOffset.UtcNow.AddDays(1), CrlNumber = 1 };
        pss.AddEntry([0x01], DateTimeOffset.UtcNow);
        string pssPath = pki.File("ours-pss.crl");
        File.WriteAllBytes(pssPath, pss.Sign(key, HashAlgorithmName.SHA384, RSASignaturePadding.Pss));
        Assert.Contains("verify OK", ExternalTool.Check("openssl", "crl", "-inform", "DER", "-in", pssPath, "-noout", "-CAfile", pki.Root.Certificate).Combined);

        using X509Certificate2 inter = X509CertificateLoader.LoadCertificateFromFile(pki.Intermediate.Certificate);
        using ECDsa ec = ECDsa.Create();
        ec.ImportFromPem(File.ReadAllText(pki.Intermediate.Key));
        var ecb = new CrlBuilder(inter) { ThisUpdate = DateTimeOffset.UtcNow, NextUpdate = DateTimeOffset.UtcNow.AddDays(1), CrlNumber = 2 };
        ecb.AddEntry([0x02], DateTimeOffset.UtcNow, CrlReason.superseded);
        string ecPath = pki.File("ours-ec.crl");
        File.WriteAllBytes(ecPath, ecb.Sign(ec, HashAlgorithmName.SHA256));
        Assert.Contains("verify OK", ExternalTool.Check("openssl", "crl", "-inform", "DER", "-in", ecPath, "-noout", "-CAfile", pki.Intermediate.Certificate).Combined);
        Assert.True(CertificateRevocationList.LoadFile(ecPath).VerifySignature(inter));
    }

    private static X509Certificate2 Load(string pem) => X509CertificateLoader.LoadCertificateFromFile(pem);

    private static byte[] X509SubjectKeyIdentifierExtensionBytes(X509Certificate2 c)
    {
        X509Extension e = c.Extensions["2.5.29.14"]!;
        return new X509SubjectKeyIdentifierExtension(e, e.Critical).SubjectKeyIdentifierBytes.ToArray();
    }
}
