using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Scep;

/// <summary>Builds the two CMS layers of a pkiMessage (RFC 8894 §3.1): EnvelopedData for the recipient, SignedData by the sender.</summary>
internal static class ScepMessageWriter
{
    /// <summary>Length of senderNonce (16 octets, as micromdm and jscep use).</summary>
    public const int NonceLength = 16;

    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(NonceLength);

    /// <summary>pkcsPKIEnvelope: <paramref name="data"/> encrypted to <paramref name="recipient"/> with RSA key transport.</summary>
    public static byte[] Envelope(byte[] data, X509Certificate2 recipient, ScepCipher cipher)
    {
        if (recipient.GetRSAPublicKey() is not { } rsa)
        {
            throw new ArgumentException($"certificate {recipient.Subject} has no RSA key; SCEP envelopes need RSA key transport", nameof(recipient));
        }
        rsa.Dispose();
        var env = new EnvelopedCms(new ContentInfo(data), new AlgorithmIdentifier(new Oid(ScepOids.CipherOid(cipher))));
        env.Encrypt(new CmsRecipient(SubjectIdentifierType.IssuerAndSerialNumber, recipient, RSAEncryptionPadding.Pkcs1));
        return env.Encode();
    }

    /// <summary>The SignedData around <paramref name="envelope"/> (empty eContent when null), with the SCEP attributes.</summary>
    public static byte[] Sign(byte[]? envelope, X509Certificate2 signer, string digestOid, ScepMessageType type, string transactionId,
        byte[] senderNonce, byte[]? recipientNonce = null, ScepPkiStatus? status = null, ScepFailInfo? failInfo = null, string? failInfoText = null)
    {
        if (!signer.HasPrivateKey)
        {
            throw new ArgumentException($"signer certificate {signer.Subject} has no private key", nameof(signer));
        }
        var attributes = new List<AsnEncodedData>
        {
            PrintableAttr(ScepOids.TransactionId, transactionId),
            PrintableAttr(ScepOids.MessageType, ((int)type).ToString(System.Globalization.CultureInfo.InvariantCulture)),
            OctetAttr(ScepOids.SenderNonce, senderNonce),
        };
        if (recipientNonce is not null)
        {
            attributes.Add(OctetAttr(ScepOids.RecipientNonce, recipientNonce));
        }
        if (status is not null)
        {
            attributes.Add(PrintableAttr(ScepOids.PkiStatus, ((int)status.Value).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        if (failInfo is not null)
        {
            attributes.Add(PrintableAttr(ScepOids.FailInfo, ((int)failInfo.Value).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        if (!string.IsNullOrEmpty(failInfoText))
        {
            var w = new AsnWriter(AsnEncodingRules.DER);
            w.WriteCharacterString(UniversalTagNumber.UTF8String, failInfoText);
            attributes.Add(new AsnEncodedData(new Oid(ScepOids.FailInfoText), w.Encode()));
        }
        if (envelope is null)
        {
            // .NET's SignedCms refuses to sign empty content, but a PENDING/FAILURE CertRep carries no pkcsPKIEnvelope
            // (RFC 8894 §3.3.2): written by hand.
            return SignWithoutContent(signer, digestOid, attributes);
        }
        var cms = new SignedCms(new ContentInfo(new Oid(ScepOids.Data), envelope));
        var cmsSigner = new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, signer)
        {
            DigestAlgorithm = new Oid(digestOid),
            IncludeOption = X509IncludeOption.EndCertOnly,
        };
        foreach (AsnEncodedData a in attributes)
        {
            cmsSigner.SignedAttributes.Add(a);
        }
        cms.ComputeSignature(cmsSigner, silent: true);
        return cms.Encode();
    }

    /// <summary>SignedData with an empty eContent, one RSA SignerInfo (rsaEncryption, PKCS#1 v1.5) and the signer certificate.</summary>
    private static byte[] SignWithoutContent(X509Certificate2 signer, string digestOid, List<AsnEncodedData> attributes)
    {
        using RSA key = signer.GetRSAPrivateKey() ?? throw new ArgumentException($"signer certificate {signer.Subject} has no RSA private key", nameof(signer));
        HashAlgorithmName hash = ScepOids.DigestName(digestOid) ?? throw new ArgumentException($"digest {digestOid} is not supported", nameof(digestOid));
        var a = new AsnWriter(AsnEncodingRules.DER);
        using (a.PushSetOf())
        {
            WriteAttribute(a, ScepOids.ContentType, Oid(ScepOids.Data));
            var md = new AsnWriter(AsnEncodingRules.DER);
            md.WriteOctetString(HashEmpty(hash));
            WriteAttribute(a, ScepOids.MessageDigest, md.Encode());
            foreach (AsnEncodedData attr in attributes)
            {
                WriteAttribute(a, attr.Oid!.Value!, attr.RawData);
            }
        }
        byte[] signedAttrs = a.Encode();
        // RFC 5652 §5.4: the signature covers the DER of the attributes with the EXPLICIT SET OF tag.
        byte[] signature = key.SignData(signedAttrs, hash, RSASignaturePadding.Pkcs1);
        signedAttrs[0] = 0xA0; // stored as [0] IMPLICIT

        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(ScepOids.SignedData);
            using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
            using (w.PushSequence())
            {
                w.WriteInteger(1);
                using (w.PushSetOf())
                {
                    WriteAlgorithm(w, digestOid);
                }
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier(ScepOids.Data);
                    // An empty eContent, not an absent one: OpenSSL's PKCS7_verify takes an absent eContent for a
                    // detached signature and refuses the reply ("no content"), so certmonger would report the CA as
                    // unreachable instead of reading the FAILURE. micromdm's scepserver writes the same empty OCTET STRING.
                    using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
                    {
                        w.WriteOctetString([]);
                    }
                }
                using (w.PushSetOf(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
                {
                    w.WriteEncodedValue(signer.RawData);
                }
                using (w.PushSetOf())
                using (w.PushSequence())
                {
                    w.WriteInteger(1);
                    using (w.PushSequence())
                    {
                        w.WriteEncodedValue(signer.IssuerName.RawData);
                        w.WriteInteger(signer.SerialNumberBytes.Span); // big-endian two's complement, as in the certificate
                    }
                    WriteAlgorithm(w, digestOid);
                    w.WriteEncodedValue(signedAttrs);
                    WriteAlgorithm(w, "1.2.840.113549.1.1.1");
                    w.WriteOctetString(signature);
                }
            }
        }
        return w.Encode();
    }

    private static byte[] HashEmpty(HashAlgorithmName hash) => hash.Name switch
    {
        "SHA1" => SHA1.HashData([]),
        "SHA384" => SHA384.HashData([]),
        "SHA512" => SHA512.HashData([]),
        _ => SHA256.HashData([]),
    };

    private static byte[] Oid(string oid)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        w.WriteObjectIdentifier(oid);
        return w.Encode();
    }

    private static void WriteAttribute(AsnWriter w, string oid, byte[] value)
    {
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(oid);
            using (w.PushSetOf())
            {
                w.WriteEncodedValue(value);
            }
        }
    }

    private static void WriteAlgorithm(AsnWriter w, string oid)
    {
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(oid);
            w.WriteNull();
        }
    }

    private static AsnEncodedData PrintableAttr(string oid, string value)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        // A transactionID echoed from a client may hold characters PrintableString cannot (e.g. '_'): UTF8String then.
        w.WriteCharacterString(value.All(IsPrintable) ? UniversalTagNumber.PrintableString : UniversalTagNumber.UTF8String, value);
        return new AsnEncodedData(new Oid(oid), w.Encode());
    }

    private static AsnEncodedData OctetAttr(string oid, byte[] value)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        w.WriteOctetString(value);
        return new AsnEncodedData(new Oid(oid), w.Encode());
    }

    private static bool IsPrintable(char c) => char.IsAsciiLetterOrDigit(c) || " '()+,-./:=?".Contains(c, StringComparison.Ordinal);
}
