using System.Net;
using System.Net.Http.Headers;

namespace Certgate.Gateway.Crl;

/// <summary>A CRL download failed; the message says which URL and why, in the operator's words.</summary>
public sealed class CrlDownloadException : Exception
{
    public CrlDownloadException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}

/// <summary>Fetches the bytes at a CRL URL (one scheme per implementation).</summary>
public interface ICrlDownloader
{
    /// <summary>Whether this downloader handles <paramref name="url"/>'s scheme.</summary>
    bool Handles(Uri url);

    /// <summary>The CRL bytes (DER or PEM as served).</summary>
    /// <exception cref="CrlDownloadException">Unreachable, refused, not found, too large, timed out.</exception>
    Task<byte[]> DownloadAsync(Uri url, CancellationToken cancellationToken);
}

/// <summary>
/// HTTP(S) CRL download with a size limit read before buffering and a whole-request timeout. Redirects are
/// followed (CAs move CRLs), at most 3.
/// </summary>
public sealed class HttpCrlDownloader : ICrlDownloader, IDisposable
{
    private readonly HttpClient _client;
    private readonly long _maxBytes;

    public HttpCrlDownloader(TimeSpan? timeout = null, long maxBytes = 64L * 1024 * 1024)
    {
        _maxBytes = maxBytes;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = true,
            MaxAutomaticRedirections = 3,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            UseProxy = false,
        };
        _client = new HttpClient(handler) { Timeout = timeout ?? TimeSpan.FromSeconds(15) };
        _client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("certgate", "1"));
    }

    public bool Handles(Uri url) => url.Scheme is "http" or "https";

    public async Task<byte[]> DownloadAsync(Uri url, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        try
        {
            using HttpResponseMessage response = await _client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new CrlDownloadException($"{url}: the server answered {(int)response.StatusCode} {response.ReasonPhrase}");
            }
            if (response.Content.Headers.ContentLength is long length && length > _maxBytes)
            {
                throw new CrlDownloadException($"{url}: the CRL is {length} bytes, more than the limit of {_maxBytes}");
            }
            await using Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            using var buffer = new MemoryStream();
            byte[] chunk = new byte[81920];
            int n;
            while ((n = await body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + n > _maxBytes)
                {
                    throw new CrlDownloadException($"{url}: the CRL is larger than the limit of {_maxBytes} bytes");
                }
                buffer.Write(chunk, 0, n);
            }
            if (buffer.Length == 0)
            {
                throw new CrlDownloadException($"{url}: the server sent an empty body");
            }
            return buffer.ToArray();
        }
        catch (HttpRequestException e)
        {
            throw new CrlDownloadException($"{url}: {e.HttpRequestError switch
            {
                HttpRequestError.ConnectionError => "cannot connect",
                HttpRequestError.NameResolutionError => "the host name does not resolve",
                HttpRequestError.SecureConnectionError => "the TLS handshake failed",
                _ => e.Message,
            }}", e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CrlDownloadException($"{url}: no answer within {_client.Timeout.TotalSeconds:0} seconds", e);
        }
    }

    public void Dispose() => _client.Dispose();
}
