using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Settings;

namespace Certgate.Ca.Issuance;

/// <summary>Initial enrollment (challenge or manual approval) or renewal (authorised by a current certificate).</summary>
public enum IssuanceKind
{
    Initial,
    Renewal,
}

/// <summary>Everything the pipeline stages may look at for one request. Immutable. <c>Grant</c> is what vouches for
/// the request's names; null is <see cref="NameGrant.Profile"/> (an unbound challenge: the profile's name policy),
/// the safe default.</summary>
public sealed record IssuanceContext(
    ParsedCsr Csr,
    CertificateProfile Profile,
    CaSettings Settings,
    X509Certificate2 Issuer,
    DateTimeOffset Now,
    IssuanceKind Kind,
    string Requester,
    string? TransactionId,
    NameGrant? Grant = null);

/// <summary>
/// The certificate being built. Starts from the CSR (subject, key, SANs the profile allows — nothing else), then the
/// modifiers fill in validity and extensions.
/// </summary>
public sealed class CertificateTemplate
{
    public required X500DistinguishedName Subject { get; set; }

    public required PublicKey PublicKey { get; init; }

    /// <summary>SANs to write (already filtered by the profile).</summary>
    public List<RequestedSan> Sans { get; } = [];

    public DateTimeOffset NotBefore { get; set; }

    public DateTimeOffset NotAfter { get; set; }

    /// <summary>Extensions to write, in order. Requested extensions never land here.</summary>
    public List<X509Extension> Extensions { get; } = [];

    /// <summary>The template stage: subject and public key from the CSR, SANs only of the types the profile allows.</summary>
    public static CertificateTemplate FromRequest(IssuanceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var t = new CertificateTemplate { Subject = context.Csr.Subject, PublicKey = context.Csr.PublicKey };
        foreach (RequestedSan san in context.Csr.RequestedSans)
        {
            if (SanPolicy.IsAllowed(san.Type, context.Profile.AllowedSans))
            {
                t.Sans.Add(san);
            }
        }
        return t;
    }

    /// <summary>True when the template's public key is RSA.</summary>
    public bool IsRsaKey => PublicKey.Oid.Value == Oids.RsaEncryption;
}

/// <summary>Maps SAN type names to <see cref="SanTypes"/>.</summary>
public static class SanPolicy
{
    /// <summary>True when a SAN of <paramref name="type"/> (dns, ip, email, …) is allowed.</summary>
    public static bool IsAllowed(string type, SanTypes allowed) => type switch
    {
        "dns" => allowed.HasFlag(SanTypes.Dns),
        "ip" => allowed.HasFlag(SanTypes.Ip),
        "email" => allowed.HasFlag(SanTypes.Email),
        _ => false,
    };
}
