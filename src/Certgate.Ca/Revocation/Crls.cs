using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Settings;
using Certgate.Ca.Storage;

namespace Certgate.Ca.Revocation;

/// <summary>What one CRL says.</summary>
/// <param name="Issuer">The CA certificate, with its private key.</param>
/// <param name="Number">cRLNumber, allocated by the store in the transaction that saves the CRL.</param>
/// <param name="ThisUpdate">thisUpdate.</param>
/// <param name="NextUpdate">nextUpdate.</param>
/// <param name="Revoked">The revoked certificates.</param>
public sealed record CrlContent(X509Certificate2 Issuer, long Number, DateTimeOffset ThisUpdate, DateTimeOffset NextUpdate, IReadOnlyList<RevokedEntry> Revoked);

/// <summary>Encodes and signs a CRL. The seam where Certgate.Pki's AsnWriter-based writer plugs in
/// (<see cref="CertificateRevocationListBuilder"/> is superlinear in the entry count).</summary>
public interface ICrlSigner
{
    /// <summary>Returns the DER CRL.</summary>
    byte[] Sign(CrlContent content);
}

/// <summary>CRL signing with .NET's <see cref="CertificateRevocationListBuilder"/>. Correct, and fast enough up to
/// tens of thousands of entries; the lead swaps in Certgate.Pki's writer for large CRLs.</summary>
public sealed class DotNetCrlSigner : ICrlSigner
{
    /// <inheritdoc/>
    public byte[] Sign(CrlContent content)
    {
        ArgumentNullException.ThrowIfNull(content);
        var b = new CertificateRevocationListBuilder();
        foreach (RevokedEntry e in content.Revoked)
        {
            b.AddEntry(Convert.FromHexString(e.Serial), e.RevokedAt, (X509RevocationReason)(int)e.Reason);
        }
        bool rsa = content.Issuer.GetRSAPublicKey() is not null;
        HashAlgorithmName hash = !rsa && content.Issuer.GetECDsaPublicKey()!.KeySize > 256 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256;
        return b.Build(content.Issuer, new BigInteger(content.Number), content.NextUpdate, hash, rsa ? RSASignaturePadding.Pkcs1 : null, content.ThisUpdate);
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
