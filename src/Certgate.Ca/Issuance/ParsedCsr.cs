using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Settings;

namespace Certgate.Ca.Issuance;

/// <summary>One requested subjectAltName entry.</summary>
/// <param name="Type">dns, ip, email, or the GeneralName kind for others (uri, otherName, directoryName, …).</param>
/// <param name="Value">The name as text (IP addresses in their usual notation).</param>
public sealed record RequestedSan(string Type, string Value);

/// <summary>
/// A PKCS#10 request as the CA needs it: the .NET <see cref="CertificateRequest"/> (signature verified on load),
/// the challengePassword attribute, and the requested SANs. The only place that reads CSR attributes, so the lead can
/// swap it for Certgate.Pki's parser.
/// </summary>
public sealed class ParsedCsr
{
    /// <summary>Largest CSR accepted (a 16384-bit RSA key with many SANs fits easily).</summary>
    public const int MaxLength = 64 * 1024;

    private ParsedCsr(byte[] der, CertificateRequest request, string? challenge, IReadOnlyList<RequestedSan> sans)
    {
        Der = der;
        Request = request;
        ChallengePassword = challenge;
        RequestedSans = sans;
        PublicKeySha256 = Convert.ToHexString(SHA256.HashData(request.PublicKey.ExportSubjectPublicKeyInfo()));
    }

    public byte[] Der { get; }

    public CertificateRequest Request { get; }

    public X500DistinguishedName Subject => Request.SubjectName;

    public PublicKey PublicKey => Request.PublicKey;

    /// <summary>The PKCS#9 challengePassword attribute, or null.</summary>
    public string? ChallengePassword { get; }

    public IReadOnlyList<RequestedSan> RequestedSans { get; }

    /// <summary>Upper-case hex SHA-256 of the SubjectPublicKeyInfo (identifies the key across requests).</summary>
    public string PublicKeySha256 { get; }

