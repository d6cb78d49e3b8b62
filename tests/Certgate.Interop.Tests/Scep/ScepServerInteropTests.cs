using System.Security.Cryptography.X509Certificates;
using Certgate.Ca;
using Certgate.Ca.Http;
using Certgate.Ca.Layout;
using Certgate.Ca.Sqlite;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Scep;

/// <summary>
/// Our SCEP server with clients we did not write: micromdm <c>scepclient</c> and strongSwan <c>pki --scep</c>
/// enroll with one-time challenges against a CA on SQLite behind Kestrel on loopback; what they receive verifies
/// with <c>openssl verify</c>; a used challenge is refused.
/// </summary>
public sealed class ScepServerInteropTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("certgate-scep-interop-");
    private SqliteCaStore? _store;
    private CaHttpServer? _server;
    private CertificateAuthority _ca = null!;
    private string _url = "";
    private string _caPem = "";
    private readonly StringWriter _log = new();

    public async Task InitializeAsync()
    {
        string caDir = _dir.File("ca");
        CaDirectory.Init(caDir, "CN=Certgate Interop CA,O=Certgate,C=CH", "rsa:2048", 30);
        CaMaterial material = CaDirectory.Load(caDir);
        _store = await SqliteCaStore.OpenAsync(Path.Combine(caDir, "ca.db"));
        _ca = new CertificateAuthority(material.Settings, material.Certificate, _store, raCertificate: material.RaCertificate);
        _server = await CaHttpServer.StartAsync(_ca, new CaHttpOptions { Listen = new Uri("http://127.0.0.1:0"), Log = _log });
        _url = new Uri(_server.BaseAddress, "scep").ToString();
        _caPem = _dir.File("ca.pem");
        File.WriteAllText(_caPem, material.Certificate.ExportCertificatePem() + "\n");
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

    private async Task<string> ChallengeAsync() => (await _ca.CreateChallengeAsync(TimeSpan.FromHours(1), null, "interop-test")).Password;

    [Fact]
    public async Task MicromdmScepclient_Enrolls_AndTheCertificateVerifiesWithOpenssl()
    {
        string challenge = await ChallengeAsync();
        ExternalTool.Result r = ExternalTool.Run("scepclient", ["-server-url", _url, "-challenge", challenge, "-private-key", _dir.File("sc.key"),
            "-certificate", _dir.File("sc.crt"), "-cn", "scepclient-1", "-organization", "Test", "-country", "CH"], timeout: TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, $"scepclient failed ({r.ExitCode}): {r.Combined}");
        ExternalTool.Result verify = ExternalTool.Run("openssl", ["verify", "-CAfile", _caPem, _dir.File("sc.crt")]);
        Assert.True(verify.ExitCode == 0, verify.Combined);
        using X509Certificate2 issued = X509Certificate2.CreateFromPem(File.ReadAllText(_dir.File("sc.crt")));
        Assert.Contains("CN=scepclient-1", issued.Subject);

    }

    [Fact]
    public async Task StrongswanPki_FetchesTheCa_AndEnrolls()
    {
        string conf = _dir.File("pki.conf");
        File.WriteAllText(conf, "pki { load = random nonce openssl pem pkcs1 pkcs7 pkcs8 x509 pubkey curl }\n");
        var env = new Dictionary<string, string> { ["STRONGSWAN_CONF"] = conf };
        ExternalTool.Result ca = ExternalTool.Run("pki", ["--scepca", "--url", _url, "--caout", _dir.File("ca.der"), "--force"], environment: env, timeout: TimeSpan.FromSeconds(60));
        Assert.True(ca.ExitCode == 0, $"pki --scepca failed: {ca.Combined}");
        ExternalTool.Result key = ExternalTool.Run("pki", ["--gen", "--type", "rsa", "--size", "2048", "--outform", "pem"], environment: env);
        Assert.Equal(0, key.ExitCode);
        File.WriteAllText(_dir.File("pki.key"), key.StdOut);
        string challenge = await ChallengeAsync();
        ExternalTool.Result enroll = ExternalTool.Run("pki", ["--scep", "--url", _url, "--in", _dir.File("pki.key"), "--dn", "C=CH, O=Test, CN=pki-1",
            "--san", "pki-1.test", "--password", challenge, "--cacert-enc", _dir.File("ca.der"), "--cacert-sig", _dir.File("ca.der"), "--outform", "pem"],
            environment: env, timeout: TimeSpan.FromSeconds(90));
        Assert.True(enroll.ExitCode == 0, $"pki --scep failed: {enroll.Combined}; server log: {_log}");
        File.WriteAllText(_dir.File("pki.crt"), enroll.StdOut);
        ExternalTool.Result verify = ExternalTool.Run("openssl", ["verify", "-CAfile", _caPem, _dir.File("pki.crt")]);
        Assert.True(verify.ExitCode == 0, verify.Combined);

        // The same challenge with a new key: refused with badRequest (challenges are one-time).
        ExternalTool.Result key2 = ExternalTool.Run("pki", ["--gen", "--type", "rsa", "--size", "2048", "--outform", "pem"], environment: env);
        File.WriteAllText(_dir.File("pki2.key"), key2.StdOut);
        ExternalTool.Result reuse = ExternalTool.Run("pki", ["--scep", "--url", _url, "--in", _dir.File("pki2.key"), "--dn", "C=CH, O=Test, CN=pki-2",
            "--password", challenge, "--cacert-enc", _dir.File("ca.der"), "--cacert-sig", _dir.File("ca.der"), "--outform", "pem"],
            environment: env, timeout: TimeSpan.FromSeconds(90));
        Assert.NotEqual(0, reuse.ExitCode);
        Assert.Contains("badRequest", reuse.Combined);
    }

    [Fact]
    public async Task GarbageRequests_Get400_AndTheServerKeepsServing()
    {
        using var http = new HttpClient();
        HttpResponseMessage bad = await http.PostAsync(_url + "?operation=PKIOperation", new ByteArrayContent([0x30, 0x80, 0x01, 0x02]));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("bad SCEP message", await bad.Content.ReadAsStringAsync());
        HttpResponseMessage unknown = await http.GetAsync(_url + "?operation=Nope");
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, unknown.StatusCode);
        string caps = await http.GetStringAsync(_url + "?operation=GetCACaps");
        Assert.Contains("SHA-384", caps);
        Assert.Contains("AES", caps);
        byte[] cacert = await http.GetByteArrayAsync(_url + "?operation=GetCACert");
        Assert.Equal(_ca.Certificate.RawData, cacert);
    }
}
