using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Pki.Validation;

/// <summary>
/// Verifies an X.509 signature (certificate or CRL) over the exact to-be-signed bytes with an issuer's public key.
/// Supported: RSA PKCS#1 v1.5 with SHA-1/256/384/512, RSASSA-PSS (MGF1 with the same hash, salt = hash length,
/// the only form .NET verifies), ECDSA with SHA-256/384/512.
/// </summary>
internal static class SignatureVerifier
{
    internal const string Sha1Rsa = "1.2.840.113549.1.1.5";
    internal const string Sha256Rsa = "1.2.840.113549.1.1.11";
    internal const string Sha384Rsa = "1.2.840.113549.1.1.12";
    internal const string Sha512Rsa = "1.2.840.113549.1.1.13";
    internal const string RsaPss = "1.2.840.113549.1.1.10";
    internal const string EcdsaSha256 = "1.2.840.10045.4.3.2";
    internal const string EcdsaSha384 = "1.2.840.10045.4.3.3";
    internal const string EcdsaSha512 = "1.2.840.10045.4.3.4";

    /// <summary>The signature algorithm's readable name for messages.</summary>
    public static string FriendlyName(string oid) => oid switch
    {
        Sha1Rsa => "sha1WithRSAEncryption",
        Sha256Rsa => "sha256WithRSAEncryption",
        Sha384Rsa => "sha384WithRSAEncryption",
        Sha512Rsa => "sha512WithRSAEncryption",
        RsaPss => "rsassaPss",
        EcdsaSha256 => "ecdsa-with-SHA256",
        EcdsaSha384 => "ecdsa-with-SHA384",
        EcdsaSha512 => "ecdsa-with-SHA512",
        _ => oid,
    };

    /// <summary>
    /// Returns true when <paramref name="signature"/> is a valid signature of <paramref name="tbs"/> under
    /// <paramref name="issuer"/>'s key with the algorithm in <paramref name="algorithmIdentifier"/> (the DER
    /// AlgorithmIdentifier). False for a wrong signature, an unsupported algorithm or a key/algorithm mismatch.
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> tbs, ReadOnlySpan<byte> algorithmIdentifier, ReadOnlySpan<byte> signature,
        X509Certificate2 issuer)
    {
        if (!TryReadAlgorithm(algorithmIdentifier, out string oid, out ReadOnlySpan<byte> parameters))
        {
            return false;
        }
        try
        {
            switch (oid)
            {
                case Sha1Rsa or Sha256Rsa or Sha384Rsa or Sha512Rsa:
                {
                    using RSA? rsa = issuer.GetRSAPublicKey();
                    return rsa is not null && rsa.VerifyData(tbs, signature, RsaHash(oid), RSASignaturePadding.Pkcs1);
                }
                case RsaPss:
                {
                    if (!TryReadPssParameters(parameters, out HashAlgorithmName hash))
                    {
                        return false;
                    }
                    using RSA? rsa = issuer.GetRSAPublicKey();
                    return rsa is not null && rsa.VerifyData(tbs, signature, hash, RSASignaturePadding.Pss);
                }
                case EcdsaSha256 or EcdsaSha384 or EcdsaSha512:
                {
                    using ECDsa? ec = issuer.GetECDsaPublicKey();
                    HashAlgorithmName hash = oid == EcdsaSha256 ? HashAlgorithmName.SHA256
                        : oid == EcdsaSha384 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA512;
                    return ec is not null && ec.VerifyData(tbs, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
                }
                default:
                    return false;
            }
        }
        catch (CryptographicException)
        {
            // A malformed key or signature is a failed verification, not an error of the caller.
            return false;
        }
    }

    private static HashAlgorithmName RsaHash(string oid) => oid switch
    {
        Sha1Rsa => HashAlgorithmName.SHA1,
        Sha256Rsa => HashAlgorithmName.SHA256,
        Sha384Rsa => HashAlgorithmName.SHA384,
        _ => HashAlgorithmName.SHA512,
    };

    /// <summary>
    /// AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY DEFINED BY algorithm OPTIONAL }
    /// </summary>
    internal static bool TryReadAlgorithm(ReadOnlySpan<byte> der, out string oid, out ReadOnlySpan<byte> parameters)
    {
        oid = "";
        parameters = default;
        try
        {
            AsnDecoder.ReadSequence(der, AsnEncodingRules.DER, out int offset, out int length, out int consumed);
            if (consumed != der.Length)
            {
                return false;
            }
            ReadOnlySpan<byte> content = der.Slice(offset, length);
            oid = AsnDecoder.ReadObjectIdentifier(content, AsnEncodingRules.DER, out int oidLength);
            parameters = content[oidLength..];
            return true;
        }
        catch (AsnContentException)
        {
            return false;
        }
    }

    /// <summary>
    /// RSASSA-PSS-params ::= SEQUENCE {
    ///     hashAlgorithm      [0] HashAlgorithm    DEFAULT sha1,
    ///     maskGenAlgorithm   [1] MaskGenAlgorithm DEFAULT mgf1SHA1,
    ///     saltLength         [2] INTEGER          DEFAULT 20,
    ///     trailerField       [3] TrailerField     DEFAULT trailerFieldBC }
    /// .NET verifies PSS only with MGF1 over the same hash and a salt as long as the hash; anything else is
    /// reported as an unsupported (failed) signature rather than guessed at.
    /// </summary>
    private static bool TryReadPssParameters(ReadOnlySpan<byte> parameters, out HashAlgorithmName hash)
    {
        hash = HashAlgorithmName.SHA1;
        try
        {
            var reader = new AsnReader(parameters.ToArray(), AsnEncodingRules.DER);
            AsnReader seq = reader.ReadSequence();
            string hashOid = "1.3.14.3.2.26";
            string mgfHashOid = "1.3.14.3.2.26";
            int salt = 20;
            if (seq.HasData && seq.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
            {
                AsnReader h = seq.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence();
                hashOid = h.ReadObjectIdentifier();
            }
            if (seq.HasData && seq.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 1)))
            {
                AsnReader m = seq.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 1)).ReadSequence();
                if (m.ReadObjectIdentifier() != "1.2.840.113549.1.1.8")
                {
                    return false;
                }
                mgfHashOid = m.ReadSequence().ReadObjectIdentifier();
            }
            if (seq.HasData && seq.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 2)))
            {
                if (!seq.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 2)).TryReadInt32(out salt))
                {
                    return false;
                }
            }
            (HashAlgorithmName name, int size) = hashOid switch
            {
                "1.3.14.3.2.26" => (HashAlgorithmName.SHA1, 20),
                "2.16.840.1.101.3.4.2.1" => (HashAlgorithmName.SHA256, 32),
                "2.16.840.1.101.3.4.2.2" => (HashAlgorithmName.SHA384, 48),
                "2.16.840.1.101.3.4.2.3" => (HashAlgorithmName.SHA512, 64),
                _ => (default, 0),
            };
            if (size == 0 || mgfHashOid != hashOid || salt != size)
            {
                return false;
            }
            hash = name;
            return true;
        }
        catch (AsnContentException)
        {
            return false;
        }
    }
}
