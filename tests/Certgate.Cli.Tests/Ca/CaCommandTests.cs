using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Certgate.Ca;
using Certgate.Ca.Audit;
using Certgate.Ca.Storage;
using Certgate.Cli.Ca;
using Certgate.Cli.Commands;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Cli.Tests.Ca;

public sealed partial class CaCommandTests : IDisposable
{
    private readonly CaFixture _f = new();

    public void Dispose() => _f.Dispose();

    [GeneratedRegex("^[0-9A-F]{16,40}$")]
    private static partial Regex SerialPattern();

    private string SignOne(string name = "gw1", string? profile = null)
    {
        string csr = _f.WriteCsr(name + ".csr", $"CN={name}.example.net,O=Example", $"{name}.example.net");
        string[] args = ["ca", "sign", "--dir", _f.Dir, "--csr", csr, "--out", _f.File(name + ".crt")];
        string output = _f.Ok(profile is null ? args : [.. args, "--profile", profile]);
        Match m = Regex.Match(output, "^Certificate ([0-9A-F]+) issued to", RegexOptions.Multiline);
        Assert.True(m.Success, output);
        return m.Groups[1].Value;
    }

    [Fact]
    public void Init_WritesCertificateSettingsAndA0600Key()
    {
        string output = _f.InitCa("CN=Example Root CA,O=Example");
        Assert.Contains("CA initialised in " + _f.Dir, output);
        Assert.Contains("ecdsa:p256", output);
        X509Certificate2 ca = _f.CaCertificate;
        Assert.Equal("CN=Example Root CA, O=Example", ca.Subject);
        Assert.Equal(ca.Subject, ca.Issuer);
        Assert.True(ca.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_f.Dir, "ca.key")));
        Assert.True(File.Exists(Path.Combine(_f.Dir, "ca.json")));
        Assert.InRange((ca.NotAfter - DateTime.Now).TotalDays, 3640, 3651);
    }

    [Fact]
    public void Init_Days_SetsValidity()
    {
        _f.Ok("ca", "init", "--dir", _f.Dir, "--subject", "CN=Short CA", "--key", "ecdsa:p256", "--days", "30");
        Assert.InRange((_f.CaCertificate.NotAfter - DateTime.Now).TotalDays, 29, 31);
    }

    [Fact]
    public void Init_Twice_IsRefusedAndKeepsTheKey()
    {
        _f.InitCa();
        byte[] key = File.ReadAllBytes(Path.Combine(_f.Dir, "ca.key"));
        string err = _f.Fails(1, "ca", "init", "--dir", _f.Dir, "--subject", "CN=Other", "--key", "ecdsa:p256");
        Assert.Contains("already holds a CA", err);
        Assert.Equal(key, File.ReadAllBytes(Path.Combine(_f.Dir, "ca.key")));
    }

    [Theory]
    [InlineData("--key", "rsa:1024", "--key 'rsa:1024': expected rsa:2048")]
    [InlineData("--key", "dsa", "--key 'dsa': expected")]
    [InlineData("--days", "0", "--days '0': expected a whole number from 1 to 36500")]
    [InlineData("--days", "ten", "--days 'ten': expected a whole number")]
    [InlineData("--subject", "not a dn", "--subject 'not a dn': not a distinguished name")]
    [InlineData("--url", "ca.example.net:8080", "--url 'ca.example.net:8080': expected an absolute http:// or https:// URL, the address gateways reach this CA at")]
    [InlineData("--url", "ldap://ca.example.net", "--url 'ldap://ca.example.net': expected an absolute http:// or https:// URL")]
    [InlineData("--url", "/crl", "--url '/crl': expected an absolute http:// or https:// URL")]
    [InlineData("--url", "http://ca.example.net:8080/?x=1", "--url 'http://ca.example.net:8080/?x=1': a base URL has no query or fragment")]
    public void Init_BadOption_NamesTheOptionAndWritesNothing(string option, string value, string expected)
    {
        string[] args = ["ca", "init", "--dir", _f.Dir, "--subject", "CN=Test CA", "--key", "ecdsa:p256"];
        int at = Array.IndexOf(args, option);
        if (at >= 0)
        {
            args[at + 1] = value;
        }
        else
        {
            args = [.. args, option, value];
        }
        string err = _f.Fails(2, args);
        Assert.Contains(expected, err);
        Assert.False(Directory.Exists(_f.Dir));
    }

    [Fact]
    public void Init_Url_CertificatesIssuedAfterwardsCarryTheCrlDistributionPoint()
    {
        string output = _f.Ok("ca", "init", "--dir", _f.Dir, "--subject", "CN=Test CA", "--key", "ecdsa:p256", "--url", "http://ca.example.net:8080");
        Assert.Contains("CRL:         http://ca.example.net:8080/crl/ca.crl", output);
        string settings = File.ReadAllText(Path.Combine(_f.Dir, "ca.json"));
        Assert.Contains("\"baseUrl\": \"http://ca.example.net:8080\"", settings);
        Assert.Contains("// baseUrl         Public base URL of this CA", settings); // the documentation stays

        SignOne("gw1");
        using X509Certificate2 cert = X509Certificate2.CreateFromPem(File.ReadAllText(_f.File("gw1.crt")));
        Assert.Equal(["http://ca.example.net:8080/crl/ca.crl"], Certgate.Pki.Certificates.CertificateInfo.From(cert).CrlDistributionPoints);
    }

    [Fact]
    public void Init_WithoutUrl_IssuesWithoutADistributionPoint()
    {
        _f.InitCa();
        SignOne("gw1");
        using X509Certificate2 cert = X509Certificate2.CreateFromPem(File.ReadAllText(_f.File("gw1.crt")));
        Assert.Empty(Certgate.Pki.Certificates.CertificateInfo.From(cert).CrlDistributionPoints);
    }

    [Fact]
    public void Init_Url_SetsBaseUrlInAnExistingSettingsFileAndKeepsTheRest()
    {
        Directory.CreateDirectory(_f.Dir);
        string path = Path.Combine(_f.Dir, "ca.json");
        File.WriteAllText(path, Certgate.Ca.Settings.CaSettingsFile.DefaultText.Replace("\"validityDays\": 365", "\"validityDays\": 30", StringComparison.Ordinal));
        _f.Ok("ca", "init", "--dir", _f.Dir, "--subject", "CN=Test CA", "--key", "ecdsa:p256", "--url", "https://ca.example.net/pki");
        Certgate.Ca.Settings.CaSettings settings = Certgate.Ca.Settings.CaSettingsFile.Read(path);
        Assert.Equal("https://ca.example.net/pki", settings.BaseUrl);
        Assert.Equal("https://ca.example.net/pki/crl/ca.crl", settings.CrlUrl);
        Assert.Equal(30, settings.GetProfile(null).ValidityDays);
    }

    [Fact]
    public void Init_MissingSubject_IsAUsageError()
    {
        Assert.Contains("missing '--subject <value>'", _f.Fails(2, "ca", "init", "--dir", _f.Dir));
        Assert.Contains("unexpected 'extra'", _f.Fails(2, "ca", "init", "--dir", _f.Dir, "--subject", "CN=X", "extra"));
    }

    [Fact]
    public void Commands_OnADirectoryWithoutACa_SayHowToCreateOne()
    {
        Assert.Contains($"--dir '{_f.Dir}': no such directory (create a CA with: certgate ca init", _f.Fails(1, "ca", "list", "--dir", _f.Dir));
        Directory.CreateDirectory(_f.Dir);
        Assert.Contains("not a CA directory (no ca.json", _f.Fails(1, "ca", "challenge", "--dir", _f.Dir));
    }

    [Fact]
    public void Challenge_PrintsOnlyTheOneTimePassword_AndIsAudited()
    {
        _f.InitCa();
        (int code, string output, string err) = _f.Run("ca", "challenge", "--dir", _f.Dir, "--ttl", "30m");
        Assert.Equal(0, code);
        string[] lines = output.TrimEnd('\n').Split('\n');
        string password = Assert.Single(lines);
        Assert.Matches("^[A-Z2-7]{20}$", password);
        Assert.Contains("expires", err);
        Assert.DoesNotContain(password, err);
        string second = _f.Ok("ca", "challenge", "--dir", _f.Dir).Trim();
        Assert.NotEqual(password, second);
        IReadOnlyList<AuditRecord> audit = ReadAudit();
        Assert.Equal(2, audit.Count(a => a.Entry.Event == AuditEvents.ChallengeCreated));
        Assert.DoesNotContain(audit, a => (a.Entry.Detail ?? "").Contains(password, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--ttl", "1x", "--ttl '1x': expected a duration such as 30m, 1h")]
    [InlineData("--ttl", "0h", "--ttl '0h': expected a duration")]
    [InlineData("--ttl", "400d", "--ttl '400d': a challenge lives at most 366 days")]
    [InlineData("--profile", "nope", "--profile 'nope': no such certificate profile (known: default)")]
    public void Challenge_BadOption_NamesIt(string option, string value, string expected)
    {
        _f.InitCa();
        Assert.Contains(expected, _f.Fails(2, "ca", "challenge", "--dir", _f.Dir, option, value));
    }

    [Fact]
    public void Sign_List_Show_Revoke_Crl_Workflow()
    {
        _f.InitCa();
        Assert.Contains("No certificates issued yet", _f.Ok("ca", "list", "--dir", _f.Dir));
        string serial = SignOne("gw1");
        string other = SignOne("gw2");
        Assert.Matches(SerialPattern(), serial);

        X509Certificate2 cert = X509Certificate2.CreateFromPem(File.ReadAllText(_f.File("gw1.crt")));
        X509Certificate2 ca = _f.CaCertificate;
        Assert.Equal(ca.Subject, cert.Issuer);
        Assert.Equal(serial, cert.SerialNumber);
        using (var chain = new X509Chain())
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            Assert.True(chain.Build(cert), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        }

        string list = _f.Ok("ca", "list", "--dir", _f.Dir);
        Assert.Contains(serial, list);
        Assert.Contains(other, list);
        Assert.Contains("2 certificate(s), 0 revoked", list);

        string show = _f.Ok("ca", "show", "--dir", _f.Dir, "--serial", serial.ToLowerInvariant(), "--out", _f.File("shown.crt"));
        Assert.Contains("Status:            valid", show);
        Assert.Contains("Subject:           CN=gw1.example.net, O=Example", show);
        Assert.Contains("DNS:gw1.example.net", show);
        Assert.Equal(cert.RawData, X509Certificate2.CreateFromPem(File.ReadAllText(_f.File("shown.crt"))).RawData);

        string revoke = _f.Ok("ca", "revoke", "--dir", _f.Dir, "--serial", serial, "--reason", "keyCompromise");
        Assert.Contains($"Certificate {serial} revoked (keyCompromise)", revoke);
        Assert.Contains("CRL 1 issued", revoke);
        Assert.Contains("Status:            revoked", _f.Ok("ca", "show", "--dir", _f.Dir, "--serial", serial));
        Assert.Contains("was already revoked", _f.Ok("ca", "revoke", "--dir", _f.Dir, "--serial", serial, "--reason", "superseded"));
        Assert.Contains("1 revoked", _f.Ok("ca", "list", "--dir", _f.Dir));

        string crlOut = _f.Ok("ca", "crl", "--dir", _f.Dir, "--out", _f.File("ca.crl"));
        Assert.Contains("CRL 2 (1 revoked)", crlOut);
        byte[] der = File.ReadAllBytes(_f.File("ca.crl"));
        Assert.Equal(0x30, der[0]);
        CertificateRevocationListBuilder loaded = CertificateRevocationListBuilder.Load(der, out BigInteger number);
        Assert.Equal(2, (int)number);
        Assert.True(loaded.RemoveEntry(Convert.FromHexString(serial)));
        Assert.False(loaded.RemoveEntry(Convert.FromHexString(other)));

        string pem = _f.Ok("ca", "crl", "--dir", _f.Dir);
        Assert.StartsWith("-----BEGIN X509 CRL-----", pem);
        CertificateRevocationListBuilder.LoadPem(pem, out BigInteger third);
        Assert.Equal(3, (int)third);

        IReadOnlyList<AuditRecord> audit = ReadAudit();
        Assert.Equal(2, audit.Count(a => a.Entry.Event == AuditEvents.CertificateIssued && a.Entry.Actor.StartsWith("cli:", StringComparison.Ordinal)));
        Assert.Contains(audit, a => a.Entry.Event == AuditEvents.CertificateRevoked && a.Entry.Serial == serial);
        Assert.Equal(3, audit.Count(a => a.Entry.Event == AuditEvents.CrlIssued));
    }

    [Fact]
    public void ListAndShow_Json()
    {
        _f.InitCa();
        string serial = SignOne();
        string list = _f.Ok("--json", "ca", "list", "--dir", _f.Dir);
        Assert.Contains($"\"serial\": \"{serial}\"", list);
        Assert.Contains("\"status\": \"valid\"", list);
        string show = _f.Ok("ca", "show", "--dir", _f.Dir, "--serial", serial, "|", "display", "json");
        Assert.Contains("\"sha256\":", show);
        Assert.Contains("\"DNS:gw1.example.net\"", show);
    }

    [Theory]
    [InlineData("--serial", "xyz", 2, "--serial 'xyz': expected hexadecimal digits")]
    [InlineData("--serial", "0123456789ABCDEF", 1, "no certificate with serial 0123456789ABCDEF")]
    [InlineData("--reason", "stolen", 2, "--reason 'stolen': expected one of unspecified, keyCompromise")]
    [InlineData("--reason", "removeFromCRL", 2, "--reason 'removeFromCRL': expected one of")]
    public void Revoke_BadInput_NamesTheProblem(string option, string value, int code, string expected)
    {
        _f.InitCa();
        string serial = SignOne();
        string[] args = ["ca", "revoke", "--dir", _f.Dir, "--serial", serial];
        args = option == "--serial" ? ["ca", "revoke", "--dir", _f.Dir, "--serial", value] : [.. args, option, value];
        Assert.Contains(expected, _f.Fails(code, args));
        Assert.Contains("0 revoked", _f.Ok("ca", "list", "--dir", _f.Dir));
    }

    [Fact]
    public void Sign_RefusedRequest_IsAuditedAndWritesNothing()
    {
        _f.InitCa();
        using var weak = RSA.Create(1024);
        string csr = _f.WriteCsr("weak.csr", key: weak);
        string err = _f.Fails(1, "ca", "sign", "--dir", _f.Dir, "--csr", csr, "--out", _f.File("weak.crt"));
        Assert.Contains($"--csr '{csr}': refused (", err);
        Assert.False(File.Exists(_f.File("weak.crt")));
        Assert.Contains(ReadAudit(), a => a.Entry.Event == AuditEvents.EnrollmentRefused && (a.Entry.Detail ?? "").Contains("manual signing", StringComparison.Ordinal));
        Assert.Contains("No certificates issued yet", _f.Ok("ca", "list", "--dir", _f.Dir));
    }

    [Fact]
    public void Sign_BadFiles_AndUnknownProfile()
    {
        _f.InitCa();
        Assert.Contains("--csr 'nowhere.csr': no such file", _f.Fails(2, "ca", "sign", "--dir", _f.Dir, "--csr", "nowhere.csr", "--out", _f.File("x.crt")));
        File.WriteAllText(_f.File("cert.pem"), new string(PemEncoding.Write("CERTIFICATE", _f.CaCertificate.RawData)));
        Assert.Contains("PEM 'CERTIFICATE'; expected 'CERTIFICATE REQUEST'", _f.Fails(1, "ca", "sign", "--dir", _f.Dir, "--csr", _f.File("cert.pem"), "--out", _f.File("x.crt")));
        File.WriteAllText(_f.File("junk.csr"), "hello");
        Assert.Contains("neither PEM", _f.Fails(1, "ca", "sign", "--dir", _f.Dir, "--csr", _f.File("junk.csr"), "--out", _f.File("x.crt")));
        File.WriteAllBytes(_f.File("bad.der"), [0x30, 0x03, 0x02, 0x01, 0x00]);
        Assert.Contains("refused (BadRequest)", _f.Fails(1, "ca", "sign", "--dir", _f.Dir, "--csr", _f.File("bad.der"), "--out", _f.File("x.crt")));
        string csr = _f.WriteCsr("ok.csr");
        Assert.Contains("--profile 'vpn': no such certificate profile", _f.Fails(2, "ca", "sign", "--dir", _f.Dir, "--csr", csr, "--out", _f.File("x.crt"), "--profile", "vpn"));
        Assert.Contains("--out", _f.Fails(1, "ca", "sign", "--dir", _f.Dir, "--csr", csr, "--out", Path.Combine(_f.Root, "no", "such", "x.crt")));
    }

    [Fact]
    public void Pending_Approve_Reject()
    {
        _f.InitCa();
        string settings = Path.Combine(_f.Dir, "ca.json");
        File.WriteAllText(settings, File.ReadAllText(settings).Replace("\"approval\": \"challenge\"", "\"approval\": \"manual\"", StringComparison.Ordinal));
        Assert.Contains("No requests waiting for approval", _f.Ok("ca", "pending", "--dir", _f.Dir));
        Enroll("tx-approve-1", "CN=gw3.example.net");
        Enroll("tx-reject-2", "CN=gw4.example.net");

        string pending = _f.Ok("ca", "pending", "--dir", _f.Dir);
        Assert.Contains("tx-approve-1", pending);
        Assert.Contains("CN=gw4.example.net", pending);
        Assert.Contains("2 request(s) waiting", pending);
        Assert.Contains("\"transaction-id\": \"tx-reject-2\"", _f.Ok("--json", "ca", "pending", "--dir", _f.Dir));

        Assert.Contains("missing the request ID", _f.Fails(2, "ca", "approve", "--dir", _f.Dir));
        Assert.Contains("no request with transactionID tx-nope", _f.Fails(1, "ca", "approve", "--dir", _f.Dir, "tx-nope"));

        string approved = _f.Ok("ca", "approve", "--dir", _f.Dir, "tx-approve-1");
        Assert.Matches("Request tx-approve-1 approved: certificate [0-9A-F]+ issued to CN=gw3.example.net", approved);
        Assert.Contains("is not pending (it is issued)", _f.Fails(1, "ca", "approve", "tx-approve-1", "--dir", _f.Dir));

        Assert.Contains("Request tx-reject-2 rejected", _f.Ok("ca", "reject", "--dir", _f.Dir, "tx-reject-2", "--reason", "unknown device"));
        Assert.Contains("is not pending (it is failed)", _f.Fails(1, "ca", "reject", "--dir", _f.Dir, "--id", "tx-reject-2"));
        Assert.Contains("No requests waiting", _f.Ok("ca", "pending", "--dir", _f.Dir));
        Assert.Contains("CN=gw3.example.net", _f.Ok("ca", "list", "--dir", _f.Dir));
        Assert.Contains(ReadAudit(), a => a.Entry.Event == AuditEvents.RequestRejected && a.Entry.Detail == "unknown device");
    }

    [Fact]
    public void Db_OverridesTheSettings_AndBadSpecIsNamed()
    {
        _f.InitCa();
        SignOne();
        string other = "sqlite:" + _f.File("other.db");
        Assert.Contains("No certificates issued yet", _f.Ok("ca", "list", "--dir", _f.Dir, "--db", other));
        Assert.True(File.Exists(_f.File("other.db")));
        Assert.Contains("--db 'mysql:x': expected sqlite:PATH or postgres:CONNSTRING", _f.Fails(2, "ca", "list", "--dir", _f.Dir, "--db", "mysql:x"));
    }

    [Fact]
    public void Serve_BadListen_IsAUsageError()
    {
        _f.InitCa();
        Assert.Contains("--listen 'https://0.0.0.0:443': expected http://ADDRESS:PORT", _f.Fails(2, "ca", "serve", "--dir", _f.Dir, "--listen", "https://0.0.0.0:443"));
        Assert.Contains("--listen 'nonsense': expected", _f.Fails(2, "ca", "serve", "--dir", _f.Dir, "--listen", "nonsense"));
    }

    [Fact]
    public void Serve_PortInUse_SaysSoInOneLine()
    {
        _f.InitCa();
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        int port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
        string err = _f.Fails(1, "ca", "serve", "--dir", _f.Dir, "--listen", $"http://127.0.0.1:{port}");
        Assert.Contains($"--listen 'http://127.0.0.1:{port}': cannot listen", err);
    }

    [Fact]
    public void Serve_WithoutBaseUrl_WarnsOnceAndNamesTheFix()
    {
        _f.InitCa();
        (int code, string output, string err) = _f.Run("ca", "serve", "--dir", _f.Dir, "--listen", "http://127.0.0.1:0");
        Assert.True(code == 0, err + output);
        string[] warnings = [.. err.Split('\n').Where(l => l.StartsWith("warning: ", StringComparison.Ordinal))];
        string warning = Assert.Single(warnings);
        Assert.Contains("certificates are issued without a CRL distribution point", warning);
        Assert.Contains($"\"baseUrl\" in {Path.Combine(_f.Dir, "ca.json")}", warning);
        Assert.Contains("ca init --url", warning);
    }

    [Fact]
    public void Serve_WithBaseUrl_DoesNotWarn()
    {
        _f.Ok("ca", "init", "--dir", _f.Dir, "--subject", "CN=Test CA", "--key", "ecdsa:p256", "--url", "http://127.0.0.1:8080");
        (int code, string output, string err) = _f.Run("ca", "serve", "--dir", _f.Dir, "--listen", "http://127.0.0.1:0");
        Assert.True(code == 0, err + output);
        Assert.DoesNotContain("distribution point", err);
    }

    [Fact]
    public void Serve_WithClosedInput_StartsAndStops()
    {
        _f.InitCa();
        string output = _f.Ok("ca", "serve", "--dir", _f.Dir, "--listen", "http://127.0.0.1:0");
        Assert.Matches("^Listening on http://127\\.0\\.0\\.1:[1-9][0-9]*/\n", output);
    }

    [Fact]
    public void Subordinate_InitCsrOut_ThenInstallCert()
    {
        string csrOut = _f.File("sub.csr");
        Assert.Contains("--days does not apply with --csr-out", _f.Fails(2, "ca", "init", "--dir", _f.Dir, "--subject", "CN=Sub CA", "--csr-out", csrOut, "--days", "5"));
        string output = _f.Ok("ca", "init", "--dir", _f.Dir, "--subject", "CN=Sub CA,O=Example", "--key", "ecdsa:p256", "--csr-out", csrOut);
        Assert.Contains("ca install-cert --dir", output);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_f.Dir, "ca.key")));
        CertificateRequest req = CertificateRequest.LoadSigningRequestPem(File.ReadAllText(csrOut), HashAlgorithmName.SHA256);

        // The parent: a root made here; first a leaf-like certificate (no cA) must be refused.
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using TestCa parent = TestCa.CreateRoot("CN=Parent Root", new CertOptions
        {
            KeyType = TestKeyType.EcdsaP256, NotBefore = now.AddDays(-1), NotAfter = now.AddYears(10),
        }, now);
        using X509Certificate2 leaf = parent.Issue(req.SubjectName, req.PublicKey, new CertOptions { NotBefore = now.AddDays(-1), NotAfter = now.AddYears(1), Serial = [1, 2, 3] });
        File.WriteAllText(_f.File("leaf.crt"), leaf.ExportCertificatePem());
        Assert.Contains("not a CA certificate", _f.Fails(1, "ca", "install-cert", "--dir", _f.Dir, "--cert", _f.File("leaf.crt")));
        Assert.Contains("--cert 'missing.crt': no such file", _f.Fails(2, "ca", "install-cert", "--dir", _f.Dir, "--cert", "missing.crt"));

        var subCa = new CertOptions { IsCa = true, PathLength = 0, NotBefore = now.AddDays(-1), NotAfter = now.AddYears(5) };
        using X509Certificate2 noSki = parent.Issue(req.SubjectName, req.PublicKey, subCa with { OmitSubjectKeyIdentifier = true, Serial = [7, 8, 9] });
        File.WriteAllText(_f.File("noski.crt"), noSki.ExportCertificatePem());
        Assert.Contains("has no subjectKeyIdentifier", _f.Fails(1, "ca", "install-cert", "--dir", _f.Dir, "--cert", _f.File("noski.crt")));

        using X509Certificate2 sub = parent.Issue(req.SubjectName, req.PublicKey, subCa with { Serial = [4, 5, 6] });
        File.WriteAllText(_f.File("sub.crt"), sub.ExportCertificatePem());
        Assert.Contains("CA certificate installed", _f.Ok("ca", "install-cert", "--dir", _f.Dir, "--cert", _f.File("sub.crt")));
        Assert.Equal("CN=Parent Root", _f.CaCertificate.Issuer);
        string serial = SignOne("gw5");
        Assert.Contains(serial, _f.Ok("ca", "list", "--dir", _f.Dir));
    }

    [Fact]
    public void Help_ListsTheCaCommands()
    {
        string help = _f.Ok("help");
        foreach (string c in new[] { "init", "install-cert", "challenge", "list", "show", "revoke", "crl", "pending", "approve", "reject", "sign", "serve" })
        {
            Assert.Contains("ca " + c + " ", help);
        }
    }

    private void Enroll(string txid, string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        byte[] csr = req.CreateSigningRequest();
        using X509Certificate2 self = TestCa.SelfSigned(key, subject, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
        CaSession.Sync(async () =>
        {
            await using CaSession s = await CaSession.OpenAsync(new Arguments(["test"], []), _f.Dir, null);
            EnrollmentResult r = await s.Ca.EnrollAsync(new EnrollmentRequest(csr, txid, EnrollmentMessageType.PkcsReq, self, "192.0.2.7"));
            Assert.Equal(EnrollmentStatus.Pending, r.Status);
            return 0;
        });
    }

    private IReadOnlyList<AuditRecord> ReadAudit() => CaSession.Sync(async () =>
    {
        await using CaSession s = await CaSession.OpenAsync(new Arguments(["test"], []), _f.Dir, null);
        return await s.Store.ReadAuditAsync(0, 10_000);
    });
}
