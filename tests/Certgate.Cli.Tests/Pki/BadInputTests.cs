using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Cli.Tests.Pki;

/// <summary>
/// Every file-taking command refuses bad input — empty, truncated, wrong type, garbage PEM, a 100 MB file,
/// a wrong password — with one line naming the file, a non-zero exit, and the state directory exactly as it was.
/// </summary>
public sealed class BadInputTests : IDisposable
{
    private readonly PkiFixture _f = new();
    private readonly RSA _caKey = PkiFixture.LoadKey("ca-key.pem");
    private readonly RSA _localKey = PkiFixture.LoadKey("local-key.pem");

    public BadInputTests()
    {
        // A realistic state to protect: a CA profile, a CA certificate, a key pair, a CRL.
        _f.Configure("set security pki ca-profile golden ca-identity golden");
        using X509Certificate2 ca = PkiFixture.CaCertificate(_caKey);
        _f.Ok("--yes", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "golden", "filename", _f.WriteFile("ca.pem", ca.ExportCertificatePem()));
        _f.Ok("request", "security", "pki", "key-pair", "import", "certificate-id", "gw1", "filename", _f.WriteFile("key.pem", _localKey.ExportPkcs8PrivateKeyPem()));
        _f.Ok("request", "security", "pki", "crl", "load", "ca-profile", "golden", "filename", _f.WriteFile("ca.crl", PkiFixture.Crl(ca, _caKey, 5)));
        _f.Ok("clear", "security", "pki", "ca-certificate", "ca-profile", "golden");
        _f.Ok("--yes", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "golden", "filename", Path.Combine(_f.Work, "ca.pem"));
        _f.Ok("clear", "security", "pki", "crl", "ca-profile", "golden");
    }

    public void Dispose()
    {
        _f.Dispose();
        _caKey.Dispose();
        _localKey.Dispose();
    }

    public static TheoryData<string> Kinds => ["empty", "truncated", "wrong-type", "garbage-pem", "huge", "binary-garbage", "missing"];