    /// <summary>Parses and verifies a DER PKCS#10 request.</summary>
    /// <exception cref="IssuanceRefusedException">Malformed (BadRequest) or its self-signature does not verify (BadMessageCheck).</exception>
    public static ParsedCsr Parse(ReadOnlySpan<byte> der)
    {
        if (der.Length == 0 || der.Length > MaxLength)
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"the certificate request is {der.Length} bytes; expected 1 to {MaxLength}");
        }
        byte[] copy = der.ToArray();
        CertificateRequest request;
        try
        {
            // Extensions are loaded (by name, "Unsafe") only to read the SAN request; the template never copies them.
            request = CertificateRequest.LoadSigningRequest(copy, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        }
        catch (CryptographicException e) when (!e.Message.Contains("signature", StringComparison.OrdinalIgnoreCase)
                                               && LoadNonDer(copy) is { } lenient)
        {
            request = lenient;
        }
        catch (CryptographicException e)
        {
            bool badSignature = e.Message.Contains("signature", StringComparison.OrdinalIgnoreCase);
            throw new IssuanceRefusedException(badSignature ? EnrollmentFailInfo.BadMessageCheck : EnrollmentFailInfo.BadRequest,
                badSignature ? "the certificate request's signature does not verify" : $"the certificate request is not a valid PKCS#10 request: {e.Message}");
        }

        string? challenge = null;
        foreach (AsnEncodedData attr in request.OtherRequestAttributes)
        {
            if (attr.Oid?.Value == Oids.ChallengePassword)
            {
                if (challenge is not null)
                {
                    throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, "the certificate request carries more than one challengePassword");
                }
                challenge = ReadDirectoryString(attr.RawData);
            }
        }

        var sans = new List<RequestedSan>();
        foreach (X509Extension ext in request.CertificateExtensions)
        {
            if (ext.Oid?.Value == Oids.SubjectAltName)
            {
                ReadGeneralNames(ext.RawData, sans);
            }
        }
        return new ParsedCsr(copy, request, challenge, sans);
    }

    /// <summary>
    /// strongSwan 5.9 <c>pki --scep</c> writes the attributes SET unsorted (extensionRequest before challengePassword),
    /// which is BER but not DER, and .NET only loads DER. Verify the signature over the request info exactly as sent,
    /// then load a DER re-encoding (attributes sorted) without checking its — now meaningless — signature.
    /// Returns null when the request is not even valid BER or its signature does not verify.
    /// </summary>
    private static CertificateRequest? LoadNonDer(byte[] der)
    {
        try
        {
            AsnReader outer = new AsnReader(der, AsnEncodingRules.BER).ReadSequence();
            ReadOnlyMemory<byte> info = outer.ReadEncodedValue();
            ReadOnlyMemory<byte> algorithm = outer.ReadEncodedValue();
            byte[] signature = outer.ReadBitString(out _);
            AsnReader infoReader = new AsnReader(info, AsnEncodingRules.BER).ReadSequence();
            ReadOnlyMemory<byte> version = infoReader.ReadEncodedValue();
            ReadOnlyMemory<byte> subject = infoReader.ReadEncodedValue();
            ReadOnlyMemory<byte> spki = infoReader.ReadEncodedValue();
            var attributes = new List<ReadOnlyMemory<byte>>();
            if (infoReader.HasData)
            {
                AsnReader set = infoReader.ReadSetOf(skipSortOrderValidation: true, new Asn1Tag(TagClass.ContextSpecific, 0));
                while (set.HasData)
                {
                    attributes.Add(set.ReadEncodedValue());
                }
            }
            string algorithmOid = new AsnReader(algorithm, AsnEncodingRules.BER).ReadSequence().ReadObjectIdentifier();
            var publicKey = PublicKey.CreateFromSubjectPublicKeyInfo(spki.Span, out _);
            HashAlgorithmName hash = algorithmOid switch
            {
                "1.2.840.113549.1.1.5" or "1.2.840.10045.4.1" => HashAlgorithmName.SHA1,
                "1.2.840.113549.1.1.11" or "1.2.840.10045.4.3.2" => HashAlgorithmName.SHA256,
                "1.2.840.113549.1.1.12" or "1.2.840.10045.4.3.3" => HashAlgorithmName.SHA384,
                "1.2.840.113549.1.1.13" or "1.2.840.10045.4.3.4" => HashAlgorithmName.SHA512,
                _ => default,
            };
            if (hash == default)
            {
                return null;
            }
            using RSA? rsa = publicKey.GetRSAPublicKey();
            using ECDsa? ec = rsa is null ? publicKey.GetECDsaPublicKey() : null;
            bool valid = rsa?.VerifyData(info.Span, signature, hash, RSASignaturePadding.Pkcs1)
                ?? ec?.VerifyData(info.Span, signature, hash, DSASignatureFormat.Rfc3279DerSequence)
                ?? false;
            if (!valid)
            {
                return null;
            }
            var w = new AsnWriter(AsnEncodingRules.DER);
            using (w.PushSequence())
            {
                using (w.PushSequence())
                {
                    w.WriteEncodedValue(version.Span);
                    w.WriteEncodedValue(subject.Span);
                    w.WriteEncodedValue(spki.Span);
                    w.PushSetOf(new Asn1Tag(TagClass.ContextSpecific, 0));
                    foreach (ReadOnlyMemory<byte> a in attributes)
                    {
                        w.WriteEncodedValue(a.Span);
                    }
                    w.PopSetOf(new Asn1Tag(TagClass.ContextSpecific, 0));
                }
                w.WriteEncodedValue(algorithm.Span);
                w.WriteBitString(signature);
            }
            return CertificateRequest.LoadSigningRequest(w.Encode(), HashAlgorithmName.SHA256,
                CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions | CertificateRequestLoadOptions.SkipSignatureValidation);
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException)
        {
            return null;
        }
    }

    // challengePassword ATTRIBUTE ::= { WITH SYNTAX DirectoryString {pkcs-9-ub-challengePassword} ... }  (RFC 2985 §5.4.1)
    // DirectoryString ::= CHOICE { teletexString, printableString, universalString, utf8String, bmpString }
    private static string ReadDirectoryString(byte[] raw)
    {
        try
        {
            var reader = new AsnReader(raw, AsnEncodingRules.DER);
            Asn1Tag tag = reader.PeekTag();
            if (tag.TagClass != TagClass.Universal)
            {
                throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, "challengePassword is not a DirectoryString");
            }
            string value = (UniversalTagNumber)tag.TagValue switch
            {
                UniversalTagNumber.PrintableString or UniversalTagNumber.UTF8String or UniversalTagNumber.BMPString
                    or UniversalTagNumber.UniversalString or UniversalTagNumber.IA5String or UniversalTagNumber.T61String
                    => reader.ReadCharacterString((UniversalTagNumber)tag.TagValue),
                _ => throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, "challengePassword is not a DirectoryString"),
            };
            reader.ThrowIfNotEmpty();
            return value;
        }
        catch (AsnContentException)
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, "challengePassword is malformed");
        }
    }

    // GeneralName ::= CHOICE { otherName [0], rfc822Name [1] IA5String, dNSName [2] IA5String, x400Address [3],
    //   directoryName [4], ediPartyName [5], uniformResourceIdentifier [6], iPAddress [7] OCTET STRING, registeredID [8] }
    private static void ReadGeneralNames(byte[] raw, List<RequestedSan> sans)
    {
        try
        {
            var outer = new AsnReader(raw, AsnEncodingRules.DER);
            AsnReader seq = outer.ReadSequence();
            outer.ThrowIfNotEmpty();
            while (seq.HasData)
            {
                Asn1Tag tag = seq.PeekTag();
                if (tag.TagClass != TagClass.ContextSpecific)
                {
                    throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, "subjectAltName holds a name that is not a GeneralName");
                }
                switch (tag.TagValue)
                {
                    case 1:
                        sans.Add(new RequestedSan("email", seq.ReadCharacterString(UniversalTagNumber.IA5String, tag)));
                        break;
                    case 2:
                        sans.Add(new RequestedSan("dns", seq.ReadCharacterString(UniversalTagNumber.IA5String, tag)));
                        break;
                    case 7:
                        byte[] ip = seq.ReadOctetString(tag);
                        if (ip.Length is not (4 or 16))
                        {
                            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"subjectAltName iPAddress is {ip.Length} bytes; expected 4 or 16");
                        }
                        sans.Add(new RequestedSan("ip", new IPAddress(ip).ToString()));
                        break;
                    default:
                        string kind = tag.TagValue switch
                        {
                            0 => "otherName", 3 => "x400Address", 4 => "directoryName", 5 => "ediPartyName", 6 => "uri", 8 => "registeredID", _ => $"[{tag.TagValue}]",
                        };
                        seq.ReadEncodedValue();
                        sans.Add(new RequestedSan(kind, ""));
                        break;
                }
            }
        }
        catch (AsnContentException)
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, "the requested subjectAltName is malformed");
        }
    }
}
