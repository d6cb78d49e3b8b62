using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Certificates;
using Certgate.Pki.Encoding;
using Certgate.Pki.Names;

namespace Certgate.Pki.Requests;

/// <summary>
/// A parsed, signature-checked PKCS#10 request (RFC 2986):
/// <code>
/// CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm AlgorithmIdentifier, signature BIT STRING }
/// CertificationRequestInfo ::= SEQUENCE { version INTEGER { v1(0) }, subject Name, subjectPKInfo, attributes [0] Attributes }
/// </code>
/// Requested extensions are exposed as data only; nothing here decides what a CA copies into a certificate.
/// </summary>
public sealed class CertificateSigningRequest
{
    /// <summary>Hard limit on a request's size (a PKCS#10 of a 4096-bit key with SANs is ~2 KiB).</summary>
    public const int MaxEncodedLength = 64 * 1024;

    private const string ExtensionRequestOid = "1.2.840.113549.1.9.14";

    private CertificateSigningRequest(byte[] rawData)
    {
        RawData = rawData;
    }

    /// <summary>The DER request.</summary>
    public byte[] RawData { get; }

    public X500DistinguishedName Subject { get; private init; } = null!;

    /// <summary>Junos subject string.</summary>
    public string SubjectString { get; private init; } = "";

    public PublicKey PublicKey { get; private init; } = null!;

    public PublicKeyInfo PublicKeyInfo { get; private init; } = null!;

    public SubjectAlternativeNames AlternativeNames { get; private init; } = SubjectAlternativeNames.Empty;

    /// <summary>The challengePassword attribute, or null. A secret: never log it.</summary>
    public string? ChallengePassword { get; private init; }

    /// <summary>e.g. <c>sha256WithRSAEncryption</c>.</summary>
    public string SignatureAlgorithm { get; private init; } = "";

    public string SignatureAlgorithmOid { get; private init; } = "";

    /// <summary>The extensionRequest extensions, as sent.</summary>
    public IReadOnlyList<X509Extension> RequestedExtensions { get; private init; } = [];

    public Fingerprints Fingerprints => Fingerprints.Of(RawData);

    /// <summary>Parses PEM or DER and verifies the self-signature.</summary>
    /// <exception cref="PkiFormatException">Anything wrong with the input, including a bad signature.</exception>
    public static CertificateSigningRequest Parse(ReadOnlySpan<byte> data)
    {
        if (data.Length > MaxEncodedLength * 2)
        {
            throw new PkiFormatException($"certificate request is too large ({data.Length} bytes)");
        }
        try
        {
            byte[] der = PkiInput.DecodeCertificateRequest(data);
            if (der.Length > MaxEncodedLength)
            {
                throw new PkiFormatException($"certificate request is too large ({der.Length} bytes)");
            }
            return Decode(der);
        }
        catch (PkiFormatException)
        {
            throw;
        }
        catch (Exception e) when (e is CryptographicException or AsnContentException or FormatException or ArgumentException
                                       or InvalidOperationException or OverflowException or NotSupportedException or PlatformNotSupportedException)
        {
            // One exception type for hostile input, whatever layer noticed it.
            throw new PkiFormatException("the certificate request is malformed", e);
        }
    }

    /// <summary>Like <see cref="Parse"/>, without exceptions for bad input.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out CertificateSigningRequest? request, out string? error)
    {
        try
        {
            request = Parse(data);
            error = null;
            return true;
        }
        catch (PkiFormatException e)
        {
            request = null;
            error = e.Message;
            return false;
        }
    }

    private static CertificateSigningRequest Decode(byte[] der)
    {
        // Structure first, so we can name the signature algorithm and the challenge password ourselves.
        var outer = new AsnReader(der, AsnEncodingRules.DER);
        AsnReader req = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        AsnReader info = req.ReadSequence();
        AsnReader sigAlg = req.ReadSequence();
        string sigOid = sigAlg.ReadObjectIdentifier();
        req.ReadBitString(out _);
        req.ThrowIfNotEmpty();
        info.ReadInteger();
        info.ReadEncodedValue(); // subject
        info.ReadEncodedValue(); // SubjectPublicKeyInfo
        string? challenge = null;
        if (info.HasData)
        {
            AsnReader attrs = info.ReadSetOf(new Asn1Tag(TagClass.ContextSpecific, 0));
            while (attrs.HasData)
            {
                AsnReader attr = attrs.ReadSequence();
                string oid = attr.ReadObjectIdentifier();
                AsnReader values = attr.ReadSetOf();
                if (oid == CertificateRequestBuilder.ChallengePasswordOid && values.HasData)
                {
                    Asn1Tag tag = values.PeekTag();
                    challenge = tag.TagClass == TagClass.Universal && tag.TagValue is (int)UniversalTagNumber.PrintableString
                        or (int)UniversalTagNumber.UTF8String or (int)UniversalTagNumber.IA5String or (int)UniversalTagNumber.BMPString
                        or (int)UniversalTagNumber.T61String
                        ? values.ReadCharacterString((UniversalTagNumber)tag.TagValue)
                        : throw new PkiFormatException("challengePassword is not a DirectoryString");
                }
            }
        }
        info.ThrowIfNotEmpty();

        // .NET verifies the self-signature (RFC 2986 §3: the signature is over certificationRequestInfo with the subject's key).
        CertificateRequest parsed = CertificateRequest.LoadSigningRequest(der, HashAlgorithmName.SHA256,
            CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions, RSASignaturePadding.Pkcs1);
        var extensions = parsed.CertificateExtensions.ToList();
        X509Extension? san = extensions.FirstOrDefault(e => e.Oid?.Value == SubjectAlternativeNames.Oid);
        return new CertificateSigningRequest(der)
        {
            Subject = parsed.SubjectName,
            SubjectString = JunosDistinguishedName.Format(parsed.SubjectName),
            PublicKey = parsed.PublicKey,
            PublicKeyInfo = PublicKeyInfo.From(parsed.PublicKey),
            AlternativeNames = san is null ? SubjectAlternativeNames.Empty : SubjectAlternativeNames.Decode(san.RawData),
            ChallengePassword = challenge,
            SignatureAlgorithmOid = sigOid,
            SignatureAlgorithm = OidNames.SignatureAlgorithm(sigOid),
            RequestedExtensions = extensions,
        };
    }

    /// <summary>PEM text (<c>CERTIFICATE REQUEST</c>).</summary>
    public string ToPem() => Pem.Write("CERTIFICATE REQUEST", RawData);
}
