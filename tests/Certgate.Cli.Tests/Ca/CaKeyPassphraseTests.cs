using Certgate.Cli.Ca;

namespace Certgate.Cli.Tests.Ca;

/// <summary>
/// An encrypted CA key (issue #14 §4): <c>ca init --key-passphrase-file</c> writes PKCS#8 PBES2 keys, every command
/// that loads the key reads the passphrase from the option or the systemd credential, and says in one line what is
/// missing or wrong without echoing the passphrase. The tests of this class run one after another, so setting
/// <c>CREDENTIALS_DIRECTORY</c> here does not reach the other classes' commands mid-run.
/// </summary>
public sealed class CaKeyPassphraseTests : IDisposable
{
    private const string Passphrase = "correct horse battery staple";
    private const UnixFileMode Owner = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly CaFixture _f = new();

    public void Dispose() => _f.Dispose();

    private string PassFile(string name, string text, UnixFileMode mode = Owner)
    {
        string path = _f.File(name);
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, mode);
        return path;
    }

    private void InitEncrypted(string passFile) =>
        _f.Ok("ca", "init", "--dir", _f.Dir, "--subject", "CN=Encrypted CA", "--key", "ecdsa:p256", "--key-passphrase-file", passFile);

    [Fact]
    public void Init_KeyPassphraseFile_WritesAnEncryptedKey_0600Files_In0700Directory()
    {
        string pass = PassFile("pass", Passphrase + "\n");
        InitEncrypted(pass);
        string key = File.ReadAllText(Path.Combine(_f.Dir, "ca.key"));
        Assert.StartsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----", key);
        Assert.Equal(Owner, File.GetUnixFileMode(Path.Combine(_f.Dir, "ca.key")));
        Assert.Equal(Owner, File.GetUnixFileMode(Path.Combine(_f.Dir, "ca.json")));
        Assert.Equal(Owner | UnixFileMode.UserExecute, File.GetUnixFileMode(_f.Dir));
        // The trailing newline is not part of the passphrase: the same text without it opens the key.
        _f.Ok("ca", "list", "--dir", _f.Dir, "--key-passphrase-file", PassFile("pass2", Passphrase));
    }

    [Fact]
    public void Init_WithoutPassphrase_StillWritesAPlainKeyAnd0600Settings()
    {
        _f.InitCa();
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(Path.Combine(_f.Dir, "ca.key")));
        Assert.Equal(Owner, File.GetUnixFileMode(Path.Combine(_f.Dir, "ca.json")));
    }

    [Fact]
    public void EncryptedKey_WithoutPassphrase_OneLineNamingBothWays()
    {
        InitEncrypted(PassFile("pass", Passphrase));
        foreach (string[] command in new[] { new[] { "ca", "list" }, ["ca", "crl"], ["ca", "challenge"], ["ca", "serve", "--listen", "http://127.0.0.1:0"] })
        {
            string err = _f.Fails(1, [.. command, "--dir", _f.Dir]);
            Assert.Contains("ca.key is encrypted", err);
            Assert.Contains("--key-passphrase-file F", err);
            Assert.Contains("$CREDENTIALS_DIRECTORY/certgate-ca-key", err);
            Assert.Contains("LoadCredential=", err);
        }
    }

    [Fact]
    public void EncryptedKey_WrongPassphrase_SaysSoWithoutEchoingIt()
    {
        InitEncrypted(PassFile("pass", Passphrase));
        string wrong = PassFile("wrong", "Tr0ub4dor&3-not-it");
        string err = _f.Fails(1, "ca", "list", "--dir", _f.Dir, "--key-passphrase-file", wrong);
        Assert.Contains("wrong key passphrase", err);
        Assert.Contains(wrong, err);
        Assert.DoesNotContain("Tr0ub4dor", err);
        Assert.DoesNotContain(Passphrase, err);
    }

    [Fact]
    public void EncryptedKey_CommandsWorkWithThePassphraseFile()
    {
        string pass = PassFile("pass", Passphrase);
        InitEncrypted(pass);
        string csr = _f.WriteCsr("gw1.csr");
        Assert.Contains("issued to", _f.Ok("ca", "sign", "--dir", _f.Dir, "--csr", csr, "--out", _f.File("gw1.crt"), "--key-passphrase-file", pass));
        _f.Ok("ca", "crl", "--dir", _f.Dir, "--out", _f.File("ca.crl"), "--key-passphrase-file", pass);
        Assert.True(File.Exists(_f.File("ca.crl")));
    }

    [Fact]
    public void EncryptedKey_PassphraseFromSystemdCredentialsDirectory()
    {
        InitEncrypted(PassFile("pass", Passphrase));
        string credentials = Path.Combine(_f.Root, "credentials");
        Directory.CreateDirectory(credentials);
        File.WriteAllText(Path.Combine(credentials, CaKeyPassphrase.CredentialName), Passphrase + "\n");
        string? before = Environment.GetEnvironmentVariable("CREDENTIALS_DIRECTORY");
        try
        {
            Environment.SetEnvironmentVariable("CREDENTIALS_DIRECTORY", credentials);
            _f.Ok("ca", "crl", "--dir", _f.Dir, "--out", _f.File("ca.crl"));
            File.WriteAllText(Path.Combine(credentials, CaKeyPassphrase.CredentialName), "not the passphrase\n");
            string err = _f.Fails(1, "ca", "list", "--dir", _f.Dir);
            Assert.Contains("wrong key passphrase (read from $CREDENTIALS_DIRECTORY/certgate-ca-key)", err);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CREDENTIALS_DIRECTORY", before);
        }
    }

    [Theory]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, "0640")]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, "0644")]
    public void PassphraseFile_ReadableByOthers_IsRefusedWithTheChmodToType(UnixFileMode mode, string octal)
    {
        string pass = PassFile("pass", Passphrase, mode);
        string err = _f.Fails(2, "ca", "init", "--dir", _f.Dir, "--subject", "CN=X", "--key", "ecdsa:p256", "--key-passphrase-file", pass);
        Assert.Contains($"--key-passphrase-file '{pass}': group or others may read it (mode {octal}); run: chmod 600 {pass}", err);
        Assert.False(File.Exists(Path.Combine(_f.Dir, "ca.key")));
    }

    [Fact]
    public void PassphraseFile_EmptyOrMissing_IsNamed()
    {
        Assert.Contains("empty", _f.Fails(2, "ca", "init", "--dir", _f.Dir, "--subject", "CN=X", "--key-passphrase-file", PassFile("empty", "\n")));
        Assert.Contains("no such file", _f.Fails(2, "ca", "init", "--dir", _f.Dir, "--subject", "CN=X", "--key-passphrase-file", _f.File("nope")));
    }

    [Fact]
    public void Init_WithRa_EncryptsTheRaKeyToo_AndServeLoadsBoth()
    {
        Directory.CreateDirectory(_f.Dir);
        // RA mode is what `ca init` writes (issue #14 §4): the default ca.json.
        Assert.Contains("\"getCaCert\": \"ra-and-ca\",", Certgate.Ca.Settings.CaSettingsFile.DefaultText);
        string pass = PassFile("pass", Passphrase);
        InitEncrypted(pass);
        Assert.StartsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----", File.ReadAllText(Path.Combine(_f.Dir, "ra.key")));
        Assert.Equal(Owner, File.GetUnixFileMode(Path.Combine(_f.Dir, "ra.key")));
        // Both keys open with the passphrase (the RA key is loaded by every command in RA mode).
        _f.Ok("ca", "list", "--dir", _f.Dir, "--key-passphrase-file", pass);
        string err = _f.Fails(1, "ca", "list", "--dir", _f.Dir);
        Assert.Contains("is encrypted", err);
    }
}
