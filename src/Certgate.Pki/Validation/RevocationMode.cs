namespace Certgate.Pki.Validation;

/// <summary>How revocation is checked (Junos: <c>revocation-check</c>).</summary>
public enum RevocationMode
{
    /// <summary>Every non-anchor certificate must be checked against a current CRL of its issuer.</summary>
    Check,
    /// <summary>Skip revocation (<c>revocation-check disable</c>).</summary>
    Disabled,
    /// <summary>
    /// Check when a CRL is available; when none is, or the one held has expired, skip with a warning
    /// (<c>crl disable on-download-failure</c>). A serial found on an expired CRL still fails.
    /// </summary>
    SkipWhenUnavailable,
}
