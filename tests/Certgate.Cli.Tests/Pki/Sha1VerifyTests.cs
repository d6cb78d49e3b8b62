using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Cli.Tests.Pki;

/// <summary>
/// <c>local-certificate verify</c> judges SHA-1 as the tunnels do (issue #14 §2): a certificate its CA signed with
/// SHA-1 is refused with the reason and the remedy, and verifies once <c>security pki allow-sha1-signatures</c> is
/// committed.
/// </summary>
public sealed class Sha1VerifyTests : IDisposable
{
    private readonly PkiFixture _f = new();
    private readonly TestCa _ca = TestCa.CreateRoot("CN=Legacy CA, O=Certgate", now: DateTimeOffset.UtcNow);

    public void Dispose()
    {
        _f.Dispose();
        _ca.Dispose();
    }

    [Fact]
    public void LocalCertificateSignedWithSha1_IsRefusedNamingTheSwitch_ThenVerifiesWithIt()
    {
        _f.Configure(
            "set security pki ca-profile legacy ca-identity legacy",
            "set security pki ca-profile legacy revocation-check disable");
        _f.Ok("--yes", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "legacy", "filename", _f.WriteFile("ca.pem", _ca.Certificate.ExportCertificatePem()));
        using X509Certificate2 local = _ca.IssueWithKey("CN=gw-sha1, O=Certgate", new CertOptions { SignatureHash = HashAlgorithmName.SHA1 });
        Assert.Equal("1.2.840.113549.1.1.5", local.SignatureAlgorithm.Value);
        using RSA key = local.GetRSAPrivateKey()!;
        _f.Ok("request", "security", "pki", "local-certificate", "load", "certificate-id", "gw1", "filename", _f.WriteFile("gw1.pem", local.ExportCertificatePem()),
            "key", _f.WriteFile("key.pem", key.ExportPkcs8PrivateKeyPem()));

        (int code, string output, string err) = _f.Run("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw1");
        Assert.True(code != 0, $"verify of a SHA-1 certificate succeeded:\n{output}");
        Assert.Contains("is signed with SHA-1 (sha1WithRSAEncryption); set security pki allow-sha1-signatures to accept it", err, StringComparison.Ordinal);

        _f.Configure("set security pki allow-sha1-signatures");
        _f.Ok("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw1");
    }
}
