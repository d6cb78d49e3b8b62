using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Scep;

/// <summary>How a client signs and encrypts its requests.</summary>
/// <param name="Signer">The signing certificate with its private key (self-signed for PKCSReq, the current certificate for RenewalReq).</param>
/// <param name="Recipient">The CA or RA certificate to encrypt to (from GetCACert).</param>
/// <param name="Digest">SHA256 by default; SHA1 only for old CAs.</param>
/// <param name="Cipher">AES-256-CBC by default.</param>
public sealed record ScepClientCredentials(X509Certificate2 Signer, X509Certificate2 Recipient, HashAlgorithmName Digest, ScepCipher Cipher = ScepCipher.Aes256Cbc)
{
    public ScepClientCredentials(X509Certificate2 signer, X509Certificate2 recipient)
        : this(signer, recipient, HashAlgorithmName.SHA256)
    {
    }
}

/// <summary>A request ready to send, with what is needed to check its CertRep.</summary>
/// <param name="Der">The DER pkiMessage.</param>
/// <param name="MessageType">Its messageType.</param>
/// <param name="TransactionId">Its transactionID.</param>
/// <param name="SenderNonce">Its senderNonce (the CertRep's recipientNonce must equal it).</param>
public sealed record ScepOutgoingRequest(byte[] Der, ScepMessageType MessageType, string TransactionId, byte[] SenderNonce);

/// <summary>Builds client requests (PKCSReq, RenewalReq, CertPoll, GetCert, GetCRL) per RFC 8894 §3.3.</summary>
public static class ScepClientMessages
{
    /// <summary>PKCSReq (or RenewalReq) carrying <paramref name="csr"/>.</summary>
    /// <param name="csr">DER PKCS#10 (with challengePassword for a password-based PKCSReq).</param>
    /// <param name="transactionId">Transaction ID; <see cref="TransactionIdFor"/> of the CSR's key when null.</param>
    /// <param name="credentials">Signer and recipient.</param>
    /// <param name="renewal">RenewalReq (17) instead of PKCSReq (19).</param>
    /// <exception cref="ArgumentException">Empty CSR, signer without private key, recipient without RSA key.</exception>
    public static ScepOutgoingRequest Enrollment(byte[] csr, string? transactionId, ScepClientCredentials credentials, bool renewal = false)
    {
        ArgumentNullException.ThrowIfNull(csr);
        ArgumentNullException.ThrowIfNull(credentials);
        if (csr.Length == 0)
        {
            throw new ArgumentException("the CSR is empty", nameof(csr));
        }
        string txid = transactionId ?? TransactionIdFor(CertificateRequest.LoadSigningRequest(csr, HashAlgorithmName.SHA256,
            CertificateRequestLoadOptions.SkipSignatureValidation).PublicKey);
        return Build(renewal ? ScepMessageType.RenewalReq : ScepMessageType.PkcsReq, csr, txid, credentials);
    }

    /// <summary>CertPoll for a pending request: same transactionID, issuer = CA subject, subject = CSR subject.</summary>
    public static ScepOutgoingRequest CertPoll(string transactionId, X500DistinguishedName issuer, X500DistinguishedName subject, ScepClientCredentials credentials)
    {
        ArgumentException.ThrowIfNullOrEmpty(transactionId);
        return Build(ScepMessageType.CertPoll, new IssuerAndSubject(issuer, subject).Encode(), transactionId, credentials);
    }

    /// <summary>GetCert for the certificate <paramref name="issuer"/>/<paramref name="serialNumber"/>.</summary>
    public static ScepOutgoingRequest GetCert(X500DistinguishedName issuer, byte[] serialNumber, ScepClientCredentials credentials) =>
        Build(ScepMessageType.GetCert, new IssuerAndSerialNumber(issuer, serialNumber).Encode(), NewTransactionId(), credentials);

    /// <summary>GetCRL for the CRL covering <paramref name="issuer"/>/<paramref name="serialNumber"/>.</summary>
    public static ScepOutgoingRequest GetCrl(X500DistinguishedName issuer, byte[] serialNumber, ScepClientCredentials credentials) =>
        Build(ScepMessageType.GetCrl, new IssuerAndSerialNumber(issuer, serialNumber).Encode(), NewTransactionId(), credentials);

    /// <summary>A transactionID from the public key: upper-case hex SHA-256 of SubjectPublicKeyInfo (stable across retries).</summary>
    public static string TransactionIdFor(PublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Convert.ToHexString(SHA256.HashData(key.ExportSubjectPublicKeyInfo()));
    }

    private static string NewTransactionId() => Convert.ToHexString(RandomNumberGenerator.GetBytes(16));

