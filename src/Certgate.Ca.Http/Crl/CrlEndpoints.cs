using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Certgate.Ca.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Certgate.Ca.Http.Crl;

/// <summary>
/// CRL distribution and the AIA caIssuers certificate over HTTP (RFC 5280 §4.2.1.13, §4.2.2.1):
/// <code>
///   GET|HEAD /crl/NAME.crl   the current CRL, DER, application/pkix-crl
///   GET|HEAD /crl/NAME.pem   the same CRL, PEM ("X509 CRL")
///   GET|HEAD /ca.crt         the CA certificate, DER, application/pkix-cert
/// </code>
/// NAME is the last path segment of the settings' CRL URL without ".crl" (<c>ca</c>); any other name is 404.
/// Answers carry ETag (the CRL number), Last-Modified (thisUpdate) and Cache-Control max-age up to nextUpdate, so
/// caches never hold a CRL past its nextUpdate; conditional requests get 304.
/// When no CRL exists yet, or the current one has entered its overlap window, a new one is issued first.
/// </summary>
internal sealed class CrlEndpoints : ICaEndpoints
{
    /// <summary>The DER media type of RFC 5280 §4.2.1.13 / RFC 2585.</summary>
    public const string CrlMediaType = "application/pkix-crl";

    /// <summary>The DER media type of RFC 2585 for a single certificate.</summary>
    public const string CertificateMediaType = "application/pkix-cert";

    public const string PemMediaType = "application/x-pem-file";

    /// <summary>The slice a response body is written in, so Kestrel's flow control bounds the memory per client.</summary>
    private const int WriteSlice = 64 * 1024;

    /// <summary>How long a CRL read from the store is reused before the store is asked again. Short, because another
    /// process (<c>certgate ca revoke</c>) may issue a new CRL at any time.</summary>
    internal static readonly TimeSpan StoreRefresh = TimeSpan.FromSeconds(1);

    /// <summary>The CRL name served: last path segment of <paramref name="crlUrl"/> without ".crl", else "ca".</summary>
    internal static string CrlName(string? crlUrl)
    {
        if (crlUrl is null)
        {
            return "ca";
        }
        string last = crlUrl.TrimEnd('/');
        last = last[(last.LastIndexOf('/') + 1)..];
        return last.EndsWith(".crl", StringComparison.OrdinalIgnoreCase) && last.Length > 4 ? last[..^4] : "ca";
    }

    /// <inheritdoc/>
    public void Map(WebApplication app, CertificateAuthority ca, CaHttpOptions options)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(ca);
        ArgumentNullException.ThrowIfNull(options);
        var source = new CurrentCrl(ca);
        string name = CrlName(ca.Settings.CrlUrl);
        string[] methods = [HttpMethods.Get, HttpMethods.Head];

        app.MapMethods("/crl/{file}", methods, async (HttpContext http, string file) =>
        {
            bool pem;
            if (string.Equals(file, name + ".crl", StringComparison.Ordinal))
            {
                pem = false;
            }
            else if (string.Equals(file, name + ".pem", StringComparison.Ordinal))
            {
                pem = true;
            }
            else
            {
                await NotFoundAsync(http).ConfigureAwait(false);
                return;
            }
            Snapshot crl;
            try
            {
                crl = await source.GetAsync(http.RequestAborted).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                options.Log?.WriteLine($"crl: cannot read or issue the CRL: {e.GetType().Name}: {e.Message}");
                http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                http.Response.Headers.RetryAfter = "30";
                return;
            }
            DateTimeOffset now = DateTimeOffset.UtcNow;
            long maxAge = Math.Max(0, (long)(crl.Record.NextUpdate - now).TotalSeconds);
            await WriteAsync(http, pem ? crl.Pem : crl.Record.Der, pem ? PemMediaType : CrlMediaType,
                $"\"crl-{crl.Record.Number.ToString(CultureInfo.InvariantCulture)}{(pem ? "-pem" : "")}\"",
                crl.Record.ThisUpdate, maxAge, crl.Record.NextUpdate).ConfigureAwait(false);
        });

