using System.Security.Cryptography.X509Certificates;
using Certgate.Ca;
using Certgate.Ca.Http;
using Certgate.Ca.Issuance;
using Certgate.Ca.Layout;
using Certgate.Ca.Sqlite;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Gateway;

/// <summary>
/// Our CA (<c>ca init</c> layout, SQLite) behind its HTTP server on 127.0.0.1, for the gateway's PKI agent tests.
/// Issued certificates can be made short-lived (seconds) by replacing the pipeline's validity stage, so renewal
/// happens in real time within a test. The HTTP server can be stopped and started again on the same port (the CA
/// and its database stay), to play a CA that is down for a while.
/// </summary>
internal sealed class GatewayTestCa : IAsyncDisposable
{
    private readonly SqliteCaStore _store;
    private CaHttpServer? _server;
    private readonly int _port;

    private GatewayTestCa(TempDirectory dir, string caDir, SqliteCaStore store, CertificateAuthority ca, CaHttpServer server)
    {
        Dir = dir;
        CaDir = caDir;
        _store = store;
        Ca = ca;
        _server = server;
        _port = server.BaseAddress.Port;
    }

    public TempDirectory Dir { get; }

    /// <summary>The CA directory (for <c>certgate ca … --dir</c>).</summary>
    public string CaDir { get; }

    public CertificateAuthority Ca { get; }

    /// <summary>http://127.0.0.1:PORT/scep (the same after a restart).</summary>
    public Uri ScepUrl => new($"http://127.0.0.1:{_port}/scep");

    /// <param name="lifetime">Validity of issued certificates (notBefore one second back); null keeps the profile's days.</param>
    /// <param name="settingsEdit">Edits the default <c>ca.json</c> text before <c>ca init</c>.</param>
    public static async Task<GatewayTestCa> StartAsync(TimeSpan? lifetime = null, Func<string, string>? settingsEdit = null)
    {
        var dir = new TempDirectory("certgate-gwca-");
        try
        {
            string caDir = dir.File("ca");
            string text = settingsEdit is null ? Certgate.Ca.Settings.CaSettingsFile.DefaultText : settingsEdit(Certgate.Ca.Settings.CaSettingsFile.DefaultText);
            CaMaterial m = CaDirectory.Init(caDir, "CN=Certgate Agent Test CA,O=Certgate,C=CH", "rsa:2048", 30, text);
            SqliteCaStore store = await SqliteCaStore.OpenAsync(CaDirectory.ResolveDatabase(caDir, m.Settings)["sqlite:".Length..]);
            var pipeline = new IssuancePipeline();
            if (lifetime is { } l)
            {
                int i = pipeline.Modifiers.FindIndex(x => x is ValidityModifier);
                pipeline.Modifiers[i] = new ShortValidity(l);
            }
            var ca = new CertificateAuthority(m.Settings, m.Certificate, store, null, m.RaCertificate, null, pipeline);
            CaHttpServer server = await CaHttpServer.StartAsync(ca, new CaHttpOptions { Listen = new Uri("http://127.0.0.1:0") });
            return new GatewayTestCa(dir, caDir, store, ca, server);
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    public async Task<string> ChallengeAsync() => (await Ca.CreateChallengeAsync(TimeSpan.FromMinutes(10), null, "test")).Password;

    /// <summary>Stops answering HTTP (connections are refused) until <see cref="StartHttpAsync"/>.</summary>
    public async Task StopHttpAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
            _server = null;
        }
    }

    /// <summary>Serves again on the same port.</summary>
    public async Task StartHttpAsync()
    {
        _server ??= await CaHttpServer.StartAsync(Ca, new CaHttpOptions { Listen = new Uri($"http://127.0.0.1:{_port}") });
    }

    public async ValueTask DisposeAsync()
    {
        await StopHttpAsync();
        await _store.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Dir.Dispose();
    }

    /// <summary>Issued certificates valid from one second ago for <c>lifetime</c> (instead of the profile's days).</summary>
    private sealed class ShortValidity(TimeSpan lifetime) : ICertificateModifier
    {
        public void Modify(CertificateTemplate template, IssuanceContext context)
        {
            template.NotBefore = context.Now - TimeSpan.FromSeconds(1);
            template.NotAfter = context.Now + lifetime;
        }
    }
}
