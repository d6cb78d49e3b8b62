using System.Security.Cryptography.X509Certificates;
using Certgate.Ca;
using Certgate.Ca.Http;
using Certgate.Ca.Layout;
using Certgate.Ca.Settings;
using Certgate.Ca.Sqlite;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Scep;

/// <summary>A real CA (<c>ca init</c> layout, RSA-2048, SQLite) behind the CA HTTP server on 127.0.0.1:random port.
/// Dispose stops the server and deletes the directory.</summary>
internal sealed class ScepCaServer : IAsyncDisposable
{
    private readonly SqliteCaStore _store;
    private readonly CaHttpServer _server;

    private ScepCaServer(TempDirectory dir, SqliteCaStore store, CertificateAuthority ca, CaHttpServer server, StringWriter log)
    {
        Dir = dir;
        _store = store;
        Ca = ca;
        _server = server;
        Log = log;
    }

    public TempDirectory Dir { get; }

    public CertificateAuthority Ca { get; }

    public StringWriter Log { get; }

    /// <summary>The SCEP URL, e.g. http://127.0.0.1:PORT/scep.</summary>
    public Uri ScepUrl => new(_server.BaseAddress, "scep");

    /// <summary>The CA certificate as a PEM file in the temp directory.</summary>
    public string CaPemPath { get; private set; } = "";

    /// <param name="settingsEdit">Edits the default <c>ca.json</c> text before <c>ca init</c> (e.g. RA mode, manual approval).</param>
    public static async Task<ScepCaServer> StartAsync(Func<string, string>? settingsEdit = null)
    {
        var dir = new TempDirectory("certgate-scep-");
        try
        {
            string caDir = dir.File("ca");
            string text = settingsEdit is null ? CaSettingsFile.DefaultText : settingsEdit(CaSettingsFile.DefaultText);
            CaMaterial m = CaDirectory.Init(caDir, "CN=Certgate SCEP Test CA,O=Certgate,C=CH", "rsa:2048", 365, text);
            CaSettings settings = m.Settings;
            string db = CaDirectory.ResolveDatabase(caDir, settings);
            SqliteCaStore store = await SqliteCaStore.OpenAsync(db["sqlite:".Length..]);
            var ca = new CertificateAuthority(settings, m.Certificate, store, null, m.RaCertificate);
            var log = new StringWriter();
            CaHttpServer server = await CaHttpServer.StartAsync(ca, new CaHttpOptions { Listen = new Uri("http://127.0.0.1:0"), Log = TextWriter.Synchronized(log) });
            var s = new ScepCaServer(dir, store, ca, server, log) { CaPemPath = dir.File("ca.pem") };
            File.WriteAllText(s.CaPemPath, m.Certificate.ExportCertificatePem());
            return s;
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    /// <summary>The certificate a SCEP client encrypts to and whose key signs the CertReps: the RA of a CA made by
    /// <c>ca init</c> (RA by default, issue #14 §4), the CA itself for a CA configured <c>getCaCert "ca"</c>.</summary>
    public X509Certificate2 Recipient => X509CertificateLoader.LoadCertificate(Ca.MessageCertificate.RawData);

    public async Task<string> ChallengeAsync() => (await Ca.CreateChallengeAsync(TimeSpan.FromMinutes(10), null, "test")).Password;

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        await _store.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Dir.Dispose();
    }

    /// <summary>openssl verify of <paramref name="certPath"/> against the CA; returns its output.</summary>
    public string OpensslVerify(string certPath)
    {
        ExternalTool.Result r = ExternalTool.Run("openssl", ["verify", "-CAfile", CaPemPath, certPath]);
        Assert.True(r.ExitCode == 0, $"openssl verify failed ({r.ExitCode}): {r.Combined}");
        return r.StdOut;
    }

    public static X509Certificate2 LoadCert(string path) =>
        File.ReadAllText(path).Contains("-----BEGIN", StringComparison.Ordinal)
            ? X509Certificate2.CreateFromPem(File.ReadAllText(path))
            : X509CertificateLoader.LoadCertificateFromFile(path);
}
