using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Certgate.Pki.Encoding;
using Certgate.Pki.Keys;

namespace Certgate.Pki.Store;

/// <summary>The kinds of object the gateway keeps, each a directory under <c>STATE/pki/</c>.</summary>
public enum PkiObjectType
{
    /// <summary><c>keys/ID.pem</c>: PKCS#8 private key (0600).</summary>
    KeyPair,

    /// <summary><c>requests/ID.pem</c>: the pending PKCS#10.</summary>
    CertificateRequest,

    /// <summary><c>local/ID.pem</c>: the local (end-entity) certificate.</summary>
    LocalCertificate,

    /// <summary><c>ca/PROFILE.pem</c>: the CA certificate of a CA profile.</summary>
    CaCertificate,

    /// <summary><c>ra/PROFILE.pem</c>: RA certificates of a CA profile (PEM bundle).</summary>
    RaCertificates,

    /// <summary><c>crl/PROFILE.crl</c>: the CRL of a CA profile, bytes as fetched/loaded.</summary>
    Crl,
}

/// <summary>
/// The gateway's on-disk PKI store, shared by the CLI and the daemon. Layout under <c>STATE/pki/</c>:
/// <c>keys/</c>, <c>requests/</c>, <c>local/</c> per certificate-id; <c>ca/</c>, <c>ra/</c>, <c>crl/</c> per CA
/// profile; one file per object. Directories are 0700 and files 0600. Every change is a <see cref="PkiStoreChange"/>
/// applied with <see cref="Apply"/>: new contents are written to temp files in the target directory (0600, fsync)
/// first, and only when all are written are they renamed into place, so a failure leaves the store as it was.
/// Directories are created only when something is written.
/// </summary>
public sealed class PkiStore
{
    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode FileMode600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Opens the store of <paramref name="stateDirectory"/> (nothing is created until a write).</summary>
    public PkiStore(string stateDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        Root = Path.Combine(Path.GetFullPath(stateDirectory), "pki");
    }

    /// <summary><c>STATE/pki</c>.</summary>
    public string Root { get; }

    /// <summary>The file that holds an object (it may not exist).</summary>
    /// <exception cref="ArgumentException">Invalid name.</exception>
    public string PathOf(PkiObjectType type, string name)
    {
        PkiNames.Validate(name, IsPerProfile(type) ? "ca-profile" : "certificate-id");
        (string dir, string ext) = Location(type);
        return Path.Combine(Root, dir, name + ext);
    }

    public bool Exists(PkiObjectType type, string name) => File.Exists(PathOf(type, name));

    /// <summary>Names holding an object of <paramref name="type"/>, sorted ordinally.</summary>
    public IReadOnlyList<string> List(PkiObjectType type)
    {
        (string dir, string ext) = Location(type);
        string path = Path.Combine(Root, dir);
        if (!Directory.Exists(path))
        {
            return [];
        }
        return Directory.EnumerateFiles(path, "*" + ext)
            .Select(f => Path.GetFileName(f)[..^ext.Length])
            .Where(n => PkiNames.Problem(n) is null)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>The stored bytes, or null when absent.</summary>
    public byte[]? Read(PkiObjectType type, string name)
    {
        string path = PathOf(type, name);
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>The key pair of <paramref name="certificateId"/>, or null.</summary>
    /// <exception cref="PkiFormatException">The stored key is damaged.</exception>
    public KeyPair? LoadKeyPair(string certificateId)
    {
        byte[]? data = Read(PkiObjectType.KeyPair, certificateId);
        if (data is null)
        {
            return null;
        }
        try
        {
            return KeyPair.Import(data);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(data);
        }
    }

    /// <summary>The pending request's DER, or null.</summary>
    public byte[]? LoadCertificateRequest(string certificateId) =>
        Read(PkiObjectType.CertificateRequest, certificateId) is { } d ? PkiInput.DecodeCertificateRequest(d) : null;

    /// <summary>The local certificate, or null.</summary>
    public X509Certificate2? LoadLocalCertificate(string certificateId) => LoadCertificate(PkiObjectType.LocalCertificate, certificateId);

    /// <summary>The CA certificate of <paramref name="caProfile"/>, or null.</summary>
    public X509Certificate2? LoadCaCertificate(string caProfile) => LoadCertificate(PkiObjectType.CaCertificate, caProfile);

    /// <summary>The RA certificates of <paramref name="caProfile"/> (empty when none).</summary>
    public IReadOnlyList<X509Certificate2> LoadRaCertificates(string caProfile) =>
        Read(PkiObjectType.RaCertificates, caProfile) is { } d
            ? PkiInput.DecodeCertificates(d).Select(X509CertificateLoader.LoadCertificate).ToList()
            : [];

    /// <summary>The CRL bytes of <paramref name="caProfile"/> as stored, or null.</summary>
    public byte[]? LoadCrl(string caProfile) => Read(PkiObjectType.Crl, caProfile);

    private X509Certificate2? LoadCertificate(PkiObjectType type, string name) =>
        Read(type, name) is { } d ? X509CertificateLoader.LoadCertificate(PkiInput.DecodeCertificate(d)) : null;

    /// <summary>
    /// Applies every write and delete of <paramref name="change"/>, or none of them when a write fails.
    /// </summary>
    /// <exception cref="IOException">A file could not be written (the store is unchanged).</exception>
    public void Apply(PkiStoreChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var staged = new List<(string Temp, string Final)>();
        var createdDirs = new List<string>();
        try
        {
            foreach ((PkiObjectType type, string name, byte[] contents) in change.Writes)
            {
                string final = PathOf(type, name);
                string dir = Path.GetDirectoryName(final)!;
                EnsureDirectory(Root, createdDirs);
                EnsureDirectory(dir, createdDirs);
                string temp = Path.Combine(dir, "." + Path.GetFileName(final) + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = FileMode600;
                }
                using (var stream = new FileStream(temp, options))
                {
                    staged.Add((temp, final));
                    stream.Write(contents);
                    stream.Flush(flushToDisk: true);
                }
            }
        }
        catch
        {
            foreach ((string temp, _) in staged)
            {
                TryDelete(temp);
            }
            foreach (string dir in Enumerable.Reverse(createdDirs))
            {
                try
                {
                    Directory.Delete(dir);
                }
                catch (IOException)
                {
                    // Not empty after all: leave it.
                }
            }
            throw;
        }

        foreach ((string temp, string final) in staged)
        {
            File.Move(temp, final, overwrite: true);
        }
        foreach ((PkiObjectType type, string name) in change.Deletes)
        {
            TryDelete(PathOf(type, name));
        }
    }

    /// <summary>Deletes one object; false when it did not exist.</summary>
    public bool Delete(PkiObjectType type, string name)
    {
        string path = PathOf(type, name);
        if (!File.Exists(path))
        {
            return false;
        }
        File.Delete(path);
        return true;
    }

    private static void EnsureDirectory(string dir, List<string> created)
    {
        if (Directory.Exists(dir))
        {
            return;
        }
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(dir);
        }
        else
        {
            Directory.CreateDirectory(dir, DirectoryMode);
        }
        created.Add(dir);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort cleanup of our own temp file.
        }
    }

