using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Pki.Validation;

namespace Certgate.Ike.Auth;

/// <summary>
/// Builds and checks the AUTH payload: the octets each side signs (§2.15), signatures with RSA and ECDSA keys
/// (RFC 7427 Digital Signature when the peer announced SIGNATURE_HASH_ALGORITHMS, else the classic methods), and
/// the shared-key MIC.
/// </summary>
public static class AuthPayload
{
    private static readonly (string Name, HashAlgorithmName Hash, byte[] Der)[] Algorithms =
    [
        ("sha256WithRSAEncryption", HashAlgorithmName.SHA256, Convert.FromHexString("300d06092a864886f70d01010b0500")),
        ("sha384WithRSAEncryption", HashAlgorithmName.SHA384, Convert.FromHexString("300d06092a864886f70d01010c0500")),
        ("sha512WithRSAEncryption", HashAlgorithmName.SHA512, Convert.FromHexString("300d06092a864886f70d01010d0500")),
        ("ecdsa-with-SHA256", HashAlgorithmName.SHA256, Convert.FromHexString("300a06082a8648ce3d040302")),
        ("ecdsa-with-SHA384", HashAlgorithmName.SHA384, Convert.FromHexString("300a06082a8648ce3d040303")),
        ("ecdsa-with-SHA512", HashAlgorithmName.SHA512, Convert.FromHexString("300a06082a8648ce3d040304")),
    ];

    /// <summary>RealMessage | NonceData(peer) | prf(SK_p, RestOfIDPayload) (§2.15).</summary>
    public static byte[] SignedOctets(KeyDerivation prf, ReadOnlySpan<byte> realMessage, ReadOnlySpan<byte> peerNonce, ReadOnlySpan<byte> skP, ReadOnlySpan<byte> idBody)
    {
        ArgumentNullException.ThrowIfNull(prf);
        return [.. realMessage, .. peerNonce, .. prf.Prf(skP, idBody)];
    }

