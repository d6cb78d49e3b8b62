using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Encoding;
using Certgate.Pki.Names;

namespace Certgate.Pki.Certificates;

/// <summary>basicConstraints (RFC 5280 §4.2.1.9).</summary>
public sealed record BasicConstraintsInfo(bool IsCa, int? PathLength, bool Critical);

/// <summary>Colon-separated lowercase hex digests of the DER certificate (or request).</summary>
public sealed record Fingerprints(string Sha1, string Sha256, string Md5)
{
    /// <summary>Digests of <paramref name="der"/>.</summary>
    public static Fingerprints Of(ReadOnlySpan<byte> der) =>
        new(Hex.Colon(SHA1.HashData(der)), Hex.Colon(SHA256.HashData(der)), Hex.Colon(MD5.HashData(der)));
}

/// <summary>The public key as shown: algorithm name, bits and the subjectPublicKey contents.</summary>
public sealed record PublicKeyInfo(string Algorithm, int Bits, byte[] KeyBytes, byte[] SubjectPublicKeyInfo)
{
    /// <summary>Colon hex of the subjectPublicKey BIT STRING contents (RSAPublicKey DER, or the EC point).</summary>
    public string KeyHex => Hex.Colon(KeyBytes);

    /// <summary>From a .NET <see cref="PublicKey"/>.</summary>
    /// <exception cref="PkiFormatException">The key cannot be decoded.</exception>
    public static PublicKeyInfo From(PublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        try
        {
            string oid = key.Oid.Value ?? "";
            byte[] spki = key.ExportSubjectPublicKeyInfo();
            byte[] contents = key.EncodedKeyValue.RawData;
            switch (oid)
            {
                case "1.2.840.113549.1.1.1":
                {
                    using RSA? rsa = key.GetRSAPublicKey();
                    return new PublicKeyInfo("rsaEncryption", rsa?.KeySize ?? 0, contents, spki);
                }
                case "1.2.840.10045.2.1":
                {
                    using ECDsa? ec = key.GetECDsaPublicKey();
                    return new PublicKeyInfo("ecdsaEncryption", ec?.KeySize ?? 0, contents, spki);
                }
                default:
                    return new PublicKeyInfo(oid, 0, contents, spki);
            }
        }
        catch (CryptographicException e)
        {
            throw new PkiFormatException("the public key cannot be decoded", e);
        }
    }
}

/// <summary>
/// Everything <c>show security pki … detail</c> shows about a certificate, decoded once. Build it with
/// <see cref="Parse"/> (PEM or DER) or <see cref="From"/>.
/// </summary>
public sealed class CertificateInfo
{
    private const string CdpOid = "2.5.29.31";
    private const string AiaOid = "1.3.6.1.5.5.7.1.1";
    private const string PoliciesOid = "2.5.29.32";

    private static readonly string[] KeyUsageNames =
    [
        "Digital signature", "Non repudiation", "Key encipherment", "Data encipherment", "Key agreement",
        "Certificate signing", "CRL signing", "Encipher only", "Decipher only",
    ];

    private CertificateInfo(X509Certificate2 certificate)
    {
        Certificate = certificate;
    }

    /// <summary>The certificate itself (owned by this object).</summary>
    public X509Certificate2 Certificate { get; }

    public byte[] RawData => Certificate.RawData;

    public int Version { get; private init; }

    /// <summary>Lowercase hex, big-endian, as encoded (leading zero octets kept).</summary>
    public string SerialNumberHex { get; private init; } = "";

    public X500DistinguishedName Issuer => Certificate.IssuerName;

    public X500DistinguishedName Subject => Certificate.SubjectName;

    /// <summary>Junos subject string, e.g. <c>DC=juniper, CN=local, O=juniper</c>.</summary>
    public string SubjectString { get; private init; } = "";

    public string IssuerString { get; private init; } = "";

    public SubjectAlternativeNames AlternativeNames { get; private init; } = SubjectAlternativeNames.Empty;

