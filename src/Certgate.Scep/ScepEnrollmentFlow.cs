using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Validation;

namespace Certgate.Scep;

/// <summary>
/// The one SCEP enrollment flow of a client (RFC 8894), shared by <c>request security pki local-certificate enroll</c>
/// and the gateway daemon's agent (re-enrollment, PENDING polls):
/// <code>
///   GetCACaps → ScepCapabilities (lines, case-insensitive) → ScepAlgorithms (AES-256/SHA-256 when offered,
///     DES3/SHA-1 only when not, with a warning)
///   → no RA stored: GetCACert once, keeping the RA certificates the stored CA signed (LearnRaCertificatesAsync)
///   → PKCSReq / RenewalReq / CertPoll: signed by the signer, enveloped to the RA's encryption certificate (else the CA)
///   → CertRep checked: signed by the CA or one of its RAs, our transactionID, recipientNonce = our senderNonce
///   → SUCCESS: the certificate for the requested key (else refused); PENDING; FAILURE with failInfo in words
/// </code>
/// Every failure to get a trustworthy answer is a <see cref="ScepFormatException"/> whose message names the URL.
/// </summary>
public sealed class ScepEnrollmentFlow
{
    private readonly ScepClient _client;

    /// <param name="http">The HTTP client (its timeout bounds every request).</param>
    /// <param name="url">The CA's SCEP URL.</param>
    /// <param name="caIdentity">The CA identity sent as GetCACaps' <c>message</c> (Junos <c>ca-identity</c>).</param>
    /// <param name="caCertificate">The CA certificate (from GetCACert, checked by the operator).</param>
    /// <param name="raCertificates">The RA certificates GetCACert returned beside it (may be empty).</param>
    public ScepEnrollmentFlow(HttpClient http, Uri url, string? caIdentity, X509Certificate2 caCertificate, IReadOnlyList<X509Certificate2> raCertificates)
    {
        ArgumentNullException.ThrowIfNull(http);
        Url = url ?? throw new ArgumentNullException(nameof(url));
        CaCertificate = caCertificate ?? throw new ArgumentNullException(nameof(caCertificate));
        ArgumentNullException.ThrowIfNull(raCertificates);
        RaCertificates = raCertificates;
        _client = new ScepClient(http, url, caIdentity);
    }

    public Uri Url { get; }

    public X509Certificate2 CaCertificate { get; }

    /// <summary>The RA certificates given, or those <see cref="LearnRaCertificatesAsync"/> found.</summary>
    public IReadOnlyList<X509Certificate2> RaCertificates { get; private set; }

    private bool _raLookedUp;

    /// <summary>
    /// With no RA certificate stored beside the CA's (an operator who loaded the CA certificate alone, as the README's
    /// tutorial does), asks GetCACert once and keeps the RA certificates in it that this CA issued: signature
    /// verified with the stored CA certificate, valid now, not a CA, RSA with keyEncipherment. A CA made by
    /// <c>ca init</c> decrypts only with its RA (issue #14 §4), so without this an enrollment would be refused. A
    /// certificate the stored CA did not sign is ignored: the answer cannot send our request to a key of its choosing.
    /// A CA that answers nothing usable keeps the CA certificate as the recipient. Called before each request.
    /// </summary>
    public async Task LearnRaCertificatesAsync(CancellationToken cancellationToken = default)
    {
        if (_raLookedUp || RaCertificates.Count > 0)
        {
            return;
        }
        _raLookedUp = true;
        X509Certificate2Collection answer;
        try
        {
            answer = await _client.GetCaCertAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ScepFormatException)
        {
            return; // the request that follows reports an unreachable or broken CA in its own words
        }
        RaCertificates = [.. answer.Where(IsRaOfTheCa)];
    }

    private bool IsRaOfTheCa(X509Certificate2 c)
    {
        if (c.RawData.AsSpan().SequenceEqual(CaCertificate.RawData)
            || c.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is { CertificateAuthority: true }
            || c.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is { } ku && !ku.KeyUsages.HasFlag(X509KeyUsageFlags.KeyEncipherment))
        {
            return false;
        }
        using (RSA? rsa = c.GetRSAPublicKey())
        {
            if (rsa is null)
            {
                return false;
            }
        }
        ChainValidationResult chain = new ChainValidator().Validate(c, new ChainValidationPolicy
        {
            TrustAnchors = [CaCertificate],
            RevocationMode = RevocationMode.Disabled,
        });
        return chain.IsValid;
    }

