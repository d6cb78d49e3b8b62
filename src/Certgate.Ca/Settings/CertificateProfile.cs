using System.Security.Cryptography.X509Certificates;

namespace Certgate.Ca.Settings;

/// <summary>How an initial enrollment (not a renewal) gets approved.</summary>
public enum ApprovalMode
{
    /// <summary>Issued at once when the request carries a valid, unused one-time challenge password.</summary>
    Challenge,

    /// <summary>Kept PENDING until an operator runs <c>approve</c> (or <c>reject</c>).</summary>
    Manual,
}

/// <summary>Subject alternative name types a request may carry.</summary>
[Flags]
public enum SanTypes
{
    None = 0,
    Dns = 1,
    Ip = 2,
    Email = 4,
}

/// <summary>Which certificates GetCACert returns (RFC 8894 §3.2.1.1; Cisco wants the CA, Juniper refuses it).</summary>
public enum GetCaCertMode
{
    /// <summary>The CA certificate alone (no RA).</summary>
    CaOnly,

    /// <summary>The RA certificate followed by the CA certificate (degenerate PKCS#7).</summary>
    RaAndCa,

    /// <summary>The RA certificate only.</summary>
    RaOnly,
}

/// <summary>
/// A certificate profile: what a certificate issued under it contains and what a request for it may ask.
/// Immutable; built by <see cref="CaSettingsFile"/>.
/// </summary>
public sealed record CertificateProfile
{
    /// <summary>Profile name (the <c>profiles</c> key in the settings file).</summary>
    public required string Name { get; init; }

    /// <summary>Validity of issued certificates, clamped to the CA certificate's notAfter.</summary>
    public int ValidityDays { get; init; } = 365;

    /// <summary>keyUsage of issued certificates (keyEncipherment is dropped for EC keys, RFC 5480 §3).</summary>
    public X509KeyUsageFlags KeyUsage { get; init; } = X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment;

    /// <summary>extendedKeyUsage OIDs (dotted); empty → no EKU extension.</summary>
    public IReadOnlyList<string> ExtendedKeyUsages { get; init; } = [];

    /// <summary>SAN types a request may carry; a request with any other type is refused.</summary>
    public SanTypes AllowedSans { get; init; } = SanTypes.Dns | SanTypes.Ip | SanTypes.Email;

    /// <summary>Smallest RSA modulus accepted; 0 refuses RSA keys.</summary>
    public int RsaMinimumBits { get; init; } = 2048;

    /// <summary>Named curves accepted for ECDSA keys (<c>p256</c>, <c>p384</c>, <c>p521</c>); empty refuses EC keys.</summary>
    public IReadOnlyList<string> EcdsaCurves { get; init; } = ["p256", "p384"];

    /// <summary>Approval of initial enrollments.</summary>
    public ApprovalMode Approval { get; init; } = ApprovalMode.Challenge;

    /// <summary>Advertise SHA-1 and DES3 in GetCACaps (old clients only).</summary>
    public bool AllowSha1Des3 { get; init; }

    /// <summary>A renewal's new CSR must carry the same subject as the certificate that signs it. Always true since
    /// issue #14 (a renewal asks only for names its certificate already has); <c>false</c> is refused at load.</summary>
    public bool RenewalSubjectMustMatch { get; init; } = true;

    /// <summary>The names a request under an unbound challenge may ask for (issue #14 §1).</summary>
    public NamePolicy Names { get; init; } = NamePolicy.Default;

    /// <summary>How long a renewed certificate stays valid beside its successor before the CA revokes it with reason
    /// superseded (so a gateway whose install failed can still fetch its new certificate and retry).</summary>
    public TimeSpan SupersededGrace { get; init; } = TimeSpan.FromHours(24);
}
