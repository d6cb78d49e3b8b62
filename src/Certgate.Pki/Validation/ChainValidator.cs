using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Identity;
using Certgate.Pki.Revocation;

namespace Certgate.Pki.Validation;

/// <summary>
/// RFC 5280 §6 path validation with CRL revocation, without <see cref="X509Chain"/> (which on Linux can neither
/// be given a CRL nor be stopped from fetching one).
/// </summary>
/// <remarks>
/// Order of work:
/// 1. Build: from the end-entity certificate, look for issuers (trust anchors first, then intermediates) whose
///    subject equals the issuer name and whose subjectKeyIdentifier matches the authorityKeyIdentifier when both
///    are present; keep a candidate only if its key verifies the signature; stop at a trust anchor. Depth-first,
///    so a renewed CA with the same name but another key is found by its signature.
/// 2. Per certificate, leaf first: validity period, unsupported critical extensions.
/// 3. Per issuer: basicConstraints cA, keyUsage keyCertSign, pathLenConstraint (anchors included, as OpenSSL does).
/// 4. Revocation, leaf first: the issuer's CRL (name, AKI, cRLSign, signature, thisUpdate/nextUpdate, scope),
///    then the serial.
/// The first failure is returned with the check, the certificate and a sentence for the operator.
/// </remarks>
public sealed class ChainValidator
{
    private readonly TimeProvider _time;

