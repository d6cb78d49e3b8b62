using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Config.Pki;
using Certgate.Pki.Certificates;
using Certgate.Pki.Keys;
using Certgate.Pki.Requests;
using Certgate.Pki.Store;
using Certgate.Pki.Validation;
using Certgate.Scep;

namespace Certgate.Gateway.Enrollment;

/// <summary>The CA side of a CA profile as the agent needs it: URL, CA and RA certificates, who to encrypt to.</summary>
internal sealed record AgentCa(CaProfile Profile, Uri Url, X509Certificate2 Certificate, IReadOnlyList<X509Certificate2> Ras)
{
    /// <summary>Requests are encrypted to the RA's encryption certificate when the CA has one, else to the CA.</summary>
    public X509Certificate2 Recipient => Ras.FirstOrDefault(r => r.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is not { } ku
        || ku.KeyUsages.HasFlag(X509KeyUsageFlags.KeyEncipherment)) ?? Certificate;

    /// <summary>Who may sign CertReps: the CA and its RAs.</summary>
    public X509Certificate2Collection Trusted => [Certificate, .. Ras];

    /// <summary>The CA profile <paramref name="name"/> with its stored CA certificate, or why it cannot be used.</summary>
    public static AgentCa Resolve(PkiConfiguration config, PkiStore store, string name)
    {
        CaProfile profile = config.FindCaProfile(name) ?? throw new AgentException($"ca-profile {name} is not configured");
        Uri url = profile.EnrollmentUrl ?? throw new AgentException($"ca-profile {name} has no enrollment url");
        X509Certificate2 ca = store.LoadCaCertificate(name)
            ?? throw new AgentException($"the CA certificate of ca-profile {name} is not loaded (request security pki ca-certificate enroll ca-profile {name})");
        return new AgentCa(profile, url, ca, store.LoadRaCertificates(name));
    }

    /// <summary>
    /// Checks a certificate the CA sent before it replaces anything: issued (and signed) by this CA, for
    /// <paramref name="key"/>, valid now. Revocation is not checked: the CA has just issued it.
    /// </summary>
    public string? Problem(X509Certificate2 issued, KeyPair key, DateTimeOffset now)
    {
        if (!key.Matches(issued))
        {
            return "the CA returned a certificate for another key pair";
        }
        ChainValidationResult result = new ChainValidator().Validate(issued, new ChainValidationPolicy
        {
            TrustAnchors = [Certificate],
            RevocationMode = Certgate.Pki.Validation.RevocationMode.Disabled,
            ValidationTime = now,
        });
        return result.IsValid ? null : $"the certificate the CA returned does not verify: {result.Failure!.Message}";
    }
}

/// <summary>A failure of the agent in an operator's words (shown as "last error"; never holds a secret).</summary>
internal sealed class AgentException(string message) : Exception(message);

