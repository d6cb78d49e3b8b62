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
}

/// <summary>
/// A SCEP client (RFC 8894) over HTTP: GetCACaps, GetCACert, PKCSReq/RenewalReq and CertPoll. Replies are
/// accepted only when signed by the CA or RA certificate given, for our transaction, with our nonce echoed.
/// </summary>
public sealed class ScepClient
{
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

    /// <exception cref="ScepFormatException">The CA answered with an error or nothing usable.</exception>
    public async Task<IReadOnlyList<string>> GetCaCapsAsync(CancellationToken cancellationToken = default)
    {
        string text = await GetStringAsync(Operation("GetCACaps", _identity), cancellationToken).ConfigureAwait(false);
        return [.. text.Split(['\n', '\r'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
    }

    /// <summary>The CA (and RA) certificates: one DER certificate, or a certificates-only PKCS#7.</summary>
    public async Task<X509Certificate2Collection> GetCaCertAsync(CancellationToken cancellationToken = default)
    {
        using HttpResponseMessage response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, Operation("GetCACert", _identity)), cancellationToken).ConfigureAwait(false);
        byte[] body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
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
        string transactionId, HashAlgorithmName digest, ScepCipher cipher, CancellationToken cancellationToken = default) =>
        ExchangeAsync(c => ScepClientMessages.Enrollment(csr, transactionId, c, renewal: type == ScepMessageType.RenewalReq), signer, recipient, caCertificates,
            transactionId, digest, cipher, cancellationToken);

    /// <summary>CertPoll for a PENDING transaction: IssuerAndSubject of the request.</summary>
    public async Task<ScepEnrollment> PollAsync(X500DistinguishedName issuer, X500DistinguishedName subject, X509Certificate2 signer, X509Certificate2 recipient,
        IReadOnlyCollection<X509Certificate2> caCertificates, string transactionId, HashAlgorithmName digest, ScepCipher cipher, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        ArgumentNullException.ThrowIfNull(subject);
        return await ExchangeAsync(c => ScepClientMessages.CertPoll(transactionId, issuer, subject, c), signer, recipient, caCertificates, transactionId, digest, cipher,
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The transactionID Certgate uses: hex SHA-1 of the public key, so a repeated enrollment with the same key is the same transaction.</summary>
    public static string TransactionIdFor(PublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Convert.ToHexString(SHA1.HashData(key.ExportSubjectPublicKeyInfo()));
    }

    private async Task<ScepEnrollment> ExchangeAsync(Func<ScepClientCredentials, ScepOutgoingRequest> build, X509Certificate2 signer, X509Certificate2 recipient,
        IReadOnlyCollection<X509Certificate2> caCertificates, string transactionId, HashAlgorithmName digest, ScepCipher cipher, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(caCertificates);
        var credentials = new ScepClientCredentials(signer, recipient, digest, cipher);
        ScepOutgoingRequest request = build(credentials);
        var post = new HttpRequestMessage(HttpMethod.Post, Operation("PKIOperation")) { Content = new ByteArrayContent(request.Der) };
        post.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-pki-message");
        using HttpResponseMessage response = await SendAsync(post, cancellationToken).ConfigureAwait(false);
        byte[] body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        ScepCertRep reply = ScepCertRep.Read(body, request, credentials, [.. caCertificates]);
        X509Certificate2? certificate = null;
        if (reply.Status == ScepPkiStatus.Success)
        {
            certificate = reply.IssuedCertificate(signer.PublicKey);
            if (certificate is null || !certificate.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(signer.PublicKey.ExportSubjectPublicKeyInfo()))
            {
                throw new ScepFormatException("the CA's SUCCESS reply holds no certificate for this key pair") { FailInfo = ScepFailInfo.BadCertId };
            }
        }
        return new ScepEnrollment(reply.Status, reply.FailInfo, certificate, transactionId, reply.FailInfoText);
    }

    private async Task<string> GetStringAsync(Uri uri, CancellationToken cancellationToken)
    {
        using HttpResponseMessage response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, uri), cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
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
            string text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            response.Dispose();
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
