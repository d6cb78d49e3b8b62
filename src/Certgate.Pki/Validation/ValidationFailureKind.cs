namespace Certgate.Pki.Validation;

/// <summary>Which check of path validation failed.</summary>
public enum ValidationFailureKind
{
    /// <summary>No trust anchor or intermediate has a subject equal to the certificate's issuer.</summary>
    IssuerNotFound,
    /// <summary>The path ends at a self-signed certificate that is not a trust anchor.</summary>
    UntrustedRoot,
    /// <summary>The certificate's signature does not verify with its issuer's key.</summary>
    BadSignature,
    /// <summary>The validation time is after notAfter.</summary>
    Expired,
    /// <summary>The validation time is before notBefore.</summary>
    NotYetValid,
    /// <summary>An issuer lacks basicConstraints cA=TRUE.</summary>
    NotACa,
    /// <summary>An issuer has keyUsage without keyCertSign.</summary>
    MissingKeyCertSign,
    /// <summary>An issuer's pathLenConstraint is exceeded.</summary>
    PathLengthExceeded,
    /// <summary>The certificate carries a critical extension this validator does not process (RFC 5280 §4.2).</summary>
    UnsupportedCriticalExtension,
    /// <summary>The path is longer than the configured maximum depth.</summary>
    PathTooLong,
    /// <summary>The certificate's serial is on its issuer's CRL.</summary>
    Revoked,
    /// <summary>No CRL could be obtained for the issuer (none loaded, or the download failed) and revocation checking is required.</summary>
    CrlUnavailable,
    /// <summary>The issuer's CRL is past its nextUpdate.</summary>
    CrlExpired,
    /// <summary>The issuer's CRL has a thisUpdate in the future.</summary>
    CrlNotYetValid,
    /// <summary>The CRL's signature does not verify with the issuer's key.</summary>
    CrlBadSignature,
    /// <summary>The CRL was issued by another CA (issuer name or authority key identifier differ).</summary>
    CrlIssuerMismatch,
    /// <summary>The CRL issuer has keyUsage without cRLSign.</summary>
    MissingCrlSign,
    /// <summary>A certificate of the path (not the anchor) or a CRL is signed with SHA-1 and the policy does not allow it.</summary>
    Sha1Signature,
}
