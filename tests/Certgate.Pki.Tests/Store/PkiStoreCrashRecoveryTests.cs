using Certgate.Pki.Store;

namespace Certgate.Pki.Tests.Store;

/// <summary>
/// A key and its certificate switch together even across a crash (issue #14 §4): the states a crash can leave at each
/// step of <see cref="PkiStore.Apply"/> are laid out by hand (temps, the journal, some renames done) and
/// <see cref="PkiStore.Recover"/> or the next change must end with both old or both new. The SIGKILL of a real
/// daemon at each step is <c>Certgate.Interop.Tests.Gateway.ReEnrollmentCrashTests</c>.
/// </summary>
public sealed class PkiStoreCrashRecoveryTests : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("certgate-store-crash-").FullName;
    private readonly PkiStore _store;

    public PkiStoreCrashRecoveryTests()
    {
        _store = new PkiStore(_state);
        _store.Apply(new PkiStoreChange()
            .Write(PkiObjectType.KeyPair, "gw1", Bytes("old key"))
            .Write(PkiObjectType.LocalCertificate, "gw1", Bytes("old certificate"))
            .Write(PkiObjectType.CertificateRequest, "gw1", Bytes("request")));
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private static byte[] Bytes(string s) => System.Text.Encoding.ASCII.GetBytes(s);

    private string Key => System.Text.Encoding.ASCII.GetString(_store.Read(PkiObjectType.KeyPair, "gw1")!);

    private string Certificate => System.Text.Encoding.ASCII.GetString(_store.Read(PkiObjectType.LocalCertificate, "gw1")!);

    private string Journal => Path.Combine(_store.Root, PkiStore.JournalFile);

    private string[] Leftovers() => [.. Directory.EnumerateFiles(_store.Root, ".*", SearchOption.AllDirectories)];

    /// <summary>The state after step 1 of a change that writes a new key and certificate and deletes the request:
    /// both temps written; with <paramref name="committed"/>, the journal too.</summary>
    private (string KeyTemp, string CertificateTemp) Staged(bool committed)
    {
        string keyTemp = Path.Combine(_store.Root, "keys", ".gw1.pem.tmp-0123456789ab");
        string certTemp = Path.Combine(_store.Root, "local", ".gw1.pem.tmp-ba9876543210");
        File.WriteAllText(keyTemp, "new key");
        File.WriteAllText(certTemp, "new certificate");
        if (committed)
        {
            File.WriteAllText(Journal, "certgate-pki-journal 1\nrename keys/.gw1.pem.tmp-0123456789ab keys/gw1.pem\n"
                + "rename local/.gw1.pem.tmp-ba9876543210 local/gw1.pem\ndelete requests/gw1.pem\n");
        }
        return (keyTemp, certTemp);
    }

    [Fact]
    public void A_change_of_several_objects_leaves_no_journal_and_no_temporary_file()
    {
        _store.Apply(new PkiStoreChange().Write(PkiObjectType.KeyPair, "gw1", Bytes("new key")).Write(PkiObjectType.LocalCertificate, "gw1", Bytes("new certificate")));
        Assert.Equal(("new key", "new certificate"), (Key, Certificate));
        Assert.Empty(Leftovers());
    }

    [Fact]
    public void Crash_before_the_commit_keeps_the_old_pair_and_Recover_removes_the_temporary_files()
    {
        Staged(committed: false);
        File.WriteAllText(Path.Combine(_store.Root, PkiStore.JournalFile + ".tmp-00aa11bb22cc"), "certgate-pki-journal 1\nrename keys/");
        Assert.Equal(("old key", "old certificate"), (Key, Certificate));

        IReadOnlyList<string> done = _store.Recover();
        Assert.Equal(3, done.Count);
        Assert.All(done, line => Assert.Contains("removed the temporary file", line, StringComparison.Ordinal));
        Assert.Equal(("old key", "old certificate"), (Key, Certificate));
        Assert.True(_store.Exists(PkiObjectType.CertificateRequest, "gw1"));
        Assert.Empty(Leftovers());
    }

    [Theory]
    [InlineData(0)] // crash right after the commit
    [InlineData(1)] // after the key's rename
    [InlineData(2)] // after both renames, before the delete and the journal's removal
    public void Crash_after_the_commit_is_finished_by_Recover_both_new(int renamesDone)
    {
        (string keyTemp, string certTemp) = Staged(committed: true);
        if (renamesDone >= 1)
        {
            File.Move(keyTemp, _store.PathOf(PkiObjectType.KeyPair, "gw1"), overwrite: true);
        }
        if (renamesDone >= 2)
        {
            File.Move(certTemp, _store.PathOf(PkiObjectType.LocalCertificate, "gw1"), overwrite: true);
        }

        IReadOnlyList<string> done = _store.Recover();
        Assert.Contains("finished a change of 3 object(s) that was interrupted after its commit", Assert.Single(done), StringComparison.Ordinal);
        Assert.Equal(("new key", "new certificate"), (Key, Certificate));
        Assert.False(_store.Exists(PkiObjectType.CertificateRequest, "gw1"));
        Assert.Empty(Leftovers());
        Assert.Empty(_store.Recover());
    }

    [Fact]
    public void The_next_change_finishes_an_interrupted_one_first()
    {
        (string keyTemp, _) = Staged(committed: true);
        File.Move(keyTemp, _store.PathOf(PkiObjectType.KeyPair, "gw1"), overwrite: true);
        _store.Apply(new PkiStoreChange().Write(PkiObjectType.Crl, "ca1", [1, 2, 3]));
        Assert.Equal(("new key", "new certificate"), (Key, Certificate));
        Assert.Equal([1, 2, 3], _store.LoadCrl("ca1"));
        Assert.Empty(Leftovers());
    }

    [Theory]
    [InlineData("rename keys/.gw1.pem.tmp-0123456789ab ../../victim.pem")]
    [InlineData("rename keys/../../../tmp/x keys/gw1.pem")]
    [InlineData("rename local/.gw1.pem.tmp-ba9876543210 keys/gw1.pem")]
    [InlineData("delete /etc/passwd")]
    [InlineData("chmod keys/gw1.pem")]
    public void A_damaged_or_hostile_journal_is_refused_in_one_line_and_left_alone(string line)
    {
        (string keyTemp, _) = Staged(committed: false);
        File.WriteAllText(Journal, $"certgate-pki-journal 1\n{line}\n");
        IOException e = Assert.Throws<IOException>(() => _store.Recover());
        Assert.Contains("line 2: damaged journal", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.True(File.Exists(Journal));
        Assert.True(File.Exists(keyTemp));
        Assert.Equal(("old key", "old certificate"), (Key, Certificate));
    }
}
