using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Certgate.Cli.Tests.Pki;

/// <summary>
/// <c>local-certificate verify</c> fetches a missing CRL from the profile's <c>crl url</c> (a real Kestrel server
/// on loopback), reports a revoked certificate as revoked, and with the server down fails unless the profile says
/// <c>disable on-download-failure</c>.
/// </summary>
public sealed class CrlDownloadTests : IAsyncLifetime, IDisposable
{
    private readonly PkiFixture _f = new();
    private readonly RSA _caKey = PkiFixture.LoadKey("ca-key.pem");
    private readonly RSA _localKey = PkiFixture.LoadKey("local-key.pem");
    private readonly X509Certificate2 _ca;
    private WebApplication? _app;
    private Uri _crlUrl = null!;
    private volatile byte[]? _crl;
    private int _requests;

    public CrlDownloadTests()
    {
        _ca = PkiFixture.CaCertificate(_caKey);
    }

    public async Task InitializeAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _app = builder.Build();
        _app.MapGet("/crl/ca.crl", async (HttpContext ctx) =>
        {
            Interlocked.Increment(ref _requests);
            if (_crl is null)
            {
                ctx.Response.StatusCode = 503;
                return;
            }
            await ctx.Response.Body.WriteAsync(_crl);
        });
        await _app.StartAsync();
        _crlUrl = new Uri(new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()), "/crl/ca.crl");
    }

    public async Task DisposeAsync()
    {
        await _app!.StopAsync();
        await _app.DisposeAsync();
    }

    public void Dispose()
    {
        _f.Dispose();
        _caKey.Dispose();
        _localKey.Dispose();
        _ca.Dispose();
    }

    private void Setup(string extra = "")
    {
        _f.Configure(
            "set security pki ca-profile golden ca-identity golden",
            $"set security pki ca-profile golden revocation-check crl url {_crlUrl}",
            extra);
        _f.Ok("--yes", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "golden", "filename", _f.WriteFile("ca.pem", _ca.ExportCertificatePem()));
        using X509Certificate2 local = PkiFixture.LocalCertificate(_ca, _caKey, _localKey, [0x10, 0x01]);
        _f.Ok("request", "security", "pki", "local-certificate", "load", "certificate-id", "gw1", "filename", _f.WriteFile("gw1.pem", local.ExportCertificatePem()),
            "key", _f.WriteFile("key.pem", _localKey.ExportPkcs8PrivateKeyPem()));
    }

    [Fact]
    public void Verify_DownloadsTheCrl_ThenUsesTheStoredOne()
    {
        Setup();
        _crl = PkiFixture.Crl(_ca, _caKey, 1);
        string output = _f.Ok("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw1");
        Assert.Contains($"Downloaded the CRL of golden from {_crlUrl}", output);
        Assert.EndsWith("Local certificate gw1 verification success\n", output);
        Assert.Contains("CRL number: 1", _f.Ok("show", "security", "pki", "crl"));

        _f.Ok("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw1");
        Assert.Equal(1, _requests);
    }

    [Fact]
    public void Verify_RevokedInTheDownloadedCrl_IsReportedRevoked()
    {
        Setup();
        _crl = PkiFixture.Crl(_ca, _caKey, 2, null, 0x1001);
        (int code, _, string err) = _f.Run("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw1");
        Assert.Equal(1, code);
        Assert.Contains("revoked", err, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Verify_ServerDown_FailsUnlessDisableOnDownloadFailure()
    {
        Setup();
        (int code, string output, string err) = _f.Run("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw1");
        Assert.Equal(1, code);
        Assert.Contains("CRL download failed for certificate golden", output);
        Assert.Contains("503", output);
        Assert.Contains("verification failed", err);

        _f.Configure("set security pki ca-profile golden revocation-check crl disable on-download-failure");
        output = _f.Ok("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw1");
        Assert.EndsWith("Local certificate gw1 verification success\n", output);
    }
}