    internal static bool IsPerProfile(PkiObjectType type) => type is PkiObjectType.CaCertificate or PkiObjectType.RaCertificates or PkiObjectType.Crl;

    private static (string Directory, string Extension) Location(PkiObjectType type) => type switch
    {
        PkiObjectType.KeyPair => ("keys", ".pem"),
        PkiObjectType.CertificateRequest => ("requests", ".pem"),
        PkiObjectType.LocalCertificate => ("local", ".pem"),
        PkiObjectType.CaCertificate => ("ca", ".pem"),
        PkiObjectType.RaCertificates => ("ra", ".pem"),
        PkiObjectType.Crl => ("crl", ".crl"),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };
}

/// <summary>A set of writes and deletes applied together by <see cref="PkiStore.Apply"/>.</summary>
public sealed class PkiStoreChange
{
    private readonly List<(PkiObjectType, string, byte[])> _writes = [];
    private readonly List<(PkiObjectType, string)> _deletes = [];

    internal IReadOnlyList<(PkiObjectType Type, string Name, byte[] Contents)> Writes => _writes;

    internal IReadOnlyList<(PkiObjectType Type, string Name)> Deletes => _deletes;

    /// <summary>Stores <paramref name="contents"/> as the object (replacing it).</summary>
    public PkiStoreChange Write(PkiObjectType type, string name, byte[] contents)
    {
        PkiNames.Validate(name, PkiStore.IsPerProfile(type) ? "ca-profile" : "certificate-id");
        ArgumentNullException.ThrowIfNull(contents);
        _writes.Add((type, name, contents));
        return this;
    }

    /// <summary>Stores a key pair as unencrypted PKCS#8 PEM (the file is 0600 like every store file).</summary>
    public PkiStoreChange WriteKeyPair(string certificateId, KeyPair key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Write(PkiObjectType.KeyPair, certificateId, System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8Pem()));
    }

    /// <summary>Stores a certificate as PEM.</summary>
    public PkiStoreChange WriteCertificate(PkiObjectType type, string name, X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Write(type, name, System.Text.Encoding.ASCII.GetBytes(Pem.Write("CERTIFICATE", certificate.RawData)));
    }

    /// <summary>Stores several certificates as one PEM bundle (RA certificates).</summary>
    public PkiStoreChange WriteCertificates(PkiObjectType type, string name, IEnumerable<X509Certificate2> certificates)
    {
        ArgumentNullException.ThrowIfNull(certificates);
        var sb = new StringBuilder();
        foreach (X509Certificate2 c in certificates)
        {
            sb.Append(Pem.Write("CERTIFICATE", c.RawData));
        }
        return Write(type, name, System.Text.Encoding.ASCII.GetBytes(sb.ToString()));
    }

    /// <summary>Stores a PKCS#10 request (DER in) as PEM.</summary>
    public PkiStoreChange WriteCertificateRequest(string certificateId, byte[] der) =>
        Write(PkiObjectType.CertificateRequest, certificateId, System.Text.Encoding.ASCII.GetBytes(Pem.Write("CERTIFICATE REQUEST", der)));

    /// <summary>Removes the object if present (after every write has succeeded).</summary>
    public PkiStoreChange Delete(PkiObjectType type, string name)
    {
        PkiNames.Validate(name, PkiStore.IsPerProfile(type) ? "ca-profile" : "certificate-id");
        _deletes.Add((type, name));
        return this;
    }
}