    public DateTimeOffset NotBefore { get; private init; }

    public DateTimeOffset NotAfter { get; private init; }

    public PublicKeyInfo PublicKey { get; private init; } = null!;

    /// <summary>e.g. <c>sha256WithRSAEncryption</c>.</summary>
    public string SignatureAlgorithm { get; private init; } = "";

    public IReadOnlyList<string> CrlDistributionPoints { get; private init; } = [];

    public IReadOnlyList<string> OcspUris { get; private init; } = [];

    public IReadOnlyList<string> CaIssuersUris { get; private init; } = [];

    /// <summary>Junos words, highest bit first: <c>CRL signing, Certificate signing, Key encipherment, Digital signature</c>.</summary>
    public IReadOnlyList<string> KeyUsage { get; private init; } = [];

    /// <summary>EKU names (OpenSSL wording) or dotted OIDs.</summary>
    public IReadOnlyList<string> ExtendedKeyUsage { get; private init; } = [];

    public IReadOnlyList<string> ExtendedKeyUsageOids { get; private init; } = [];

    public BasicConstraintsInfo? BasicConstraints { get; private init; }

    public IReadOnlyList<string> CertificatePolicies { get; private init; } = [];

    public Fingerprints Fingerprints { get; private init; } = null!;

    /// <summary>Whether the certificate is a CA (basicConstraints cA TRUE).</summary>
    public bool IsCa => BasicConstraints?.IsCa == true;

    /// <summary>Decodes a certificate (PEM or DER).</summary>
    /// <exception cref="PkiFormatException">Not a certificate, or a malformed one.</exception>
    public static CertificateInfo Parse(ReadOnlySpan<byte> data)
    {
        byte[] der = PkiInput.DecodeCertificate(data);
        X509Certificate2 cert;
        try
        {
            cert = X509CertificateLoader.LoadCertificate(der);
        }
        catch (CryptographicException e)
        {
            throw new PkiFormatException("the certificate is malformed", e);
        }
        return From(cert);
    }

