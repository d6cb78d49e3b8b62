using System.Formats.Asn1;
using System.Numerics;
using Certgate.Pki.Encoding;

namespace Certgate.Pki.Keys;

/// <summary>
/// Bounds the password-based key derivation work that a key file can ask for, checked before any derivation runs.
/// </summary>
/// <remarks>
/// An encrypted PKCS#8 key or a PKCS#12 file names its own iteration count, and the reader pays it: a crafted file
/// with 2^31 PBKDF2 iterations kept <c>key-pair import</c> busy for hours before it could even say "wrong
/// passphrase". So the counts are read first, from the outer structure (RFC 8018 PBES2/PBKDF2 and PBES1, RFC 7292
/// PKCS#12 PBE and MacData), and a file above the limits is refused in one line. The limits are far above what
/// tools write (OpenSSL 2,048; Certgate 100,000; OWASP's 600,000 for PBKDF2-SHA-256) and far below "hours".
/// </remarks>
public static class PbeIterationLimit
{
    /// <summary>The most iterations one derivation may ask for.</summary>
    public const long MaxPerDerivation = 2_000_000;

    /// <summary>The most iterations all derivations of one file may ask for together (MAC, each encrypted safe).</summary>
    public const long MaxPerFile = 6_000_000;

    private const string Pbes2 = "1.2.840.113549.1.5.13";
    private const string Pbkdf2 = "1.2.840.113549.1.5.12";
    private const string Pbes1Prefix = "1.2.840.113549.1.5.";   // pbeWithMD2AndDES-CBC … pbeWithSHA1AndRC2-CBC (.1 … .11)
    private const string Pkcs12PbePrefix = "1.2.840.113549.1.12.1.";

    /// <summary>
    /// Checks an EncryptedPrivateKeyInfo (RFC 5958 §3): <c>SEQUENCE { encryptionAlgorithm AlgorithmIdentifier,
    /// encryptedData OCTET STRING }</c>.
    /// </summary>
    /// <exception cref="PkiFormatException">The count is above <see cref="MaxPerDerivation"/>, or the structure is damaged.</exception>
    public static void CheckEncryptedPrivateKeyInfo(ReadOnlyMemory<byte> der)
    {
        try
        {
            var reader = new AsnReader(der, AsnEncodingRules.BER);
            AsnReader info = reader.ReadSequence();
            Check(IterationsOf(info.ReadSequence()), "the encrypted private key");
        }
        catch (AsnContentException e)
        {
            throw new PkiFormatException("the encrypted private key is damaged", e);
        }
    }

