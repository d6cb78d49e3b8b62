using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Gateway.Crl;
using Certgate.Pki.Revocation;
using Certgate.Pki.Store;
using Certgate.Tests.Shared.TestPki;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Certgate.Gateway.Tests.Crl;

/// <summary>
/// CRL download against a real Kestrel server on loopback whose answers the test controls: sharing of one
/// download among many callers, the caller's bound, remembered failures, validation before install, fallback.
/// </summary>
public sealed class CrlFetchTests : IAsyncLifetime, IDisposable
{
    /// <summary>The shared test CA on the real clock: the fetcher checks the CRLs' times against it.</summary>
    private readonly TestCa _authority = TestCa.CreateRoot("CN=Fetch Test CA", now: DateTimeOffset.UtcNow);
    private readonly string _state = Directory.CreateTempSubdirectory("certgate-gw-crl-").FullName;
    private WebApplication? _app;
    private Uri _base = null!;
    private int _requests;

    /// <summary>What the server does: the bytes to serve, a delay, or a status code.</summary>
    private volatile byte[] _body = [];
    private volatile int _status = 200;
    private int _delayMs;

    public async Task InitializeAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _app = builder.Build();
        _app.MapGet("/crl/ca.crl", async (HttpContext ctx) =>
        {
            Interlocked.Increment(ref _requests);
            if (_delayMs > 0)
            {
                await Task.Delay(_delayMs);
            }
            ctx.Response.StatusCode = _status;
            if (_status == 200)
            {
                ctx.Response.ContentType = "application/pkix-crl";
                await ctx.Response.Body.WriteAsync(_body);
            }
        });
        await _app.StartAsync();
        _base = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    public void Dispose()
    {
        _authority.Dispose();
        Directory.Delete(_state, recursive: true);
    }

    private X509Certificate2 Ca => _authority.Certificate;

    private Uri CrlUrl => new(_base, "/crl/ca.crl");