    /// <summary>Requests are encrypted to the RA's encryption certificate when the CA has one, else to the CA.</summary>
    public X509Certificate2 Recipient => RaCertificates.FirstOrDefault(r => r.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is not { } ku
        || ku.KeyUsages.HasFlag(X509KeyUsageFlags.KeyEncipherment)) ?? CaCertificate;

    /// <summary>Who may sign CertReps: the CA and its RAs.</summary>
    public X509Certificate2Collection TrustedSigners => [CaCertificate, .. RaCertificates];

    /// <summary>GetCACaps, parsed.</summary>
    /// <exception cref="ScepFormatException">The CA is unreachable, answered an HTTP error, or an oversized list.</exception>
    public Task<ScepCapabilities> GetCapabilitiesAsync(CancellationToken cancellationToken = default) => _client.GetCapabilitiesAsync(cancellationToken);

    /// <summary>
    /// Sends a PKCSReq or RenewalReq for <paramref name="csr"/> and returns the checked answer (SUCCESS, PENDING or FAILURE).
    /// </summary>
    /// <param name="type">PKCSReq or RenewalReq.</param>
    /// <param name="csr">DER PKCS#10.</param>
    /// <param name="signer">Signs the request: a self-signed certificate of the requested key (PKCSReq), or the
    /// certificate being renewed (RenewalReq, RFC 8894 §3.3.1.2), with its private key.</param>
    /// <param name="transactionId">The transactionID (stable across retries, so a retry is the same transaction).</param>
    /// <param name="algorithms">From <see cref="ScepAlgorithms.Choose"/>.</param>
    /// <param name="issuedKey">The key the certificate must be for: the CSR's (it differs from the signer's when a
    /// renewal asks for a new key); null means the signer's.</param>
    /// <param name="cancellationToken">Cancels the exchange.</param>
    /// <exception cref="ArgumentException"><paramref name="type"/> is not an enrollment.</exception>
    /// <exception cref="ScepFormatException">No answer, or one that cannot be trusted.</exception>
    public async Task<ScepEnrollment> EnrollAsync(ScepMessageType type, byte[] csr, X509Certificate2 signer, string transactionId, ScepAlgorithms algorithms,
        PublicKey? issuedKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(csr);
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentException.ThrowIfNullOrEmpty(transactionId);
        ArgumentNullException.ThrowIfNull(algorithms);
        if (type is not (ScepMessageType.PkcsReq or ScepMessageType.RenewalReq))
        {
            throw new ArgumentException($"{type} is not an enrollment request (PKCSReq or RenewalReq)", nameof(type));
        }
        await LearnRaCertificatesAsync(cancellationToken).ConfigureAwait(false);
        var credentials = new ScepClientCredentials(signer, Recipient, algorithms.Digest, algorithms.Cipher);
        ScepOutgoingRequest request = ScepClientMessages.Enrollment(csr, transactionId, credentials, renewal: type == ScepMessageType.RenewalReq);
        return await _client.ExchangeAsync(request, credentials, TrustedSigners, issuedKey ?? signer.PublicKey, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>CertPoll for a PENDING transaction (issuer: the CA, subject: the CSR's subject), signed like its PKCSReq.</summary>
    /// <exception cref="ScepFormatException">No answer, or one that cannot be trusted.</exception>
    public async Task<ScepEnrollment> PollAsync(X500DistinguishedName subject, X509Certificate2 signer, string transactionId, ScepAlgorithms algorithms,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(subject);
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentException.ThrowIfNullOrEmpty(transactionId);
        ArgumentNullException.ThrowIfNull(algorithms);
        await LearnRaCertificatesAsync(cancellationToken).ConfigureAwait(false);
        var credentials = new ScepClientCredentials(signer, Recipient, algorithms.Digest, algorithms.Cipher);
        ScepOutgoingRequest request = ScepClientMessages.CertPoll(transactionId, CaCertificate.SubjectName, subject, credentials);
        return await _client.ExchangeAsync(request, credentials, TrustedSigners, signer.PublicKey, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The self-signed certificate of the requested key that signs a PKCSReq or CertPoll (RFC 8894 §2.3).</summary>
    /// <exception cref="ArgumentNullException">No key or subject.</exception>
    public static X509Certificate2 SelfSignedSigner(RSA key, X500DistinguishedName subject, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(subject);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
    }
}
