namespace Certgate.Pki.Certificates;

/// <summary>OpenSSL-style short names for the algorithm and EKU OIDs a gateway meets (unknown OIDs print dotted).</summary>
public static class OidNames
{
    private static readonly Dictionary<string, string> Signature = new(StringComparer.Ordinal)
    {
        ["1.2.840.113549.1.1.4"] = "md5WithRSAEncryption",
        ["1.2.840.113549.1.1.5"] = "sha1WithRSAEncryption",
        ["1.2.840.113549.1.1.11"] = "sha256WithRSAEncryption",
        ["1.2.840.113549.1.1.12"] = "sha384WithRSAEncryption",
        ["1.2.840.113549.1.1.13"] = "sha512WithRSAEncryption",
        ["1.2.840.113549.1.1.10"] = "rsassaPss",
        ["1.2.840.10045.4.1"] = "ecdsa-with-SHA1",
        ["1.2.840.10045.4.3.2"] = "ecdsa-with-SHA256",
        ["1.2.840.10045.4.3.3"] = "ecdsa-with-SHA384",
        ["1.2.840.10045.4.3.4"] = "ecdsa-with-SHA512",
        ["1.3.101.112"] = "ED25519",
    };

    private static readonly Dictionary<string, string> ExtendedKeyUsage = new(StringComparer.Ordinal)
    {
        ["1.3.6.1.5.5.7.3.1"] = "TLS Web Server Authentication",
        ["1.3.6.1.5.5.7.3.2"] = "TLS Web Client Authentication",
        ["1.3.6.1.5.5.7.3.3"] = "Code Signing",
        ["1.3.6.1.5.5.7.3.4"] = "E-mail Protection",
        ["1.3.6.1.5.5.7.3.5"] = "IPSec End System",
        ["1.3.6.1.5.5.7.3.6"] = "IPSec Tunnel",
        ["1.3.6.1.5.5.7.3.7"] = "IPSec User",
        ["1.3.6.1.5.5.7.3.8"] = "Time Stamping",
        ["1.3.6.1.5.5.7.3.9"] = "OCSP Signing",
        ["1.3.6.1.5.5.7.3.17"] = "IPSec IKE",
        ["1.3.6.1.5.5.8.2.2"] = "IP security IKE intermediate",
        ["2.5.29.37.0"] = "Any Extended Key Usage",
    };

    /// <summary>e.g. <c>sha256WithRSAEncryption</c>, <c>ecdsa-with-SHA256</c>.</summary>
    public static string SignatureAlgorithm(string oid) => Signature.GetValueOrDefault(oid, oid);

    /// <summary>e.g. <c>IPSec IKE</c>.</summary>
    public static string ExtendedKeyUsageName(string oid) => ExtendedKeyUsage.GetValueOrDefault(oid, oid);
}
