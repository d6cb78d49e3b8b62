using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Certgate.Ca.Settings;
using Certgate.Pki.Encoding;
using Certgate.Pki.Keys;

namespace Certgate.Ca.Layout;

/// <summary>A loaded CA directory: settings, CA certificate with key, optional RA certificate with key.</summary>
/// <param name="Path">The CA directory.</param>
/// <param name="Settings">Validated <c>ca.json</c>.</param>
/// <param name="Certificate">The CA certificate with its private key.</param>
/// <param name="RaCertificate">The RA certificate with its private key, or null.</param>
public sealed record CaMaterial(string Path, CaSettings Settings, X509Certificate2 Certificate, X509Certificate2? RaCertificate);

/// <summary>
/// The CA directory <c>DIR</c>:
/// <code>
///   DIR/ca.json   settings (documented in CaSettingsFile.DefaultText)
///   DIR/ca.crt    CA certificate (PEM)            DIR/ca.key   CA private key (PKCS#8 PEM, 0600)
///   DIR/ra.crt    RA certificate (PEM, RA mode)    DIR/ra.key   RA private key (PKCS#8 PEM, 0600)
///   DIR/ca.db     SQLite database (default storage)
/// </code>
/// Every file is written atomically (temporary file, fsync, rename); the directory is 0700, keys and <c>ca.json</c>
/// are 0600 from creation. With a key passphrase the keys are <c>ENCRYPTED PRIVATE KEY</c> (PKCS#8 PBES2: AES-256-CBC,
/// PBKDF2-HMAC-SHA256, <see cref="Certgate.Pki.Keys.KeyPair.DefaultPbkdf2Iterations"/> iterations), which OpenSSL reads
/// with <c>openssl pkcs8 -passin</c>; loading such a key without the passphrase raises <see cref="CaKeyPassphraseException"/>.
/// </summary>
public static class CaDirectory
{
    public const string CertificateFile = "ca.crt";
    public const string KeyFile = "ca.key";
    public const string RaCertificateFile = "ra.crt";
    public const string RaKeyFile = "ra.key";

    /// <summary>Creates a root CA in <paramref name="dir"/> (and the RA when the settings ask for one).</summary>
    /// <param name="dir">The CA directory (created when missing).</param>
    /// <param name="subject">CA subject DN, e.g. <c>CN=Certgate CA,O=Example</c>.</param>
    /// <param name="keySpec">rsa:2048, rsa:4096, ecdsa:p256 or ecdsa:p384.</param>
    /// <param name="days">CA certificate validity.</param>
    /// <param name="settingsText">Settings to write when <c>ca.json</c> does not exist yet (the commented default when null).</param>
    /// <param name="time">Clock.</param>
    /// <param name="baseUrl">The address gateways reach this CA at (<c>ca init --url</c>), written as <c>baseUrl</c> into
    /// <c>ca.json</c> (new or existing) so that issued certificates carry the CRL distribution point; null leaves it.</param>
    /// <exception cref="ArgumentException">Bad subject, key, days or base URL.</exception>
    /// <exception cref="CaOperationException">The directory already holds a CA key.</exception>
    /// <param name="keyPassphrase">When not empty, the CA (and RA) key is written encrypted with it.</param>
    /// <exception cref="CaSettingsException">The settings are invalid.</exception>
    public static CaMaterial Init(string dir, string subject, string keySpec, int days, string? settingsText = null, TimeProvider? time = null, string? baseUrl = null,
        ReadOnlyMemory<char> keyPassphrase = default)
    {
        (X500DistinguishedName name, KeySpec spec, CaSettings settings) = Prepare(dir, subject, keySpec, days, settingsText, baseUrl);
        DateTimeOffset now = (time ?? TimeProvider.System).GetUtcNow();
        using AsymmetricAlgorithm key = spec.Generate();
        CertificateRequest req = CreateCaRequest(name, key, decryptsScep: !settings.UsesRa);
        // Self-signed with a 127-bit random serial, like every certificate this CA issues.
        X509Certificate2 root = ReSignWithRandomSerial(req, key, name, now.AddMinutes(-5), now.AddDays(days));
        WriteKey(Path.Combine(dir, KeyFile), key, keyPassphrase.Span);
        WritePem(Path.Combine(dir, CertificateFile), root);
        X509Certificate2? ra = settings.UsesRa ? CreateRa(dir, settings, root, time, keyPassphrase.Span) : null;
        return new CaMaterial(Path.GetFullPath(dir), settings, root, ra);
    }

