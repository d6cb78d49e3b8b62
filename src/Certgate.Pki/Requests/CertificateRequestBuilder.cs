using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Keys;

namespace Certgate.Pki.Requests;

/// <summary>What goes into a PKCS#10 request besides the key.</summary>
public sealed record CertificateRequestOptions
{
    public required X500DistinguishedName Subject { get; init; }

    public IReadOnlyList<string> DnsNames { get; init; } = [];

    public IReadOnlyList<IPAddress> IPAddresses { get; init; } = [];

    public IReadOnlyList<string> Emails { get; init; } = [];

    /// <summary>The challengePassword attribute (SCEP), or null.</summary>
    public string? ChallengePassword { get; init; }

    public SignatureDigest Digest { get; init; } = SignatureDigest.Sha256;

    /// <summary>Further extensions to request (e.g. keyUsage), added after subjectAltName.</summary>
    public IReadOnlyList<X509Extension> Extensions { get; init; } = [];
}

/// <summary>Builds signed PKCS#10 requests (RFC 2986).</summary>
public static class CertificateRequestBuilder
{
    /// <summary>The challengePassword attribute OID (PKCS#9, RFC 2985 §5.4.1).</summary>
    public const string ChallengePasswordOid = "1.2.840.113549.1.9.7";

    /// <summary>Signs a request with <paramref name="key"/> and returns its DER.</summary>
    /// <exception cref="ArgumentException">The digest cannot be used with the key (sha-1 with ECDSA), or a name is empty.</exception>
    public static byte[] Create(KeyPair key, CertificateRequestOptions options)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(options);
        if (SignatureDigests.Refusal(key.Algorithm, options.Digest) is { } why)
        {
            throw new ArgumentException(why, nameof(options));
        }
        HashAlgorithmName hash = options.Digest.ToHashAlgorithm();
        CertificateRequest request = key.Algorithm == KeyAlgorithm.Rsa
            ? new CertificateRequest(options.Subject, key.Rsa!, hash, RSASignaturePadding.Pkcs1)
            : new CertificateRequest(options.Subject, key.Ecdsa!, hash);

        if (options.DnsNames.Count + options.IPAddresses.Count + options.Emails.Count > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (string d in options.DnsNames)
            {
                ArgumentException.ThrowIfNullOrWhiteSpace(d, nameof(options));
                san.AddDnsName(d);
            }
            foreach (IPAddress a in options.IPAddresses)
            {
                san.AddIpAddress(a);
            }
            foreach (string e in options.Emails)
            {
                ArgumentException.ThrowIfNullOrWhiteSpace(e, nameof(options));
                san.AddEmailAddress(e);
            }
            request.CertificateExtensions.Add(san.Build());
        }
        foreach (X509Extension e in options.Extensions)
        {
            request.CertificateExtensions.Add(e);
        }
        if (options.ChallengePassword is { } challenge)
        {
            request.OtherRequestAttributes.Add(new AsnEncodedData(ChallengePasswordOid, EncodeDirectoryString(challenge)));
        }
        // .NET's built-in RSA generator refuses SHA-1; Junos still offers sha-1, so sign that case ourselves.
        return key.Algorithm == KeyAlgorithm.Rsa && options.Digest == SignatureDigest.Sha1
            ? request.CreateSigningRequest(new RsaSha1SignatureGenerator(key.Rsa!))
            : request.CreateSigningRequest();
    }

    /// <summary>sha1WithRSAEncryption (RFC 3279 §2.2.1: parameters NULL).</summary>
    private sealed class RsaSha1SignatureGenerator(RSA key) : X509SignatureGenerator
    {
        public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm)
        {
            var w = new AsnWriter(AsnEncodingRules.DER);
            using (w.PushSequence())
            {
                w.WriteObjectIdentifier("1.2.840.113549.1.1.5");
                w.WriteNull();
            }
            return w.Encode();
        }

        public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm) =>
            key.SignData(data, HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1);

        protected override PublicKey BuildPublicKey() => new(key);
    }

    /// <summary>PrintableString when every character allows it, else UTF8String (RFC 2985 DirectoryString).</summary>
    internal static byte[] EncodeDirectoryString(string value)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        bool printable = value.All(c => char.IsAsciiLetterOrDigit(c) || " '()+,-./:=?".Contains(c));
        writer.WriteCharacterString(printable ? UniversalTagNumber.PrintableString : UniversalTagNumber.UTF8String, value);
        return writer.Encode();
    }
}
