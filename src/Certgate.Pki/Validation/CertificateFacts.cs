using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Revocation;

namespace Certgate.Pki.Validation;

/// <summary>
/// What path validation needs from one certificate, read once.
/// <code>
/// Certificate  ::=  SEQUENCE  {
///      tbsCertificate       TBSCertificate,
///      signatureAlgorithm   AlgorithmIdentifier,
///      signatureValue       BIT STRING  }
/// </code>
/// </summary>
internal sealed class CertificateFacts
{
    /// <summary>Extensions this validator processes, or may ignore without weakening a decision.</summary>
    private static readonly HashSet<string> s_understood = new(StringComparer.Ordinal)
    {
        "2.5.29.14", // subjectKeyIdentifier
        "2.5.29.35", // authorityKeyIdentifier
        "2.5.29.15", // keyUsage
        "2.5.29.19", // basicConstraints
        "2.5.29.37", // extKeyUsage (checked by the caller's purpose, e.g. IKE)
        "2.5.29.17", // subjectAltName (identity matching)
        "2.5.29.18", // issuerAltName
        "2.5.29.31", // cRLDistributionPoints (the CRL fetcher reads it)
        "2.5.29.32", // certificatePolicies (certificate-policy-oids is checked by the caller)
        "1.3.6.1.5.5.7.1.1", // authorityInfoAccess
    };

    private CertificateFacts(X509Certificate2 certificate)
    {
        Certificate = certificate;
        byte[] raw = certificate.RawData;
        Raw = raw;
        try
        {
            var top = new DerCursor(raw, 0);
            DerCursor outer = top.Read(DerTags.Sequence, "Certificate").Children(raw);
            Tbs = outer.Read(DerTags.Sequence, "tbsCertificate");
            Algorithm = outer.Read(DerTags.Sequence, "signatureAlgorithm");
            Signature = outer.Read(DerTags.BitString, "signatureValue");
            WellFormed = true;
        }
        catch (Exception e) when (e is CryptographicException or AsnContentException)
        {
            WellFormed = false;
        }
        foreach (X509Extension ext in certificate.Extensions)
        {
            string oid = ext.Oid?.Value ?? "";
            switch (oid)
            {
                case "2.5.29.19":
                    var bc = new X509BasicConstraintsExtension(ext, ext.Critical);
                    HasBasicConstraints = true;
                    IsCa = bc.CertificateAuthority;
                    PathLength = bc.HasPathLengthConstraint ? bc.PathLengthConstraint : null;
                    break;
                case "2.5.29.15":
                    KeyUsage = new X509KeyUsageExtension(ext, ext.Critical).KeyUsages;
                    break;
                case "2.5.29.14":
                    SubjectKeyId = new X509SubjectKeyIdentifierExtension(ext, ext.Critical).SubjectKeyIdentifierBytes.ToArray();
                    break;
                case "2.5.29.35":
                    AuthorityKeyId = new X509AuthorityKeyIdentifierExtension(ext.RawData, ext.Critical).KeyIdentifier?.ToArray();
                    break;
                default:
                    if (ext.Critical && !s_understood.Contains(oid))
                    {
                        UnsupportedCritical ??= oid;
                    }
                    break;
            }
        }
    }

    public X509Certificate2 Certificate { get; }
    public byte[] Raw { get; }
    public bool WellFormed { get; }
    public Tlv Tbs { get; }
    public Tlv Algorithm { get; }
    public Tlv Signature { get; }
    public bool HasBasicConstraints { get; }
    public bool IsCa { get; }
    public int? PathLength { get; }
    public X509KeyUsageFlags? KeyUsage { get; }
    public byte[]? SubjectKeyId { get; }
    public byte[]? AuthorityKeyId { get; }
    public string? UnsupportedCritical { get; }

    public bool IsSelfIssued => Identity.DistinguishedNames.Equal(Certificate.SubjectName, Certificate.IssuerName);

    public static CertificateFacts Read(X509Certificate2 certificate) => new(certificate);

    /// <summary>True when this certificate's signature verifies with <paramref name="issuer"/>'s key.</summary>
    public bool IsSignedBy(X509Certificate2 issuer)
    {
        if (!WellFormed)
        {
            return false;
        }
        ReadOnlySpan<byte> bits = Signature.Content(Raw);
        return bits.Length > 1 && bits[0] == 0
            && SignatureVerifier.Verify(Tbs.Encoded(Raw), Algorithm.Encoded(Raw), bits[1..], issuer);
    }

    internal static byte[]? SubjectKeyIdentifier(X509Certificate2 certificate)
    {
        X509Extension? e = certificate.Extensions["2.5.29.14"];
        return e is null ? null : new X509SubjectKeyIdentifierExtension(e, e.Critical).SubjectKeyIdentifierBytes.ToArray();
    }
}
