using System.Formats.Asn1;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Fail = Certgate.Scep.FailInfo;

namespace Certgate.Scep;

/// <summary>
/// A decoded pkiMessage (RFC 8894 §3): the signed attributes, the signer's certificate and — for requests — the
/// decrypted inner content (a PKCS#10 for PKCSReq/RenewalReq, IssuerAndSubject for CertPoll, IssuerAndSerialNumber
/// for GetCert/GetCRL), or — for a CertRep — the certificates it carries.
/// </summary>
public sealed class ScepMessage
{
    /// <summary>The largest pkiMessage accepted (SCEP messages are a few KiB).</summary>
    public const int MaxLength = 256 * 1024;

    public required ScepMessageType MessageType { get; init; }

    public required string TransactionId { get; init; }

    public byte[] SenderNonce { get; init; } = [];

    public byte[] RecipientNonce { get; init; } = [];

    public PkiStatus? Status { get; init; }

    public FailInfo? FailInfo { get; init; }

    /// <summary>The certificate that signed the message (self-signed for a first enrollment).</summary>
    public required X509Certificate2 Signer { get; init; }

    /// <summary>The digest the signer used (a reply uses the same).</summary>
    public HashAlgorithmName Digest { get; init; } = HashAlgorithmName.SHA256;

    /// <summary>The content-encryption algorithm OID of the envelope (a reply uses the same).</summary>
    public string? EncryptionOid { get; init; }

    /// <summary>Requests: the decrypted inner content.</summary>
    public byte[]? Content { get; init; }

    /// <summary>CertRep SUCCESS: the certificates of the degenerate SignedData.</summary>
    public IReadOnlyList<X509Certificate2> Certificates { get; init; } = [];

