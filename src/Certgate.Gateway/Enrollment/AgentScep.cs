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

/// <summary>The CA side of a CA profile as the agent needs it: URL, CA and RA certificates.</summary>
internal sealed record AgentCa(CaProfile Profile, Uri Url, X509Certificate2 Certificate, IReadOnlyList<X509Certificate2> Ras)
{
    /// <summary>The shared SCEP enrollment flow to this CA (who to encrypt to, who may sign the answers).</summary>
    public ScepEnrollmentFlow Flow(HttpClient http) => new(http, Url, Profile.CaIdentity, Certificate, Ras);

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
/// What the agent adds to the shared <see cref="ScepEnrollmentFlow"/>: the Junos configuration's algorithm words, the
/// self-signed and renewal signers, and the names a renewal repeats.
/// </summary>
internal static class AgentScep
{
    /// <summary>The configured <c>scep-digest-algorithm</c>, or null to let the flow choose from GetCACaps.</summary>
    public static HashAlgorithmName? Digest(string? configured) => configured switch
    {
        "sha1" => HashAlgorithmName.SHA1,
        "md5" => throw new AgentException("scep-digest-algorithm md5 is not supported; remove it to let the agent choose"),
        _ => null,
    };

    /// <summary>The configured <c>scep-encryption-algorithm</c>, or null to let the flow choose from GetCACaps.</summary>
    public static ScepCipher? Cipher(string? configured) => configured switch
    {
        "des" => ScepCipher.DesCbc,
        "des3" => ScepCipher.TripleDesCbc,
        _ => null,
    };

    /// <summary>A self-signed certificate of <paramref name="key"/> to sign a PKCSReq or CertPoll (RFC 8894 §2.3).</summary>
    public static X509Certificate2 SelfSigned(KeyPair key, X500DistinguishedName subject, DateTimeOffset now) => key.Rsa is { } rsa
        ? ScepEnrollmentFlow.SelfSignedSigner(rsa, subject, now)
        : throw new AgentException($"the key pair is {key.DisplayName}; SCEP needs an RSA key");

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