    /// <summary>Builds the model (takes ownership of <paramref name="certificate"/>).</summary>
    /// <exception cref="PkiFormatException">An extension Certgate reads is malformed.</exception>
    public static CertificateInfo From(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        try
        {
            X509ExtensionCollection ext = certificate.Extensions;
            X509Extension? san = ext[SubjectAlternativeNames.Oid];
            X509Extension? cdp = ext[CdpOid];
            X509Extension? aia = ext[AiaOid];
            X509Extension? policies = ext[PoliciesOid];
            var eku = ext.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault();
            var bc = ext.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
            var ku = ext.OfType<X509KeyUsageExtension>().FirstOrDefault();
            var ocsp = new List<string>();
            var caIssuers = new List<string>();
            if (aia is not null)
            {
                var decoded = new X509AuthorityInformationAccessExtension(aia.RawData, aia.Critical);
                ocsp.AddRange(decoded.EnumerateOcspUris());
                caIssuers.AddRange(decoded.EnumerateCAIssuersUris());
            }
            List<string> ekuOids = eku is null ? [] : eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value ?? "").ToList();
            return new CertificateInfo(certificate)
            {
                Version = certificate.Version,
                SerialNumberHex = Convert.ToHexStringLower(certificate.SerialNumberBytes.Span),
                SubjectString = JunosDistinguishedName.Format(certificate.SubjectName),
                IssuerString = JunosDistinguishedName.Format(certificate.IssuerName),
                AlternativeNames = san is null ? SubjectAlternativeNames.Empty : SubjectAlternativeNames.Decode(san.RawData),
                NotBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero),
                NotAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero),
                PublicKey = PublicKeyInfo.From(certificate.PublicKey),
                SignatureAlgorithm = OidNames.SignatureAlgorithm(certificate.SignatureAlgorithm.Value ?? ""),
                CrlDistributionPoints = cdp is null ? [] : DecodeCdp(cdp.RawData),
                OcspUris = ocsp,
                CaIssuersUris = caIssuers,
                KeyUsage = ku is null ? [] : KeyUsageWords(ku.RawData),
                ExtendedKeyUsageOids = ekuOids,
                ExtendedKeyUsage = ekuOids.Select(OidNames.ExtendedKeyUsageName).ToList(),
                BasicConstraints = bc is null ? null : new BasicConstraintsInfo(bc.CertificateAuthority, bc.HasPathLengthConstraint ? bc.PathLengthConstraint : null, bc.Critical),
                CertificatePolicies = policies is null ? [] : DecodePolicies(policies.RawData),
                Fingerprints = Fingerprints.Of(certificate.RawData),
            };
        }
        catch (Exception e) when (e is CryptographicException or AsnContentException)
        {
            throw new PkiFormatException("a certificate extension is malformed", e);
        }
    }

    /// <summary>
    /// KeyUsage ::= BIT STRING (RFC 5280 §4.2.1.3), named highest bit first as Junos lists them.
    /// </summary>
    private static List<string> KeyUsageWords(byte[] raw)
    {
        var reader = new AsnReader(raw, AsnEncodingRules.DER);
        byte[] bits = reader.ReadBitString(out _);
        var words = new List<string>();
        for (int bit = KeyUsageNames.Length - 1; bit >= 0; bit--)
        {
            int octet = bit / 8;
            if (octet < bits.Length && (bits[octet] & (0x80 >> (bit % 8))) != 0)
            {
                words.Add(KeyUsageNames[bit]);
            }
        }
        return words;
    }

    /// <summary>
    /// The URIs of CRLDistributionPoints (RFC 5280 §4.2.1.13):
    /// <code>
    /// DistributionPoint ::= SEQUENCE { distributionPoint [0] DistributionPointName OPTIONAL, reasons [1], cRLIssuer [2] }
    /// DistributionPointName ::= CHOICE { fullName [0] GeneralNames, nameRelativeToCRLIssuer [1] }
    /// </code>
    /// </summary>
    internal static List<string> DecodeCdp(byte[] raw)
    {
        var uris = new List<string>();
        var reader = new AsnReader(raw, AsnEncodingRules.DER);
        AsnReader points = reader.ReadSequence();
        reader.ThrowIfNotEmpty();
        while (points.HasData)
        {
            AsnReader dp = points.ReadSequence();
            if (dp.HasData && dp.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
            {
                AsnReader name = dp.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0));
                if (name.HasData && name.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
                {
                    AsnReader full = name.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0));
                    while (full.HasData)
                    {
                        if (full.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 6)))
                        {
                            uris.Add(full.ReadCharacterString(UniversalTagNumber.IA5String, new Asn1Tag(TagClass.ContextSpecific, 6)));
                        }
                        else
                        {
                            full.ReadEncodedValue();
                        }
                    }
                }
            }
        }
        return uris;
    }

    /// <summary>certificatePolicies ::= SEQUENCE OF PolicyInformation { policyIdentifier OID, qualifiers OPTIONAL } (RFC 5280 §4.2.1.4).</summary>
    internal static List<string> DecodePolicies(byte[] raw)
    {
        var oids = new List<string>();
        var reader = new AsnReader(raw, AsnEncodingRules.DER);
        AsnReader seq = reader.ReadSequence();
        reader.ThrowIfNotEmpty();
        while (seq.HasData)
        {
            AsnReader pi = seq.ReadSequence();
            oids.Add(pi.ReadObjectIdentifier());
        }
        return oids;
    }
}

/// <summary>Hex helpers for display.</summary>
public static class Hex
{
    /// <summary><c>a2:95:2f</c>.</summary>
    public static string Colon(ReadOnlySpan<byte> data) =>
        data.IsEmpty ? "" : string.Join(':', Convert.ToHexStringLower(data).Chunk(2).Select(c => new string(c)));
}
