using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Scep;

/// <summary>What a CertRep says (RFC 8894 §3.3.2).</summary>
/// <param name="Status">SUCCESS, PENDING or FAILURE.</param>
/// <param name="Certificates">SUCCESS: certificates for the degenerate SignedData (issued cert first).</param>
/// <param name="Crls">SUCCESS for GetCRL: DER CRLs.</param>
/// <param name="FailInfo">FAILURE: the reason code.</param>
/// <param name="FailInfoText">FAILURE: optional human-readable reason (never secrets).</param>
public sealed record ScepReply(ScepPkiStatus Status, IReadOnlyList<X509Certificate2> Certificates, IReadOnlyList<byte[]> Crls, ScepFailInfo? FailInfo, string? FailInfoText)
{
    public static ScepReply Success(params X509Certificate2[] certificates) => new(ScepPkiStatus.Success, certificates, [], null, null);

    public static ScepReply SuccessCrl(byte[] crl) => new(ScepPkiStatus.Success, [], [crl], null, null);

    public static ScepReply Pending() => new(ScepPkiStatus.Pending, [], [], null, null);

    public static ScepReply Failure(ScepFailInfo failInfo, string? text = null) => new(ScepPkiStatus.Failure, [], [], failInfo, text);
}

/// <summary>Builds CertRep messages (server side).</summary>
public static class CertRepBuilder
{
    /// <summary>
    /// The CertRep answering <paramref name="request"/>: SignedData by <paramref name="signer"/> (rsaEncryption
    /// SignerInfo, digest as in the request), transactionID copied, recipientNonce = the request's senderNonce, a fresh
    /// senderNonce; on SUCCESS the certs-only SignedData enveloped to the requester's signer certificate
    /// (AES-256-CBC when the request used AES, 3DES when it used DES or 3DES).
    /// </summary>
    /// <param name="request">The verified request.</param>
    /// <param name="requestCipher">The cipher the request used.</param>
    /// <param name="signer">CA or RA certificate with its private key.</param>
    /// <param name="reply">What to answer.</param>
    /// <exception cref="ArgumentException">The signer has no private key; SUCCESS without certificates or CRLs.</exception>
    public static byte[] Build(ScepPkiMessage request, ScepCipher requestCipher, X509Certificate2 signer, ScepReply reply)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(reply);
        byte[]? envelope = null;
        if (reply.Status == ScepPkiStatus.Success)
        {
            if (reply.Certificates.Count == 0 && reply.Crls.Count == 0)
            {
                throw new ArgumentException("a SUCCESS CertRep carries at least one certificate or CRL", nameof(reply));
            }
            byte[] degenerate = DegenerateSignedData.Encode(reply.Certificates, reply.Crls);
            envelope = ScepMessageWriter.Envelope(degenerate, request.SignerCertificate, ReplyCipher(requestCipher));
        }
        if (reply.Status == ScepPkiStatus.Failure && reply.FailInfo is null)
        {
            throw new ArgumentException("a FAILURE CertRep needs a failInfo (RFC 8894 §3.2.1.4)", nameof(reply));
        }
        return ScepMessageWriter.Sign(envelope, signer, ReplyDigest(request.DigestAlgorithmOid), ScepMessageType.CertRep, request.TransactionId,
            ScepMessageWriter.NewNonce(), request.SenderNonce, reply.Status, reply.Status == ScepPkiStatus.Failure ? reply.FailInfo : null,
            reply.Status == ScepPkiStatus.Failure ? reply.FailInfoText : null);
    }

    /// <summary>The reply cipher: never single DES (RFC 8894 §2.9 MUST NOT); legacy DES clients get 3DES, which they all decrypt.</summary>
    public static ScepCipher ReplyCipher(ScepCipher requestCipher) => requestCipher switch
    {
        ScepCipher.DesCbc or ScepCipher.TripleDesCbc => ScepCipher.TripleDesCbc,
        _ => ScepCipher.Aes256Cbc,
    };

    private static string ReplyDigest(string requestDigestOid) =>
        ScepOids.DigestName(requestDigestOid) is { } name ? ScepOids.DigestOid(name) : ScepOids.Sha256;

    /// <summary>Digest name of an OID the request used (for logs), or the OID itself.</summary>
    internal static string DigestLabel(string oid) => ScepOids.DigestName(oid)?.Name ?? oid;
}
