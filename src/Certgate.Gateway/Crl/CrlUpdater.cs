using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Revocation;
using Certgate.Pki.Store;

namespace Certgate.Gateway.Crl;

/// <summary>The outcome of <see cref="CrlUpdater.UpdateAsync"/>.</summary>
/// <param name="Crl">The CRL now installed for the profile (new or the one already there), or null.</param>
/// <param name="Installed">True when a newer CRL was written to the store.</param>
/// <param name="Source">The URL the installed CRL came from, when it was downloaded now.</param>
/// <param name="Errors">Why each URL tried did not give a usable CRL, in order.</param>
public sealed record CrlUpdateResult(CertificateRevocationList? Crl, bool Installed, Uri? Source, IReadOnlyList<string> Errors);

/// <summary>
/// Keeps a CA profile's CRL current: tries the URLs in order (the certificates' distribution points first, then the
/// profile's <c>crl url</c>s, as Junos does), accepts a CRL only when the profile's CA signed it and it is not
/// older than the installed one, and installs it atomically in the <see cref="PkiStore"/>.
/// </summary>
public sealed class CrlUpdater
{
    private readonly PkiStore _store;
    private readonly CrlFetcher _fetcher;
    private readonly TimeProvider _time;

    public CrlUpdater(PkiStore store, CrlFetcher fetcher, TimeProvider? time = null)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _fetcher = fetcher ?? throw new ArgumentNullException(nameof(fetcher));
        _time = time ?? TimeProvider.System;
    }

    /// <summary>When the profile's CRL should next be fetched: after <paramref name="refreshInterval"/>, or at nextUpdate if sooner.</summary>
    public static DateTimeOffset NextRefresh(CertificateRevocationList? crl, TimeSpan refreshInterval, DateTimeOffset now)
    {
        DateTimeOffset byInterval = now + refreshInterval;
        return crl?.NextUpdate is { } next && next < byInterval ? (next > now ? next : now) : byInterval;
    }

    /// <summary>
    /// Fetches from <paramref name="urls"/> until one gives a valid CRL of <paramref name="ca"/>, waiting at most
    /// <paramref name="maxWaitPerUrl"/> for each.
    /// </summary>
    public async Task<CrlUpdateResult> UpdateAsync(string caProfile, X509Certificate2 ca, IEnumerable<Uri> urls, TimeSpan maxWaitPerUrl,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(caProfile);
        ArgumentNullException.ThrowIfNull(ca);
        ArgumentNullException.ThrowIfNull(urls);
        CertificateRevocationList? installed = TryLoadInstalled(caProfile);
        var errors = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (Uri url in urls)
        {
            if (!seen.Add(url.AbsoluteUri))
            {
                continue;
            }
            CrlFetchResult fetched = await _fetcher.FetchAsync(url, maxWaitPerUrl, cancellationToken).ConfigureAwait(false);
            if (fetched.Status != CrlFetchStatus.Downloaded)
            {
                errors.Add(fetched.Error!);
                continue;
            }
            CertificateRevocationList crl;
            try
            {
                crl = CertificateRevocationList.Load(fetched.Data!);
            }
            catch (CryptographicException e)
            {
                errors.Add($"{url}: not a CRL ({e.Message})");
                continue;
            }
            if (!crl.Issuer.RawData.AsSpan().SequenceEqual(ca.SubjectName.RawData) || !crl.VerifySignature(ca))
            {
                errors.Add($"{url}: the CRL is not signed by the CA of profile {caProfile}");
                continue;
            }
            if (installed is not null && IsOlder(crl, installed))
            {
                errors.Add($"{url}: the CRL is older than the installed one");
                continue;
            }
            if (crl.IsExpired(_time.GetUtcNow()))
            {
                errors.Add($"{url}: the CRL expired at {crl.NextUpdate:yyyy-MM-dd HH:mm} UTC");
                continue;
            }
            if (installed is null || !crl.RawData.Span.SequenceEqual(installed.RawData.Span))
            {
                _store.Apply(new PkiStoreChange().Write(PkiObjectType.Crl, caProfile, crl.RawData.ToArray()));
                return new CrlUpdateResult(crl, true, url, errors);
            }
            return new CrlUpdateResult(installed, false, url, errors);
        }
        return new CrlUpdateResult(installed, false, null, errors);
    }

    private static bool IsOlder(CertificateRevocationList candidate, CertificateRevocationList installed) =>
        candidate.CrlNumber is { } a && installed.CrlNumber is { } b ? a < b : candidate.ThisUpdate < installed.ThisUpdate;

    private CertificateRevocationList? TryLoadInstalled(string caProfile)
    {
        try
        {
            return _store.LoadCrl(caProfile) is { } bytes ? CertificateRevocationList.Load(bytes) : null;
        }
        catch (CryptographicException)
        {
            // A damaged file on disk is replaced by the first good download.
            return null;
        }
    }
}
