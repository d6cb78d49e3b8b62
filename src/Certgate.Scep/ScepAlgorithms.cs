using System.Security.Cryptography;
using Certgate.Pki.Requests;

namespace Certgate.Scep;

/// <summary>
/// The digest and content-encryption algorithms of a client's requests, chosen from GetCACaps (DESIGN.md: AES-256 and
/// SHA-256 when the CA offers them; DES3/SHA-1 only when it does not, with a warning).
/// </summary>
/// <param name="Digest">The SignerInfo digest (and the CSR's signature digest).</param>
/// <param name="Cipher">The pkcsPKIEnvelope cipher.</param>
/// <param name="Warnings">Why a weak algorithm is used, in an operator's words (empty when none is).</param>
public sealed record ScepAlgorithms(HashAlgorithmName Digest, ScepCipher Cipher, IReadOnlyList<string> Warnings)
{
    /// <summary>
    /// The algorithms for a CA: the ones asked for when given (the operator's choice, no warning), else the strongest the
    /// CA offers — SHA-512, then SHA-256, else SHA-1; AES-256 when it offers AES, else DES3 — with a warning for each
    /// fallback to SHA-1 or DES3.
    /// </summary>
    /// <param name="capabilities">The CA's GetCACaps.</param>
    /// <param name="digest">The configured digest, or null to choose.</param>
    /// <param name="cipher">The configured cipher, or null to choose.</param>
    public static ScepAlgorithms Choose(ScepCapabilities capabilities, HashAlgorithmName? digest = null, ScepCipher? cipher = null)
    {
        ArgumentNullException.ThrowIfNull(capabilities);
        var warnings = new List<string>();
        HashAlgorithmName d = digest ?? (capabilities.Sha512 ? HashAlgorithmName.SHA512 : capabilities.Sha256 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA1);
        if (digest is null && d == HashAlgorithmName.SHA1)
        {
            warnings.Add($"the CA offers neither SHA-256 nor SHA-512 (GetCACaps: {capabilities}); using SHA-1");
        }
        ScepCipher c = cipher ?? (capabilities.Aes ? ScepCipher.Aes256Cbc : ScepCipher.TripleDesCbc);
        if (cipher is null && c == ScepCipher.TripleDesCbc)
        {
            warnings.Add($"the CA does not offer AES (GetCACaps: {capabilities}); using DES3");
        }
        return new ScepAlgorithms(d, c, warnings);
    }

    /// <summary>The PKCS#10 signature digest matching <see cref="Digest"/>.</summary>
    public SignatureDigest CsrDigest =>
        Digest == HashAlgorithmName.SHA1 ? SignatureDigest.Sha1 : Digest == HashAlgorithmName.SHA512 ? SignatureDigest.Sha512
        : Digest == HashAlgorithmName.SHA384 ? SignatureDigest.Sha384 : SignatureDigest.Sha256;

    /// <summary>The digest as Junos prints it: <c>sha-512</c>, <c>sha-256</c>, <c>sha-1</c>.</summary>
    public string DigestName => Digest.Name!.ToLowerInvariant().Replace("sha", "sha-", StringComparison.Ordinal);

    /// <summary>The cipher as the CLI spells it: <c>aes256</c>, <c>aes128</c>, <c>des3</c>, <c>des</c>.</summary>
    public string CipherName => Cipher switch
    {
        ScepCipher.Aes256Cbc => "aes256",
        ScepCipher.Aes128Cbc => "aes128",
        ScepCipher.Aes192Cbc => "aes192",
        ScepCipher.TripleDesCbc => "des3",
        _ => Cipher.ToString().ToLowerInvariant(),
    };
}
