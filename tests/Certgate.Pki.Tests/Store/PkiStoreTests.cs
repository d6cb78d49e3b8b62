using System.Security.Cryptography;
using Certgate.Pki.Keys;
using Certgate.Pki.Store;
using Certgate.Pki.Tests.Certificates;

namespace Certgate.Pki.Tests.Store;

public sealed class PkiStoreTests : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("certgate-store-").FullName;

    public void Dispose() => Directory.Delete(_state, recursive: true);

    [Fact]
    public void Writes_are_0600_in_0700_dirs_and_read_back()
    {
        var store = new PkiStore(_state);
        Assert.Empty(store.List(PkiObjectType.KeyPair));
        Assert.False(Directory.Exists(store.Root));

        using KeyPair key = KeyPair.Generate(KeyAlgorithm.Ecdsa, 256);
        store.Apply(new PkiStoreChange().WriteKeyPair("gw1", key));
        string path = store.PathOf(PkiObjectType.KeyPair, "gw1");
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(store.Root));
        }
        using KeyPair back = store.LoadKeyPair("gw1")!;
        Assert.True(back.Matches(key.ExportSubjectPublicKeyInfo()));
        Assert.Equal(["gw1"], store.List(PkiObjectType.KeyPair));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, ".*"));

        using RSA caKey = RSA.Create(2048);
        using var ca = TestCertificates.CreateCa(caKey);
        store.Apply(new PkiStoreChange().WriteCertificate(PkiObjectType.CaCertificate, "root", ca).Write(PkiObjectType.Crl, "root", [1, 2, 3]));
        Assert.Equal(ca.RawData, store.LoadCaCertificate("root")!.RawData);
        Assert.Equal([1, 2, 3], store.LoadCrl("root"));

        Assert.True(store.Delete(PkiObjectType.KeyPair, "gw1"));
        Assert.False(store.Delete(PkiObjectType.KeyPair, "gw1"));
        Assert.Null(store.LoadKeyPair("gw1"));
    }

    [Fact]
    public void A_failed_change_leaves_nothing_behind()
    {
        var store = new PkiStore(_state);
        // A directory where the key file should go makes the final rename impossible... instead make the
        // second write fail while staging: its target directory is a file.
        Directory.CreateDirectory(store.Root);
        File.WriteAllText(Path.Combine(store.Root, "local"), "blocker");
        using KeyPair key = KeyPair.Generate(KeyAlgorithm.Ecdsa, 256);
        var change = new PkiStoreChange().WriteKeyPair("gw1", key).Write(PkiObjectType.LocalCertificate, "gw1", [1]);
        Assert.ThrowsAny<IOException>(() => store.Apply(change));
        Assert.False(Directory.Exists(Path.Combine(store.Root, "keys")));
        Assert.Equal(["local"], Directory.GetFileSystemEntries(store.Root).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("a.b")]
    [InlineData("a b")]
    [InlineData("a%b")]
    [InlineData("..")]
    [InlineData("123456789012345678901234567890123")]
    public void Bad_names_are_refused(string name)
    {
        Assert.NotNull(PkiNames.Problem(name));
        Assert.Throws<ArgumentException>(() => new PkiStore(_state).PathOf(PkiObjectType.KeyPair, name));
    }

    [Fact]
    public void Good_names_pass()
    {
        Assert.Null(PkiNames.Problem("gw1"));
        Assert.Null(PkiNames.Problem("Root-CA_2"));
        Assert.Null(PkiNames.Problem("12345678901234567890123456789012"));
    }
}