        byte[] caDer = ca.Certificate.RawData;
        string caTag = "\"" + Convert.ToHexString(SHA256.HashData(caDer), 0, 16) + "\"";
        var caModified = new DateTimeOffset(ca.Certificate.NotBefore.ToUniversalTime());
        app.MapMethods("/ca.crt", methods, (HttpContext http) =>
            WriteAsync(http, caDer, CertificateMediaType, caTag, caModified, (long)TimeSpan.FromDays(1).TotalSeconds, null));
    }

    private static Task NotFoundAsync(HttpContext http)
    {
        http.Response.StatusCode = StatusCodes.Status404NotFound;
        http.Response.ContentType = "text/plain; charset=utf-8";
        return HttpMethods.IsHead(http.Request.Method) ? Task.CompletedTask : http.Response.WriteAsync("no such CRL\n");
    }

    private static async Task WriteAsync(HttpContext http, byte[] body, string mediaType, string etag, DateTimeOffset lastModified, long maxAgeSeconds, DateTimeOffset? expires)
    {
        HttpResponse r = http.Response;
        r.Headers.ETag = etag;
        r.Headers.LastModified = lastModified.ToString("r", CultureInfo.InvariantCulture);
        r.Headers.CacheControl = $"public, max-age={maxAgeSeconds.ToString(CultureInfo.InvariantCulture)}";
        if (expires is { } e)
        {
            r.Headers.Expires = e.ToString("r", CultureInfo.InvariantCulture);
        }
        if (NotModified(http.Request, etag, lastModified))
        {
            r.StatusCode = StatusCodes.Status304NotModified;
            return;
        }
        r.StatusCode = StatusCodes.Status200OK;
        r.ContentType = mediaType;
        r.ContentLength = body.Length;
        if (!HttpMethods.IsHead(http.Request.Method))
        {
            // In slices, each awaited: one WriteAsync of a whole 38 MB CRL is copied into Kestrel's buffers before any
            // backpressure applies, so 32 slow clients held 32 copies (bench/README.md, ca-crl).
            for (int offset = 0; offset < body.Length; offset += WriteSlice)
            {
                await r.Body.WriteAsync(body.AsMemory(offset, Math.Min(WriteSlice, body.Length - offset)), http.RequestAborted).ConfigureAwait(false);
            }
        }
    }

    /// <summary>RFC 9110 §13.1.1–13.1.3: If-None-Match wins over If-Modified-Since.</summary>
    internal static bool NotModified(HttpRequest request, string etag, DateTimeOffset lastModified)
    {
        string? inm = request.Headers.IfNoneMatch;
        if (!string.IsNullOrEmpty(inm))
        {
            foreach (string tag in inm.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                string t = tag.StartsWith("W/", StringComparison.Ordinal) ? tag[2..] : tag;
                if (t == "*" || string.Equals(t, etag, StringComparison.Ordinal))
                {
                    return true;
                }
            }
            return false;
        }
        string? ims = request.Headers.IfModifiedSince;
        return !string.IsNullOrEmpty(ims)
            && HeaderUtilities.TryParseDate(ims, out DateTimeOffset since)
            && lastModified.ToUnixTimeSeconds() <= since.ToUnixTimeSeconds();
    }

    /// <summary>A CRL as served: the record and its PEM form.</summary>
    private sealed record Snapshot(CrlRecord Record, byte[] Pem, DateTimeOffset FetchedAt);

    /// <summary>The current CRL of one CA, re-read from the store at most every <see cref="StoreRefresh"/>; at most one
    /// caller issues a new CRL at a time.</summary>
    private sealed class CurrentCrl(CertificateAuthority ca)
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private volatile Snapshot? _snapshot;

        public async Task<Snapshot> GetAsync(CancellationToken ct)
        {
            Snapshot? s = _snapshot;
            DateTimeOffset now = DateTimeOffset.UtcNow;
            if (s is not null && now - s.FetchedAt < StoreRefresh && now < s.Record.NextUpdate - ca.Settings.Crl.Overlap)
            {
                return s;
            }
            await _gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                s = _snapshot;
                now = DateTimeOffset.UtcNow;
                bool current = s is not null && now < s.Record.NextUpdate - ca.Settings.Crl.Overlap;
                if (current && now - s!.FetchedAt < StoreRefresh)
                {
                    return s;
                }
                // Still the latest in the store (no `ca revoke` or `ca crl` since)? Then keep it without reading the
                // whole CRL again: a large CRL re-read every second costs a full copy and stalls the requests queued here.
                if (current && await ca.Store.GetLatestCrlNumberAsync(ct).ConfigureAwait(false) == s!.Record.Number)
                {
                    _snapshot = s = s with { FetchedAt = now };
                    return s;
                }
                CrlRecord record = await ca.GetCurrentCrlAsync("http", ct).ConfigureAwait(false);
                byte[] pem = s is not null && s.Record.Number == record.Number
                    ? s.Pem
                    : Encoding.ASCII.GetBytes(new string(PemEncoding.Write("X509 CRL", record.Der)) + "\n");
                _snapshot = s = new Snapshot(record, pem, now);
                return s;
            }
            finally
            {
                _gate.Release();
            }
        }
    }
}
