using System.Security.Cryptography.X509Certificates;

namespace Certgate.Pki.Validation;

/// <summary>What a validation trusts and how strict it is.</summary>
public sealed class ChainValidationPolicy
{
    /// <summary>The CA certificates of the trusted CA profiles.</summary>
    public required IReadOnlyList<X509Certificate2> TrustAnchors { get; init; }

    /// <summary>Untrusted intermediate CA certificates (e.g. sent by the peer in IKE CERT payloads).</summary>
    public IReadOnlyList<X509Certificate2> Intermediates { get; init; } = [];

    /// <summary>Where CRLs come from; null means none is available.</summary>
    public ICrlSource? CrlSource { get; init; }

    /// <summary>How revocation is checked; default <see cref="RevocationMode.Check"/>.</summary>
    public RevocationMode RevocationMode { get; init; } = RevocationMode.Check;

    /// <summary>Overrides the validator's clock (e.g. to check a signature time).</summary>
    public DateTimeOffset? ValidationTime { get; init; }

    /// <summary>The longest path accepted, anchor included (default 8).</summary>
    public int MaxDepth { get; init; } = 8;

    /// <summary>
    /// Accept certificates below the trust anchor and CRLs signed with SHA-1 (the legacy switch, Junos-style
    /// <c>security pki allow-sha1-signatures</c>). Default false: SHA-1 collisions are practical (SHAttered 2017,
    /// chosen-prefix 2020), so a SHA-1 signature no longer proves that the CA signed this certificate.
    /// </summary>
    public bool AllowSha1Signatures { get; init; }

    /// <summary>What an operator sets to accept SHA-1 signatures, named in every refusal.</summary>
    public const string Sha1Remedy = "set security pki allow-sha1-signatures to accept it";
}
