using System.Security.Cryptography;
using Certgate.Pki.Keys;

namespace Certgate.Pki.Requests;

/// <summary>The <c>digest</c> choices of <c>generate-certificate-request</c>.</summary>
public enum SignatureDigest
{
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

/// <summary>Junos spellings and rules for <see cref="SignatureDigest"/>.</summary>
public static class SignatureDigests
{
    /// <summary><c>sha-1</c>, <c>sha-256</c>, <c>sha-384</c>, <c>sha-512</c> (also without the dash).</summary>
    public static bool TryParse(string text, out SignatureDigest digest)
    {
        switch (text?.ToLowerInvariant())
        {
            case "sha-1" or "sha1": digest = SignatureDigest.Sha1; return true;
            case "sha-256" or "sha256": digest = SignatureDigest.Sha256; return true;
            case "sha-384" or "sha384": digest = SignatureDigest.Sha384; return true;
            case "sha-512" or "sha512": digest = SignatureDigest.Sha512; return true;
            default: digest = default; return false;
        }
    }

    /// <summary>
    /// The default for a key: Junos uses sha-1 for RSA; Certgate deliberately defaults to sha-256 for every key
    /// (SHA-1 signatures are refused by current CAs and OpenSSL security level 1+).
    /// </summary>
    public static SignatureDigest DefaultFor(KeyAlgorithm algorithm) => SignatureDigest.Sha256;

    /// <summary>Why <paramref name="digest"/> cannot be used with <paramref name="algorithm"/>, or null.</summary>
    public static string? Refusal(KeyAlgorithm algorithm, SignatureDigest digest) =>
        algorithm == KeyAlgorithm.Ecdsa && digest == SignatureDigest.Sha1 ? "sha-1 cannot be used with an ECDSA key" : null;

    public static HashAlgorithmName ToHashAlgorithm(this SignatureDigest digest) => digest switch
    {
        SignatureDigest.Sha1 => HashAlgorithmName.SHA1,
        SignatureDigest.Sha256 => HashAlgorithmName.SHA256,
        SignatureDigest.Sha384 => HashAlgorithmName.SHA384,
        SignatureDigest.Sha512 => HashAlgorithmName.SHA512,
        _ => throw new ArgumentOutOfRangeException(nameof(digest)),
    };
}
