using System.Net;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca;
using Certgate.Ca.Http;
using Certgate.Ca.Layout;
using Certgate.Ca.Settings;
using Certgate.Ca.Sqlite;
using Certgate.Cli;
using Certgate.Interop.Tests.Tools;
using Certgate.Pki.Identity;

namespace Certgate.Interop.Tests.Scep;

/// <summary>
/// The seed's online story with the gateway's own commands against our CA over real HTTP: configure a CA profile,
/// enroll the CA certificate by SCEP, generate a key pair, enroll the local certificate with a challenge, show it;
/// it verifies with OpenSSL. With manual approval the request is PENDING, is approved at the CA, and the same
/// command then picks the certificate up.
/// </summary>
public sealed class GatewayEnrollmentTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("certgate-gw-enroll-");
    private SqliteCaStore? _store;
    private CaHttpServer? _server;
    private CertificateAuthority _ca = null!;
    private string _state = "";

    public async Task InitializeAsync()
    {
        string caDir = _dir.File("ca");
        CaDirectory.Init(caDir, "CN=Certgate Enroll CA,O=Certgate,C=CH", "rsa:2048", 30);
        CaMaterial material = CaDirectory.Load(caDir);
        _store = await SqliteCaStore.OpenAsync(Path.Combine(caDir, "ca.db"));
        CaSettings settings = material.Settings;
        var profiles = new Dictionary<string, CertificateProfile>(settings.Profiles, StringComparer.Ordinal)
        {
            ["manual"] = settings.GetProfile(null) with { Name = "manual", Approval = ApprovalMode.Manual },
        };
        _ca = new CertificateAuthority(settings with { Profiles = profiles }, material.Certificate, _store, raCertificate: material.RaCertificate);
        _server = await CaHttpServer.StartAsync(_ca, new CaHttpOptions { Listen = new Uri("http://127.0.0.1:0") });
        _state = _dir.File("gw1");
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
        _dir.Dispose();
    }

    private (int Code, string Out, string Err) Cli(string stdin, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CertgateCli.Run(["--state", _state, .. args], new StringReader(stdin), o, e);
        return (code, o.ToString(), e.ToString());
    }

    private string Ok(params string[] args)
    {
        (int code, string output, string err) = Cli("", args);
        Assert.True(code == 0, $"certgate {string.Join(' ', args)} exited {code}: {err}{output}");
        return output;
    }

    private void Configure(string identity)
    {
        string script = $"""
            set security pki ca-profile ca1 ca-identity {identity}
            set security pki ca-profile ca1 enrollment url {new Uri(_server!.BaseAddress, "scep")}
            set security pki ca-profile ca1 enrollment retry 5
            set security pki ca-profile ca1 enrollment retry-interval 1
            commit
            """;
        (int code, string output, string err) = Cli(script, "configure");
        Assert.True(code == 0, err + output);
    }

    [Fact]
    public async Task EnrollCaThenLocal_WithChallenge_CertificateVerifiesWithOpenssl()
    {
        Configure("default");
        string caOut = Ok("--yes", "request", "security", "pki", "ca-certificate", "enroll", "ca-profile", "ca1");
        Assert.Contains("Received following certificates:", caOut);
        Assert.Contains("(sha256)", caOut);
        Assert.Contains("CA certificate for profile ca1 loaded successfully", caOut);
        // A CA made by `ca init` answers with its RA too (issue #14 §4): the profile's CA is the CA, the RA kept beside it.
        Assert.Contains("(RA)", caOut);
        Assert.Equal(_ca.Certificate.RawData, X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(_state, "pki", "ca", "ca1.pem"))).RawData);
        Assert.True(File.Exists(Path.Combine(_state, "pki", "ra", "ca1.pem")));
        Ok("request", "security", "pki", "generate-key-pair", "certificate-id", "gw1", "size", "2048");
        // Bound to the gateway's names: IP and e-mail addresses need a challenge that names them (issue #14).
        string challenge = (await _ca.CreateChallengeAsync(TimeSpan.FromMinutes(10), null, "test", Certgate.Ca.Challenges.NameBinding.Create(
            "CN=gw1.example.net,O=Certgate,C=CH", ["gw1.example.net"], ["192.0.2.1", "2001:db8::1"], ["gw1@example.net"]))).Password;
        string enroll = Ok("request", "security", "pki", "local-certificate", "enroll", "certificate-id", "gw1", "ca-profile", "ca1",
            "challenge-password", challenge, "subject", "CN=gw1.example.net,O=Certgate,C=CH", "domain-name", "gw1.example.net", "ip-address", "192.0.2.1",
            "ipv6-address", "2001:db8::1", "email", "gw1@example.net");
        Assert.Contains("Local certificate gw1 loaded successfully", enroll);
        Assert.Contains("aes256", enroll);
        string show = Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail");
        Assert.Contains("\"gw1@example.net\", gw1.example.net, ipv4 192.0.2.1, ipv6 2001:db8::1", show);
        Assert.Contains("Public key verification status: Passed", show);

        string certPem = _dir.File("gw1.pem");
        File.WriteAllText(certPem, File.ReadAllText(Path.Combine(_state, "pki", "local", "gw1.pem")));
        string caPem = _dir.File("ca.pem");
        File.WriteAllText(caPem, _ca.Certificate.ExportCertificatePem() + "\n");
        ExternalTool.Result verify = ExternalTool.Run("openssl", ["verify", "-CAfile", caPem, certPem]);
        Assert.True(verify.ExitCode == 0, verify.Combined);
        // Issue 5: each requested name backs an IKE identity (RFC 4945 §3.1), so local-id can be any of them.
        using (X509Certificate2 issued = X509CertificateLoader.LoadCertificateFromFile(certPem))
        {
            foreach (IkeIdentity id in new[] { IkeIdentity.FromFqdn("gw1.example.net"), IkeIdentity.FromAddress(IPAddress.Parse("192.0.2.1")),
                IkeIdentity.FromAddress(IPAddress.Parse("2001:db8::1")), IkeIdentity.FromEmail("gw1@example.net"), IkeIdentity.FromDistinguishedName(issued.SubjectName) })
            {
                Assert.True(CertificateIdentity.IsConsistent(id, issued, out string why), why);
            }
        }

        // A used challenge: refused, explained, and nothing is stored for gw2.
        Ok("request", "security", "pki", "generate-key-pair", "certificate-id", "gw2", "size", "2048");
        (int code, string output, string err) = Cli("", "request", "security", "pki", "local-certificate", "enroll", "certificate-id", "gw2", "ca-profile", "ca1",
            "challenge-password", challenge, "subject", "CN=gw2.example.net,O=Certgate,C=CH");
        Assert.Equal(1, code);
        Assert.Contains("badRequest", err);
        Assert.False(File.Exists(Path.Combine(_state, "pki", "local", "gw2.pem")));
        Assert.False(File.Exists(Path.Combine(_state, "pki", "requests", "gw2.pem")));
        Assert.DoesNotContain(challenge, output + err);
    }

    [Fact]
    public async Task CaCertificateLoadedAlone_AsInTheReadme_EnrollmentLearnsTheRaFromGetCACert()
    {
        // README step 2 loads ca.pem alone; the CA decrypts only with its RA, which the enrollment learns by GetCACert
        // and accepts because the loaded CA signed it.
        Configure("default");
        string caPem = _dir.File("ca-only.pem");
        File.WriteAllText(caPem, _ca.Certificate.ExportCertificatePem() + "\n");
        Ok("--yes", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "ca1", "filename", caPem);
        Assert.False(File.Exists(Path.Combine(_state, "pki", "ra", "ca1.pem")));
        Ok("request", "security", "pki", "generate-key-pair", "certificate-id", "gw1", "size", "2048");
        string challenge = (await _ca.CreateChallengeAsync(TimeSpan.FromMinutes(10), null, "test")).Password;
        string enroll = Ok("request", "security", "pki", "local-certificate", "enroll", "certificate-id", "gw1", "ca-profile", "ca1",
            "challenge-password", challenge, "subject", "CN=gw1.example.net,O=Certgate,C=CH", "domain-name", "gw1.example.net");
        Assert.Contains("Local certificate gw1 loaded successfully", enroll);
    }

    [Fact]
    public async Task ManualApproval_Pending_ThenApproved_ThenPickedUp()
    {
        Configure("manual");
        Ok("--yes", "request", "security", "pki", "ca-certificate", "enroll", "ca-profile", "ca1");
        Ok("request", "security", "pki", "generate-key-pair", "certificate-id", "gw1", "size", "2048");
        string challenge = (await _ca.CreateChallengeAsync(TimeSpan.FromMinutes(10), "manual", "test")).Password;
        string[] enroll = ["request", "security", "pki", "local-certificate", "enroll", "certificate-id", "gw1", "ca-profile", "ca1",
            "challenge-password", challenge, "subject", "CN=gw1.example.net,O=Certgate,C=CH"];
        // retry 5 × 1 s: still pending (nobody approves), exit 3, the request is kept.
        (int code, string output, _) = Cli("", enroll);
        Assert.Equal(3, code);
        Assert.Contains("pending approval", output);
        Assert.Contains("Enrollment pending at the CA; polling again", output);
        Assert.Contains("Certificate identifier: gw1", Ok("show", "security", "pki", "certificate-request"));

        IReadOnlyList<Certgate.Ca.Storage.RequestRecord> pending = await _ca.ListPendingAsync();
        await _ca.ApproveAsync(Assert.Single(pending).TransactionId, "test-operator");

        string picked = Ok(enroll);
        Assert.Contains("Local certificate gw1 loaded successfully", picked);
    }
}
