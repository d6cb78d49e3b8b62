using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Scep;

/// <summary>
/// A client request as the SCEP server sees it (RFC 8894 §3.3): the verified pkiMessage and its decrypted messageData.
/// </summary>
public sealed class ScepServerRequest
{
    private ScepServerRequest(ScepPkiMessage message, ScepCipher cipher, byte[] data)
    {
        Message = message;
        Cipher = cipher;
        MessageData = data;
    }

    /// <summary>The verified pkiMessage (type, transactionID, nonces, signer certificate).</summary>
    public ScepPkiMessage Message { get; }

    public ScepMessageType MessageType => Message.MessageType;

    public string TransactionId => Message.TransactionId;

    /// <summary>The content-encryption algorithm the client used (the reply picks its cipher from it).</summary>
    public ScepCipher Cipher { get; }

    /// <summary>The decrypted messageData.</summary>
    public byte[] MessageData { get; }

    /// <summary>PKCS#10 DER for PKCSReq/RenewalReq, else null.</summary>
    public byte[]? Csr => MessageType is ScepMessageType.PkcsReq or ScepMessageType.RenewalReq ? MessageData : null;

    /// <summary>The CertPoll payload, else null.</summary>
    public IssuerAndSubject? IssuerAndSubject { get; private init; }

    /// <summary>The GetCert/GetCRL payload, else null.</summary>
    public IssuerAndSerialNumber? IssuerAndSerialNumber { get; private init; }

    /// <summary>Parses, verifies and decrypts a client's pkiMessage.</summary>
    /// <param name="der">The DER pkiMessage (HTTP POST body or decoded GET <c>message</c>).</param>
    /// <param name="messageCertificate">The CA or RA certificate with its private key (the one GetCACert told clients to encrypt to).</param>
    /// <exception cref="ArgumentException"><paramref name="messageCertificate"/> has no RSA private key.</exception>
    /// <exception cref="ScepFormatException">The message is malformed, unsigned, not a request, not for us, or its payload does not parse.</exception>
    public static ScepServerRequest Parse(ReadOnlySpan<byte> der, X509Certificate2 messageCertificate)
    {
        ArgumentNullException.ThrowIfNull(messageCertificate);
        if (!messageCertificate.HasPrivateKey)
        {
            throw new ArgumentException("the SCEP message certificate needs its private key", nameof(messageCertificate));
        }
        ScepPkiMessage m = ScepPkiMessage.Decode(der);
        if (m.MessageType == ScepMessageType.CertRep)
        {
            throw new ScepFormatException("pkiMessage: a CertRep was sent to the server; expected a request (PKCSReq, RenewalReq, CertPoll, GetCert, GetCRL)");
        }
        try
        {
            return ParseVerified(m, messageCertificate);
        }
        catch (ScepFormatException e) when (e.Request is null)
        {
            // The request itself was readable and signed: the client gets a CertRep FAILURE saying why.
            throw new ScepFormatException(e.Message, e) { Request = m, FailInfo = e.FailInfo, EnvelopeUndecryptable = e.EnvelopeUndecryptable };
        }
    }

    private static ScepServerRequest ParseVerified(ScepPkiMessage m, X509Certificate2 messageCertificate)
    {
        using (RSA? signerKey = m.SignerCertificate.GetRSAPublicKey())
        {
            if (signerKey is null)
            {
                throw new ScepFormatException($"{m.MessageType}: the signer certificate {m.SignerCertificate.Subject} has no RSA key; the CertRep is encrypted to it with RSA key transport")
                {
                    FailInfo = ScepFailInfo.BadAlg,
                };
            }
        }
        // Decryption and the first read of what it yields fail alike (EnvelopeUndecryptable, badMessageCheck): an
        // attacker who re-signs a captured envelope with tampered CBC blocks must not learn whether the padding held
        // (valid padding, garbage payload) or not (a padding error). The detail stays in the message for the log.
        try
        {
            byte[] data = m.DecryptContent(messageCertificate, out ScepCipher cipher);
            var request = new ScepServerRequest(m, cipher, data);
            return m.MessageType switch
            {
                ScepMessageType.PkcsReq or ScepMessageType.RenewalReq => CheckCsr(request),
                ScepMessageType.CertPoll => new ScepServerRequest(m, cipher, data) { IssuerAndSubject = IssuerAndSubject.Decode(data) },
                _ => new ScepServerRequest(m, cipher, data) { IssuerAndSerialNumber = IssuerAndSerialNumber.Decode(data) },
            };
        }
        catch (ScepFormatException e)
        {
            throw new ScepFormatException(e.Message, e) { FailInfo = ScepFailInfo.BadMessageCheck, EnvelopeUndecryptable = true };
        }
    }

    private static ScepServerRequest CheckCsr(ScepServerRequest r)
    {
        // The CA parses and verifies the PKCS#10; here only its outer shape, so garbage is a format error at once.
        try
        {
            var reader = new AsnReader(r.MessageData, AsnEncodingRules.BER);
            reader.ReadSequence();
            reader.ThrowIfNotEmpty();
        }
        catch (AsnContentException e)
        {
            throw new ScepFormatException($"{r.MessageType}: messageData is not a PKCS#10 request: {e.Message}", e);
        }
        return r;
    }
}