/// <summary>
/// The agent's SCEP exchanges. <see cref="ScepClient"/> does GetCACaps and CertPoll; a renewal goes through
/// <see cref="SendAsync"/> because with <c>re-generate-keypair</c> the request is signed with the current key
/// (RFC 8894 §3.3.1.2: a RenewalReq is signed by the certificate being renewed) while the certificate issued is
/// for the new key, so the issued certificate is looked for by the CSR's key, not the signer's.
/// </summary>
internal static class AgentScep
{
    /// <summary>Sends <paramref name="request"/> and reads the CertRep; on SUCCESS the certificate for <paramref name="issuedKey"/>.</summary>
    /// <exception cref="AgentException">The CA is unreachable, answered HTTP errors or a CertRep we cannot trust.</exception>
    public static async Task<ScepEnrollment> SendAsync(HttpClient http, Uri url, ScepOutgoingRequest request, ScepClientCredentials credentials,
        X509Certificate2Collection trusted, PublicKey issuedKey, CancellationToken cancellationToken)
    {
        var post = new HttpRequestMessage(HttpMethod.Post, new Uri($"{url.GetLeftPart(UriPartial.Path)}?operation=PKIOperation"))
        {
            Content = new ByteArrayContent(request.Der),
        };
        post.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-pki-message");
        byte[] body;
        try
        {
            using HttpResponseMessage response = await http.SendAsync(post, cancellationToken).ConfigureAwait(false);
            body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new AgentException($"{url}: the CA answered HTTP {(int)response.StatusCode}");
            }
        }
        catch (HttpRequestException e)
        {
            throw new AgentException($"{url}: {(e.HttpRequestError == HttpRequestError.ConnectionError ? "cannot connect to the CA" : e.Message)}");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AgentException($"{url}: the CA did not answer in time");
        }
        ScepCertRep reply;
        try
        {
            reply = ScepCertRep.Read(body, request, credentials, trusted);
        }
        catch (Exception e) when (e is ScepFormatException or CryptographicException)
        {
            throw new AgentException($"{url}: the CA's answer cannot be trusted ({e.Message})");
        }
        X509Certificate2? certificate = null;
        if (reply.Status == ScepPkiStatus.Success)
        {
            certificate = reply.IssuedCertificate(issuedKey);
            if (certificate is null || !certificate.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(issuedKey.ExportSubjectPublicKeyInfo()))
            {
                throw new AgentException($"{url}: the CA's SUCCESS reply holds no certificate for the requested key pair");
            }
        }
        return new ScepEnrollment(reply.Status, reply.FailInfo, certificate, request.TransactionId, reply.FailInfoText);
    }

    /// <summary>GetCACaps as a list; an unreachable CA is an <see cref="AgentException"/>.</summary>
    public static async Task<IReadOnlyList<string>> CapsAsync(HttpClient http, AgentCa ca, CancellationToken cancellationToken)
    {
        try
        {
            return await new ScepClient(http, ca.Url, ca.Profile.CaIdentity).GetCaCapsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ScepFormatException e)
        {
            throw new AgentException(e.Message);
        }
    }

    /// <summary>RFC 8894 §3.5.2: keywords are case-insensitive.</summary>
    public static bool Has(IReadOnlyList<string> caps, string keyword) => caps.Any(c => string.Equals(c, keyword, StringComparison.OrdinalIgnoreCase));

    /// <summary>The digest: the configured one, else the strongest the CA offers (DESIGN.md: SHA-1 only when nothing better).</summary>
    public static HashAlgorithmName Digest(string? configured, IReadOnlyList<string> caps) => configured switch
    {
        "sha1" => HashAlgorithmName.SHA1,
        "md5" => throw new AgentException("scep-digest-algorithm md5 is not supported; remove it to let the agent choose"),
        _ => Has(caps, "SHA-512") ? HashAlgorithmName.SHA512 : Has(caps, "SHA-256") ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA1,
    };

    /// <summary>The envelope cipher: the configured one, else AES-256 when offered, else 3DES.</summary>
    public static ScepCipher Cipher(string? configured, IReadOnlyList<string> caps) => configured switch
    {
        "des" => ScepCipher.DesCbc,
        "des3" => ScepCipher.TripleDesCbc,
        _ => Has(caps, "AES") ? ScepCipher.Aes256Cbc : ScepCipher.TripleDesCbc,
    };

    /// <summary>The PKCS#10 signature digest matching the SCEP digest.</summary>
    public static SignatureDigest CsrDigest(HashAlgorithmName digest) =>
        digest == HashAlgorithmName.SHA1 ? SignatureDigest.Sha1 : digest == HashAlgorithmName.SHA512 ? SignatureDigest.Sha512
        : digest == HashAlgorithmName.SHA384 ? SignatureDigest.Sha384 : SignatureDigest.Sha256;

    /// <summary>A self-signed certificate of <paramref name="key"/> to sign a PKCSReq or CertPoll (RFC 8894 §2.3).</summary>
    public static X509Certificate2 SelfSigned(KeyPair key, X500DistinguishedName subject, DateTimeOffset now)
    {
        var request = key.Rsa is { } rsa
            ? new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : throw new AgentException($"the key pair is {key.DisplayName}; SCEP needs an RSA key");
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
    }

    /// <summary>The certificate with its private key, to sign a RenewalReq.</summary>
    public static X509Certificate2 WithKey(X509Certificate2 certificate, KeyPair key) => key.Rsa is { } rsa
        ? certificate.CopyWithPrivateKey(rsa)
        : throw new AgentException($"the key pair is {key.DisplayName}; SCEP needs an RSA key");

    /// <summary>SHA-256 fingerprint, hex, to tie a status to the certificate it describes.</summary>
    public static string Fingerprint(X509Certificate2 certificate) => Convert.ToHexString(SHA256.HashData(certificate.RawData));

    /// <summary>Subject alternative names of <paramref name="certificate"/> as request options, so the renewal asks for the same names.</summary>
    public static CertificateRequestOptions SameNames(X509Certificate2 certificate, SignatureDigest digest, string? challenge)
    {
        SubjectAlternativeNames names = CertificateInfo.From(certificate).AlternativeNames;
        return new CertificateRequestOptions
        {
            Subject = certificate.SubjectName,
            DnsNames = names.DnsNames,
            IPAddresses = names.IPAddresses,
            Emails = names.Emails,
            ChallengePassword = challenge,
            Digest = digest,
        };
    }
}
