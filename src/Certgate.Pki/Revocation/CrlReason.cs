namespace Certgate.Pki.Revocation;

/// <summary>
/// The CRLReason of RFC 5280 §5.3.1 (value 7 is not used). Names keep the RFC spelling so that they grep against
/// the RFC and against <c>openssl crl -text</c> output.
/// </summary>
public enum CrlReason : byte
{
    unspecified = 0,
    keyCompromise = 1,
    cACompromise = 2,
    affiliationChanged = 3,
    superseded = 4,
    cessationOfOperation = 5,
    certificateHold = 6,
    removeFromCRL = 8,
    privilegeWithdrawn = 9,
    aACompromise = 10,
}
