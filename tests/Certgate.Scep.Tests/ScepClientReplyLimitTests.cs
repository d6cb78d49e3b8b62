using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Scep.Tests;

/// <summary>
/// The SCEP client bounds every reply before parsing it (issue #14 §4): a hostile or broken "CA" on loopback
/// (<see cref="HttpListener"/>) answers GetCACaps, GetCACert and PKIOperation with bodies past the limits, announced
/// by Content-Length or chunked without one; the client refuses each with one message naming the URL and the limit.
/// </summary>
public sealed class ScepClientReplyLimitTests : IDisposable
{
    private readonly HttpListener _listener;
    private readonly Task _serving;
    private readonly Uri _url;

    /// <summary>Per operation: the body length and whether it is sent chunked (no Content-Length).</summary>
    private readonly Dictionary<string, (int Length, bool Chunked)> _answers = new(StringComparer.Ordinal);

    public ScepClientReplyLimitTests()
    {
        (_listener, int port) = StartListener();
        _url = new Uri($"http://127.0.0.1:{port}/scep");
        _serving = Task.Run(ServeAsync);
    }

    public void Dispose()
    {
        _listener.Close();
        try
        {
            _serving.Wait(TimeSpan.FromSeconds(30));
        }
        catch (AggregateException)
        {
            // The accept loop ends with the listener; what it threw then is no test result.
        }
    }

    private static (HttpListener, int) StartListener()
    {
        for (int attempt = 0; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                return (listener, port);
            }
            catch (HttpListenerException) when (attempt < 10)
            {
                listener.Close(); // the port was taken between probe and start: try another
            }
        }
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try
            {
                ctx = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(async () =>
            {
                string operation = ctx.Request.QueryString["operation"] ?? "";
                (int length, bool chunked) = _answers.TryGetValue(operation, out var a) ? a : (0, false);
                try
                {
                    ctx.Response.ContentType = "application/octet-stream";
                    ctx.Response.SendChunked = chunked;
                    if (!chunked)
                    {
                        ctx.Response.ContentLength64 = length;
                    }
                    byte[] block = new byte[64 * 1024];
                    block.AsSpan().Fill((byte)'A');
                    for (int sent = 0; sent < length; sent += block.Length)
                    {
                        await ctx.Response.OutputStream.WriteAsync(block.AsMemory(0, Math.Min(block.Length, length - sent)));
                    }
                    ctx.Response.Close();
                }
                catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
                {
                    // The client hung up once past its limit: that is the behaviour under test.
                }
            });
        }
    }

    private ScepClient Client() => new(new HttpClient { Timeout = TimeSpan.FromSeconds(60) }, _url);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GetCACaps_past_the_limit_is_refused_naming_the_URL_and_limit(bool chunked)
    {
        _answers["GetCACaps"] = (ScepClient.MaxCaCapsReplyBytes + 1, chunked);
        var e = await Assert.ThrowsAsync<ScepFormatException>(() => Client().GetCapabilitiesAsync());
        Assert.Contains(_url.GetLeftPart(UriPartial.Path) + "?operation=GetCACaps", e.Message, StringComparison.Ordinal);
        Assert.Contains($"larger than the {ScepClient.MaxCaCapsReplyBytes}-octet limit", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GetCACert_past_the_limit_is_refused_naming_the_URL_and_limit(bool chunked)
    {
        _answers["GetCACert"] = (2 * ScepClient.MaxCaCertReplyBytes, chunked);
        var e = await Assert.ThrowsAsync<ScepFormatException>(() => Client().GetCaCertAsync());
        Assert.Contains("?operation=GetCACert", e.Message, StringComparison.Ordinal);
        Assert.Contains(_url.Authority, e.Message, StringComparison.Ordinal);
        Assert.Contains($"larger than the {ScepClient.MaxCaCertReplyBytes}-octet limit", e.Message, StringComparison.Ordinal);
        Assert.Contains(chunked ? "the body went past it" : $"Content-Length {2 * ScepClient.MaxCaCertReplyBytes}", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PKIOperation_past_the_limit_is_refused_naming_the_URL_and_limit(bool chunked)
    {
        _answers["PKIOperation"] = (ScepClient.MaxPkiOperationReplyBytes + 1, chunked);
        (RSA key, X509Certificate2 signer, byte[] csr) = ScepTestPki.Client();
        using RSA _ = key;
        X509Certificate2 ca = X509CertificateLoader.LoadCertificate(ScepTestPki.Ca.RawData);
        var creds = new ScepClientCredentials(signer, ca);
        ScepOutgoingRequest request = ScepClientMessages.Enrollment(csr, null, creds);
        var e = await Assert.ThrowsAsync<ScepFormatException>(() =>
            Client().ExchangeAsync(request, creds, [ca], signer.PublicKey, CancellationToken.None));
        Assert.Contains("?operation=PKIOperation", e.Message, StringComparison.Ordinal);
        Assert.Contains($"larger than the {ScepClient.MaxPkiOperationReplyBytes}-octet limit", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetCACaps_within_the_limit_is_read()
    {
        _answers["GetCACaps"] = (1000, true);
        // 1000 'A's: one unknown keyword line, which the parser ignores; what matters is that it was read at all.
        ScepCapabilities caps = await Client().GetCapabilitiesAsync();
        Assert.False(caps.Aes);
    }
}
