using System.DirectoryServices.Protocols;
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

/// <summary>
/// LDAP CRL download: <c>ldap://host:port/DN?certificateRevocationList;binary</c> (RFC 4516; the attribute
/// defaults to <c>certificateRevocationList;binary</c>, the scope is base). Anonymous bind, as CDPs are read.
/// </summary>
public sealed class LdapCrlDownloader : ICrlDownloader
{
    private const string DefaultAttribute = "certificateRevocationList;binary";
    private readonly TimeSpan _timeout;

    public LdapCrlDownloader(TimeSpan? timeout = null)
    {
        _timeout = timeout ?? TimeSpan.FromSeconds(15);
    }

    public bool Handles(Uri url) => url.Scheme == "ldap";

    public Task<byte[]> DownloadAsync(Uri url, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        // System.DirectoryServices.Protocols is synchronous on Linux; run it off the caller's thread, bounded by _timeout.
        return Task.Run(() => Download(url), cancellationToken);
    }

    /// <summary>Splits an LDAP URL into its DN and attribute.</summary>
    /// <exception cref="CrlDownloadException">No DN in the URL.</exception>
    public static (string Dn, string Attribute) ParseUrl(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        string dn = Uri.UnescapeDataString(url.AbsolutePath.TrimStart('/'));
        if (dn.Length == 0)
        {
            throw new CrlDownloadException($"{url}: the LDAP URL names no entry (expected ldap://host/DN?certificateRevocationList;binary)");
        }
        string query = Uri.UnescapeDataString(url.Query.TrimStart('?'));
        string attribute = query.Split('?')[0];
        return (dn, attribute.Length == 0 ? DefaultAttribute : attribute);
    }

    private byte[] Download(Uri url)
    {
        (string dn, string attribute) = ParseUrl(url);
        int port = url.IsDefaultPort || url.Port <= 0 ? 389 : url.Port;
        try
        {
            using var connection = new LdapConnection(new LdapDirectoryIdentifier(url.Host, port))
            {
                AuthType = AuthType.Anonymous,
                Timeout = _timeout,
            };
            connection.SessionOptions.ProtocolVersion = 3;
            connection.Bind();
            var request = new SearchRequest(dn, "(objectClass=*)", SearchScope.Base, attribute);
            var response = (SearchResponse)connection.SendRequest(request, _timeout);
            if (response.Entries.Count == 0)
            {
                throw new CrlDownloadException($"{url}: the entry {dn} does not exist");
            }
            SearchResultEntry entry = response.Entries[0];
            foreach (string name in entry.Attributes.AttributeNames)
            {
                if (string.Equals(name, attribute, StringComparison.OrdinalIgnoreCase)
                    || string.Equals(name.Split(';')[0], attribute.Split(';')[0], StringComparison.OrdinalIgnoreCase))
                {
                    object[] values = entry.Attributes[name].GetValues(typeof(byte[]));
                    if (values.Length > 0 && values[0] is byte[] bytes && bytes.Length > 0)
                    {
                        return bytes;
                    }
                }
            }
            throw new CrlDownloadException($"{url}: the entry {dn} has no {attribute} value");
        }
        catch (LdapException e)
        {
            throw new CrlDownloadException($"{url}: {(e.ErrorCode == 81 ? "cannot connect to the LDAP server" : e.Message)}", e);
        }
        catch (DirectoryOperationException e)
        {
            string why = e.Response?.ResultCode == ResultCode.NoSuchObject ? $"the entry {dn} does not exist" : e.Message;
            throw new CrlDownloadException($"{url}: {why}", e);
        }
        catch (DllNotFoundException e)
        {
            throw new CrlDownloadException($"{url}: the LDAP client library is missing (install the Debian package libldap-2.5-0)", e);
        }
    }
}