    /// <summary>Creates a validator that reads "now" from <paramref name="timeProvider"/> (default: system clock).</summary>
    public ChainValidator(TimeProvider? timeProvider = null)
    {
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Validates <paramref name="certificate"/> under <paramref name="policy"/>.</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The policy has no trust anchors or MaxDepth &lt; 1.</exception>
    public ChainValidationResult Validate(X509Certificate2 certificate, ChainValidationPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(policy);
        if (policy.TrustAnchors is null || policy.TrustAnchors.Count == 0)
        {
            throw new ArgumentException("At least one trust anchor is required.", nameof(policy));
        }
        if (policy.MaxDepth < 1)
        {
            throw new ArgumentException("MaxDepth must be at least 1.", nameof(policy));
        }
        DateTimeOffset now = policy.ValidationTime ?? _time.GetUtcNow();
        var warnings = new List<string>();

        var builder = new PathBuilder(policy);
        List<CertificateFacts>? path = builder.Build(CertificateFacts.Read(certificate));
        if (path is null)
        {
            return new ChainValidationResult(builder.BestPartial.Select(f => f.Certificate).ToArray(), builder.BestFailure, warnings);
        }
        X509Certificate2[] chain = path.Select(f => f.Certificate).ToArray();
        ValidationFailure? failure = CheckCertificates(path, now) ?? CheckSha1(path, policy) ?? CheckRevocation(path, policy, now, warnings);
        return new ChainValidationResult(chain, failure, warnings);
    }

    private static ValidationFailure? CheckCertificates(List<CertificateFacts> path, DateTimeOffset now)
    {
        foreach (CertificateFacts f in path)
        {
            X509Certificate2 c = f.Certificate;
            // RFC 5280 §6.1.3 (a)(2): "The certificate validity period includes the current time."
            DateTimeOffset notBefore = new(c.NotBefore.ToUniversalTime(), TimeSpan.Zero);
            DateTimeOffset notAfter = new(c.NotAfter.ToUniversalTime(), TimeSpan.Zero);
            if (now < notBefore)
            {
                return Fail(ValidationFailureKind.NotYetValid, c, $"certificate '{c.Subject}' is not valid before {Time(notBefore)}");
            }
            if (now > notAfter)
            {
                return Fail(ValidationFailureKind.Expired, c, $"certificate '{c.Subject}' expired at {Time(notAfter)}");
            }
            // RFC 5280 §4.2: "A certificate-using system MUST reject the certificate if it encounters a critical
            // extension it does not recognize or a critical extension that contains information that it cannot process."
            if (f.UnsupportedCritical is { } oid)
            {
                return Fail(ValidationFailureKind.UnsupportedCriticalExtension, c,
                    $"certificate '{c.Subject}' has critical extension {oid}, which is not supported");
            }
        }
        for (int i = 1; i < path.Count; i++)
        {
            CertificateFacts issuer = path[i];
            X509Certificate2 c = issuer.Certificate;
            bool anchor = i == path.Count - 1;
            // RFC 5280 §6.1.4 (k): "verify that the certificate is a CA certificate (as specified in a
            // basicConstraints extension or as verified out-of-band)". A v1 trust anchor is CA out-of-band.
            if (!(issuer.HasBasicConstraints && issuer.IsCa) && !(anchor && c.Version == 1))
            {
                return Fail(ValidationFailureKind.NotACa, c,
                    $"certificate '{c.Subject}' issued '{path[i - 1].Certificate.Subject}' but is not a CA (basicConstraints cA is not set)");
            }
            // RFC 5280 §6.1.4 (n): "If a key usage extension is present, verify that the keyCertSign bit is set."
            if (issuer.KeyUsage is { } ku && (ku & X509KeyUsageFlags.KeyCertSign) == 0)
            {
                return Fail(ValidationFailureKind.MissingKeyCertSign, c,
                    $"certificate '{c.Subject}' issued '{path[i - 1].Certificate.Subject}' but its key usage does not include keyCertSign");
            }
            // RFC 5280 §6.1.4 (l)/(m): pathLenConstraint limits the non-self-issued intermediates below it.
            if (issuer.PathLength is { } max)
            {
                int below = 0;
                for (int j = 1; j < i; j++)
                {
                    if (!path[j].IsSelfIssued)
                    {
                        below++;
                    }
                }
                if (below > max)
                {
                    return Fail(ValidationFailureKind.PathLengthExceeded, c,
                        $"certificate '{c.Subject}' allows {max} intermediate CA(s) below it (pathLenConstraint) but the path has {below}");
                }
            }
        }
        return null;
    }

    /// <summary>SHA-1 signatures on the certificates below the trust anchor (the anchor's own signature proves
    /// nothing: it is trusted as configured), unless the policy allows them.</summary>
    private static ValidationFailure? CheckSha1(List<CertificateFacts> path, ChainValidationPolicy policy)
    {
        if (policy.AllowSha1Signatures)
        {
            return null;
        }
        for (int i = 0; i < path.Count - 1; i++)
        {
            X509Certificate2 c = path[i].Certificate;
            if (IsSha1(c.SignatureAlgorithm.Value))
            {
                return Fail(ValidationFailureKind.Sha1Signature, c,
                    $"the certificate of {c.Subject} is signed with SHA-1 ({SignatureVerifier.FriendlyName(c.SignatureAlgorithm.Value!)}); {ChainValidationPolicy.Sha1Remedy}");
            }
        }
        return null;
    }

    /// <summary>Signature algorithms with SHA-1: sha1WithRSAEncryption (and its OIW twin), ecdsa-with-SHA1, dsa-with-sha1.</summary>
    internal static bool IsSha1(string? signatureAlgorithmOid) =>
        signatureAlgorithmOid is "1.2.840.113549.1.1.5" or "1.3.14.3.2.29" or "1.2.840.10045.4.1" or "1.2.840.10040.4.3";

    private static ValidationFailure? CheckRevocation(List<CertificateFacts> path, ChainValidationPolicy policy,
        DateTimeOffset now, List<string> warnings)
    {
        if (policy.RevocationMode == RevocationMode.Disabled)
        {
            return null;
        }
        bool strict = policy.RevocationMode == RevocationMode.Check;
        // The anchor is trusted as configured; every certificate below it is checked against its issuer's CRL.
        for (int i = 0; i < path.Count - 1; i++)
        {
            CertificateFacts subject = path[i];
            CertificateFacts issuer = path[i + 1];
            X509Certificate2 c = subject.Certificate;
            X509Certificate2 ca = issuer.Certificate;
            CrlLookup lookup = policy.CrlSource?.GetCrl(ca) ?? CrlLookup.NotAvailable("no CRL source is configured");
            CertificateRevocationList? crl = lookup.Status == CrlLookupStatus.Found ? lookup.Crl : null;
            if (crl is null)
            {
                string why = lookup.Status == CrlLookupStatus.DownloadFailed ? "the CRL download failed" : "no CRL is available";
                string text = $"cannot check revocation of '{c.Subject}': {why} for '{ca.Subject}'" +
                    (lookup.Detail is null ? "" : $" ({lookup.Detail})");
                if (strict)
                {
                    return Fail(ValidationFailureKind.CrlUnavailable, c, text);
                }
                warnings.Add(text + "; revocation check skipped");
                continue;
            }
            string crlName = CrlName(crl, ca);
            if (!DistinguishedNames.Equal(crl.Issuer, ca.SubjectName)
                || (issuer.SubjectKeyId is { } ski && crl.AuthorityKeyIdentifier is { } aki && !aki.Span.SequenceEqual(ski)))
            {
                return Fail(ValidationFailureKind.CrlIssuerMismatch, c,
                    $"the CRL given for '{ca.Subject}' was issued by '{crl.Issuer.Name}' (another CA or key)");
            }
            // RFC 5280 §6.3.3 (f): "Obtain and validate the certification path for the issuer of the complete CRL
            // ... If a key usage extension is present in the CRL issuer's certificate, verify that the cRLSign bit is set."
            if (issuer.KeyUsage is { } ku && (ku & X509KeyUsageFlags.CrlSign) == 0)
            {
                return Fail(ValidationFailureKind.MissingCrlSign, c,
                    $"{crlName} cannot be used: the key usage of '{ca.Subject}' does not include cRLSign");
            }
            // RFC 5280 §6.3.3 (g): "Validate the signature on the complete CRL using the public key validated in step (f)."
            if (!crl.VerifySignature(ca))
            {
                return Fail(ValidationFailureKind.CrlBadSignature, c,
                    $"the signature of {crlName} does not verify with the key of '{ca.Subject}'");
            }
            if (!policy.AllowSha1Signatures && IsSha1(crl.SignatureAlgorithmOid))
            {
                return Fail(ValidationFailureKind.Sha1Signature, c,
                    $"{crlName} is signed with SHA-1 ({crl.SignatureAlgorithmName}); {ChainValidationPolicy.Sha1Remedy}");
            }
            if (crl.ThisUpdate > now)
            {
                return Fail(ValidationFailureKind.CrlNotYetValid, c,
                    $"{crlName} is not valid before {Time(crl.ThisUpdate)} (thisUpdate)");
            }
            bool caCert = subject.HasBasicConstraints && subject.IsCa;
            if ((crl.OnlyContainsUserCerts && caCert) || (crl.OnlyContainsCACerts && !caCert))
            {
                string text = $"cannot check revocation of '{c.Subject}': {crlName} only covers " +
                    (crl.OnlyContainsUserCerts ? "end-entity" : "CA") + " certificates";
                if (strict)
                {
                    return Fail(ValidationFailureKind.CrlUnavailable, c, text);
                }
                warnings.Add(text + "; revocation check skipped");
                continue;
            }
            // removeFromCRL only has meaning in delta CRLs, which are rejected at load; treat it as "not revoked".
            if (crl.TryGetRevocation(c.SerialNumberBytes.Span, out RevokedEntry entry) && entry.Reason != CrlReason.removeFromCRL)
            {
                string reason = entry.Reason is { } r ? $" ({r})" : "";
                return Fail(ValidationFailureKind.Revoked, c,
                    $"certificate '{c.Subject}' was revoked at {Time(entry.RevocationDate)}{reason} by {crlName}");
            }
            // RFC 5280 §6.3.3 (a)(2): use the CRL only "if the current time is before the value of the next update field".
            if (crl.IsExpired(now))
            {
                string text = $"{crlName} expired at {Time(crl.NextUpdate!.Value)} (nextUpdate)";
                if (strict)
                {
                    return Fail(ValidationFailureKind.CrlExpired, c, $"cannot check revocation of '{c.Subject}': {text}");
                }
                warnings.Add($"{text}; revocation of '{c.Subject}' checked against it anyway");
            }
        }
        return null;
    }

    private static string CrlName(CertificateRevocationList crl, X509Certificate2 ca) =>
        crl.CrlNumber is { } n ? $"CRL #{n.ToString(CultureInfo.InvariantCulture)} of '{ca.Subject}'" : $"the CRL of '{ca.Subject}'";

    internal static string Time(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " UTC";

    private static ValidationFailure Fail(ValidationFailureKind kind, X509Certificate2 c, string message) => new(kind, c, message);

    /// <summary>Depth-first path building that remembers the most informative failure.</summary>
    private sealed class PathBuilder(ChainValidationPolicy policy)
    {
        private readonly CertificateFacts[] _anchors = policy.TrustAnchors.Select(CertificateFacts.Read).ToArray();
        private readonly CertificateFacts[] _intermediates = policy.Intermediates.Select(CertificateFacts.Read).ToArray();
        private int _bestDepth = -1;
        private int _bestRank;

        public ValidationFailure? BestFailure { get; private set; }

        public IReadOnlyList<CertificateFacts> BestPartial { get; private set; } = [];

        public List<CertificateFacts>? Build(CertificateFacts leaf)
        {
            var path = new List<CertificateFacts> { leaf };
            return Extend(path) ? path : null;
        }

        private bool Extend(List<CertificateFacts> path)
        {
            CertificateFacts current = path[^1];
            if (IsAnchor(current))
            {
                return true;
            }
            if (path.Count >= policy.MaxDepth)
            {
                Record(path, 3, ValidationFailureKind.PathTooLong,
                    $"the path from '{path[0].Certificate.Subject}' is longer than {policy.MaxDepth} certificates");
                return false;
            }
            bool anyNamed = false;
            foreach (CertificateFacts candidate in _anchors.Concat(_intermediates))
            {
                if (!DistinguishedNames.Equal(candidate.Certificate.SubjectName, current.Certificate.IssuerName)
                    || path.Any(p => p.Raw.AsSpan().SequenceEqual(candidate.Raw)))
                {
                    continue;
                }
                if (current.AuthorityKeyId is { } aki && candidate.SubjectKeyId is { } ski && !aki.AsSpan().SequenceEqual(ski))
                {
                    continue;
                }
                anyNamed = true;
                if (!current.IsSignedBy(candidate.Certificate))
                {
                    Record(path, 2, ValidationFailureKind.BadSignature,
                        $"the signature of certificate '{current.Certificate.Subject}' does not verify with the key of '{candidate.Certificate.Subject}'");
                    continue;
                }
                path.Add(candidate);
                if (IsAnchor(candidate) || Extend(path))
                {
                    return true;
                }
                path.RemoveAt(path.Count - 1);
            }
            if (!anyNamed)
            {
                if (current.IsSelfIssued && current.IsSignedBy(current.Certificate))
                {
                    Record(path, 1, ValidationFailureKind.UntrustedRoot,
                        $"certificate '{current.Certificate.Subject}' is self-signed and is not a trusted CA certificate");
                }
                else
                {
                    Record(path, 1, ValidationFailureKind.IssuerNotFound,
                        $"the issuer '{current.Certificate.Issuer}' of certificate '{current.Certificate.Subject}' is neither a trusted CA nor a known intermediate");
                }
            }
            return false;
        }

        private bool IsAnchor(CertificateFacts f)
        {
            foreach (CertificateFacts a in _anchors)
            {
                if (a.Raw.AsSpan().SequenceEqual(f.Raw))
                {
                    return true;
                }
            }
            return false;
        }

        /// <summary>Keeps the failure found deepest in the path; at equal depth a bad signature beats "not found".</summary>
        private void Record(List<CertificateFacts> path, int rank, ValidationFailureKind kind, string message)
        {
            if (path.Count > _bestDepth || (path.Count == _bestDepth && rank > _bestRank))
            {
                _bestDepth = path.Count;
                _bestRank = rank;
                BestFailure = new ValidationFailure(kind, path[^1].Certificate, message);
                BestPartial = path.ToArray();
            }
        }
    }
}
