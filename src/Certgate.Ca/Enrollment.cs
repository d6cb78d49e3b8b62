using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Issuance;

namespace Certgate.Ca;

/// <summary>SCEP messageType of an enrollment (RFC 8894 §3.2.1.2).</summary>
public enum EnrollmentMessageType
{
    /// <summary>PKCSReq (19): initial enrollment — or a Cisco-style renewal when signed by a certificate of this CA.</summary>
    PkcsReq,

    /// <summary>RenewalReq (17): must be signed by a current certificate of this CA.</summary>
    RenewalReq,
}

/// <summary>An enrollment as the SCEP layer hands it over, after it verified the envelope's signature.</summary>
/// <param name="Csr">The DER PKCS#10 request (decrypted pkcsPKIEnvelope content).</param>
/// <param name="TransactionId">The SCEP transactionID.</param>
/// <param name="MessageType">PKCSReq or RenewalReq.</param>
/// <param name="SignerCertificate">The certificate that signed the SCEP message (self-signed for first enrollments).</param>
/// <param name="Requester">Who asked (remote address), for the audit log and the pending queue.</param>
public sealed record EnrollmentRequest(byte[] Csr, string TransactionId, EnrollmentMessageType MessageType, X509Certificate2? SignerCertificate, string Requester);

/// <summary>pkiStatus of an answer (RFC 8894 §3.2.1.3).</summary>
public enum EnrollmentStatus
{
    Issued,
    Pending,
    Failed,
}

/// <summary>The CA's answer to an enrollment or poll.</summary>
/// <param name="Status">SUCCESS / PENDING / FAILURE.</param>
/// <param name="Certificate">The issued certificate (Issued only).</param>
/// <param name="FailInfo">The SCEP failInfo (Failed only).</param>
/// <param name="Message">Why, for the CA's log (never contains a password).</param>
public sealed record EnrollmentResult(EnrollmentStatus Status, X509Certificate2? Certificate, EnrollmentFailInfo? FailInfo, string? Message)
{
    public static EnrollmentResult Issued(X509Certificate2 certificate) => new(EnrollmentStatus.Issued, certificate, null, null);

    public static EnrollmentResult Pending(string? message = null) => new(EnrollmentStatus.Pending, null, null, message);

    public static EnrollmentResult Failed(EnrollmentFailInfo failInfo, string message) => new(EnrollmentStatus.Failed, null, failInfo, message);
}