    /// <summary>
    /// Signs with the private key of the local certificate, choosing the method by what the peer announced: RFC 7427
    /// Digital Signature (14) with a SHA-2 hash from its SIGNATURE_HASH_ALGORITHMS, else the classic RSA (1) or
    /// ECDSA (9/10/11) method. RFC 7427 §4: a peer "MUST NOT" be sent a hash it did not list.
    /// </summary>
    /// <remarks>
    /// An RSA key signs method 14 with RSASSA-PSS (<see cref="RsaPss"/>), not PKCS#1 v1.5: RFC 8247 §3.2 makes PSS the
    /// SHOULD and PKCS#1 v1.5 with SHA-2 a MAY, libreswan (authby=rsasig, its default) refuses PKCS#1 v1.5 with SHA-2,
    /// and strongSwan verifies PSS with any `auth = pubkey` connection. Peers that did not announce RFC 7427 still get
    /// method 1 (PKCS#1 v1.5 with SHA-1), which is all RFC 7296 defines for them.
    /// </remarks>
    public static (AuthMethod Method, byte[] Data) Sign(AsymmetricAlgorithm key, ReadOnlySpan<byte> signedOctets, IReadOnlyCollection<SignatureHash>? peerHashes)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (peerHashes is null || !peerHashes.Any(h => h is SignatureHash.SHA2_256 or SignatureHash.SHA2_384 or SignatureHash.SHA2_512))
        {
            return Sign(key, signedOctets, peerSupportsRfc7427: false);
        }
        SignatureHash curveHash = key is ECDsa e ? e.KeySize switch { 256 => SignatureHash.SHA2_256, 384 => SignatureHash.SHA2_384, _ => SignatureHash.SHA2_512 } : SignatureHash.SHA2_256;
        SignatureHash hash = peerHashes.Contains(curveHash) ? curveHash
            : new[] { SignatureHash.SHA2_256, SignatureHash.SHA2_384, SignatureHash.SHA2_512 }.First(peerHashes.Contains);
        int index = (key is ECDsa ? 3 : 0) + (hash switch { SignatureHash.SHA2_256 => 0, SignatureHash.SHA2_384 => 1, _ => 2 });
        HashAlgorithmName name = Algorithms[index].Hash;
        return key switch
        {
            RSA rsa => SignPss(rsa, signedOctets, name),
            ECDsa ec => (AuthMethod.DIGITAL_SIGNATURE, [.. Prefix(index), .. ec.SignData(signedOctets.ToArray(), name, DSASignatureFormat.Rfc3279DerSequence)]),
            _ => throw new ArgumentException("only RSA and ECDSA keys can sign IKE AUTH", nameof(key)),
        };
    }

    /// <summary>Signs with the private key of the local certificate.</summary>
    public static (AuthMethod Method, byte[] Data) Sign(AsymmetricAlgorithm key, ReadOnlySpan<byte> signedOctets, bool peerSupportsRfc7427)
    {
        switch (key)
        {
            case RSA rsa when peerSupportsRfc7427:
                return SignPss(rsa, signedOctets, HashAlgorithmName.SHA256);
            case RSA rsa:
                // Method 1: SHA-1 is what RFC 7296 peers without RFC 7427 expect.
                return (AuthMethod.RSA_DIGITAL_SIGNATURE, rsa.SignData(signedOctets.ToArray(), HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1));
            case ECDsa ec when peerSupportsRfc7427:
                (int index, HashAlgorithmName hash) = ec.KeySize switch { 256 => (3, HashAlgorithmName.SHA256), 384 => (4, HashAlgorithmName.SHA384), _ => (5, HashAlgorithmName.SHA512) };
                return (AuthMethod.DIGITAL_SIGNATURE, [.. Prefix(index), .. ec.SignData(signedOctets.ToArray(), hash, DSASignatureFormat.Rfc3279DerSequence)]);
            case ECDsa ec:
                (AuthMethod method, HashAlgorithmName h) = ec.KeySize switch
                {
                    256 => (AuthMethod.ECDSA_SHA_256_P256, HashAlgorithmName.SHA256),
                    384 => (AuthMethod.ECDSA_SHA_384_P384, HashAlgorithmName.SHA384),
                    _ => (AuthMethod.ECDSA_SHA_512_P521, HashAlgorithmName.SHA512),
                };
                return (method, ec.SignData(signedOctets.ToArray(), h, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
            default:
                throw new ArgumentException("only RSA and ECDSA keys can sign IKE AUTH", nameof(key));
        }
    }

    /// <summary>sha1WithRSAEncryption as RFC 7427 Appendix A writes it (with NULL parameters).</summary>
    private static readonly byte[] Sha1WithRsa = Convert.FromHexString("300d06092a864886f70d0101050500");

    /// <summary>Checks a peer's AUTH against its certificate; null when valid, else the reason.</summary>
    /// <param name="peer">The peer's validated certificate.</param>
    /// <param name="method">The AUTH method the peer used.</param>
    /// <param name="data">The AUTH data.</param>
    /// <param name="signedOctets">What the peer signed (§2.15).</param>
    /// <param name="allowSha1">Accept SHA-1 signatures (method 1 with a SHA-1 DigestInfo, method 14 with
    /// sha1WithRSAEncryption): the legacy switch <c>security pki allow-sha1-signatures</c>. Without it they are
    /// refused with the reason, as RFC 8247 §3.2 makes SHA-1 a MUST NOT for IKEv2 signatures.</param>
    public static string? Verify(X509Certificate2 peer, AuthMethod method, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signedOctets, bool allowSha1 = false)
    {
        ArgumentNullException.ThrowIfNull(peer);
        using RSA? rsa = peer.GetRSAPublicKey();
        using ECDsa? ec = rsa is null ? peer.GetECDsaPublicKey() : null;
        byte[] octets = signedOctets.ToArray();
        switch (method)
        {
            case AuthMethod.RSA_DIGITAL_SIGNATURE when rsa is not null:
                // The hash is not negotiated: RFC 7296 §3.8 leaves it to the DigestInfo. SHA-2 is accepted; SHA-1 (what
                // method 1 means to most peers) only with the legacy switch, and named when it is refused.
                foreach (HashAlgorithmName h in new[] { HashAlgorithmName.SHA256, HashAlgorithmName.SHA384, HashAlgorithmName.SHA512, HashAlgorithmName.SHA1 })
                {
                    if (rsa.VerifyData(octets, data.ToArray(), h, RSASignaturePadding.Pkcs1))
                    {
                        return h != HashAlgorithmName.SHA1 || allowSha1 ? null
                            : $"the AUTH is an RSA signature with SHA-1 (method 1, PKCS#1 v1.5) by {peer.Subject}; {ChainValidationPolicy.Sha1Remedy}";
                    }
                }
                return "the RSA signature does not verify with the peer certificate's key";
            case AuthMethod.ECDSA_SHA_256_P256 or AuthMethod.ECDSA_SHA_384_P384 or AuthMethod.ECDSA_SHA_512_P521 when ec is not null:
                HashAlgorithmName hash = method switch
                {
                    AuthMethod.ECDSA_SHA_256_P256 => HashAlgorithmName.SHA256,
                    AuthMethod.ECDSA_SHA_384_P384 => HashAlgorithmName.SHA384,
                    _ => HashAlgorithmName.SHA512,
                };
                return ec.VerifyData(octets, data, hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation) ? null : "the ECDSA signature does not verify with the peer certificate's key";
            case AuthMethod.DIGITAL_SIGNATURE:
                if (data.Length < 1 || data.Length < 1 + data[0])
                {
                    return "the Digital Signature AUTH data is too short for its AlgorithmIdentifier";
                }
                ReadOnlySpan<byte> algorithm = data.Slice(1, data[0]);
                ReadOnlySpan<byte> signature = data[(1 + data[0])..];
                if (RsaPss.IsPss(algorithm))
                {
                    return VerifyPss(rsa, algorithm, signature, octets);
                }
                if (algorithm.SequenceEqual(Sha1WithRsa))
                {
                    if (!allowSha1)
                    {
                        return $"the AUTH is a Digital Signature with sha1WithRSAEncryption (RFC 7427) by {peer.Subject}; {ChainValidationPolicy.Sha1Remedy}";
                    }
                    return rsa?.VerifyData(octets, signature.ToArray(), HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1) == true ? null
                        : "the sha1WithRSAEncryption signature does not verify with the peer certificate's key";
                }
                foreach ((string name, HashAlgorithmName h, byte[] der) in Algorithms)
                {
                    if (!algorithm.SequenceEqual(der))
                    {
                        continue;
                    }
                    bool ok = name.StartsWith("sha", StringComparison.Ordinal)
                        ? rsa?.VerifyData(octets, signature.ToArray(), h, RSASignaturePadding.Pkcs1) == true
                        : ec?.VerifyData(octets, signature, h, DSASignatureFormat.Rfc3279DerSequence) == true;
                    return ok ? null : $"the {name} signature does not verify with the peer certificate's key";
                }
                return "the Digital Signature uses an algorithm this gateway does not accept (RSASSA-PSS, RSA PKCS#1 or ECDSA with SHA-2)";
            default:
                return $"AUTH method {(byte)method} does not fit the peer certificate's key";
        }
    }

    /// <summary>Shared-key MIC: prf(prf(secret, "Key Pad for IKEv2"), signed octets) (§2.15).</summary>
    public static byte[] SharedKeyMic(KeyDerivation prf, ReadOnlySpan<byte> secret, ReadOnlySpan<byte> signedOctets)
    {
        ArgumentNullException.ThrowIfNull(prf);
        return prf.Prf(prf.Prf(secret, "Key Pad for IKEv2"u8), signedOctets);
    }

    /// <summary>Method 14 with RSASSA-PSS: the AlgorithmIdentifier's length, the AlgorithmIdentifier, the signature (RFC 7427 §3).</summary>
    private static (AuthMethod, byte[]) SignPss(RSA rsa, ReadOnlySpan<byte> signedOctets, HashAlgorithmName hash)
    {
        ReadOnlySpan<byte> algorithm = RsaPss.AlgorithmIdentifier(hash);
        return (AuthMethod.DIGITAL_SIGNATURE, [(byte)algorithm.Length, .. algorithm, .. rsa.SignData(signedOctets.ToArray(), hash, RSASignaturePadding.Pss)]);
    }

    /// <summary>Method 14 with RSASSA-PSS: the parameters read strictly (<see cref="RsaPss.TryRead"/>), then the signature.</summary>
    private static string? VerifyPss(RSA? rsa, ReadOnlySpan<byte> algorithm, ReadOnlySpan<byte> signature, byte[] signedOctets)
    {
        if (RsaPss.TryRead(algorithm, out HashAlgorithmName hash) is { } why)
        {
            return $"the Digital Signature's RSASSA-PSS parameters are not accepted: {why}";
        }
        if (rsa is null)
        {
            return "the Digital Signature is RSASSA-PSS, but the peer certificate's key is not RSA";
        }
        // .NET verifies PSS with MGF1 over the same hash and a salt as long as the hash: exactly what TryRead accepts.
        return rsa.VerifyData(signedOctets, signature, hash, RSASignaturePadding.Pss) ? null
            : $"the {RsaPss.Name(hash)} signature does not verify with the peer certificate's key";
    }

    private static byte[] Prefix(int index) => [(byte)Algorithms[index].Der.Length, .. Algorithms[index].Der];
}
