using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Encoding;

namespace Certgate.Pki.Keys;

/// <summary>
/// A private key with its algorithm and size: RSA 1024–4096 or ECDSA P-256/P-384/P-521. Owns the
/// underlying <see cref="RSA"/>/<see cref="ECDsa"/>; dispose it when done.
/// </summary>
public sealed class KeyPair : IDisposable
{
    /// <summary>PBKDF2-SHA256 iterations for exported encrypted keys (OWASP 2023 asks ≥ 600 000 for SHA-256
    /// password storage; key files are an offline secret, and 100 000 keeps CLI exports under a second on small boxes).</summary>
    public const int DefaultPbkdf2Iterations = 100_000;

    private const string RsaOid = "1.2.840.113549.1.1.1";
    private const string EcOid = "1.2.840.10045.2.1";

    private static readonly int[] RsaSizes = [1024, 2048, 3072, 4096];
    private static readonly int[] EcdsaSizes = [256, 384];

    private KeyPair(AsymmetricAlgorithm key, KeyAlgorithm algorithm, int size)
    {
        Key = key;
        Algorithm = algorithm;
        KeySize = size;
    }

    public KeyAlgorithm Algorithm { get; }

    /// <summary>Bits: the RSA modulus length or the ECDSA curve size (256, 384, 521).</summary>
    public int KeySize { get; }

    /// <summary>The key object (an <see cref="RSA"/> or <see cref="ECDsa"/>).</summary>
    public AsymmetricAlgorithm Key { get; }

    public RSA? Rsa => Key as RSA;

    public ECDsa? Ecdsa => Key as ECDsa;

    /// <summary>The algorithm name as Junos shows it: <c>rsaEncryption</c> or <c>ecdsaEncryption</c>.</summary>
    public string DisplayName => Algorithm == KeyAlgorithm.Rsa ? "rsaEncryption" : "ecdsaEncryption";

    /// <summary>The sizes <c>generate-key-pair</c> accepts for <paramref name="algorithm"/>.</summary>
    public static IReadOnlyList<int> SupportedSizes(KeyAlgorithm algorithm) => algorithm == KeyAlgorithm.Rsa ? RsaSizes : EcdsaSizes;

    /// <summary>2048 for RSA, 256 for ECDSA.</summary>
    public static int DefaultSize(KeyAlgorithm algorithm) => algorithm == KeyAlgorithm.Rsa ? 2048 : 256;

    /// <summary>Generates a new key.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not in <see cref="SupportedSizes"/>.</exception>
    public static KeyPair Generate(KeyAlgorithm algorithm, int size)
    {
        if (!SupportedSizes(algorithm).Contains(size))
        {
            throw new ArgumentOutOfRangeException(nameof(size), size,
                $"{algorithm} keys must be {string.Join(", ", SupportedSizes(algorithm))} bits");
        }
        return algorithm switch
        {
            KeyAlgorithm.Rsa => new KeyPair(RSA.Create(size), algorithm, size),
            KeyAlgorithm.Ecdsa => new KeyPair(System.Security.Cryptography.ECDsa.Create(CurveFor(size)), algorithm, size),
            _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
        };
    }

    /// <summary>Wraps an existing key (takes ownership).</summary>
    /// <exception cref="ArgumentException">Not RSA or ECDSA, or an unsupported curve.</exception>
    public static KeyPair FromKey(AsymmetricAlgorithm key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key switch
        {
            RSA rsa => new KeyPair(rsa, KeyAlgorithm.Rsa, rsa.KeySize),
            ECDsa ec => new KeyPair(ec, KeyAlgorithm.Ecdsa, ec.KeySize),
            _ => throw new ArgumentException("only RSA and ECDSA keys are supported", nameof(key)),
        };
    }

    /// <summary>The DER SubjectPublicKeyInfo.</summary>
    public byte[] ExportSubjectPublicKeyInfo() => Key.ExportSubjectPublicKeyInfo();

    /// <summary>Unencrypted PKCS#8 PrivateKeyInfo (DER). The caller should zero it when done.</summary>
    public byte[] ExportPkcs8() => Key.ExportPkcs8PrivateKey();

    /// <summary>Unencrypted PKCS#8 as PEM (<c>PRIVATE KEY</c>).</summary>
    public string ExportPkcs8Pem()
    {
        byte[] der = ExportPkcs8();
        try
        {
            return Pem.Write("PRIVATE KEY", der);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(der);
        }
    }

