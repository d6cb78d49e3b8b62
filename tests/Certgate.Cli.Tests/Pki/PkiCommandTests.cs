using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Cli.Tests.Pki;

/// <summary>The offline <c>request/show/clear security pki</c> commands through <see cref="CertgateCli.Run"/>.</summary>
public sealed class PkiCommandTests : IDisposable
{
    private readonly PkiFixture _f = new();
    private readonly RSA _caKey = PkiFixture.LoadKey("ca-key.pem");
    private readonly RSA _localKey = PkiFixture.LoadKey("local-key.pem");
    private readonly X509Certificate2 _ca;

    public PkiCommandTests()
    {
        _ca = PkiFixture.CaCertificate(_caKey);
    }

    public void Dispose()
    {
        _f.Dispose();
        _caKey.Dispose();
        _localKey.Dispose();
        _ca.Dispose();
    }

    private void ConfigureProfile(string extra = "") => _f.Configure(
        "set security pki ca-profile golden ca-identity golden",
        "set security pki ca-profile golden enrollment url http://127.0.0.1:8080/scep",
        extra);

    /// <summary>CA certificate, fixture key pair, local certificate (serial 0x1001), CRL revoking 0x2002.</summary>
    private void LoadEverything()
    {
        ConfigureProfile();
        _f.Ok("--yes", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "golden",
            "filename", _f.WriteFile("ca.pem", _ca.ExportCertificatePem()));
        _f.Ok("request", "security", "pki", "key-pair", "import", "certificate-id", "gw1",
            "filename", _f.WriteFile("key.pem", _localKey.ExportPkcs8PrivateKeyPem()));
        using X509Certificate2 local = PkiFixture.LocalCertificate(_ca, _caKey, _localKey, [0x10, 0x01]);
        _f.Ok("request", "security", "pki", "local-certificate", "load", "certificate-id", "gw1",
            "filename", _f.WriteFile("gw1.pem", local.ExportCertificatePem()));
        _f.Ok("request", "security", "pki", "crl", "load", "ca-profile", "golden",
            "filename", _f.WriteFile("ca.crl", PkiFixture.Crl(_ca, _caKey, 7, null, 0x2002)));
    }

