using System.Formats.Asn1;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Scep;

/// <summary>The answer of a CA to an enrollment or poll.</summary>
public sealed record ScepEnrollment(ScepPkiStatus Status, ScepFailInfo? FailInfo, X509Certificate2? Certificate, string TransactionId, string? FailInfoText = null)
{
    /// <summary>What a failInfo usually means, in an operator's words.</summary>
    public static string Explain(ScepFailInfo failInfo) => failInfo switch
    {
        ScepFailInfo.BadAlg => "badAlg: the CA does not accept the algorithms used (try another scep-encryption-algorithm or scep-digest-algorithm)",
        ScepFailInfo.BadMessageCheck => "badMessageCheck: the CA could not verify the request's signature or integrity",
        ScepFailInfo.BadRequest => "badRequest: the CA refused the request (wrong, used or expired challenge password, or a subject/alternative name the CA does not allow)",
        ScepFailInfo.BadTime => "badTime: the CA finds the request's time wrong (check the clocks)",
        ScepFailInfo.BadCertId => "badCertId: the CA does not know the certificate or transaction referred to",
        _ => failInfo.ToString(),
    };

    /// <summary>Why a FAILURE was refused, in words: the failInfo explained and the CA's failInfoText, if any.</summary>
    public string FailureReason => (FailInfo is { } f ? Explain(f) : "no failInfo given") + (FailInfoText is { Length: > 0 } t ? $" (CA says: {t})" : "");
}

/// <summary>
/// A SCEP client (RFC 8894) over HTTP: GetCACaps, GetCACert, PKCSReq/RenewalReq and CertPoll. Replies are
/// accepted only when signed by the CA or RA certificate given, for our transaction, with our nonce echoed.
/// </summary>
public sealed class ScepClient
{
    /// <summary>Largest GetCACaps reply read (a capability list is a few hundred octets).</summary>
    public const int MaxCaCapsReplyBytes = 64 * 1024;

    /// <summary>Largest GetCACert reply read (a CA and RA chain is a few kilobytes).</summary>
    public const int MaxCaCertReplyBytes = 1024 * 1024;

    /// <summary>Largest PKIOperation reply read (a CertRep with a certificate or a CRL).</summary>
    public const int MaxPkiOperationReplyBytes = 4 * 1024 * 1024;

    /// <summary>Largest part of an HTTP error body read for the message.</summary>
    private const int MaxErrorBodyBytes = 4096;

    private readonly HttpClient _http;
    private readonly Uri _url;
    private readonly string? _identity;

    /// <param name="http">The HTTP client (its timeout bounds every request).</param>
    /// <param name="url">The SCEP URL, e.g. <c>http://ca.example.net:8080/scep</c>.</param>
    /// <param name="identity">The CA identity sent as the <c>message</c> parameter (Junos <c>ca-identity</c>).</param>
    public ScepClient(HttpClient http, Uri url, string? identity = null)
    {
        _http = http ?? throw new ArgumentNullException(nameof(http));
        _url = url ?? throw new ArgumentNullException(nameof(url));
        _identity = identity;
    }

    private Uri Operation(string operation, string? message = null) =>
        new($"{_url.GetLeftPart(UriPartial.Path)}?operation={operation}" + (message is null ? "" : "&message=" + Uri.EscapeDataString(message)));

    /// <summary>GetCACaps, parsed (RFC 8894 §3.5.2: lines, case-insensitive; see <see cref="ScepCapabilities"/>).</summary>
    /// <exception cref="ScepFormatException">The CA answered with an error, nothing reachable, or an oversized list.</exception>
    public async Task<ScepCapabilities> GetCapabilitiesAsync(CancellationToken cancellationToken = default)
    {
        string text = await GetStringAsync(Operation("GetCACaps", _identity), cancellationToken).ConfigureAwait(false);
        try
        {
            return ScepCapabilities.Parse(text);
        }
        catch (ScepFormatException e)
        {
            throw new ScepFormatException($"{_url}: {e.Message}", e) { FailInfo = ScepFailInfo.BadRequest };
        }
    }