    /// <summary>
    /// Decodes and verifies a pkiMessage. The signature must verify with the certificate inside the message;
    /// the envelope is opened with <paramref name="recipients"/> (certificates with private keys).
    /// </summary>
    /// <exception cref="ScepFormatException">Not a pkiMessage, a bad signature, missing attributes, or an envelope not for us.</exception>
    public static ScepMessage Decode(ReadOnlySpan<byte> data, X509Certificate2Collection recipients)
    {
        ArgumentNullException.ThrowIfNull(recipients);
        if (data.Length == 0 || data.Length > MaxLength)
        {
            throw new ScepFormatException($"a pkiMessage is 1 to {MaxLength} octets; got {data.Length}");
        }
        var signed = new SignedCms();
        try
        {
            signed.Decode(data);
        }
        catch (CryptographicException e)
        {
            throw new ScepFormatException("the message is not a CMS SignedData", Fail.BadRequest, e);
        }
        if (signed.SignerInfos.Count != 1)
        {
            throw new ScepFormatException($"a pkiMessage has exactly one signer; this one has {signed.SignerInfos.Count}", Fail.BadMessageCheck);
        }
        SignerInfo signer = signed.SignerInfos[0];
        X509Certificate2 signerCert = signer.Certificate
            ?? throw new ScepFormatException("the signer's certificate is not in the message", Fail.BadCertId);
        try
        {
            signer.CheckSignature(new X509Certificate2Collection(), verifySignatureOnly: true);
        }
        catch (CryptographicException e)
        {
            throw new ScepFormatException("the message's signature does not verify with its signer certificate", Fail.BadMessageCheck, e);
        }
        var attributes = new Dictionary<string, AsnEncodedData>(StringComparer.Ordinal);
        foreach (CryptographicAttributeObject a in signer.SignedAttributes)
        {
            if (a.Oid.Value is { } oid && a.Values.Count > 0)
            {
                attributes[oid] = a.Values[0];
            }
        }
        string typeText = PrintableAttribute(attributes, ScepOids.MessageType, "messageType")
            ?? throw new ScepFormatException("the messageType attribute is missing");
        if (!int.TryParse(typeText, NumberStyles.None, CultureInfo.InvariantCulture, out int typeNumber) || !Enum.IsDefined((ScepMessageType)typeNumber))
        {
            throw new ScepFormatException($"messageType '{typeText}' is not a SCEP message type");
        }
        var type = (ScepMessageType)typeNumber;
        string transactionId = PrintableAttribute(attributes, ScepOids.TransactionId, "transactionID")
            ?? throw new ScepFormatException("the transactionID attribute is missing");
        if (transactionId.Length is 0 or > 256)
        {
            throw new ScepFormatException("the transactionID must be 1 to 256 characters");
        }
        PkiStatus? status = null;
        FailInfo? failInfo = null;
        if (PrintableAttribute(attributes, ScepOids.PkiStatus, "pkiStatus") is { } statusText)
        {
            status = int.TryParse(statusText, NumberStyles.None, CultureInfo.InvariantCulture, out int s) && Enum.IsDefined((PkiStatus)s)
                ? (PkiStatus)s : throw new ScepFormatException($"pkiStatus '{statusText}' is not 0, 2 or 3");
        }
        if (PrintableAttribute(attributes, ScepOids.FailInfo, "failInfo") is { } failText)
        {
            failInfo = int.TryParse(failText, NumberStyles.None, CultureInfo.InvariantCulture, out int f) && Enum.IsDefined((Fail)f)
                ? (Fail)f : throw new ScepFormatException($"failInfo '{failText}' is not 0 to 4");
        }
        byte[] senderNonce = OctetAttribute(attributes, ScepOids.SenderNonce, "senderNonce") ?? [];
        byte[] recipientNonce = OctetAttribute(attributes, ScepOids.RecipientNonce, "recipientNonce") ?? [];
        HashAlgorithmName digest = signer.DigestAlgorithm.Value switch
        {
            "1.3.14.3.2.26" => HashAlgorithmName.SHA1,
            "2.16.840.1.101.3.4.2.1" => HashAlgorithmName.SHA256,
            "2.16.840.1.101.3.4.2.2" => HashAlgorithmName.SHA384,
            "2.16.840.1.101.3.4.2.3" => HashAlgorithmName.SHA512,
            "1.2.840.113549.2.5" => HashAlgorithmName.MD5,
            _ => throw new ScepFormatException($"digest algorithm {signer.DigestAlgorithm.Value} is not supported", Fail.BadAlg),
        };

        byte[]? content = null;
        string? encryptionOid = null;
        IReadOnlyList<X509Certificate2> certificates = [];
        byte[] envelope = signed.ContentInfo.Content;
        bool carriesEnvelope = type != ScepMessageType.CertRep || status == PkiStatus.Success;
        if (carriesEnvelope)
        {
            if (envelope.Length == 0)
            {
                throw new ScepFormatException($"{type} carries no enveloped content");
            }
            var enveloped = new EnvelopedCms();
            try
            {
                enveloped.Decode(UnwrapOctetString(envelope));
                encryptionOid = enveloped.ContentEncryptionAlgorithm.Oid.Value;
                enveloped.Decrypt(recipients);
            }
            catch (CryptographicException e)
            {
                throw new ScepFormatException("the enveloped content cannot be opened with this CA's key (encrypted to another certificate, or damaged)", Fail.BadMessageCheck, e);
            }
            content = FirstDerValue(enveloped.ContentInfo.Content);
            if (type == ScepMessageType.CertRep)
            {
                var degenerate = new SignedCms();
                try
                {
                    degenerate.Decode(content);
                }
                catch (CryptographicException e)
                {
                    throw new ScepFormatException("the CertRep's content is not a certificates-only SignedData", Fail.BadRequest, e);
                }
                certificates = [.. degenerate.Certificates];
            }
        }
        return new ScepMessage
        {
            MessageType = type,
            TransactionId = transactionId,
            SenderNonce = senderNonce,
            RecipientNonce = recipientNonce,
            Status = status,
            FailInfo = failInfo,
            Signer = signerCert,
            Digest = digest,
            EncryptionOid = encryptionOid,
            Content = content,
            Certificates = certificates,
        };
    }