    [Fact]
    public void Workflow_KeyPairRequestLoadVerify()
    {
        ConfigureProfile();
        Assert.Equal("Generated key pair gw2, key size 256 bits\n",
            _f.Ok("request", "security", "pki", "generate-key-pair", "certificate-id", "gw2", "type", "ecdsa", "size", "256"));
        string csrFile = Path.Combine(_f.Work, "gw2.csr");
        string output = _f.Ok("request", "security", "pki", "generate-certificate-request", "certificate-id", "gw2",
            "subject", "CN=gw2.example.net,O=Certgate Test,C=US", "domain-name", "gw2.example.net", "filename", csrFile);
        Assert.StartsWith("Generated certificate request\n-----BEGIN CERTIFICATE REQUEST-----\n", output);
        Assert.Contains(" (sha1)\n", output);
        Assert.True(File.Exists(csrFile));
        Assert.Contains("Issued to: gw2.example.net", _f.Ok("show", "security", "pki", "certificate-request"));

        // The key file is private.
        string keyPath = Path.Combine(_f.State, "pki", "keys", "gw2.pem");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyPath));

        _f.Ok("--yes", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "golden",
            "filename", _f.WriteFile("ca.pem", _ca.ExportCertificatePem()));
        var csr = CertificateRequest.LoadSigningRequestPem(File.ReadAllText(csrFile), HashAlgorithmName.SHA256);
        using X509Certificate2 cert = PkiFixture.Fulfil(_ca, _caKey, csr, [0x42]);
        Assert.Equal("Local certificate loaded successfully\n",
            _f.Ok("request", "security", "pki", "local-certificate", "load", "certificate-id", "gw2", "filename", _f.WriteFile("gw2.pem", cert.ExportCertificatePem())));
        Assert.False(File.Exists(Path.Combine(_f.State, "pki", "requests", "gw2.pem")), "the fulfilled request is removed");

        // No CRL yet and the profile requires revocation checking: verification fails and says how to fix it.
        (int code, _, string err) = _f.Run("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw2");
        Assert.Equal(1, code);
        Assert.Contains("request security pki crl load ca-profile golden", err);

        _f.Ok("request", "security", "pki", "crl", "load", "ca-profile", "golden", "filename", _f.WriteFile("ca.crl", PkiFixture.Crl(_ca, _caKey, 1, DateTimeOffset.UtcNow.AddDays(1))));
        Assert.Equal("Local certificate gw2 verification success\n", _f.Ok("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw2"));
        Assert.Equal("CA certificate golden verified successfully\n", _f.Ok("request", "security", "pki", "ca-certificate", "verify", "ca-profile", "golden"));

        // Revoke it: a newer CRL lists serial 0x42.
        _f.Ok("request", "security", "pki", "crl", "load", "ca-profile", "golden", "filename", _f.WriteFile("ca2.crl", PkiFixture.Crl(_ca, _caKey, 2, DateTimeOffset.UtcNow.AddDays(1), 0x42)));
        (code, _, err) = _f.Run("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw2");
        Assert.Equal(1, code);
        Assert.Contains("revoked", err, StringComparison.OrdinalIgnoreCase);

        // An older CRL is refused.
        (code, _, err) = _f.Run("request", "security", "pki", "crl", "load", "ca-profile", "golden", "filename", Path.Combine(_f.Work, "ca.crl"));
        Assert.Equal(1, code);
        Assert.Contains("older than the installed CRL number 2", err);
    }

    [Fact]
    public void CrlWithoutAuthorityKeyIdentifier_IsUsedByVerify()
    {
        // Issue #13: the CA certificate has a subjectKeyIdentifier, the CRL (as openssl ca -gencrl writes it by
        // default) no authorityKeyIdentifier; verify said "no CRL loaded for …" although the CRL was loaded.
        ConfigureProfile();
        _f.Ok("--yes", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "golden",
            "filename", _f.WriteFile("ca.pem", _ca.ExportCertificatePem()));
        _f.Ok("request", "security", "pki", "key-pair", "import", "certificate-id", "gw1",
            "filename", _f.WriteFile("key.pem", _localKey.ExportPkcs8PrivateKeyPem()));
        using X509Certificate2 local = PkiFixture.LocalCertificate(_ca, _caKey, _localKey, [0x10, 0x01]);
        _f.Ok("request", "security", "pki", "local-certificate", "load", "certificate-id", "gw1",
            "filename", _f.WriteFile("gw1.pem", local.ExportCertificatePem()));
        _f.Ok("request", "security", "pki", "crl", "load", "ca-profile", "golden", "filename",
            _f.WriteFile("ca.crl", PkiFixture.Crl(_ca, _caKey, 1, DateTimeOffset.UtcNow.AddDays(1), includeAuthorityKeyIdentifier: false, [0x2002])));
        Assert.Equal("Local certificate gw1 verification success\n", _f.Ok("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw1"));

        _f.Ok("request", "security", "pki", "crl", "load", "ca-profile", "golden", "filename",
            _f.WriteFile("ca2.crl", PkiFixture.Crl(_ca, _caKey, 2, DateTimeOffset.UtcNow.AddDays(1), includeAuthorityKeyIdentifier: false, [0x1001])));
        (int code, _, string err) = _f.Run("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw1");
        Assert.Equal(1, code);
        Assert.Contains("was revoked at", err);
    }

    [Fact]
    public void RevocationCheckDisabled_VerifiesWithoutCrl()
    {
        ConfigureProfile("set security pki ca-profile golden revocation-check disable");
        _f.Ok("--yes", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "golden", "filename", _f.WriteFile("ca.pem", _ca.ExportCertificatePem()));
        using X509Certificate2 local = PkiFixture.LocalCertificate(_ca, _caKey, _localKey, [0x10, 0x01]);
        _f.Ok("request", "security", "pki", "local-certificate", "load", "certificate-id", "gw1", "filename", _f.WriteFile("gw1.pem", local.ExportCertificatePem()),
            "key", _f.WriteFile("key.pem", _localKey.ExportPkcs8PrivateKeyPem()));
        Assert.Equal("Local certificate gw1 verification success\n", _f.Ok("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw1"));
    }

    [Fact]
    public void Show_MatchesGoldenFiles()
    {
        LoadEverything();
        string csrOut = _f.Ok("request", "security", "pki", "generate-certificate-request", "certificate-id", "gw1",
            "subject", "CN=gw1.example.net,OU=VPN,O=Certgate Test,C=US", "domain-name", "gw1.example.net", "ip-address", "192.0.2.1",
            "email", "vpn@example.net", "digest", "sha-256");
        Golden.Assert("generate-certificate-request.txt", csrOut);
        Golden.Assert("show-ca-certificate-brief.txt", _f.Ok("show", "security", "pki", "ca-certificate"));
        Golden.Assert("show-ca-certificate-detail.txt", _f.Ok("show", "security", "pki", "ca-certificate", "ca-profile", "golden", "detail"));
        Golden.Assert("show-local-certificate-brief.txt", _f.Ok("show", "security", "pki", "local-certificate", "brief"));
        Golden.Assert("show-local-certificate-detail.txt", _f.Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail"));
        Golden.Assert("show-certificate-request-detail.txt", _f.Ok("show", "security", "pki", "certificate-request", "detail"));
        Golden.Assert("show-crl-brief.txt", _f.Ok("show", "security", "pki", "crl"));
        Golden.Assert("show-crl-detail.txt", _f.Ok("show", "security", "pki", "crl", "ca-profile", "golden", "detail"));
        Golden.Assert("show-local-certificate-json.txt", _f.Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "|", "display", "json"));
        Golden.Assert("show-crl-detail-json.txt", _f.Ok("--json", "show", "security", "pki", "crl", "detail"));
    }

    [Fact]
    public void Show_AutoReEnrollmentAndPendingEnrollment_MatchGoldenFiles()
    {
        LoadEverything();
        _f.Configure("set security pki auto-re-enrollment certificate-id gw1 ca-profile-name golden challenge-password s3cret-challenge re-enroll-trigger-time-percentage 20");
        // What a daemon wrote after a failed attempt on this certificate (the daemon is not running now).
        string fingerprint = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(X509Certificate2.CreateFromPem(
            File.ReadAllText(Path.Combine(_f.State, "pki", "local", "gw1.pem"))).RawData));
        var agent = new Certgate.Gateway.Enrollment.AgentStateStore(_f.State);
        agent.SaveStatus(new Certgate.Gateway.Enrollment.ReEnrollmentStatus("gw1", "Renewing", fingerprint, new DateTimeOffset(2041, 1, 1, 0, 0, 0, TimeSpan.Zero),
            new DateTimeOffset(2041, 1, 1, 0, 15, 0, TimeSpan.Zero), 1, new DateTimeOffset(2041, 1, 1, 0, 0, 0, TimeSpan.Zero),
            "http://127.0.0.1:8080/scep: cannot connect to the CA", null, "0123456789ABCDEF0123456789ABCDEF01234567"));
        string detail = _f.Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail");
        Golden.Assert("show-local-certificate-detail-auto-re-enrollment.txt", detail);
        string json = _f.Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail", "|", "display", "json");
        Golden.Assert("show-local-certificate-detail-auto-re-enrollment-json.txt", json);
        Assert.DoesNotContain("s3cret-challenge", detail + json);

        // A request left PENDING, as local-certificate enroll records it for the daemon.
        _f.Ok("request", "security", "pki", "generate-certificate-request", "certificate-id", "gw1",
            "subject", "CN=gw1.example.net,OU=VPN,O=Certgate Test,C=US", "domain-name", "gw1.example.net", "digest", "sha-256");
        agent.SavePending(new Certgate.Gateway.Enrollment.PendingEnrollment("gw1", "golden", "0123456789ABCDEF0123456789ABCDEF01234567",
            new X500DistinguishedName("CN=gw1.example.net").RawData, "SHA256", "Aes256Cbc", 2, 10, TimeSpan.FromSeconds(900),
            new DateTimeOffset(2041, 1, 1, 0, 30, 0, TimeSpan.Zero), new DateTimeOffset(2041, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        Golden.Assert("show-certificate-request-pending.txt", _f.Ok("show", "security", "pki", "certificate-request"));
        Golden.Assert("show-certificate-request-pending-json.txt", _f.Ok("show", "security", "pki", "certificate-request", "|", "display", "json"));
    }

    [Fact]
    public void Clear_RemovesOnlyTheNamedObject()
    {
        LoadEverything();
        Assert.Equal("Cleared CRL golden\n", _f.Ok("clear", "security", "pki", "crl", "ca-profile", "golden"));
        Assert.Equal("", _f.Ok("show", "security", "pki", "crl"));
        Assert.Contains("Certificate identifier: gw1", _f.Ok("show", "security", "pki", "local-certificate"));
        Assert.Equal("Cleared local certificate gw1\n", _f.Ok("clear", "security", "pki", "local-certificate", "all"));
        Assert.True(File.Exists(Path.Combine(_f.State, "pki", "keys", "gw1.pem")), "the key pair is a separate object");
        Assert.Equal("Cleared key pair gw1\n", _f.Ok("clear", "security", "pki", "key-pair", "certificate-id", "gw1"));
        (int code, _, string err) = _f.Run("clear", "security", "pki", "key-pair", "certificate-id", "gw1");
        Assert.Equal(1, code);
        Assert.Contains("key pair gw1 doesn't exist", err);
        (code, _, err) = _f.Run("clear", "security", "pki", "ca-certificate");
        Assert.Equal(2, code);
        Assert.Contains("expected 'ca-profile NAME' or 'all'", err);
    }

    [Fact]
    public void KeyPairExport_Pkcs12AndEncryptedPem_RoundTripThroughImport()
    {
        LoadEverything();
        string p12 = Path.Combine(_f.Work, "gw1.p12");
        _f.Ok("request", "security", "pki", "key-pair", "export", "certificate-id", "gw1", "filename", p12, "type", "pkcs12", "passphrase", "s3cret-pw");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(p12));
        string pem = Path.Combine(_f.Work, "gw1-enc.pem");
        _f.Ok("request", "security", "pki", "key-pair", "export", "certificate-id", "gw1", "filename", pem, "passphrase", "s3cret-pw");
        Assert.Contains("BEGIN ENCRYPTED PRIVATE KEY", File.ReadAllText(pem));

        Assert.Equal("Imported key pair copy1, key size 2048 bits\n",
            _f.Ok("request", "security", "pki", "key-pair", "import", "certificate-id", "copy1", "filename", p12, "passphrase", "s3cret-pw"));
        _f.Ok("request", "security", "pki", "key-pair", "import", "certificate-id", "copy2", "filename", pem, "passphrase", "s3cret-pw");
        Assert.Equal(File.ReadAllBytes(Path.Combine(_f.State, "pki", "keys", "copy1.pem")), File.ReadAllBytes(Path.Combine(_f.State, "pki", "keys", "copy2.pem")));

        // Exporting onto an existing file is refused; the file keeps its contents.
        byte[] before = File.ReadAllBytes(pem);
        (int code, _, string err) = _f.Run("request", "security", "pki", "key-pair", "export", "certificate-id", "gw1", "filename", pem);
        Assert.Equal(1, code);
        Assert.Contains("already exists", err);
        Assert.Equal(before, File.ReadAllBytes(pem));
    }

    [Fact]
    public void Refusals_NameTheProblemAndTheFix()
    {
        (int code, _, string err) = _f.Run("request", "security", "pki", "ca-certificate", "load", "ca-profile", "nope", "filename", "/dev/null");
        Assert.Equal(1, code);
        Assert.Contains("CA profile 'nope' is not configured", err);

        (code, _, err) = _f.Run("request", "security", "pki", "generate-certificate-request", "certificate-id", "gwx", "subject", "CN=x");
        Assert.Equal(1, code);
        Assert.Contains("Keypair doesn't exist for certificate gwx", err);

        (code, _, err) = _f.Run("request", "security", "pki", "generate-key-pair", "certificate-id", "gwx", "size", "1000");
        Assert.Equal(2, code);
        Assert.Contains("size '1000'", err);

        _f.Ok("request", "security", "pki", "generate-key-pair", "certificate-id", "gwx", "type", "ecdsa");
        (code, _, err) = _f.Run("request", "security", "pki", "generate-key-pair", "certificate-id", "gwx");
        Assert.Equal(1, code);
        Assert.Contains("clear security pki key-pair certificate-id gwx", err);

        (code, _, err) = _f.Run("request", "security", "pki", "generate-certificate-request", "certificate-id", "gwx", "subject", "CN=x", "digest", "sha-1");
        Assert.Equal(2, code);
        Assert.Contains("sha-1 cannot be used with an ECDSA key", err);

        (code, _, err) = _f.Run("request", "security", "pki", "generate-certificate-request", "certificate-id", "gwx", "subject", "XX=bad");
        Assert.Equal(2, code);
        Assert.Contains("subject 'XX=bad'", err);

        (code, _, err) = _f.Run("request", "security", "pki", "generate-key-pair", "certificate-id", "../escape");
        Assert.Equal(2, code);
        Assert.Contains("certificate-id '../escape'", err);

        // A local certificate for another key is refused.
        ConfigureProfile();
        using X509Certificate2 local = PkiFixture.LocalCertificate(_ca, _caKey, _localKey, [0x10, 0x01]);
        (code, _, err) = _f.Run("request", "security", "pki", "local-certificate", "load", "certificate-id", "gwx", "filename", _f.WriteFile("l.pem", local.ExportCertificatePem()));
        Assert.Equal(1, code);
        Assert.Contains("does not match key pair gwx", err);

        // A CRL from another CA is refused.
        _f.Ok("--yes", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "golden", "filename", _f.WriteFile("ca.pem", _ca.ExportCertificatePem()));
        using TestCa other = TestCa.CreateRoot("CN=Other CA", now: DateTimeOffset.UtcNow);
        (code, _, err) = _f.Run("request", "security", "pki", "crl", "load", "ca-profile", "golden", "filename", _f.WriteFile("o.crl", other.CrlBytes(number: 1)));
        Assert.Equal(1, code);
        Assert.Contains("not by the CA of profile golden", err);

        // Loading the same CA twice is refused; answering "no" loads nothing.
        (code, _, err) = _f.Run("--yes", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "golden", "filename", Path.Combine(_f.Work, "ca.pem"));
        Assert.Equal(1, code);
        Assert.Contains("already exists", err);
        _f.Ok("clear", "security", "pki", "ca-certificate", "ca-profile", "golden");
        (code, string output, _) = _f.RunWithInput("no\n", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "golden", "filename", Path.Combine(_f.Work, "ca.pem"));
        Assert.Equal(1, code);
        Assert.Contains("CA certificate not loaded", output);
        Assert.False(File.Exists(Path.Combine(_f.State, "pki", "ca", "golden.pem")));
    }
}