    /// <summary>The CA (and RA) certificates: one DER certificate, or a certificates-only PKCS#7.</summary>
    public async Task<X509Certificate2Collection> GetCaCertAsync(CancellationToken cancellationToken = default)
    {
        Uri uri = Operation("GetCACert", _identity);
        using HttpResponseMessage response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, uri), cancellationToken).ConfigureAwait(false);
        byte[] body = await ReadBodyAsync(response, uri, MaxCaCertReplyBytes, cancellationToken).ConfigureAwait(false);
        string type = response.Content.Headers.ContentType?.MediaType ?? "";
        try
        {
            if (type == "application/x-x509-ca-ra-cert" || (body.Length > 0 && LooksLikePkcs7(body)))
            {
                var signed = new SignedCms();
                signed.Decode(body);
                return signed.Certificates.Count > 0 ? signed.Certificates : throw new ScepFormatException("GetCACert returned a PKCS#7 without certificates");
            }
            return [X509CertificateLoader.LoadCertificate(body)];
        }
        catch (CryptographicException e)
        {
            throw new ScepFormatException($"GetCACert returned something that is not a certificate ({type}, {body.Length} octets)", e) { FailInfo = ScepFailInfo.BadRequest };
        }
    }

    /// <summary>Sends a PKCSReq or RenewalReq and returns the CA's answer (which may be PENDING).</summary>
    public Task<ScepEnrollment> EnrollAsync(ScepMessageType type, byte[] csr, X509Certificate2 signer, X509Certificate2 recipient, IReadOnlyCollection<X509Certificate2> caCertificates,
        string transactionId, HashAlgorithmName digest, ScepCipher cipher, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(caCertificates);
        var credentials = new ScepClientCredentials(signer, recipient, digest, cipher);
        ScepOutgoingRequest request = ScepClientMessages.Enrollment(csr, transactionId, credentials, renewal: type == ScepMessageType.RenewalReq);
        return ExchangeAsync(request, credentials, [.. caCertificates], signer.PublicKey, cancellationToken);
    }

    /// <summary>CertPoll for a PENDING transaction: IssuerAndSubject of the request.</summary>
    public async Task<ScepEnrollment> PollAsync(X500DistinguishedName issuer, X500DistinguishedName subject, X509Certificate2 signer, X509Certificate2 recipient,
        IReadOnlyCollection<X509Certificate2> caCertificates, string transactionId, HashAlgorithmName digest, ScepCipher cipher, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        ArgumentNullException.ThrowIfNull(subject);
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(caCertificates);
        var credentials = new ScepClientCredentials(signer, recipient, digest, cipher);
        ScepOutgoingRequest request = ScepClientMessages.CertPoll(transactionId, issuer, subject, credentials);
        return await ExchangeAsync(request, credentials, [.. caCertificates], signer.PublicKey, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The transactionID Certgate uses: hex SHA-1 of the public key, so a repeated enrollment with the same key is the same transaction.</summary>
    public static string TransactionIdFor(PublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Convert.ToHexString(SHA1.HashData(key.ExportSubjectPublicKeyInfo()));
    }

    /// <summary>
    /// Sends <paramref name="request"/> by POST and checks the CertRep (RFC 8894 §3.3.2): signed by one of
    /// <paramref name="trustedSigners"/>, our transactionID, recipientNonce = our senderNonce; on SUCCESS the
    /// certificate for <paramref name="issuedKey"/> must be in it.
    /// </summary>
    /// <exception cref="ScepFormatException">No answer, an HTTP error, or an answer that cannot be trusted (the message names the URL).</exception>
    internal async Task<ScepEnrollment> ExchangeAsync(ScepOutgoingRequest request, ScepClientCredentials credentials, X509Certificate2Collection trustedSigners,
        PublicKey issuedKey, CancellationToken cancellationToken)
    {
        Uri uri = Operation("PKIOperation");
        var post = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(request.Der) };
        post.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-pki-message");
        using HttpResponseMessage response = await SendAsync(post, cancellationToken).ConfigureAwait(false);
        byte[] body = await ReadBodyAsync(response, uri, MaxPkiOperationReplyBytes, cancellationToken).ConfigureAwait(false);
        ScepCertRep reply;
        try
        {
            reply = ScepCertRep.Read(body, request, credentials, trustedSigners);
        }
        catch (Exception e) when (e is ScepFormatException or CryptographicException)
        {
            throw new ScepFormatException($"{_url}: the CA's answer cannot be trusted ({e.Message})", e) { FailInfo = ScepFailInfo.BadMessageCheck };
        }
        X509Certificate2? certificate = null;
        if (reply.Status == ScepPkiStatus.Success)
        {
            certificate = reply.IssuedCertificate(issuedKey);
            if (certificate is null || !certificate.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(issuedKey.ExportSubjectPublicKeyInfo()))
            {
                throw new ScepFormatException($"{_url}: the CA's SUCCESS reply holds no certificate for the requested key pair") { FailInfo = ScepFailInfo.BadCertId };
            }
        }
        return new ScepEnrollment(reply.Status, reply.FailInfo, certificate, request.TransactionId, reply.FailInfoText);
    }

    private async Task<string> GetStringAsync(Uri uri, CancellationToken cancellationToken)
    {
        using HttpResponseMessage response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, uri), cancellationToken).ConfigureAwait(false);
        byte[] body = await ReadBodyAsync(response, uri, MaxCaCapsReplyBytes, cancellationToken).ConfigureAwait(false);
        return System.Text.Encoding.UTF8.GetString(body);
    }

    /// <summary>
    /// Reads a reply body of at most <paramref name="limit"/> octets: a larger Content-Length is refused before any
    /// read, and a body without one (chunked) is refused as soon as it passes the limit — never buffered whole.
    /// </summary>
    /// <exception cref="ScepFormatException">The body is larger than <paramref name="limit"/> (names the URL and the limit).</exception>
    private async Task<byte[]> ReadBodyAsync(HttpResponseMessage response, Uri uri, int limit, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength is long announced && announced > limit)
        {
            throw TooLarge(uri, limit, $"Content-Length {announced}");
        }
        // HttpClient.Timeout stops at the headers with ResponseHeadersRead: the body gets the same bound here.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (_http.Timeout != Timeout.InfiniteTimeSpan)
        {
            timeout.CancelAfter(_http.Timeout);
        }
        byte[]? body;
        try
        {
            body = await ReadAtMostAsync(response, limit, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ScepFormatException($"{_url}: the CA did not answer in time", e) { FailInfo = ScepFailInfo.BadRequest };
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            throw new ScepFormatException($"{_url}: the CA's reply broke off: {e.Message}", e) { FailInfo = ScepFailInfo.BadRequest };
        }
        return body ?? throw TooLarge(uri, limit, "the body went past it");
    }

    /// <summary>The body, or null when it is longer than <paramref name="limit"/>.</summary>
    private static async Task<byte[]?> ReadAtMostAsync(HttpResponseMessage response, int limit, CancellationToken cancellationToken)
    {
        Stream stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            byte[] chunk = new byte[16 * 1024];
            while (true)
            {
                int n = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    return buffer.ToArray();
                }
                if (buffer.Length + n > limit)
                {
                    return null;
                }
                buffer.Write(chunk, 0, n);
            }
        }
    }

    private static ScepFormatException TooLarge(Uri uri, int limit, string seen) =>
        new($"{uri}: the CA's reply is larger than the {limit}-octet limit for it ({seen}); refused without reading it") { FailInfo = ScepFailInfo.BadRequest };

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            // Headers only: the body is read by ReadBodyAsync with a limit, never buffered whole by HttpClient.
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new ScepFormatException($"{_url}: {(e.HttpRequestError == HttpRequestError.ConnectionError ? "cannot connect to the CA" : e.Message)}", e) { FailInfo = ScepFailInfo.BadRequest };
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ScepFormatException($"{_url}: the CA did not answer in time", e) { FailInfo = ScepFailInfo.BadRequest };
        }
        if (!response.IsSuccessStatusCode)
        {
            string text;
            try
            {
                // An error body is only quoted (200 characters): read at most a few kilobytes of it.
                byte[]? head = await ReadAtMostAsync(response, MaxErrorBodyBytes, cancellationToken).ConfigureAwait(false);
                text = head is null ? "" : System.Text.Encoding.UTF8.GetString(head);
            }
            finally
            {
                response.Dispose();
            }
            throw new ScepFormatException($"{_url}: the CA answered HTTP {(int)response.StatusCode}{(text.Length > 0 ? ": " + text.Trim()[..Math.Min(200, text.Trim().Length)] : "")}");
        }
        return response;
    }

    private static bool LooksLikePkcs7(byte[] body)
    {
        try
        {
            AsnReader seq = new AsnReader(body, AsnEncodingRules.BER).ReadSequence();
            return seq.ReadObjectIdentifier() == "1.2.840.113549.1.7.2";
        }
        catch (AsnContentException)
        {
            return false;
        }
    }
}
