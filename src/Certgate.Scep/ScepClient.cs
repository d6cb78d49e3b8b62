using System.Formats.Asn1;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Scep;

/// <summary>The answer of a CA to an enrollment or poll.</summary>
public sealed record ScepEnrollment(PkiStatus Status, FailInfo? FailInfo, X509Certificate2? Certificate, string TransactionId)
{
    /// <summary>What a failInfo usually means, in an operator's words.</summary>
    public static string Explain(FailInfo failInfo) => failInfo switch
    {
        Scep.FailInfo.BadAlg => "badAlg: the CA does not accept the algorithms used (try another scep-encryption-algorithm or scep-digest-algorithm)",
        Scep.FailInfo.BadMessageCheck => "badMessageCheck: the CA could not verify the request's signature or integrity",
        Scep.FailInfo.BadRequest => "badRequest: the CA refused the request (wrong, used or expired challenge password, or a subject/alternative name the CA does not allow)",
        Scep.FailInfo.BadTime => "badTime: the CA finds the request's time wrong (check the clocks)",
        Scep.FailInfo.BadCertId => "badCertId: the CA does not know the certificate or transaction referred to",
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
            throw new ScepFormatException($"GetCACert returned something that is not a certificate ({type}, {body.Length} octets)", FailInfo.BadRequest, e);
        }
    }

    /// <summary>Sends a PKCSReq or RenewalReq and returns the CA's answer (which may be PENDING).</summary>
    public Task<ScepEnrollment> EnrollAsync(ScepMessageType type, byte[] csr, X509Certificate2 signer, X509Certificate2 recipient, IReadOnlyCollection<X509Certificate2> caCertificates,
        string transactionId, HashAlgorithmName digest, string encryptionOid, CancellationToken cancellationToken = default) =>
        ExchangeAsync(type, csr, signer, recipient, caCertificates, transactionId, digest, encryptionOid, cancellationToken);

    /// <summary>CertPoll for a PENDING transaction: IssuerAndSubject of the request.</summary>
    public Task<ScepEnrollment> PollAsync(X500DistinguishedName issuer, X500DistinguishedName subject, X509Certificate2 signer, X509Certificate2 recipient,
        IReadOnlyCollection<X509Certificate2> caCertificates, string transactionId, HashAlgorithmName digest, string encryptionOid, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        ArgumentNullException.ThrowIfNull(subject);
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteEncodedValue(issuer.RawData);
            w.WriteEncodedValue(subject.RawData);
        }
        return ExchangeAsync(ScepMessageType.CertPoll, w.Encode(), signer, recipient, caCertificates, transactionId, digest, encryptionOid, cancellationToken);
    }

    /// <summary>The transactionID Certgate uses: hex SHA-1 of the public key, so a repeated enrollment with the same key is the same transaction.</summary>
    public static string TransactionIdFor(PublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Convert.ToHexString(SHA1.HashData(key.ExportSubjectPublicKeyInfo()));
    }

    private async Task<ScepEnrollment> ExchangeAsync(ScepMessageType type, byte[] content, X509Certificate2 signer, X509Certificate2 recipient,
        IReadOnlyCollection<X509Certificate2> caCertificates, string transactionId, HashAlgorithmName digest, string encryptionOid, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(caCertificates);
        byte[] nonce = ScepMessage.NewNonce();
        byte[] request = ScepMessage.Encode(type, transactionId, nonce, null, null, null, content, recipient, encryptionOid, signer, digest);
        var post = new HttpRequestMessage(HttpMethod.Post, Operation("PKIOperation")) { Content = new ByteArrayContent(request) };
        post.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-pki-message");
        using HttpResponseMessage response = await SendAsync(post, cancellationToken).ConfigureAwait(false);
        byte[] body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        ScepMessage reply = ScepMessage.Decode(body, [signer]);
        if (reply.MessageType != ScepMessageType.CertRep)
        {
            throw new ScepFormatException($"the CA answered with messageType {reply.MessageType}, not CertRep");
        }
        if (!caCertificates.Any(c => c.RawData.AsSpan().SequenceEqual(reply.Signer.RawData)))
        {
            throw new ScepFormatException($"the reply is signed by '{reply.Signer.Subject}', which is not the CA or RA certificate of this CA profile", FailInfo.BadMessageCheck);
        }
        if (reply.TransactionId != transactionId)
        {
            throw new ScepFormatException($"the reply is for transaction {reply.TransactionId}, not {transactionId}", FailInfo.BadMessageCheck);
        }
        if (!reply.RecipientNonce.AsSpan().SequenceEqual(nonce))
        {
            throw new ScepFormatException("the reply does not echo this request's nonce (a replayed or misrouted answer)", FailInfo.BadMessageCheck);
        }
        X509Certificate2? certificate = null;
        if (reply.Status == PkiStatus.Success)
        {
            certificate = reply.Certificates.FirstOrDefault(c => c.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(signer.PublicKey.ExportSubjectPublicKeyInfo()))
                ?? throw new ScepFormatException("the CA's SUCCESS reply holds no certificate for this key pair");
        }
        return new ScepEnrollment(reply.Status ?? throw new ScepFormatException("the reply has no pkiStatus"), reply.FailInfo, certificate, transactionId);
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
            throw new ScepFormatException($"{_url}: {(e.HttpRequestError == HttpRequestError.ConnectionError ? "cannot connect to the CA" : e.Message)}", FailInfo.BadRequest, e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ScepFormatException($"{_url}: the CA did not answer in time", FailInfo.BadRequest, e);
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