    private string MakeFile(string kind, string realPem)
    {
        string path = Path.Combine(_f.Work, "bad-" + kind + "-" + Guid.NewGuid().ToString("N")[..6]);
        switch (kind)
        {
            case "empty":
                File.WriteAllBytes(path, []);
                break;
            case "truncated":
                File.WriteAllText(path, realPem[..(realPem.Length / 2)]);
                break;
            case "wrong-type":
                // A certificate request where a certificate/CRL/key is expected (and vice versa for keys).
                var req = new CertificateRequest("CN=wrong", _localKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
                File.WriteAllText(path, realPem.Contains("PRIVATE KEY", StringComparison.Ordinal)
                    ? PkiFixture.CaCertificate(_caKey).ExportCertificatePem()
                    : req.CreateSigningRequestPem());
                break;
            case "garbage-pem":
                File.WriteAllText(path, "-----BEGIN CERTIFICATE-----\nThis is not base64 at all!!\n-----END CERTIFICATE-----\n");
                break;
            case "huge":
                using (var s = new FileStream(path, FileMode.CreateNew))
                {
                    s.SetLength(100L * 1024 * 1024);
                }
                break;
            case "binary-garbage":
                File.WriteAllBytes(path, [0x30, 0x82, 0xFF, 0xFF, 0x01, 0x02, 0x03]);
                break;
            case "missing":
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
        return path;
    }

    private void AssertRefused(string file, params string[] args)
    {
        string before = _f.Snapshot();
        (int code, string output, string err) = _f.Run(args);
        Assert.NotEqual(0, code);
        Assert.Equal(before, _f.Snapshot());
        string[] lines = err.TrimEnd('\n').Split('\n');
        Assert.True(lines.Length == 1, $"expected one error line, got: {err}");
        Assert.StartsWith("error: request security pki", lines[0]);
        Assert.Contains(file, lines[0]);
        Assert.DoesNotContain("   at ", err + output);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void CaCertificateLoad(string kind)
    {
        _f.Ok("clear", "security", "pki", "ca-certificate", "all");
        string file = MakeFile(kind, PkiFixture.CaCertificate(_caKey).ExportCertificatePem());
        AssertRefused(file, "--yes", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "golden", "filename", file);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void LocalCertificateLoad(string kind)
    {
        using X509Certificate2 ca = PkiFixture.CaCertificate(_caKey);
        using X509Certificate2 local = PkiFixture.LocalCertificate(ca, _caKey, _localKey, [0x10, 0x01]);
        string file = MakeFile(kind, local.ExportCertificatePem());
        AssertRefused(file, "request", "security", "pki", "local-certificate", "load", "certificate-id", "gw1", "filename", file);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void CrlLoad(string kind)
    {
        using X509Certificate2 ca = PkiFixture.CaCertificate(_caKey);
        byte[] crl = PkiFixture.Crl(ca, _caKey, 9);
        string pem = "-----BEGIN X509 CRL-----\n" + Convert.ToBase64String(crl, Base64FormattingOptions.InsertLineBreaks) + "\n-----END X509 CRL-----\n";
        string file = MakeFile(kind, pem);
        AssertRefused(file, "request", "security", "pki", "crl", "load", "ca-profile", "golden", "filename", file);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void KeyPairImport(string kind)
    {
        string file = MakeFile(kind, _localKey.ExportPkcs8PrivateKeyPem());
        AssertRefused(file, "request", "security", "pki", "key-pair", "import", "certificate-id", "gw9", "filename", file);
    }

    [Fact]
    public void HugeKeyDerivationIterationCount_RefusedAtOnce_OneLine()
    {
        // A crafted key with millions of PBKDF2 iterations used to keep key-pair import busy for hours.
        byte[] der = _localKey.ExportEncryptedPkcs8PrivateKey("right-password",
            new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 65_536));
        int at = der.AsSpan().IndexOf(new byte[] { 0x02, 0x03, 0x01, 0x00, 0x00 });
        Assert.True(at >= 0);
        der[at + 2] = 0x7F;
        der[at + 3] = 0xFF;
        der[at + 4] = 0xFF;
        string file = _f.WriteFile("slow.der", der);
        AssertRefused(file, "request", "security", "pki", "key-pair", "import", "certificate-id", "gw9", "filename", file, "passphrase", "right-password");
        (_, _, string err) = _f.Run("request", "security", "pki", "key-pair", "import", "certificate-id", "gw9", "filename", file, "passphrase", "right-password");
        Assert.Contains("8,388,607 key-derivation iterations, above the limit of 2,000,000", err);
    }

    [Fact]
    public void WrongPassword_EncryptedKeyAndPkcs12()
    {
        string pem = _f.WriteFile("enc.pem", _localKey.ExportEncryptedPkcs8PrivateKeyPem("right-password",
            new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 10_000)));
        AssertRefused(pem, "request", "security", "pki", "key-pair", "import", "certificate-id", "gw9", "filename", pem, "passphrase", "wrong-password");
        (_, _, string err) = _f.Run("request", "security", "pki", "key-pair", "import", "certificate-id", "gw9", "filename", pem, "passphrase", "wrong-password");
        Assert.DoesNotContain("wrong-password", err);

        string p12 = Path.Combine(_f.Work, "gw1.p12");
        _f.Ok("request", "security", "pki", "key-pair", "export", "certificate-id", "gw1", "filename", p12, "type", "pkcs12", "passphrase", "right-password");
        AssertRefused(p12, "request", "security", "pki", "key-pair", "import", "certificate-id", "gw9", "filename", p12, "passphrase", "wrong-password");
    }

    [Fact]
    public void DamagedStoreFile_IsReportedNotThrown()
    {
        File.WriteAllText(Path.Combine(_f.State, "pki", "ca", "golden.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        (int code, _, string err) = _f.Run("show", "security", "pki", "ca-certificate");
        Assert.Equal(1, code);
        Assert.Contains("is damaged", err);
        Assert.DoesNotContain("   at ", err);
    }
}
