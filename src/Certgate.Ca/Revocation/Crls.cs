using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Settings;
using Certgate.Ca.Storage;
using Certgate.Pki.Revocation;

namespace Certgate.Ca.Revocation;

/// <summary>What one CRL says.</summary>
/// <param name="Issuer">The CA certificate, with its private key.</param>
/// <param name="Number">cRLNumber, allocated by the store in the transaction that saves the CRL.</param>
/// <param name="ThisUpdate">thisUpdate.</param>
/// <param name="NextUpdate">nextUpdate.</param>
/// <param name="Revoked">The revoked certificates.</param>
public sealed record CrlContent(X509Certificate2 Issuer, long Number, DateTimeOffset ThisUpdate, DateTimeOffset NextUpdate, IReadOnlyList<RevokedEntry> Revoked);

/// <summary>Encodes and signs a CRL: <see cref="PkiCrlSigner"/> (the default) or <see cref="DotNetCrlSigner"/>.</summary>
public interface ICrlSigner
{
    /// <summary>Returns the DER CRL.</summary>
    byte[] Sign(CrlContent content);
}

/// <summary>CRL signing with .NET's <see cref="CertificateRevocationListBuilder"/>. Correct, but quadratic in the entry
/// count (a 1,000,000-entry CRL did not finish in minutes, bench/README.md): kept as a cross-check.</summary>
public sealed class DotNetCrlSigner : ICrlSigner
{
    /// <inheritdoc/>
    public byte[] Sign(CrlContent content)
    {
        ArgumentNullException.ThrowIfNull(content);
        var b = new CertificateRevocationListBuilder();
        foreach (RevokedEntry e in content.Revoked)
        {
            b.AddEntry(e.SerialNumber.ToArray(), e.RevocationDate, (X509RevocationReason)(int)(e.Reason ?? CrlReason.unspecified));
        }
        bool rsa = content.Issuer.GetRSAPublicKey() is not null;
        HashAlgorithmName hash = !rsa && content.Issuer.GetECDsaPublicKey()!.KeySize > 256 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256;
        return b.Build(content.Issuer, new BigInteger(content.Number), content.NextUpdate, hash, rsa ? RSASignaturePadding.Pkcs1 : null, content.ThisUpdate);
    }
}

/// <summary>CRL signing with Certgate.Pki's linear-time <see cref="CrlBuilder"/>: the CA's default, so a CA with a
/// million revoked certificates still issues its CRL in seconds (bench/README.md, <c>ca-crl</c>).</summary>
public sealed class PkiCrlSigner : ICrlSigner
{
    /// <inheritdoc/>
    public byte[] Sign(CrlContent content)
    {
        ArgumentNullException.ThrowIfNull(content);
        var b = new CrlBuilder(content.Issuer) { ThisUpdate = content.ThisUpdate, NextUpdate = content.NextUpdate, CrlNumber = content.Number };
        foreach (RevokedEntry e in content.Revoked)
        {
            // RFC 5280 §5.3.1: "the reason code CRL entry extension SHOULD be absent instead of using the unspecified
            // (0) reasonCode value".
            b.AddEntry(e.SerialNumber.Span, e.RevocationDate, e.Reason == CrlReason.unspecified ? null : e.Reason);
        }
        using RSA? rsa = content.Issuer.GetRSAPrivateKey();
        if (rsa is not null)
        {
            return b.Sign(rsa, HashAlgorithmName.SHA256);
        }
        using ECDsa ec = content.Issuer.GetECDsaPrivateKey() ?? throw new ArgumentException($"CA certificate {content.Issuer.Subject} has no RSA or ECDSA private key", nameof(content));
        return b.Sign(ec, ec.KeySize > 256 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256);
    }
}

/// <summary>When a new CRL is due.</summary>
public static class CrlSchedule
{
    /// <summary>Due when there is none, or when <paramref name="now"/> is within the overlap before nextUpdate (so the
    /// new CRL is out before the old one expires).</summary>
    public static bool IsDue(CrlRecord? latest, CrlSettings settings, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return latest is null || now >= latest.NextUpdate - settings.Overlap;
    }
}