    /// <summary>Prepares a subordinate CA: writes the key and a CSR to <paramref name="csrOut"/>; finish with
    /// <see cref="InstallCertificate"/> once the parent CA has signed it.</summary>
    /// <exception cref="ArgumentException">Bad subject, key or base URL.</exception>
    /// <exception cref="CaOperationException">The directory already holds a CA key.</exception>
    public static void InitSubordinate(string dir, string subject, string keySpec, string csrOut, string? settingsText = null, string? baseUrl = null,
        ReadOnlyMemory<char> keyPassphrase = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(csrOut);
        (X500DistinguishedName name, KeySpec spec, CaSettings settings) = Prepare(dir, subject, keySpec, 1, settingsText, baseUrl);
        using AsymmetricAlgorithm key = spec.Generate();
        CertificateRequest req = CreateCaRequest(name, key, decryptsScep: !settings.UsesRa);
        WriteKey(Path.Combine(dir, KeyFile), key, keyPassphrase.Span);
        SecureFile.WriteAtomic(csrOut, Encoding.ASCII.GetBytes(req.CreateSigningRequestPem()), secret: false);
    }

    /// <summary>Installs the CA certificate the parent signed for <see cref="InitSubordinate"/> (PEM or DER).</summary>
    /// <exception cref="CaOperationException">No key in the directory, the certificate is for another key, or it is not a CA certificate.</exception>
    /// <exception cref="CaKeyPassphraseException">The key is encrypted and <paramref name="keyPassphrase"/> is missing or wrong.</exception>
    public static CaMaterial InstallCertificate(string dir, string certFile, TimeProvider? time = null, ReadOnlyMemory<char> keyPassphrase = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(dir);
        ArgumentException.ThrowIfNullOrEmpty(certFile);
        string keyPath = Path.Combine(dir, KeyFile);
        if (!File.Exists(keyPath))
        {
            throw new CaOperationException($"{keyPath}: no CA key; run init --subordinate first");
        }
        X509Certificate2 cert = LoadCertificateFile(certFile);
        if (cert.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true })
        {
            throw new CaOperationException($"{certFile}: not a CA certificate (basicConstraints cA is not TRUE)");
        }
        if (cert.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is { } ku && !ku.KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign))
        {
            throw new CaOperationException($"{certFile}: keyUsage lacks keyCertSign");
        }
        X509Certificate2 withKey;
        try
        {
            withKey = AttachKey(cert, keyPath, keyPassphrase.Span);
        }
        catch (CryptographicException)
        {
            throw new CaOperationException($"{certFile}: the certificate is not for the key in {keyPath}");
        }
        if (!withKey.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(PublicKeyOfFile(keyPath, keyPassphrase.Span)))
        {
            throw new CaOperationException($"{certFile}: the certificate is not for the key in {keyPath}");
        }
        WritePem(Path.Combine(dir, CertificateFile), withKey);
        CaSettings settings = CaSettingsFile.Read(Path.Combine(dir, CaSettingsFile.FileName));
        X509Certificate2? ra = settings.UsesRa ? CreateRa(dir, settings, withKey, time, keyPassphrase.Span) : null;
        return new CaMaterial(Path.GetFullPath(dir), settings, withKey, ra);
    }

    /// <summary>Loads the CA directory.</summary>
    /// <exception cref="CaOperationException">A file is missing or the key does not match.</exception>
    /// <exception cref="CaSettingsException">The settings are invalid.</exception>
    /// <exception cref="CaKeyPassphraseException">A key is encrypted and <paramref name="keyPassphrase"/> is missing or wrong.</exception>
    public static CaMaterial Load(string dir, ReadOnlyMemory<char> keyPassphrase = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(dir);
        CaSettings settings = CaSettingsFile.Read(Path.Combine(dir, CaSettingsFile.FileName));
        X509Certificate2 ca = LoadPair(dir, CertificateFile, KeyFile, keyPassphrase.Span);
        X509Certificate2? ra = settings.UsesRa ? LoadPair(dir, RaCertificateFile, RaKeyFile, keyPassphrase.Span) : null;
        return new CaMaterial(Path.GetFullPath(dir), settings, ca, ra);
    }

    /// <summary>The storage specification with a relative SQLite path resolved against the directory.</summary>
    public static string ResolveDatabase(string dir, CaSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        const string prefix = "sqlite:";
        return settings.Database.StartsWith(prefix, StringComparison.Ordinal)
            ? prefix + Path.GetFullPath(Path.Combine(dir, settings.Database[prefix.Length..]))
            : settings.Database;
    }

    private static (X500DistinguishedName, KeySpec, CaSettings) Prepare(string dir, string subject, string keySpec, int days, string? settingsText, string? baseUrl)
    {
        ArgumentException.ThrowIfNullOrEmpty(dir);
        ArgumentException.ThrowIfNullOrEmpty(subject);
        if (baseUrl is not null && CaSettingsFile.BaseUrlProblem(baseUrl) is { } urlProblem)
        {
            throw new ArgumentException($"baseUrl '{baseUrl}': {urlProblem}", nameof(baseUrl));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(days, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(days, 36500);
        KeySpec spec = KeySpec.Parse(keySpec);
        X500DistinguishedName name;
        try
        {
            name = new X500DistinguishedName(subject);
        }
        catch (CryptographicException)
        {
            throw new ArgumentException($"subject '{subject}': not a distinguished name (e.g. CN=Certgate CA,O=Example)", nameof(subject));
        }
        if (File.Exists(Path.Combine(dir, KeyFile)))
        {
            throw new CaOperationException($"{Path.Combine(dir, KeyFile)} exists: this directory already holds a CA");
        }
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(dir);
        }
        else
        {
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            // An existing directory keeps its mode otherwise: the CA's directory is the owner's alone.
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        string settingsPath = Path.Combine(dir, CaSettingsFile.FileName);
        bool exists = File.Exists(settingsPath);
        if (!exists || baseUrl is not null)
        {
            string text = exists ? File.ReadAllText(settingsPath) : settingsText ?? CaSettingsFile.DefaultTextFor(name);
            if (baseUrl is not null)
            {
                text = CaSettingsFile.WithBaseUrl(text, baseUrl, settingsPath);
            }
            CaSettingsFile.Parse(text, settingsPath); // validate before writing
            // 0600: the settings may name a PostgreSQL connection string with its password.
            SecureFile.WriteAtomic(settingsPath, Encoding.UTF8.GetBytes(text), secret: true);
        }
        CaSettings settings = CaSettingsFile.Read(settingsPath);
        if (settings.UsesRa && SameName(new X500DistinguishedName(settings.Ra!.Subject), name))
        {
            throw new CaSettingsException($"{settingsPath}: ra.subject '{settings.Ra.Subject}' is the CA's own subject; give the RA a name of its own");
        }
        return (name, spec, settings);
    }

    private static bool SameName(X500DistinguishedName a, X500DistinguishedName b) =>
        a.RawData.AsSpan().SequenceEqual(b.RawData) || string.Equals(a.Name, b.Name, StringComparison.OrdinalIgnoreCase);

    /// <param name="name">The CA's subject.</param>
    /// <param name="key">The CA key.</param>
    /// <param name="decryptsScep">Whether the CA key itself decrypts SCEP envelopes (<c>getCaCert "ca"</c>): only then
    /// does an RSA CA certificate carry keyEncipherment. With an RA (the default) the CA key only signs.</param>
    private static CertificateRequest CreateCaRequest(X500DistinguishedName name, AsymmetricAlgorithm key, bool decryptsScep)
    {
        CertificateRequest req = key switch
        {
            RSA rsa => new CertificateRequest(name, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            ECDsa ec => new CertificateRequest(name, ec, ec.KeySize > 256 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256),
            _ => throw new ArgumentException("unsupported key", nameof(key)),
        };
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        // keyEncipherment on an RSA CA key only when SCEP clients encrypt their requests to the CA certificate (no RA).
        X509KeyUsageFlags ku = X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature
            | (key is RSA && decryptsScep ? X509KeyUsageFlags.KeyEncipherment : X509KeyUsageFlags.None);
        req.CertificateExtensions.Add(new X509KeyUsageExtension(ku, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        return req;
    }

    private static X509Certificate2 ReSignWithRandomSerial(CertificateRequest req, AsymmetricAlgorithm key, X500DistinguishedName issuer, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        X509SignatureGenerator gen = key is RSA rsa ? X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1) : X509SignatureGenerator.CreateForECDsa((ECDsa)key);
        using X509Certificate2 plain = req.Create(issuer, gen, notBefore, notAfter, Issuance.RandomSerialNumberSource.Instance.Next());
        return key is RSA r ? plain.CopyWithPrivateKey(r) : plain.CopyWithPrivateKey((ECDsa)key);
    }

    private static X509Certificate2 CreateRa(string dir, CaSettings settings, X509Certificate2 ca, TimeProvider? time, ReadOnlySpan<char> keyPassphrase)
    {
        RaSettings ra = settings.Ra!;
        KeySpec spec = KeySpec.Parse(ra.KeySpec);
        DateTimeOffset now = (time ?? TimeProvider.System).GetUtcNow();
        using var key = (RSA)spec.Generate();
        var req = new CertificateRequest(new X500DistinguishedName(ra.Subject), key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        DateTimeOffset notAfter = now.AddDays(ra.Days);
        var caNotAfter = new DateTimeOffset(ca.NotAfter.ToUniversalTime());
        if (notAfter > caNotAfter)
        {
            notAfter = caNotAfter;
        }
        (X509SignatureGenerator gen, _, IDisposable caKey) = Issuance.IssuancePipeline.CreateGenerator(ca);
        using (caKey)
        {
            using X509Certificate2 plain = req.Create(ca.SubjectName, gen, now.AddMinutes(-5), notAfter, Issuance.RandomSerialNumberSource.Instance.Next());
            X509Certificate2 withKey = plain.CopyWithPrivateKey(key);
            WriteKey(Path.Combine(dir, RaKeyFile), key, keyPassphrase);
            WritePem(Path.Combine(dir, RaCertificateFile), withKey);
            return withKey;
        }
    }

    private static X509Certificate2 LoadPair(string dir, string certName, string keyName, ReadOnlySpan<char> keyPassphrase)
    {
        string certPath = Path.Combine(dir, certName);
        string keyPath = Path.Combine(dir, keyName);
        if (!File.Exists(certPath))
        {
            throw new CaOperationException($"{certPath}: missing (run certgate ca init, or install the signed certificate)");
        }
        if (!File.Exists(keyPath))
        {
            throw new CaOperationException($"{keyPath}: missing");
        }
        try
        {
            return AttachKey(LoadCertificateFile(certPath), keyPath, keyPassphrase);
        }
        catch (CryptographicException)
        {
            throw new CaOperationException($"{certPath}: does not match the key in {keyPath}");
        }
    }

    private static X509Certificate2 LoadCertificateFile(string path)
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (IOException e)
        {
            throw new CaOperationException($"{path}: cannot read: {e.Message}");
        }
        try
        {
            string text = Encoding.ASCII.GetString(data);
            return text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal)
                ? X509Certificate2.CreateFromPem(text)
                : X509CertificateLoader.LoadCertificate(data);
        }
        catch (CryptographicException)
        {
            throw new CaOperationException($"{path}: not a PEM or DER X.509 certificate");
        }
    }

    private static X509Certificate2 AttachKey(X509Certificate2 cert, string keyPath, ReadOnlySpan<char> keyPassphrase)
    {
        using KeyPair key = ReadKey(keyPath, keyPassphrase);
        return key.Key switch
        {
            RSA rsa when cert.GetRSAPublicKey() is { } pub && Dispose(pub) => cert.CopyWithPrivateKey(rsa),
            ECDsa ec when cert.GetECDsaPublicKey() is { } pub && Dispose(pub) => cert.CopyWithPrivateKey(ec),
            _ => throw new CryptographicException("the certificate and the key are of different algorithms"),
        };
    }

    private static bool Dispose(IDisposable d)
    {
        d.Dispose();
        return true;
    }

    private static byte[] PublicKeyOfFile(string keyPath, ReadOnlySpan<char> keyPassphrase)
    {
        using KeyPair key = ReadKey(keyPath, keyPassphrase);
        return key.ExportSubjectPublicKeyInfo();
    }

    /// <summary>Reads a CA/RA key file, plain or encrypted PKCS#8.</summary>
    /// <exception cref="CaKeyPassphraseException">Encrypted, and the passphrase is missing or wrong.</exception>
    /// <exception cref="CaOperationException">Not a readable private key.</exception>
    private static KeyPair ReadKey(string keyPath, ReadOnlySpan<char> keyPassphrase)
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(keyPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CaOperationException($"{keyPath}: cannot read: {e.Message}");
        }
        try
        {
            return KeyPair.Import(data, keyPassphrase);
        }
        catch (PkiPasswordException) when (keyPassphrase.IsEmpty)
        {
            throw new CaKeyPassphraseException($"{keyPath} is encrypted and no key passphrase was given", keyPath, missing: true);
        }
        catch (PkiPasswordException)
        {
            throw new CaKeyPassphraseException($"{keyPath}: wrong key passphrase", keyPath, missing: false);
        }
        catch (PkiFormatException e)
        {
            throw new CaOperationException($"{keyPath}: not a usable private key: {e.Message}");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(data);
        }
    }

    /// <summary>Whether the key file at <paramref name="keyPath"/> is an encrypted PKCS#8 PEM.</summary>
    public static bool IsKeyEncrypted(string keyPath) =>
        File.Exists(keyPath) && File.ReadAllText(keyPath).Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal);

    private static void WriteKey(string path, AsymmetricAlgorithm key, ReadOnlySpan<char> keyPassphrase)
    {
        byte[] der = keyPassphrase.IsEmpty
            ? key.ExportPkcs8PrivateKey()
            : key.ExportEncryptedPkcs8PrivateKey(keyPassphrase,
                new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, KeyPair.DefaultPbkdf2Iterations));
        char[] pem = PemEncoding.Write(keyPassphrase.IsEmpty ? "PRIVATE KEY" : "ENCRYPTED PRIVATE KEY", der);
        byte[] bytes = Encoding.ASCII.GetBytes(pem);
        try
        {
            SecureFile.WriteAtomic(path, bytes, secret: true);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
            CryptographicOperations.ZeroMemory(der);
            Array.Clear(pem);
        }
    }

    private static void WritePem(string path, X509Certificate2 cert) =>
        SecureFile.WriteAtomic(path, Encoding.ASCII.GetBytes(cert.ExportCertificatePem() + "\n"), secret: false);
}