    /// <summary>
    /// Encodes a pkiMessage: <paramref name="innerContent"/> (if any) enveloped to <paramref name="recipient"/>
    /// with <paramref name="encryptionOid"/>, then signed by <paramref name="signer"/> (with private key) carrying
    /// the SCEP attributes.
    /// </summary>
    public static byte[] Encode(ScepMessageType type, string transactionId, byte[] senderNonce, byte[]? recipientNonce, PkiStatus? status, FailInfo? failInfo,
        byte[]? innerContent, X509Certificate2? recipient, string encryptionOid, X509Certificate2 signer, HashAlgorithmName digest)
    {
        ArgumentNullException.ThrowIfNull(signer);
        byte[] payload = [];
        if (innerContent is not null)
        {
            ArgumentNullException.ThrowIfNull(recipient);
            var enveloped = new EnvelopedCms(new ContentInfo(innerContent), new AlgorithmIdentifier(new Oid(encryptionOid)));
            enveloped.Encrypt(new CmsRecipient(SubjectIdentifierType.IssuerAndSerialNumber, recipient, RSAEncryptionPadding.Pkcs1));
            payload = enveloped.Encode();
        }
        if (payload.Length == 0)
        {
            // PENDING and FAILURE carry no messageData (RFC 8894 §3.3.2); SignedCms will not sign empty content.
            return EncodeWithoutContent(type, transactionId, senderNonce, recipientNonce, status, failInfo, signer, digest);
        }
        var signed = new SignedCms(new ContentInfo(new Oid(ScepOids.Data), payload), detached: false);
        var cmsSigner = new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, signer)
        {
            DigestAlgorithm = new Oid(DigestOid(digest)),
            IncludeOption = X509IncludeOption.EndCertOnly,
        };
        cmsSigner.SignedAttributes.Add(Printable(ScepOids.MessageType, ((int)type).ToString(CultureInfo.InvariantCulture)));
        cmsSigner.SignedAttributes.Add(Printable(ScepOids.TransactionId, transactionId));
        cmsSigner.SignedAttributes.Add(Octets(ScepOids.SenderNonce, senderNonce));
        if (recipientNonce is { Length: > 0 })
        {
            cmsSigner.SignedAttributes.Add(Octets(ScepOids.RecipientNonce, recipientNonce));
        }
        if (status is { } s)
        {
            cmsSigner.SignedAttributes.Add(Printable(ScepOids.PkiStatus, ((int)s).ToString(CultureInfo.InvariantCulture)));
        }
        if (failInfo is { } f)
        {
            cmsSigner.SignedAttributes.Add(Printable(ScepOids.FailInfo, ((int)f).ToString(CultureInfo.InvariantCulture)));
        }
        signed.ComputeSignature(cmsSigner, silent: true);
        return signed.Encode();
    }

    /// <summary>
    /// SignedData with an absent eContent, written by hand (RFC 5652 §5): messageDigest is the digest of the empty
    /// string, the signature algorithm rsaEncryption (what strongSwan accepts), the signer identified by issuer and serial.
    /// </summary>
    private static byte[] EncodeWithoutContent(ScepMessageType type, string transactionId, byte[] senderNonce, byte[]? recipientNonce, PkiStatus? status,
        FailInfo? failInfo, X509Certificate2 signer, HashAlgorithmName digest)
    {
        using RSA key = signer.GetRSAPrivateKey() ?? throw new ArgumentException("SCEP replies are signed with an RSA key", nameof(signer));
        string digestOid = DigestOid(digest);
        var attrs = new AsnWriter(AsnEncodingRules.DER);
        attrs.PushSetOf();
        WriteAttribute(attrs, "1.2.840.113549.1.9.3", w => w.WriteObjectIdentifier(ScepOids.Data));
        WriteAttribute(attrs, "1.2.840.113549.1.9.4", w => w.WriteOctetString(IncrementalHash.CreateHash(digest).GetHashAndReset()));
        WriteAttribute(attrs, ScepOids.MessageType, w => w.WriteCharacterString(UniversalTagNumber.PrintableString, ((int)type).ToString(CultureInfo.InvariantCulture)));
        WriteAttribute(attrs, ScepOids.TransactionId, w => w.WriteCharacterString(UniversalTagNumber.PrintableString, transactionId));
        WriteAttribute(attrs, ScepOids.SenderNonce, w => w.WriteOctetString(senderNonce));
        if (recipientNonce is { Length: > 0 })
        {
            WriteAttribute(attrs, ScepOids.RecipientNonce, w => w.WriteOctetString(recipientNonce));
        }
        if (status is { } s)
        {
            WriteAttribute(attrs, ScepOids.PkiStatus, w => w.WriteCharacterString(UniversalTagNumber.PrintableString, ((int)s).ToString(CultureInfo.InvariantCulture)));
        }
        if (failInfo is { } f)
        {
            WriteAttribute(attrs, ScepOids.FailInfo, w => w.WriteCharacterString(UniversalTagNumber.PrintableString, ((int)f).ToString(CultureInfo.InvariantCulture)));
        }
        attrs.PopSetOf();
        byte[] signedAttributes = attrs.Encode();
        byte[] signature = key.SignData(signedAttributes, digest, RSASignaturePadding.Pkcs1);
        // In the SignerInfo the same SET is tagged [0] IMPLICIT.
        signedAttributes[0] = 0xA0;

        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier("1.2.840.113549.1.7.2");
            using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (w.PushSequence())
            {
                w.WriteInteger(1);
                w.PushSetOf();
                WriteAlgorithm(w, digestOid, withNull: false);
                w.PopSetOf();
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier(ScepOids.Data);
                }
                w.PushSetOf(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true));
                w.WriteEncodedValue(signer.RawData);
                w.PopSetOf(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true));
                w.PushSetOf();
                using (w.PushSequence())
                {
                    w.WriteInteger(1);
                    using (w.PushSequence())
                    {
                        w.WriteEncodedValue(signer.IssuerName.RawData);
                        w.WriteIntegerUnsigned(signer.SerialNumberBytes.Span);
                    }
                    WriteAlgorithm(w, digestOid, withNull: false);
                    w.WriteEncodedValue(signedAttributes);
                    WriteAlgorithm(w, "1.2.840.113549.1.1.1", withNull: true);
                    w.WriteOctetString(signature);
                }
                w.PopSetOf();
            }
        }
        return w.Encode();
    }

    private static void WriteAttribute(AsnWriter w, string oid, Action<AsnWriter> value)
    {
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(oid);
            w.PushSetOf();
            value(w);
            w.PopSetOf();
        }
    }

    private static void WriteAlgorithm(AsnWriter w, string oid, bool withNull)
    {
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(oid);
            if (withNull)
            {
                w.WriteNull();
            }
        }
    }

    private static string DigestOid(HashAlgorithmName digest) => digest.Name switch
    {
        "SHA1" => "1.3.14.3.2.26",
        "SHA384" => "2.16.840.1.101.3.4.2.2",
        "SHA512" => "2.16.840.1.101.3.4.2.3",
        _ => "2.16.840.1.101.3.4.2.1",
    };

    /// <summary>A certificates-only ("degenerate") SignedData: CertRep content and the GetCACert answer with an RA.</summary>
    public static byte[] CertificatesOnly(IEnumerable<X509Certificate2> certificates)
    {
        ArgumentNullException.ThrowIfNull(certificates);
        // SignedCms refuses to encode without a signer, so write the (RFC 5652 §5.1) structure directly:
        // ContentInfo { signedData, [0] SignedData { 1, {}, { id-data }, [0] certificates, {} } }.
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier("1.2.840.113549.1.7.2");
            using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (w.PushSequence())
            {
                w.WriteInteger(1);
                w.PushSetOf();
                w.PopSetOf();
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier(ScepOids.Data);
                }
                w.PushSetOf(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true));
                foreach (X509Certificate2 c in certificates)
                {
                    w.WriteEncodedValue(c.RawData);
                }
                w.PopSetOf(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true));
                w.PushSetOf();
                w.PopSetOf();
            }
        }
        return w.Encode();
    }

    /// <summary>Fresh 16-octet nonce.</summary>
    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(16);

    private static AsnEncodedData Printable(string oid, string value)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        w.WriteCharacterString(UniversalTagNumber.PrintableString, value);
        return new AsnEncodedData(new Oid(oid), w.Encode());
    }

    private static AsnEncodedData Octets(string oid, byte[] value)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        w.WriteOctetString(value);
        return new AsnEncodedData(new Oid(oid), w.Encode());
    }

    private static string? PrintableAttribute(Dictionary<string, AsnEncodedData> attributes, string oid, string name)
    {
        if (!attributes.TryGetValue(oid, out AsnEncodedData? value))
        {
            return null;
        }
        try
        {
            var reader = new AsnReader(value.RawData, AsnEncodingRules.BER);
            Asn1Tag tag = reader.PeekTag();
            return tag.TagValue switch
            {
                (int)UniversalTagNumber.PrintableString => reader.ReadCharacterString(UniversalTagNumber.PrintableString),
                (int)UniversalTagNumber.UTF8String => reader.ReadCharacterString(UniversalTagNumber.UTF8String),
                (int)UniversalTagNumber.IA5String => reader.ReadCharacterString(UniversalTagNumber.IA5String),
                _ => throw new ScepFormatException($"the {name} attribute is not a string"),
            };
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException)
        {
            throw new ScepFormatException($"the {name} attribute cannot be decoded", Fail.BadRequest, e);
        }
    }

    private static byte[]? OctetAttribute(Dictionary<string, AsnEncodedData> attributes, string oid, string name)
    {
        if (!attributes.TryGetValue(oid, out AsnEncodedData? value))
        {
            return null;
        }
        try
        {
            return new AsnReader(value.RawData, AsnEncodingRules.BER).ReadOctetString();
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException)
        {
            throw new ScepFormatException($"the {name} attribute is not an OCTET STRING", Fail.BadRequest, e);
        }
    }

    /// <summary>
    /// The inner content is one DER value (PKCS#10, IssuerAndSubject …). Some clients (strongSwan 5.9) leave octets
    /// after it in the decrypted envelope; take the value and ignore what follows.
    /// </summary>
    private static byte[] FirstDerValue(byte[] content)
    {
        try
        {
            AsnDecoder.ReadEncodedValue(content, AsnEncodingRules.BER, out _, out _, out int consumed);
            return consumed == content.Length ? content : content[..consumed];
        }
        catch (AsnContentException)
        {
            return content;
        }
    }

    /// <summary>SignedCms gives the content's octets; some clients wrap the EnvelopedData in an extra OCTET STRING.</summary>
    private static byte[] UnwrapOctetString(byte[] content)
    {
        if (content.Length > 0 && content[0] == 0x04)
        {
            try
            {
                return new AsnReader(content, AsnEncodingRules.BER).ReadOctetString();
            }
            catch (AsnContentException)
            {
                return content;
            }
        }
        return content;
    }
}