    /// <summary>Encrypted PKCS#8 (PBES2, AES-256-CBC, PBKDF2-HMAC-SHA256), DER.</summary>
    /// <exception cref="ArgumentException">Empty password.</exception>
    public byte[] ExportEncryptedPkcs8(ReadOnlySpan<char> password, int iterations = DefaultPbkdf2Iterations)
    {
        if (password.IsEmpty)
        {
            throw new ArgumentException("a passphrase is required", nameof(password));
        }
        return Key.ExportEncryptedPkcs8PrivateKey(password, Pbe(iterations));
    }

    /// <summary>Encrypted PKCS#8 as PEM (<c>ENCRYPTED PRIVATE KEY</c>).</summary>
    public string ExportEncryptedPkcs8Pem(ReadOnlySpan<char> password, int iterations = DefaultPbkdf2Iterations) =>
        Pem.Write("ENCRYPTED PRIVATE KEY", ExportEncryptedPkcs8(password, iterations));

    /// <summary>Whether <paramref name="publicKey"/> is this key's public half.</summary>
    public bool Matches(PublicKey publicKey)
    {
        ArgumentNullException.ThrowIfNull(publicKey);
        return Matches(publicKey.ExportSubjectPublicKeyInfo());
    }

    /// <summary>Whether DER SubjectPublicKeyInfo <paramref name="subjectPublicKeyInfo"/> is this key's public half.</summary>
    public bool Matches(ReadOnlySpan<byte> subjectPublicKeyInfo) =>
        subjectPublicKeyInfo.SequenceEqual(ExportSubjectPublicKeyInfo());

    /// <summary>Whether the certificate carries this key's public half.</summary>
    public bool Matches(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Matches(certificate.PublicKey);
    }

    /// <summary>
    /// Reads a private key: PEM or DER; PKCS#8 (plain or encrypted), PKCS#1 <c>RSA PRIVATE KEY</c>, SEC1
    /// <c>EC PRIVATE KEY</c>.
    /// </summary>
    /// <exception cref="PkiPasswordException">Encrypted and <paramref name="password"/> is missing or wrong.</exception>
    /// <exception cref="PkiFormatException">Not a private key, or a kind not supported.</exception>
    public static KeyPair Import(ReadOnlySpan<byte> data, ReadOnlySpan<char> password = default)
    {
        try
        {
            return ImportCore(data, password);
        }
        catch (PlatformNotSupportedException)
        {
            // OpenSSL refuses unknown or explicit curve parameters this way; to the operator it is a bad key file.
            throw new PkiFormatException("the key uses an elliptic curve that is not supported (use P-256 or P-384)");
        }
    }

    private static KeyPair ImportCore(ReadOnlySpan<byte> data, ReadOnlySpan<char> password)
    {
        if (data.IsEmpty)
        {
            throw new PkiFormatException("file is empty");
        }
        if (Pem.LooksLikePem(data))
        {
            IReadOnlyList<PemBlock> blocks = Pem.ReadAll(data);
            PemBlock? block = blocks.FirstOrDefault(b => b.Label is "PRIVATE KEY" or "ENCRYPTED PRIVATE KEY" or "RSA PRIVATE KEY" or "EC PRIVATE KEY");
            if (block is null)
            {
                string seen = blocks.Count == 0 ? "no PEM block" : "PEM '" + string.Join("', '", blocks.Select(b => b.Label).Distinct()) + "'";
                throw new PkiFormatException($"expected a private key but the file holds {seen}");
            }
            if (block.HasHeaders)
            {
                throw new PkiFormatException("legacy OpenSSL-encrypted PEM keys (Proc-Type header) are not supported; convert with 'openssl pkcs8 -topk8'");
            }
            try
            {
                return ImportDer(block.Data, password);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(block.Data);
            }
        }
        return ImportDer(data, password);
    }