    /// <summary>A CRL of the CA, valid for a day, listing <paramref name="revoked"/>; signed by <paramref name="signer"/>'s key under the CA's name if given.</summary>
    private byte[] Crl(int number, TestCa? signer = null, params int[] revoked)
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return _authority.CrlBytes(thisUpdate: now.AddMinutes(-1), nextUpdate: now.AddDays(1), number: number, reason: null, signer: signer,
            serials: revoked.Select(s => new BigInteger(s).ToByteArray(isUnsigned: true, isBigEndian: true)), revokedAt: now.AddMinutes(-1));
    }

    private static CrlFetcher NewFetcher() => new([new HttpCrlDownloader(TimeSpan.FromSeconds(10)), new LdapCrlDownloader()]);

    [Fact]
    public async Task Update_InstallsValidCrl_ThenReportsNoChange()
    {
        _body = Crl(1, revoked: 77);
        var store = new PkiStore(_state);
        var updater = new CrlUpdater(store, NewFetcher());
        CrlUpdateResult first = await updater.UpdateAsync("ca1", Ca, [CrlUrl], TimeSpan.FromSeconds(10));
        Assert.True(first.Installed, string.Join("; ", first.Errors));
        Assert.Equal(_body, store.LoadCrl("ca1"));
        Assert.True(first.Crl!.Contains([77]));

        CrlUpdateResult second = await updater.UpdateAsync("ca1", Ca, [CrlUrl], TimeSpan.FromSeconds(10));
        Assert.False(second.Installed);
        Assert.NotNull(second.Crl);
    }

    [Fact]
    public async Task ManyCallers_ShareOneDownload()
    {
        _body = Crl(1);
        _delayMs = 300;
        CrlFetcher fetcher = NewFetcher();
        CrlFetchResult[] results = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => fetcher.FetchAsync(CrlUrl, TimeSpan.FromSeconds(10))));
        Assert.All(results, r => Assert.Equal(CrlFetchStatus.Downloaded, r.Status));
        Assert.Equal(1, _requests);
        Assert.Equal(1, fetcher.DownloadsStarted);
    }

    [Fact]
    public async Task SlowServer_CallerIsReleasedAtItsBound_DownloadGoesOn()
    {
        _body = Crl(1);
        _delayMs = 1500;
        CrlFetcher fetcher = NewFetcher();
        CrlFetchResult early = await fetcher.FetchAsync(CrlUrl, TimeSpan.FromMilliseconds(100));
        Assert.Equal(CrlFetchStatus.StillRunning, early.Status);
        Assert.Contains("still downloading", early.Error);
        CrlFetchResult later = await fetcher.FetchAsync(CrlUrl, TimeSpan.FromSeconds(10));
        Assert.Equal(CrlFetchStatus.Downloaded, later.Status);
        Assert.Equal(1, _requests);
    }

    [Fact]
    public async Task Failure_IsRemembered_NotRetriedImmediately()
    {
        _status = 500;
        CrlFetcher fetcher = NewFetcher();
        CrlFetchResult first = await fetcher.FetchAsync(CrlUrl, TimeSpan.FromSeconds(10));
        Assert.Equal(CrlFetchStatus.Failed, first.Status);
        Assert.Contains("500", first.Error);
        CrlFetchResult second = await fetcher.FetchAsync(CrlUrl, TimeSpan.FromSeconds(10));
        Assert.Equal(CrlFetchStatus.Failed, second.Status);
        Assert.Contains("remembered", second.Error);
        Assert.Equal(1, _requests);

        var noMemory = new CrlFetcher([new HttpCrlDownloader()]) { FailureMemory = TimeSpan.Zero };
        _status = 200;
        _body = Crl(1);
        Assert.Equal(CrlFetchStatus.Downloaded, (await noMemory.FetchAsync(CrlUrl, TimeSpan.FromSeconds(10))).Status);
    }

    [Fact]
    public async Task WrongSigner_Older_Garbage_AreRefused_AndTheNextUrlIsTried()
    {
        var store = new PkiStore(_state);
        var updater = new CrlUpdater(store, new CrlFetcher([new HttpCrlDownloader()]) { FailureMemory = TimeSpan.Zero });

        _body = Crl(5);
        Assert.True((await updater.UpdateAsync("ca1", Ca, [CrlUrl], TimeSpan.FromSeconds(10))).Installed);
        byte[] installed = store.LoadCrl("ca1")!;

        // Another key under the CA's name: the impostor's CRL.
        using TestCa impostor = TestCa.CreateRoot("CN=Fetch Test CA", now: DateTimeOffset.UtcNow);
        _body = Crl(9, impostor);
        CrlUpdateResult r = await updater.UpdateAsync("ca1", Ca, [CrlUrl], TimeSpan.FromSeconds(10));
        Assert.False(r.Installed);
        Assert.Contains("not signed by the CA of profile ca1", Assert.Single(r.Errors));

        _body = Crl(4);
        r = await updater.UpdateAsync("ca1", Ca, [CrlUrl], TimeSpan.FromSeconds(10));
        Assert.Contains("older than the installed one", Assert.Single(r.Errors));

        _body = [0x30, 0x03, 0x02, 0x01, 0x00];
        r = await updater.UpdateAsync("ca1", Ca, [CrlUrl], TimeSpan.FromSeconds(10));
        Assert.Contains("not a CRL", Assert.Single(r.Errors));
        Assert.Equal(installed, store.LoadCrl("ca1"));

        // A dead first URL, then a good one: the good one is installed and the dead one is reported.
        _body = Crl(6);
        var dead = new Uri("http://127.0.0.1:9/crl.crl");
        r = await updater.UpdateAsync("ca1", Ca, [dead, CrlUrl], TimeSpan.FromSeconds(10));
        Assert.True(r.Installed);
        Assert.Equal(CrlUrl, r.Source);
        Assert.Contains("cannot connect", Assert.Single(r.Errors));
    }

    [Fact]
    public void NextRefresh_IsTheEarlierOfIntervalAndNextUpdate()
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        CertificateRevocationList crl = CertificateRevocationList.Load(Crl(1));
        Assert.Equal(now + TimeSpan.FromHours(2), CrlUpdater.NextRefresh(crl, TimeSpan.FromHours(2), now));
        Assert.Equal(crl.NextUpdate, CrlUpdater.NextRefresh(crl, TimeSpan.FromHours(48), now));
        Assert.Equal(now + TimeSpan.FromHours(24), CrlUpdater.NextRefresh(null, TimeSpan.FromHours(24), now));
    }

    [Theory]
    [InlineData("ldap://ldap.example.net/cn=CA,dc=example,dc=net?certificateRevocationList;binary", "cn=CA,dc=example,dc=net", "certificateRevocationList;binary")]
    [InlineData("ldap://ldap.example.net:1389/cn=My%20CA,o=Example", "cn=My CA,o=Example", "certificateRevocationList;binary")]
    public void LdapUrl_IsParsed(string url, string dn, string attribute)
    {
        Assert.Equal((dn, attribute), LdapCrlDownloader.ParseUrl(new Uri(url)));
    }

    [Fact]
    public async Task UnsupportedScheme_IsAClearFailure()
    {
        CrlFetchResult r = await NewFetcher().FetchAsync(new Uri("ftp://example.net/ca.crl"), TimeSpan.FromSeconds(1));
        Assert.Equal(CrlFetchStatus.Failed, r.Status);
        Assert.Contains("unsupported URL scheme 'ftp'", r.Error);
    }
}
