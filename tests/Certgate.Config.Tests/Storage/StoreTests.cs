using Certgate.Config.Storage;
using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Config.Tests.Storage;

public sealed class StoreTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Commit_WritesActiveWithHeader_RemovesCandidate_Mode0600()
    {
        using var dir = new TempDir();
        var store = new ConfigurationStore(dir.Path, time: new FixedTime(T0));
        ConfigNode c = Cfg.FromSet("set security pki ca-profile p ca-identity p");
        store.SaveCandidate(c);
        Assert.True(store.HasCandidate);
        store.Commit(c, "first\ncommit", "alice");
        Assert.False(store.HasCandidate);
        string text = File.ReadAllText(store.ActivePath);
        Assert.StartsWith("## Last commit: 2026-11-22 10:00:00 UTC by alice\n## Comment: first commit\nsecurity {\n", text);
        Assert.True(store.LoadActive().StructurallyEquals(c));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store.ActivePath));
        }
        Assert.Empty(Directory.GetFiles(store.Directory, "*.tmp"));
    }

    /// <summary>Issue #13: <c>configure load</c> refused a file on a state directory without <c>config/</c> and then
    /// crashed with <c>DirectoryNotFoundException</c> while dropping the candidate.</summary>
    [Fact]
    public void DiscardCandidate_OnNeverConfiguredStateDirectory_DoesNothing()
    {
        using var dir = new TempDir();
        var store = new ConfigurationStore(Path.Combine(dir.Path, "never-created"));
        store.DiscardCandidate();
        Assert.False(store.HasCandidate);
        Assert.False(Directory.Exists(store.Directory));
    }

    [Fact]
    public void Candidate_SurvivesNewStoreInstance_AndEqualCandidateIsNotStored()
    {
        using var dir = new TempDir();
        new ConfigurationStore(dir.Path).SaveCandidate(Cfg.FromSet("set security pki ca-profile p"));
        var again = new ConfigurationStore(dir.Path);
        Assert.True(again.HasCandidate);
        Assert.NotNull(again.LoadCandidate().Find("security", "pki", "ca-profile", "p"));
        again.SaveCandidate(again.LoadActive());
        Assert.False(again.HasCandidate);
    }

    [Fact]
    public void FailedCommit_ChangesNothing()
    {
        using var dir = new TempDir();
        var store = new ConfigurationStore(dir.Path, time: new FixedTime(T0));
        store.Commit(Cfg.FromSet("set security pki ca-profile p"));
        string before = File.ReadAllText(store.ActivePath);
        ConfigNode bad = Cfg.FromSet("set security pki auto-re-enrollment certificate-id c ca-profile-name missing");
        store.SaveCandidate(bad);
        var e = Assert.Throws<CommitCheckException>(() => store.Commit(bad));
        Assert.Single(e.Errors);
        Assert.Equal(before, File.ReadAllText(store.ActivePath));
        Assert.True(store.HasCandidate);
        Assert.False(Directory.Exists(Path.Combine(store.Directory, "rollback")) && Directory.GetFiles(Path.Combine(store.Directory, "rollback")).Length > 0);
    }

    [Fact]
    public void Rollbacks_Keep0To49_OlderDropped()
    {
        using var dir = new TempDir();
        var time = new FixedTime(T0);
        var store = new ConfigurationStore(dir.Path, time: time);
        for (int i = 1; i <= 55; i++)
        {
            time.Now = T0.AddMinutes(i);
            store.Commit(Cfg.FromSet($"set security pki ca-profile p enrollment retry {i}"), $"commit {i}", "bob");
        }
        IReadOnlyList<RollbackInfo> list = store.ListRollbacks();
        Assert.Equal(Enumerable.Range(0, 50), list.Select(r => r.Number));
        Assert.Equal("commit 55", list[0].Comment);
        Assert.Equal("commit 6", list[49].Comment);
        Assert.Equal(T0.AddMinutes(54), list[1].Time);
        Assert.Equal("bob", list[1].User);
        Assert.Equal("54", store.LoadRollback(1).Find("security", "pki", "ca-profile", "p", "enrollment", "retry")!.Value);
        Assert.Equal("6", store.LoadRollback(49).Find("security", "pki", "ca-profile", "p", "enrollment", "retry")!.Value);
        Assert.Equal("55", store.LoadRollback(0).Find("security", "pki", "ca-profile", "p", "enrollment", "retry")!.Value);
        Assert.Throws<ArgumentOutOfRangeException>("number", () => store.LoadRollback(50));
        Assert.False(File.Exists(Path.Combine(store.Directory, "rollback", "50.conf")));
    }

    [Fact]
    public void LoadRollback_Missing()
    {
        using var dir = new TempDir();
        var store = new ConfigurationStore(dir.Path);
        Assert.Equal("error: rollback 3 does not exist", Assert.Throws<ConfigException>(() => store.LoadRollback(3)).Message);
        Assert.Empty(store.LoadRollback(0).Children);
    }

    [Fact]
    public void DamagedActive_NamesTheFile()
    {
        using var dir = new TempDir();
        var store = new ConfigurationStore(dir.Path);
        Directory.CreateDirectory(store.Directory);
        File.WriteAllText(store.ActivePath, "security { pki { bogus; } }");
        string m = Assert.Throws<ConfigException>(() => store.LoadActive()).Message;
        Assert.StartsWith($"error: {store.ActivePath} is damaged: line 1: syntax error at [edit security pki] 'bogus'", m);
    }

    [Fact]
    public void Constructor_RejectsEmptyDirectory() =>
        Assert.Throws<ArgumentException>("stateDirectory", () => new ConfigurationStore(" "));

    [Fact]
    public void ActiveFile_IsPlainCurlyText()
    {
        using var dir = new TempDir();
        var store = new ConfigurationStore(dir.Path, time: new FixedTime(T0));
        ConfigNode c = Cfg.FromSet(Cfg.Representative);
        store.Commit(c);
        Assert.EndsWith(ConfigText.WriteCurly(c), File.ReadAllText(store.ActivePath));
    }
}
