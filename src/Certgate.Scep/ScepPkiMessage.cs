using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.Xml;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Scep;

/// <summary>
/// A decoded SCEP pkiMessage (RFC 8894 §3.1/§3.2) whose SignedData signature was verified with the signer certificate
/// it carries. The pkcsPKIEnvelope (if any) stays encrypted until <see cref="DecryptContent"/>.
/// </summary>
public sealed class ScepPkiMessage
{
    /// <summary>Largest pkiMessage accepted (real ones are a few KiB).</summary>
    public const int MaxMessageBytes = 256 * 1024;

    private ScepPkiMessage(ScepMessageType messageType, string transactionId, byte[] senderNonce, byte[]? recipientNonce,
        ScepPkiStatus? pkiStatus, ScepFailInfo? failInfo, string? failInfoText, X509Certificate2 signer,
        X509Certificate2Collection certificates, string digestOid, byte[] envelope)
    {
        MessageType = messageType;
        TransactionId = transactionId;
        SenderNonce = senderNonce;
        RecipientNonce = recipientNonce;
        PkiStatus = pkiStatus;
        FailInfo = failInfo;
        FailInfoText = failInfoText;
        SignerCertificate = signer;
        Certificates = certificates;
        DigestAlgorithmOid = digestOid;
        Envelope = envelope;
    }

    public ScepMessageType MessageType { get; }

    public string TransactionId { get; }

    public byte[] SenderNonce { get; }

    /// <summary>recipientNonce (CertRep only), else null.</summary>
    public byte[]? RecipientNonce { get; }

    /// <summary>pkiStatus (CertRep only), else null.</summary>
    public ScepPkiStatus? PkiStatus { get; }

    /// <summary>failInfo (CertRep FAILURE), else null.</summary>
    public ScepFailInfo? FailInfo { get; }

    /// <summary>failInfoText (optional, CertRep FAILURE), else null.</summary>
    public string? FailInfoText { get; }

    /// <summary>The certificate whose key signed the message (self-signed for a first enrollment).</summary>
    public X509Certificate2 SignerCertificate { get; }

    /// <summary>Every certificate the SignedData carries.</summary>
    public X509Certificate2Collection Certificates { get; }

    /// <summary>The SignerInfo's digest algorithm OID (a CertRep answers with the same).</summary>
    public string DigestAlgorithmOid { get; }

    /// <summary>The DER pkcsPKIEnvelope (EnvelopedData ContentInfo); empty when absent (CertRep PENDING/FAILURE).</summary>
    public byte[] Envelope { get; }

    /// <summary>Decodes a pkiMessage and verifies its signature.</summary>
    /// <exception cref="ScepFormatException">Malformed, bad signature, missing or invalid SCEP attributes.</exception>
    public static ScepPkiMessage Decode(ReadOnlySpan<byte> der)
    {
        if (der.IsEmpty)
        {
            throw new ScepFormatException("pkiMessage: empty");
        }
        if (der.Length > MaxMessageBytes)
        {
            throw new ScepFormatException($"pkiMessage: {der.Length} octets, more than the limit of {MaxMessageBytes}");
        }
        try
        {
            return DecodeCore(der);
        }
        catch (ScepFormatException)
        {
            throw;
        }
        catch (Exception e) when (IsFormatError(e))
        {
            throw new ScepFormatException($"pkiMessage: {e.Message}", e);
        }
    }

