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

    /// <summary>
    /// <c>renewal-keys/ID.pem</c>: the new PKCS#8 key of a re-enrollment with <c>re-generate-keypair</c> (0600), kept
    /// from before its first request until the renewed certificate is installed with it, so that a restart repeats
    /// the same SCEP transaction instead of asking the CA for a second successor.
    /// </summary>
    RenewalKey,
}

/// <summary>
/// The gateway's on-disk PKI store, shared by the CLI and the daemon. Layout under <c>STATE/pki/</c>:
/// <c>keys/</c>, <c>requests/</c>, <c>local/</c> per certificate-id; <c>ca/</c>, <c>ra/</c>, <c>crl/</c> per CA
/// profile; one file per object. Directories are 0700 and files 0600. Every change is a <see cref="PkiStoreChange"/>
/// applied with <see cref="Apply"/>, all or nothing, even across a crash (issue #14 §4):
/// <code>
///   1. stage    every new content in a temp file beside its target (0600, fsync)       a failure: temps removed
///   2. commit   a change of more than one object writes the journal STATE/pki/.journal (the renames and deletes
///               to make), fsync, rename, fsync of pki/: from here the change happens, whatever stops us
///   3. switch   rename each temp over its target, delete what the change deletes, fsync of each directory
///   4. done     remove the journal, fsync of pki/
/// </code>
/// A crash before 2 leaves the old objects and stray temps, which <see cref="Recover"/> removes at daemon start; a
/// crash after it leaves the journal, which <see cref="Recover"/> (or the next <see cref="Apply"/>) plays to the end.
/// So a key and its certificate, written in one change, are always both old or both new. A change of one object
/// needs no journal: its one rename is the switch. Directories are created only when something is written.
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
    public KeyPair? LoadKeyPair(string certificateId) => LoadKey(PkiObjectType.KeyPair, certificateId);

    /// <summary>The new key of <paramref name="certificateId"/>'s re-enrollment in progress (<see cref="PkiObjectType.RenewalKey"/>), or null.</summary>
    /// <exception cref="PkiFormatException">The stored key is damaged.</exception>
    public KeyPair? LoadRenewalKey(string certificateId) => LoadKey(PkiObjectType.RenewalKey, certificateId);

    private KeyPair? LoadKey(PkiObjectType type, string certificateId)
    {
        byte[]? data = Read(type, certificateId);
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

    /// <summary>The journal of a change being switched (step 2 of the class summary).</summary>
    internal const string JournalFile = ".journal";

    private const string JournalHeader = "certgate-pki-journal 1";

    /// <summary>
    /// Applies every write and delete of <paramref name="change"/>, or none of them when a write fails; once the
    /// change is committed (its journal written) a crash cannot stop it half-way (see the class summary).
    /// </summary>
    /// <exception cref="IOException">A file could not be written (the store is unchanged), or an interrupted change's
    /// journal is damaged.</exception>
    public void Apply(PkiStoreChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        // The test crash points (CERTGATE_TEST_CRASH_AT) mark the steps of installing a key or certificate, not the
        // agent's storing of a renewal key before its request.
        bool install = change.Writes.Any(w => w.Type != PkiObjectType.RenewalKey) || change.Deletes.Any(d => d.Type != PkiObjectType.RenewalKey);
        // An earlier change that a crash interrupted after its commit comes first (the daemon normally did it at start).
        string journal = Path.Combine(Root, JournalFile);
        if (File.Exists(journal))
        {
            RollForward(journal);
        }
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

        // A directory made for this change must itself survive a crash before the change commits.
        foreach (string dir in createdDirs)
        {
            DirectorySync.Sync(Path.GetDirectoryName(dir)!);
        }
        Crash(install, "pki-staged");

        var deletes = change.Deletes.Select(d => PathOf(d.Type, d.Name)).ToList();
        bool journaled = staged.Count + deletes.Count > 1;
        if (journaled)
        {
            try
            {
                WriteJournal(journal, staged, deletes);
            }
            catch
            {
                foreach ((string temp, _) in staged)
                {
                    TryDelete(temp);
                }
                throw;
            }
            Crash(install, "pki-journal-written");
        }
        Switch(staged, deletes, install);
        if (journaled)
        {
            File.Delete(journal);
            DirectorySync.Sync(Root);
        }
    }

    /// <summary>
    /// Finishes a change that a crash interrupted after its commit (plays its journal to the end) and removes the
    /// temporary files of changes that never committed. The daemon calls it at start, before anything reads the
    /// store, while no other writer runs. Returns one line per thing done, for the log.
    /// </summary>
    /// <exception cref="IOException">The journal is damaged (it is left in place) or a file cannot be moved.</exception>
    public IReadOnlyList<string> Recover()
    {
        var done = new List<string>();
        string journal = Path.Combine(Root, JournalFile);
        if (File.Exists(journal))
        {
            int count = RollForward(journal);
            done.Add($"pki store: finished a change of {count} object(s) that was interrupted after its commit ({journal})");
        }
        if (!Directory.Exists(Root))
        {
            return done;
        }
        IEnumerable<string> dirs = [Root, .. Enum.GetValues<PkiObjectType>().Select(t => Path.Combine(Root, Location(t).Directory))];
        foreach (string dir in dirs.Where(Directory.Exists))
        {
            bool removed = false;
            foreach (string temp in Directory.EnumerateFiles(dir, ".*.tmp-*"))
            {
                File.Delete(temp);
                removed = true;
                done.Add($"pki store: removed the temporary file {temp} of a change that never committed");
            }
            if (removed)
            {
                DirectorySync.Sync(dir);
            }
        }
        return done;
    }

    /// <summary>Renames the staged temps over their targets, deletes, and syncs every directory touched.</summary>
    private static void Crash(bool install, string step)
    {
        if (install)
        {
            TestCrashPoint.Reached(step);
        }
    }

    private static void Switch(List<(string Temp, string Final)> staged, List<string> deletes, bool install = false)
    {
        var touched = new SortedSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < staged.Count; i++)
        {
            File.Move(staged[i].Temp, staged[i].Final, overwrite: true);
            touched.Add(Path.GetDirectoryName(staged[i].Final)!);
            if (i == 0 && staged.Count > 1)
            {
                Crash(install, "pki-first-renamed");
            }
        }
        foreach (string path in deletes)
        {
            TryDelete(path);
            touched.Add(Path.GetDirectoryName(path)!);
        }
        foreach (string dir in touched.Where(Directory.Exists))
        {
            DirectorySync.Sync(dir);
        }
        Crash(install, "pki-renamed");
    }

    /// <summary>
    /// The commit point: the journal (lines <c>rename DIR/TEMP DIR/NAME</c> and <c>delete DIR/NAME</c>, paths relative
    /// to <c>pki/</c>) is written to a temp file, fsynced, renamed into place, and <c>pki/</c> fsynced.
    /// </summary>
    private void WriteJournal(string journal, List<(string Temp, string Final)> staged, List<string> deletes)
    {
        var text = new StringBuilder(JournalHeader).Append('\n');
        foreach ((string stagedTemp, string final) in staged)
        {
            text.Append("rename ").Append(Path.GetRelativePath(Root, stagedTemp)).Append(' ').Append(Path.GetRelativePath(Root, final)).Append('\n');
        }
        foreach (string path in deletes)
        {
            text.Append("delete ").Append(Path.GetRelativePath(Root, path)).Append('\n');
        }
        string temp = Path.Combine(Root, JournalFile + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, UnixCreateMode = FileMode600 };
        try
        {
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(System.Text.Encoding.UTF8.GetBytes(text.ToString()));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, journal, overwrite: false);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
        DirectorySync.Sync(Root);
    }

    /// <summary>Plays a committed journal to the end (each step may already be done) and removes it; the count of
    /// objects it named.</summary>
    /// <exception cref="IOException">The journal is damaged; it is left in place.</exception>
    private int RollForward(string journal)
    {
        string[] lines = File.ReadAllLines(journal);
        if (lines.Length == 0 || lines[0] != JournalHeader || lines.Length > 1 + 64)
        {
            throw new IOException($"{journal}: damaged journal of an interrupted PKI store change (expected '{JournalHeader}' and at most 64 steps); "
                + "check that each key in pki/keys matches its certificate in pki/local, then remove the journal");
        }
        var staged = new List<(string Temp, string Final)>();
        var deletes = new List<string>();
        for (int i = 1; i < lines.Length; i++)
        {
            string[] words = lines[i].Split(' ');
            bool ok = words switch
            {
                ["rename", string temp, string final] => StoreFile(final, temp: false) is { } f && StoreFile(temp, temp: true) is { } t
                    && Path.GetFileName(t).StartsWith("." + Path.GetFileName(f) + ".tmp-", StringComparison.Ordinal)
                    && Path.GetDirectoryName(t) == Path.GetDirectoryName(f) && Add(staged, (t, f)),
                ["delete", string path] => StoreFile(path, temp: false) is { } d && Add(deletes, d),
                _ => false,
            };
            if (!ok)
            {
                throw new IOException($"{journal} line {i + 1}: damaged journal of an interrupted PKI store change; "
                    + "check that each key in pki/keys matches its certificate in pki/local, then remove the journal");
            }
        }
        // A rename whose temp is gone was made before the crash; its target already holds the new contents.
        Switch([.. staged.Where(s => File.Exists(s.Temp))], deletes);
        File.Delete(journal);
        DirectorySync.Sync(Root);
        return staged.Count + deletes.Count;
    }

    private static bool Add<T>(List<T> list, T item)
    {
        list.Add(item);
        return true;
    }

    /// <summary>The full path of a journal entry when it names a file directly in one of the store's directories
    /// (an object's file, or its temp when <paramref name="temp"/>); null otherwise.</summary>
    private string? StoreFile(string relative, bool temp)
    {
        string[] parts = relative.Split('/');
        if (parts.Length != 2 || !Enum.GetValues<PkiObjectType>().Any(t => Location(t).Directory == parts[0]))
        {
            return null;
        }
        string file = parts[1];
        if (temp)
        {
            return file.StartsWith('.') && file.Contains(".tmp-", StringComparison.Ordinal) && !file.Contains("..", StringComparison.Ordinal)
                ? Path.Combine(Root, parts[0], file)
                : null;
        }
        PkiObjectType type = Enum.GetValues<PkiObjectType>().First(t => Location(t).Directory == parts[0]);
        string ext = Location(type).Extension;
        return file.EndsWith(ext, StringComparison.Ordinal) && PkiNames.Problem(file[..^ext.Length]) is null ? Path.Combine(Root, parts[0], file) : null;
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
        PkiObjectType.RenewalKey => ("renewal-keys", ".pem"),
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
    public PkiStoreChange WriteKeyPair(string certificateId, KeyPair key) => WriteKey(PkiObjectType.KeyPair, certificateId, key);

    /// <summary>Stores the new key of a re-enrollment in progress (<see cref="PkiObjectType.RenewalKey"/>), like a key pair.</summary>
    public PkiStoreChange WriteRenewalKey(string certificateId, KeyPair key) => WriteKey(PkiObjectType.RenewalKey, certificateId, key);

    private PkiStoreChange WriteKey(PkiObjectType type, string certificateId, KeyPair key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Write(type, certificateId, System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8Pem()));
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
