using System.Security.Cryptography;

namespace Certgate.Scep;

/// <summary>OIDs of SCEP (RFC 8894 §3.2.1) and the algorithms it uses.</summary>
internal static class ScepOids
{
    public const string Data = "1.2.840.113549.1.7.1";
    public const string SignedData = "1.2.840.113549.1.7.2";
    public const string EnvelopedData = "1.2.840.113549.1.7.3";
    public const string ContentType = "1.2.840.113549.1.9.3";
    public const string MessageDigest = "1.2.840.113549.1.9.4";
    public const string SigningTime = "1.2.840.113549.1.9.5";

    public const string MessageType = "2.16.840.1.113733.1.9.2";
    public const string PkiStatus = "2.16.840.1.113733.1.9.3";
    public const string FailInfo = "2.16.840.1.113733.1.9.4";
    public const string SenderNonce = "2.16.840.1.113733.1.9.5";
    public const string RecipientNonce = "2.16.840.1.113733.1.9.6";
    public const string TransactionId = "2.16.840.1.113733.1.9.7";
    public const string FailInfoText = "1.3.6.1.5.5.7.24.1";

    public const string Sha1 = "1.3.14.3.2.26";
    public const string Sha256 = "2.16.840.1.101.3.4.2.1";
    public const string Sha384 = "2.16.840.1.101.3.4.2.2";
    public const string Sha512 = "2.16.840.1.101.3.4.2.3";

    public const string DesCbc = "1.3.14.3.2.7";
    public const string DesEde3Cbc = "1.2.840.113549.3.7";
    public const string Aes128Cbc = "2.16.840.1.101.3.4.1.2";
    public const string Aes192Cbc = "2.16.840.1.101.3.4.1.22";
    public const string Aes256Cbc = "2.16.840.1.101.3.4.1.42";

    public static string DigestOid(HashAlgorithmName digest) => digest.Name switch
    {
        "SHA1" => Sha1,
        "SHA256" => Sha256,
        "SHA384" => Sha384,
        "SHA512" => Sha512,
        _ => throw new ArgumentException($"digest {digest.Name}: SCEP uses SHA1, SHA256, SHA384 or SHA512", nameof(digest)),
    };

    public static HashAlgorithmName? DigestName(string? oid) => oid switch
    {
        Sha1 => HashAlgorithmName.SHA1,
        Sha256 => HashAlgorithmName.SHA256,
        Sha384 => HashAlgorithmName.SHA384,
        Sha512 => HashAlgorithmName.SHA512,
        _ => null,
    };

    public static string CipherOid(ScepCipher cipher) => cipher switch
    {
        ScepCipher.Aes128Cbc => Aes128Cbc,
        ScepCipher.Aes192Cbc => Aes192Cbc,
        ScepCipher.Aes256Cbc => Aes256Cbc,
        ScepCipher.TripleDesCbc => DesEde3Cbc,
        ScepCipher.DesCbc => DesCbc,
        _ => throw new ArgumentOutOfRangeException(nameof(cipher), cipher, "unknown cipher"),
    };

    public static ScepCipher? CipherFromOid(string? oid) => oid switch
    {
        Aes128Cbc => ScepCipher.Aes128Cbc,
        Aes192Cbc => ScepCipher.Aes192Cbc,
        Aes256Cbc => ScepCipher.Aes256Cbc,
        DesEde3Cbc => ScepCipher.TripleDesCbc,
        DesCbc => ScepCipher.DesCbc,
        _ => null,
    };
}
