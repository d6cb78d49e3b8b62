namespace Certgate.Ca.Issuance;

/// <summary>Why a request was refused, as SCEP failInfo values (RFC 8894 §3.2.1.4.5), so the SCEP layer maps 1:1.</summary>
public enum EnrollmentFailInfo
{
    /// <summary>Unrecognised or unsupported algorithm (key type/size not allowed).</summary>
    BadAlg = 0,
    /// <summary>Integrity check failed (CSR or renewal signature).</summary>
    BadMessageCheck = 1,
    /// <summary>Transaction not permitted or supported (challenge, policy, duplicate transactionID).</summary>
    BadRequest = 2,
    /// <summary>Time outside the permitted window.</summary>
    BadTime = 3,
    /// <summary>No certificate could be identified matching the criteria.</summary>
    BadCertId = 4,
}

/// <summary>The CA refuses a request; <see cref="FailInfo"/> is the SCEP answer, the message says which check failed.</summary>
/// <remarks>The message is for the CA's log and the operator; it never contains the challenge password.</remarks>
public sealed class IssuanceRefusedException(EnrollmentFailInfo failInfo, string message) : Exception(message)
{
    public EnrollmentFailInfo FailInfo { get; } = failInfo;
}