    private static ScepOutgoingRequest Build(ScepMessageType type, byte[] data, string txid, ScepClientCredentials c)
    {
        ArgumentNullException.ThrowIfNull(c.Signer);
        ArgumentNullException.ThrowIfNull(c.Recipient);
        byte[] envelope = ScepMessageWriter.Envelope(data, c.Recipient, c.Cipher);
        byte[] nonce = ScepMessageWriter.NewNonce();
        byte[] der = ScepMessageWriter.Sign(envelope, c.Signer, ScepOids.DigestOid(c.Digest), type, txid, nonce);
        return new ScepOutgoingRequest(der, type, txid, nonce);
    }
}

/// <summary>A CertRep as the client reads it.</summary>
public sealed class ScepCertRep
{
    private ScepCertRep(ScepPkiMessage message, X509Certificate2Collection certificates, IReadOnlyList<byte[]> crls)
    {
        Message = message;
        Certificates = certificates;
        Crls = crls;
    }

    /// <summary>The verified pkiMessage.</summary>
    public ScepPkiMessage Message { get; }

    public ScepPkiStatus Status => Message.PkiStatus!.Value;

    public ScepFailInfo? FailInfo => Message.FailInfo;

    public string? FailInfoText => Message.FailInfoText;

    public string TransactionId => Message.TransactionId;

    /// <summary>SUCCESS: the certificates of the degenerate SignedData (empty otherwise).</summary>
    public X509Certificate2Collection Certificates { get; }

    /// <summary>SUCCESS of GetCRL: the DER CRLs.</summary>
    public IReadOnlyList<byte[]> Crls { get; }

    /// <summary>
    /// Verifies and reads a CertRep: signature, signer is one of <paramref name="trustedSigners"/> (the CA/RA
    /// certificates from GetCACert), transactionID and recipientNonce match <paramref name="request"/>; on SUCCESS
    /// decrypts the envelope with the request's signer key.
    /// </summary>
    /// <param name="der">The HTTP response body.</param>
    /// <param name="request">The request this answers.</param>
    /// <param name="credentials">The request's credentials (the signer's private key decrypts).</param>
    /// <param name="trustedSigners">Certificates allowed to sign CertReps; defaults to <see cref="ScepClientCredentials.Recipient"/>.</param>
    /// <exception cref="ScepFormatException">Malformed, bad signature, wrong signer, wrong transaction or nonce, undecryptable.</exception>
    public static ScepCertRep Read(ReadOnlySpan<byte> der, ScepOutgoingRequest request, ScepClientCredentials credentials, X509Certificate2Collection? trustedSigners = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(credentials);
        ScepPkiMessage m = ScepPkiMessage.Decode(der);
        if (m.MessageType != ScepMessageType.CertRep)
        {
            throw new ScepFormatException($"CertRep: messageType is {m.MessageType}, expected CertRep (3)");
        }
        bool trusted = trustedSigners is { Count: > 0 }
            ? trustedSigners.Any(t => t.RawData.AsSpan().SequenceEqual(m.SignerCertificate.RawData))
            : credentials.Recipient.RawData.AsSpan().SequenceEqual(m.SignerCertificate.RawData);
        if (!trusted)
        {
            throw new ScepFormatException($"CertRep: signed by {m.SignerCertificate.Subject}, which is not the CA/RA certificate");
        }
        if (m.TransactionId != request.TransactionId)
        {
            throw new ScepFormatException($"CertRep: transactionID '{m.TransactionId}' does not match the request's '{request.TransactionId}'");
        }
        // RFC 8894 §3.2.1.5: the recipientNonce is the senderNonce of the request (replay protection).
        if (m.RecipientNonce is null || !m.RecipientNonce.AsSpan().SequenceEqual(request.SenderNonce))
        {
            throw new ScepFormatException("CertRep: recipientNonce does not match the request's senderNonce");
        }
        if (m.PkiStatus != ScepPkiStatus.Success)
        {
            return new ScepCertRep(m, [], []);
        }
        byte[] content = m.DecryptContent(credentials.Signer, out _);
        (X509Certificate2Collection certs, IReadOnlyList<byte[]> crls) = DegenerateSignedData.Decode(content);
        if (certs.Count == 0 && crls.Count == 0)
        {
            throw new ScepFormatException("CertRep: SUCCESS without a certificate or CRL");
        }
        return new ScepCertRep(m, certs, crls);
    }

    /// <summary>The issued certificate: the one whose public key is <paramref name="key"/>, else the first.</summary>
    public X509Certificate2? IssuedCertificate(PublicKey? key = null)
    {
        if (key is not null)
        {
            byte[] spki = key.ExportSubjectPublicKeyInfo();
            foreach (X509Certificate2 c in Certificates)
            {
                if (c.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(spki))
                {
                    return c;
                }
            }
        }
        return Certificates.Count > 0 ? Certificates[0] : null;
    }
}