    /// <summary>Decrypts the pkcsPKIEnvelope with <paramref name="recipient"/>'s private key.</summary>
    /// <param name="recipient">The certificate the sender encrypted to (the CA/RA for requests, the requester for CertRep), with its private key.</param>
    /// <param name="cipher">The content-encryption algorithm the sender used.</param>
    /// <exception cref="ArgumentException">The certificate has no RSA private key.</exception>
    /// <exception cref="ScepFormatException">No envelope, not for this recipient, unsupported algorithm, or malformed.</exception>
    public byte[] DecryptContent(X509Certificate2 recipient, out ScepCipher cipher)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        using RSA key = recipient.GetRSAPrivateKey() ?? throw new ArgumentException("the recipient certificate has no RSA private key (SCEP encrypts with RSA key transport)", nameof(recipient));
        if (Envelope.Length == 0)
        {
            throw new ScepFormatException($"{MessageType}: the pkiMessage carries no pkcsPKIEnvelope");
        }
        try
        {
            var env = new EnvelopedCms();
            env.Decode(Envelope);
            string algorithm = env.ContentEncryptionAlgorithm.Oid.Value ?? "";
            cipher = ScepOids.CipherFromOid(algorithm)
                ?? throw new ScepFormatException($"{MessageType}: pkcsPKIEnvelope content-encryption algorithm {algorithm} is not supported (expected AES-CBC, DES3-CBC or DES-CBC)");
            if (env.RecipientInfos.Count == 0)
            {
                throw new ScepFormatException($"{MessageType}: pkcsPKIEnvelope has no recipientInfos");
            }
            RecipientInfo? ri = null;
            foreach (RecipientInfo candidate in env.RecipientInfos)
            {
                if (IsFor(candidate.RecipientIdentifier, recipient))
                {
                    ri = candidate;
                    break;
                }
            }
            if (ri is null)
            {
                throw new ScepFormatException($"{MessageType}: pkcsPKIEnvelope is not encrypted to {recipient.Subject} (serial {recipient.SerialNumber})");
            }
            env.Decrypt(ri, key);
            byte[] content = env.ContentInfo.Content;
            if (content.Length == 0)
            {
                throw new ScepFormatException($"{MessageType}: pkcsPKIEnvelope decrypts to nothing");
            }
            return content;
        }
        catch (ScepFormatException)
        {
            throw;
        }
        catch (Exception e) when (IsFormatError(e))
        {
            throw new ScepFormatException($"{MessageType}: pkcsPKIEnvelope cannot be decrypted: {e.Message}", e);
        }
    }

    internal static bool IsFormatError(Exception e) =>
        e is CryptographicException or AsnContentException or FormatException or ArgumentException or InvalidOperationException
            or OverflowException or NotSupportedException;

    private static bool IsFor(SubjectIdentifier id, X509Certificate2 cert)
    {
        switch (id.Type)
        {
            case SubjectIdentifierType.IssuerAndSerialNumber when id.Value is X509IssuerSerial s:
                return string.Equals(s.SerialNumber, cert.SerialNumber, StringComparison.OrdinalIgnoreCase)
                    && new X500DistinguishedName(cert.IssuerName).Name == s.IssuerName;
            case SubjectIdentifierType.SubjectKeyIdentifier when id.Value is string ski:
                var ext = cert.Extensions.OfType<X509SubjectKeyIdentifierExtension>().FirstOrDefault();
                return ext is not null && string.Equals(ext.SubjectKeyIdentifier, ski, StringComparison.OrdinalIgnoreCase);
            default:
                return false;
        }
    }

    private static ScepPkiMessage DecodeCore(ReadOnlySpan<byte> der)
    {
        var cms = new SignedCms();
        cms.Decode(der);
        if (cms.ContentInfo.ContentType.Value != ScepOids.Data)
        {
            throw new ScepFormatException($"pkiMessage: encapsulated content type is {cms.ContentInfo.ContentType.Value}, expected data ({ScepOids.Data})");
        }
        if (cms.SignerInfos.Count != 1)
        {
            throw new ScepFormatException($"pkiMessage: {cms.SignerInfos.Count} SignerInfos, expected exactly one");
        }
        SignerInfo si = cms.SignerInfos[0];
        X509Certificate2 signer = si.Certificate
            ?? throw new ScepFormatException("pkiMessage: the signer's certificate is not included in the SignedData (RFC 8894 §3.1 requires it)");

        ScepMessageType? type = null;
        string? txid = null;
        byte[]? senderNonce = null, recipientNonce = null;
        ScepPkiStatus? status = null;
        ScepFailInfo? failInfo = null;
        string? failInfoText = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (CryptographicAttributeObject attr in si.SignedAttributes)
        {
            string oid = attr.Oid.Value ?? "";
            if (!seen.Add(oid))
            {
                throw new ScepFormatException($"pkiMessage: signed attribute {oid} appears twice");
            }
            switch (oid)
            {
                case ScepOids.MessageType:
                    string mt = ReadString(attr, "messageType");
                    type = int.TryParse(mt, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && Enum.IsDefined((ScepMessageType)n)
                        ? (ScepMessageType)n
                        : throw new ScepFormatException($"pkiMessage: messageType '{Printable(mt)}' is not a SCEP message type (3, 17, 19, 20, 21, 22)");
                    break;
                case ScepOids.TransactionId:
                    txid = ReadString(attr, "transactionID");
                    break;
                case ScepOids.SenderNonce:
                    senderNonce = ReadOctets(attr, "senderNonce");
                    break;
                case ScepOids.RecipientNonce:
                    recipientNonce = ReadOctets(attr, "recipientNonce");
                    break;
                case ScepOids.PkiStatus:
                    string ps = ReadString(attr, "pkiStatus");
                    status = ps switch
                    {
                        "0" => ScepPkiStatus.Success,
                        "2" => ScepPkiStatus.Failure,
                        "3" => ScepPkiStatus.Pending,
                        _ => throw new ScepFormatException($"pkiMessage: pkiStatus '{Printable(ps)}' is not 0, 2 or 3"),
                    };
                    break;
                case ScepOids.FailInfo:
                    string fi = ReadString(attr, "failInfo");
                    failInfo = fi.Length == 1 && fi[0] is >= '0' and <= '4'
                        ? (ScepFailInfo)(fi[0] - '0')
                        : throw new ScepFormatException($"pkiMessage: failInfo '{Printable(fi)}' is not 0 to 4");
                    break;
                case ScepOids.FailInfoText:
                    failInfoText = ReadString(attr, "failInfoText");
                    break;
            }
        }
        if (type is null)
        {
            throw new ScepFormatException("pkiMessage: signed attribute messageType is missing");
        }
        if (string.IsNullOrEmpty(txid))
        {
            throw new ScepFormatException("pkiMessage: signed attribute transactionID is missing or empty");
        }
        if (senderNonce is null || senderNonce.Length == 0)
        {
            throw new ScepFormatException("pkiMessage: signed attribute senderNonce is missing or empty");
        }
        if (type == ScepMessageType.CertRep)
        {
            if (status is null)
            {
                throw new ScepFormatException("CertRep: signed attribute pkiStatus is missing");
            }
            // RFC 8894 §3.2.1.4: failInfo MUST be present when pkiStatus is FAILURE.
            if (status == ScepPkiStatus.Failure && failInfo is null)
            {
                throw new ScepFormatException("CertRep: pkiStatus is FAILURE but failInfo is missing");
            }
        }
        var certs = new X509Certificate2Collection();
        certs.AddRange(cms.Certificates);
        string digest = si.DigestAlgorithm.Value ?? "";
        var message = new ScepPkiMessage(type.Value, txid, senderNonce, recipientNonce, status, failInfo, failInfoText, signer, certs, digest, cms.ContentInfo.Content);
        try
        {
            // Only the signature: the signer is often self-signed, trust is the CA's policy decision (challenge, renewal).
            si.CheckSignature(verifySignatureOnly: true);
        }
        catch (CryptographicException e)
        {
            throw new ScepFormatException($"pkiMessage: signature does not verify with the signer certificate {signer.Subject}: {e.Message}", e)
            {
                Request = message,
                FailInfo = ScepFailInfo.BadMessageCheck,
            };
        }
        return message;
    }

    private static AsnReader SingleValue(CryptographicAttributeObject attr, string name)
    {
        if (attr.Values.Count != 1)
        {
            throw new ScepFormatException($"pkiMessage: signed attribute {name} has {attr.Values.Count} values, expected one");
        }
        return new AsnReader(attr.Values[0].RawData, AsnEncodingRules.BER);
    }

    private static string ReadString(CryptographicAttributeObject attr, string name)
    {
        AsnReader r = SingleValue(attr, name);
        Asn1Tag tag = r.PeekTag();
        // PrintableString per RFC 8894; UTF8String for failInfoText; some clients use IA5String.
        UniversalTagNumber kind = tag.TagClass == TagClass.Universal ? (UniversalTagNumber)tag.TagValue : UniversalTagNumber.EndOfContents;
        if (kind is not (UniversalTagNumber.PrintableString or UniversalTagNumber.UTF8String or UniversalTagNumber.IA5String))
        {
            throw new ScepFormatException($"pkiMessage: signed attribute {name} is not a string (tag {tag})");
        }
        string s = r.ReadCharacterString(kind);
        r.ThrowIfNotEmpty();
        if (s.Length > 1024)
        {
            throw new ScepFormatException($"pkiMessage: signed attribute {name} is {s.Length} characters long (limit 1024)");
        }
        return s;
    }

    private static byte[] ReadOctets(CryptographicAttributeObject attr, string name)
    {
        AsnReader r = SingleValue(attr, name);
        byte[] v = r.ReadOctetString();
        r.ThrowIfNotEmpty();
        if (v.Length > 256)
        {
            throw new ScepFormatException($"pkiMessage: signed attribute {name} is {v.Length} octets long (limit 256)");
        }
        return v;
    }

    private static string Printable(string s) => s.Length > 32 ? s[..32] + "…" : s;
}
