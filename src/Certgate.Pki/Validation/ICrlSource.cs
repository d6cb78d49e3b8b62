using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Revocation;

namespace Certgate.Pki.Validation;

/// <summary>
/// Supplies the CRL of an issuing CA. The gateway's PKI agent answers from its cache (it downloads in the
/// background), so this is synchronous and must not block on the network.
/// </summary>
public interface ICrlSource
{
    /// <summary>The CRL issued by <paramref name="issuer"/>, or why there is none.</summary>
    CrlLookup GetCrl(X509Certificate2 issuer);
}

/// <summary>Whether a CRL was found.</summary>
public enum CrlLookupStatus
{
    /// <summary>A CRL is held for the issuer.</summary>
    Found,
    /// <summary>No CRL is held and none is being fetched (none configured or loaded).</summary>
    NotAvailable,
    /// <summary>The last download failed.</summary>
    DownloadFailed,
}

/// <summary>The answer of an <see cref="ICrlSource"/>.</summary>
public readonly record struct CrlLookup(CrlLookupStatus Status, CertificateRevocationList? Crl, string? Detail)
{
    /// <summary>A CRL is available.</summary>
    public static CrlLookup Found(CertificateRevocationList crl) =>
        new(CrlLookupStatus.Found, crl ?? throw new ArgumentNullException(nameof(crl)), null);

    /// <summary>No CRL is available.</summary>
    public static CrlLookup NotAvailable(string? detail = null) => new(CrlLookupStatus.NotAvailable, null, detail);

    /// <summary>The download failed (e.g. "http://ca/crl: connection refused").</summary>
    public static CrlLookup DownloadFailed(string detail) => new(CrlLookupStatus.DownloadFailed, null, detail);
}

/// <summary>
/// An <see cref="ICrlSource"/> over a fixed set of CRLs (loaded files, tests, <c>request security pki crl load</c>),
/// matched by issuer name and, when both carry one, authority key identifier = subject key identifier.
/// </summary>
public sealed class CrlCollection : ICrlSource
{
    private readonly List<CertificateRevocationList> _crls = [];

    /// <summary>Creates the collection.</summary>
    public CrlCollection(IEnumerable<CertificateRevocationList>? crls = null)
    {
        if (crls is not null)
        {
            _crls.AddRange(crls);
        }
    }

    /// <summary>Adds a CRL.</summary>
    public void Add(CertificateRevocationList crl) => _crls.Add(crl ?? throw new ArgumentNullException(nameof(crl)));

    /// <inheritdoc/>
    public CrlLookup GetCrl(X509Certificate2 issuer)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        byte[]? ski = CertificateFacts.SubjectKeyIdentifier(issuer);
        CertificateRevocationList? best = null;
        foreach (CertificateRevocationList crl in _crls)
        {
            if (!Identity.DistinguishedNames.Equal(crl.Issuer, issuer.SubjectName))
            {
                continue;
            }
            if (ski is not null && crl.AuthorityKeyIdentifier is { } aki && !aki.Span.SequenceEqual(ski))
            {
                continue;
            }
            // The newest CRL wins when several are loaded.
            if (best is null || crl.ThisUpdate > best.ThisUpdate)
            {
                best = crl;
            }
        }
        return best is null ? CrlLookup.NotAvailable($"no CRL loaded for '{issuer.Subject}'") : CrlLookup.Found(best);
    }
}