    /// <summary>
    /// Checks a PFX (RFC 7292 §4): the MacData's iterations and the algorithm of each password-encrypted
    /// SafeContents, before the MAC is verified or anything is decrypted. Shrouded key bags inside are checked by
    /// <see cref="CheckEncryptedPrivateKeyInfo"/> when they are read.
    /// </summary>
    /// <exception cref="PkiFormatException">A count is above the limits, or the structure is damaged.</exception>
    public static void CheckPfx(ReadOnlyMemory<byte> der)
    {
        long total = 0;
        try
        {
            // PFX ::= SEQUENCE { version INTEGER {v3(3)}, authSafe ContentInfo, macData MacData OPTIONAL }
            AsnReader pfx = new AsnReader(der, AsnEncodingRules.BER).ReadSequence();
            pfx.ReadInteger();
            AsnReader authSafe = pfx.ReadSequence();
            if (authSafe.ReadObjectIdentifier() == "1.2.840.113549.1.7.1" && authSafe.HasData)
            {
                // content [0] EXPLICIT OCTET STRING holding AuthenticatedSafe ::= SEQUENCE OF ContentInfo
                byte[] content = authSafe.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadOctetString();
                AsnReader safes = new AsnReader(content, AsnEncodingRules.BER).ReadSequence();
                while (safes.HasData)
                {
                    AsnReader contentInfo = safes.ReadSequence();
                    if (contentInfo.ReadObjectIdentifier() != "1.2.840.113549.1.7.6" || !contentInfo.HasData)
                    {
                        continue;   // data (unencrypted) or enveloped (refused later): no derivation here
                    }
                    // EncryptedData ::= SEQUENCE { version, EncryptedContentInfo ::= SEQUENCE { contentType,
                    //   contentEncryptionAlgorithm AlgorithmIdentifier, encryptedContent [0] IMPLICIT OPTIONAL } }
                    AsnReader encryptedData = contentInfo.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence();
                    encryptedData.ReadInteger();
                    AsnReader encryptedContentInfo = encryptedData.ReadSequence();
                    encryptedContentInfo.ReadObjectIdentifier();
                    total += Check(IterationsOf(encryptedContentInfo.ReadSequence()), "an encrypted part of the PKCS#12 file");
                }
            }
            if (pfx.HasData)
            {
                // MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 }
                AsnReader mac = pfx.ReadSequence();
                mac.ReadSequence();
                mac.ReadOctetString();
                BigInteger iterations = mac.HasData ? mac.ReadInteger() : BigInteger.One;
                total += Check(iterations, "the PKCS#12 file's MAC");
            }
        }
        catch (AsnContentException e)
        {
            throw new PkiFormatException("not a PKCS#12 file", e);
        }
        if (total > MaxPerFile)
        {
            throw new PkiFormatException(
                $"the PKCS#12 file asks for {total:N0} key-derivation iterations in all, above the limit of {MaxPerFile:N0}; re-export it with fewer iterations");
        }
    }

    /// <summary>The iteration count a password-based encryption AlgorithmIdentifier names, or 0 for any other algorithm.</summary>
    private static BigInteger IterationsOf(AsnReader algorithm)
    {
        string oid = algorithm.ReadObjectIdentifier();
        if (!algorithm.HasData)
        {
            return BigInteger.Zero;
        }
        if (oid == Pbes2)
        {
            // PBES2-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier {{PBES2-KDFs}}, encryptionScheme … }
            AsnReader kdf = algorithm.ReadSequence().ReadSequence();
            if (kdf.ReadObjectIdentifier() != Pbkdf2)
            {
                return BigInteger.Zero;   // an unknown KDF is refused by the decryption itself
            }
            // PBKDF2-params ::= SEQUENCE { salt CHOICE { specified OCTET STRING, otherSource AlgorithmIdentifier },
            //   iterationCount INTEGER (1..MAX), keyLength INTEGER OPTIONAL, prf AlgorithmIdentifier DEFAULT }
            AsnReader pbkdf2 = kdf.ReadSequence();
            if (pbkdf2.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
            {
                pbkdf2.ReadSequence();
            }
            else
            {
                pbkdf2.ReadEncodedValue();
            }
            return pbkdf2.ReadInteger();
        }
        if (oid.StartsWith(Pbes1Prefix, StringComparison.Ordinal) || oid.StartsWith(Pkcs12PbePrefix, StringComparison.Ordinal))
        {
            // PBEParameter ::= SEQUENCE { salt OCTET STRING, iterationCount INTEGER } (RFC 8018 A.3, RFC 7292 C)
            AsnReader parameters = algorithm.ReadSequence();
            parameters.ReadOctetString();
            return parameters.ReadInteger();
        }
        return BigInteger.Zero;
    }

    private static long Check(BigInteger iterations, string what)
    {
        if (iterations > MaxPerDerivation)
        {
            throw new PkiFormatException(
                $"{what} asks for {iterations:N0} key-derivation iterations, above the limit of {MaxPerDerivation:N0}; re-export it with fewer iterations");
        }
        if (iterations.Sign < 0)
        {
            throw new PkiFormatException($"{what} has a negative iteration count");
        }
        return (long)iterations;
    }
}