    private static KeyPair ImportDer(ReadOnlySpan<byte> der, ReadOnlySpan<char> password)
    {
        PkiObjectKind? kind = PkiInput.Classify(der);
        if (kind is not null and not PkiObjectKind.PrivateKey)
        {
            throw new PkiFormatException($"expected a private key but the file holds {PkiInput.Describe(kind.Value)}");
        }
        try
        {
            var outer = new AsnReader(der.ToArray(), AsnEncodingRules.BER);
            AsnReader seq = outer.ReadSequence();
            if (outer.HasData)
            {
                throw new PkiFormatException("private key has trailing data");
            }
            Asn1Tag first = seq.PeekTag();
            if (first.HasSameClassAndValue(Asn1Tag.Sequence))
            {
                return ImportEncryptedPkcs8(der, password);
            }
            if (!first.HasSameClassAndValue(Asn1Tag.Integer))
            {
                throw new PkiFormatException("expected a private key but the file holds something else");
            }
            seq.ReadIntegerBytes();
            Asn1Tag second = seq.PeekTag();
            if (second.HasSameClassAndValue(Asn1Tag.Sequence))
            {
                return ImportPkcs8(der);
            }
            if (second.HasSameClassAndValue(Asn1Tag.Integer))
            {
                var rsa = RSA.Create();
                try
                {
                    rsa.ImportRSAPrivateKey(der, out int read);
                    CheckConsumed(read, der.Length);
                    return FromKey(rsa);
                }
                catch
                {
                    rsa.Dispose();
                    throw;
                }
            }
            if (second.HasSameClassAndValue(Asn1Tag.PrimitiveOctetString))
            {
                var ec = System.Security.Cryptography.ECDsa.Create();
                try
                {
                    ec.ImportECPrivateKey(der, out int read);
                    CheckConsumed(read, der.Length);
                    return CheckCurve(ec);
                }
                catch
                {
                    ec.Dispose();
                    throw;
                }
            }
            throw new PkiFormatException("expected a private key but the file holds something else");
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException)
        {
            throw new PkiFormatException("the private key is damaged or not a supported RSA/ECDSA key", e);
        }
    }

    private static KeyPair ImportEncryptedPkcs8(ReadOnlySpan<byte> der, ReadOnlySpan<char> password)
    {
        if (password.IsEmpty)
        {
            throw new PkiPasswordException("the private key is encrypted; a passphrase is needed");
        }
        byte[] encrypted = der.ToArray();
        PbeIterationLimit.CheckEncryptedPrivateKeyInfo(encrypted);
        Pkcs8PrivateKeyInfo info;
        try
        {
            info = Pkcs8PrivateKeyInfo.DecryptAndDecode(password, encrypted, out int read);
            CheckConsumed(read, der.Length);
        }
        catch (CryptographicException e)
        {
            // PBES2 has no password check value: a wrong password shows up as bad padding or a garbled inner
            // structure. Both are reported as a wrong passphrase; the structure around it already parsed.
            throw new PkiPasswordException("wrong passphrase for the encrypted private key", e);
        }
        byte[] plain = info.Encode();
        try
        {
            return ImportPkcs8(plain);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
    }

    private static KeyPair ImportPkcs8(ReadOnlySpan<byte> der)
    {
        Pkcs8PrivateKeyInfo info = Pkcs8PrivateKeyInfo.Decode(der.ToArray(), out int read, skipCopy: true);
        CheckConsumed(read, der.Length);
        switch (info.AlgorithmId.Value)
        {
            case RsaOid:
            {
                var rsa = RSA.Create();
                try
                {
                    rsa.ImportPkcs8PrivateKey(der, out _);
                    return FromKey(rsa);
                }
                catch
                {
                    rsa.Dispose();
                    throw;
                }
            }
            case EcOid:
            {
                var ec = System.Security.Cryptography.ECDsa.Create();
                try
                {
                    ec.ImportPkcs8PrivateKey(der, out _);
                    return CheckCurve(ec);
                }
                catch
                {
                    ec.Dispose();
                    throw;
                }
            }
            default:
                throw new PkiFormatException($"unsupported private key algorithm {info.AlgorithmId.Value} (RSA and ECDSA are supported)");
        }
    }

    private static KeyPair CheckCurve(ECDsa ec)
    {
        // Size alone is not enough: secp256k1 and brainpoolP256r1 are 256-bit too, and everything downstream
        // (IKE auth methods, signature OIDs, "P-256" in output) assumes the NIST curve of that size.
        ECCurve curve = ec.ExportParameters(false).Curve;
        if (ec.KeySize is not (256 or 384 or 521) || !curve.IsNamed || curve.Oid.Value != CurveFor(ec.KeySize).Oid.Value)
        {
            ec.Dispose();
            throw new PkiFormatException("unsupported elliptic curve (P-256, P-384 and P-521 are supported)");
        }
        return FromKey(ec);
    }

    private static void CheckConsumed(int read, int length)
    {
        if (read != length)
        {
            throw new PkiFormatException("private key has trailing data");
        }
    }

    internal static PbeParameters Pbe(int iterations)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        return new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, iterations);
    }

    internal static ECCurve CurveFor(int size) => size switch
    {
        256 => ECCurve.NamedCurves.nistP256,
        384 => ECCurve.NamedCurves.nistP384,
        521 => ECCurve.NamedCurves.nistP521,
        _ => throw new ArgumentOutOfRangeException(nameof(size)),
    };

    /// <summary>Disposes the key (the platform zeroes its key material).</summary>
    public void Dispose() => Key.Dispose();
}
