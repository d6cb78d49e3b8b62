using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Encoding;

namespace Certgate.Pki.Keys;

/// <summary>What a PKCS#12 file held: the key (if any), the certificate matching it, and the other certificates.</summary>
public sealed record Pkcs12Contents(KeyPair? Key, X509Certificate2? Certificate, IReadOnlyList<X509Certificate2> Chain);

/// <summary>
/// PKCS#12 (RFC 7292) in and out. Output uses PBES2 AES-256-CBC with PBKDF2-SHA256 for both the key and the
/// certificate bags and an HMAC-SHA256 MAC, which OpenSSL 3 reads without <c>-legacy</c>.
/// </summary>
public static class Pkcs12Archive
{
    /// <summary>Builds a PKCS#12 holding <paramref name="key"/>, <paramref name="certificate"/> and <paramref name="chain"/>.</summary>
    /// <exception cref="ArgumentException">Empty password, or the certificate does not belong to the key.</exception>
    public static byte[] Export(KeyPair key, X509Certificate2? certificate, IEnumerable<X509Certificate2>? chain, string password,
        int iterations = KeyPair.DefaultPbkdf2Iterations)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentException.ThrowIfNullOrEmpty(password);
        if (certificate is not null && !key.Matches(certificate))
        {
            throw new ArgumentException("the certificate does not carry the key's public half", nameof(certificate));
        }
        PbeParameters pbe = KeyPair.Pbe(iterations);
        byte[] keyId = SHA1.HashData(key.ExportSubjectPublicKeyInfo());

        var certs = new Pkcs12SafeContents();
        if (certificate is not null)
        {
            Pkcs12CertBag bag = certs.AddCertificate(certificate);
            bag.Attributes.Add(new Pkcs9LocalKeyId(keyId));
        }
        foreach (X509Certificate2 c in chain ?? [])
        {
            certs.AddCertificate(c);
        }

        var keys = new Pkcs12SafeContents();
        Pkcs12ShroudedKeyBag keyBag = keys.AddShroudedKey(key.Key, password, pbe);
        keyBag.Attributes.Add(new Pkcs9LocalKeyId(keyId));

        var builder = new Pkcs12Builder();
        if (certificate is not null || chain is not null)
        {
            builder.AddSafeContentsEncrypted(certs, password, pbe);
        }
        builder.AddSafeContentsUnencrypted(keys);
        builder.SealWithMac(password, HashAlgorithmName.SHA256, iterations);
        return builder.Encode();
    }

    /// <summary>Reads a PKCS#12 file (DER).</summary>
    /// <exception cref="PkiPasswordException">The password is wrong (the MAC does not verify or a bag will not decrypt).</exception>
    /// <exception cref="PkiFormatException">Not a PKCS#12 file, an unsupported content, or key-derivation iteration
    /// counts above <see cref="PbeIterationLimit"/>'s limits (checked before any derivation).</exception>
    public static Pkcs12Contents Import(ReadOnlySpan<byte> data, string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        byte[] pfx = data.ToArray();
        PbeIterationLimit.CheckPfx(pfx);
        Pkcs12Info info;
        try
        {
            info = Pkcs12Info.Decode(pfx, out int read, skipCopy: true);
            if (read != data.Length)
            {
                throw new PkiFormatException("PKCS#12 file has trailing data");
            }
        }
        catch (CryptographicException e)
        {
            throw new PkiFormatException("not a PKCS#12 file", e);
        }

        if (info.IntegrityMode == Pkcs12IntegrityMode.Password && !info.VerifyMac(password))
        {
            throw new PkiPasswordException("wrong passphrase for the PKCS#12 file");
        }
        if (info.IntegrityMode == Pkcs12IntegrityMode.PublicKey)
        {
            throw new PkiFormatException("PKCS#12 files sealed with a public key are not supported");
        }

        var certificates = new List<X509Certificate2>();
        KeyPair? key = null;
        try
        {
            foreach (Pkcs12SafeContents contents in info.AuthenticatedSafe)
            {
                if (contents.ConfidentialityMode == Pkcs12ConfidentialityMode.Password)
                {
                    try
                    {
                        contents.Decrypt(password);
                    }
                    catch (CryptographicException e)
                    {
                        throw new PkiPasswordException("wrong passphrase for the PKCS#12 file (or an unsupported encryption)", e);
                    }
                }
                else if (contents.ConfidentialityMode != Pkcs12ConfidentialityMode.None)
                {
                    throw new PkiFormatException("PKCS#12 contents encrypted to a public key are not supported");
                }
                foreach (Pkcs12SafeBag bag in contents.GetBags())
                {
                    switch (bag)
                    {
                        case Pkcs12CertBag cb when cb.IsX509Certificate:
                            certificates.Add(cb.GetCertificate());
                            break;
                        case Pkcs12ShroudedKeyBag sk when key is null:
                            key = KeyPair.Import(sk.EncryptedPkcs8PrivateKey.Span, password);
                            break;
                        case Pkcs12KeyBag kb when key is null:
                            key = KeyPair.Import(kb.Pkcs8PrivateKey.Span);
                            break;
                    }
                }
            }
        }
        catch (CryptographicException e)
        {
            key?.Dispose();
            throw new PkiFormatException("the PKCS#12 file is damaged", e);
        }
        catch
        {
            key?.Dispose();
            throw;
        }

        X509Certificate2? leaf = key is null ? certificates.FirstOrDefault() : certificates.FirstOrDefault(key.Matches);
        var chain = certificates.Where(c => !ReferenceEquals(c, leaf)).ToList();
        return new Pkcs12Contents(key, leaf, chain);
    }
}
