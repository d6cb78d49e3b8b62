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

    /// <summary>Most subjectAltNames a request may ask for (a gateway needs a handful; bounds the policy's work).</summary>
    public const int MaxSubjectAltNames = 32;

    /// <summary>True when the request asks for basicConstraints cA=TRUE (refused; never copied).</summary>
    public bool RequestsCa { get; private init; }

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
            request = LoadTolerant(copy);
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
        bool requestsCa = false;
        foreach (X509Extension ext in request.CertificateExtensions)
        {
            if (ext.Oid?.Value == Oids.SubjectAltName)
            {
                ReadGeneralNames(ext.RawData, sans);
            }
            else if (ext.Oid?.Value == Oids.BasicConstraints)
            {
                try
                {
                    var bc = new X509BasicConstraintsExtension();
                    bc.CopyFrom(ext);
                    requestsCa |= bc.CertificateAuthority;
                }
                catch (CryptographicException)
                {
                    throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, "the requested basicConstraints extension is malformed");
                }
            }
            if (sans.Count > MaxSubjectAltNames)
            {
                throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"the request asks for more than {MaxSubjectAltNames} subjectAltNames");
            }
        }
        return new ParsedCsr(copy, request, challenge, sans) { RequestsCa = requestsCa };
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
    internal static void ReadGeneralNames(byte[] raw, List<RequestedSan> sans)
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

    /// <summary>
    /// Loads with .NET, which insists on DER. strongSwan's <c>pki --req/--scep</c> writes the attributes SET unsorted
    /// (extensionRequest before challengePassword), which is BER: then the original signature is checked over the
    /// bytes as sent, and the request is loaded from a copy with the attributes re-sorted.
    /// </summary>
    private static CertificateRequest LoadTolerant(byte[] der)
    {
        try
        {
            return CertificateRequest.LoadSigningRequest(der, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        }
        catch (CryptographicException) when (ResortAttributes(der) is { } resorted)
        {
            return CertificateRequest.LoadSigningRequest(resorted, HashAlgorithmName.SHA256,
                CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions | CertificateRequestLoadOptions.SkipSignatureValidation);
        }
    }

    /// <summary>The request with its attributes in DER order when its signature verifies over the original bytes; else null.</summary>
    private static byte[]? ResortAttributes(byte[] der)
    {
        try
        {
            var outer = new AsnReader(der, AsnEncodingRules.BER);
            AsnReader req = outer.ReadSequence();
            outer.ThrowIfNotEmpty();
            ReadOnlyMemory<byte> cri = req.ReadEncodedValue();
            ReadOnlyMemory<byte> algorithm = req.ReadEncodedValue();
            string sigAlg = new AsnReader(algorithm, AsnEncodingRules.BER).ReadSequence().ReadObjectIdentifier();
            byte[] signature = req.ReadBitString(out int unused);
            req.ThrowIfNotEmpty();
            if (unused != 0)
            {
                return null;
            }

            var criReader = new AsnReader(cri, AsnEncodingRules.BER).ReadSequence();
            ReadOnlyMemory<byte> version = criReader.ReadEncodedValue();
            ReadOnlyMemory<byte> subject = criReader.ReadEncodedValue();
            ReadOnlyMemory<byte> spki = criReader.ReadEncodedValue();
            var attrs = new List<ReadOnlyMemory<byte>>();
            if (criReader.HasData)
            {
                AsnReader set = criReader.ReadSetOf(true, new Asn1Tag(TagClass.ContextSpecific, 0));
                while (set.HasData)
                {
                    attrs.Add(set.ReadEncodedValue());
                }
            }
            criReader.ThrowIfNotEmpty();

            PublicKey key = PublicKey.CreateFromSubjectPublicKeyInfo(spki.Span, out _);
            bool ok = sigAlg switch
            {
                "1.2.840.113549.1.1.5" => VerifyRsa(key, cri.Span, signature, HashAlgorithmName.SHA1),
                "1.2.840.113549.1.1.11" => VerifyRsa(key, cri.Span, signature, HashAlgorithmName.SHA256),
                "1.2.840.113549.1.1.12" => VerifyRsa(key, cri.Span, signature, HashAlgorithmName.SHA384),
                "1.2.840.113549.1.1.13" => VerifyRsa(key, cri.Span, signature, HashAlgorithmName.SHA512),
                "1.2.840.10045.4.3.2" => VerifyEc(key, cri.Span, signature, HashAlgorithmName.SHA256),
                "1.2.840.10045.4.3.3" => VerifyEc(key, cri.Span, signature, HashAlgorithmName.SHA384),
                "1.2.840.10045.4.3.4" => VerifyEc(key, cri.Span, signature, HashAlgorithmName.SHA512),
                _ => false,
            };
            if (!ok)
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
                    using (w.PushSetOf(new Asn1Tag(TagClass.ContextSpecific, 0)))
                    {
                        foreach (ReadOnlyMemory<byte> a in attrs)
                        {
                            w.WriteEncodedValue(a.Span);
                        }
                    }
                }
                w.WriteEncodedValue(algorithm.Span);
                w.WriteBitString(signature);
            }
            return w.Encode();
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException)
        {
            return null;
        }
    }

    private static bool VerifyRsa(PublicKey key, ReadOnlySpan<byte> data, byte[] signature, HashAlgorithmName hash)
    {
        using RSA? rsa = key.GetRSAPublicKey();
        return rsa is not null && rsa.VerifyData(data, signature, hash, RSASignaturePadding.Pkcs1);
    }

    private static bool VerifyEc(PublicKey key, ReadOnlySpan<byte> data, byte[] signature, HashAlgorithmName hash)
    {
        using ECDsa? ec = key.GetECDsaPublicKey();
        return ec is not null && ec.VerifyData(data, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
    }
}
