using Certgate.Config.Session;
using Certgate.Config.Storage;

namespace Certgate.Config.Tests.Session;

public sealed class SessionTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly StringWriter _out = new();
    private readonly StringWriter _err = new();
    private readonly ConfigurationStore _store;

    public SessionTests()
    {
        _store = new ConfigurationStore(_dir.Path, time: new FixedTime(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero)));
    }

    public void Dispose() => _dir.Dispose();

    private ConfigurationSession New() => new(_store, _out, _err, "tester");

    private string TakeOut()
    {
        string s = _out.ToString().ReplaceLineEndings("\n");
        _out.GetStringBuilder().Clear();
        return s;
    }

    private string TakeErr()
    {
        string s = _err.ToString().ReplaceLineEndings("\n");
        _err.GetStringBuilder().Clear();
        return s;
    }

    [Fact]
    public void EditUpTop_BannerAndRelativeSet()
    {
        ConfigurationSession s = New();
        Assert.Equal("[edit]", s.Banner);
        Assert.Equal("tester@certgate# ", s.Prompt);
        Assert.True(s.Execute("edit security pki ca-profile ca1"));
        Assert.Equal("[edit security pki ca-profile ca1]", s.Banner);
        Assert.True(s.Execute("set enrollment url http://ca.example.com/scep"));
        Assert.True(s.Execute("edit enrollment"));
        Assert.True(s.Execute("set retry 3"));
        Assert.True(s.Execute("show"));
        Assert.Equal("url http://ca.example.com/scep;\nretry 3;\n", TakeOut());
        Assert.True(s.Execute("up 2"));
        Assert.Equal("[edit security pki]", s.Banner);
        Assert.True(s.Execute("show ca-profile ca1 enrollment retry"));
        Assert.Equal("retry 3;\n", TakeOut());
        Assert.True(s.Execute("top"));
        Assert.Equal("[edit]", s.Banner);
        Assert.False(s.Execute("edit security pki ca-profile ca1 ca-identity"));
        Assert.StartsWith("syntax error: cannot edit", TakeErr());
        Assert.False(s.Execute("edit security pki ca-profile"));
        Assert.StartsWith("syntax error: cannot edit", TakeErr());
    }

    [Fact]
    public void FailedCommand_ChangesNothing()
    {
        ConfigurationSession s = New();
        Assert.False(s.Execute("set security pki ca-profile p enrollment retry 5000"));
        Assert.Equal("syntax error at [edit security pki ca-profile p enrollment] 'retry 5000': value 5000 is outside the range 0..1080\n", TakeErr());
        Assert.Empty(s.Candidate.Children);
        Assert.False(s.Changed);
        Assert.False(_store.HasCandidate);
    }

    [Fact]
    public void Candidate_PersistsAcrossSessions_ExitWarns()
    {
        ConfigurationSession s = New();
        Assert.True(s.Execute("set security pki ca-profile p ca-identity p"));
        Assert.True(s.Execute("exit"));
        Assert.True(s.Exited);
        Assert.Equal("The configuration has been changed but not committed\nExiting configuration mode\n", TakeOut());
        ConfigurationSession again = New();
        Assert.True(again.Changed);
        Assert.True(again.Execute("show | display set"));
        Assert.Equal("set security pki ca-profile p ca-identity p\n", TakeOut());
        Assert.True(again.Execute("rollback 0"));
        Assert.False(again.Changed);
        Assert.False(_store.HasCandidate);
    }

    [Fact]
    public void ExitInsideEdit_GoesUpOneLevel()
    {
        ConfigurationSession s = New();
        s.Execute("edit security pki");
        s.Execute("exit");
        Assert.False(s.Exited);
        Assert.Equal("[edit security]", s.Banner);
        s.Execute("exit configuration-mode");
        Assert.True(s.Exited);
    }

    [Fact]
    public void Commit_Check_Comment_Compare_Rollback()
    {
        ConfigurationSession s = New();
        s.Execute("set security pki ca-profile ca1 ca-identity one");
        Assert.True(s.Execute("commit check"));
        Assert.Equal("configuration check succeeds\n", TakeOut());
        Assert.True(s.Execute("commit comment \"first one\""));
        Assert.Equal("commit complete\n", TakeOut());
        Assert.Equal("first one", _store.ListRollbacks()[0].Comment);
        Assert.Equal("tester", _store.ListRollbacks()[0].User);

        s.Execute("set security pki ca-profile ca1 ca-identity two");
        Assert.True(s.Execute("show | compare"));
        Assert.Equal("[edit security pki ca-profile ca1]\n-  ca-identity one;\n+  ca-identity two;\n", TakeOut());
        s.Execute("commit");
        TakeOut();
        Assert.True(s.Execute("show | compare rollback 1"));
        Assert.Equal("[edit security pki ca-profile ca1]\n-  ca-identity one;\n+  ca-identity two;\n", TakeOut());
        Assert.True(s.Execute("rollback 1"));
        Assert.Equal("load complete\n", TakeOut());
        Assert.True(s.Changed);
        Assert.Equal("one", s.Candidate.Find("security", "pki", "ca-profile", "ca1")!.Leaf("ca-identity"));
        Assert.False(s.Execute("rollback 7"));
        Assert.Equal("error: rollback 7 does not exist\n", TakeErr());
        Assert.False(s.Execute("rollback 50"));
        Assert.Equal("syntax error: 'rollback 50': value is outside the range 0..49\n", TakeErr());
    }

    [Fact]
    public void FailedCommit_PrintsJunosShape_KeepsActive()
    {
        ConfigurationSession s = New();
        s.Execute("set security pki auto-re-enrollment certificate-id gw1 ca-profile-name nope");
        Assert.False(s.Execute("commit"));
        Assert.Equal("""
            [edit security pki auto-re-enrollment certificate-id gw1 ca-profile-name]
              'Referenced ca-profile must be defined under [edit security pki ca-profile]'
            error: configuration check-out failed

            """.ReplaceLineEndings("\n"), TakeErr());
        Assert.False(File.Exists(_store.ActivePath));
        Assert.True(s.Changed);
    }

    [Fact]
    public void Load_Merge_Override_Set()
    {
        string curly = Path.Combine(_dir.Path, "in.conf");
        File.WriteAllText(curly, "security { pki { ca-profile b { ca-identity b; } } }");
        string set = Path.Combine(_dir.Path, "in.set");
        File.WriteAllText(set, "set security pki ca-profile c\ndelete security pki ca-profile a\n");
        ConfigurationSession s = New();
        s.Execute("set security pki ca-profile a");
        Assert.True(s.Execute($"load merge {curly}"));
        Assert.Equal(["a", "b"], s.Candidate.Find("security", "pki")!.Entries("ca-profile").Select(e => e.Key));
        Assert.True(s.Execute($"load set {set}"));
        Assert.Equal(["b", "c"], s.Candidate.Find("security", "pki")!.Entries("ca-profile").Select(e => e.Key));
        Assert.True(s.Execute($"load override {curly}"));
        Assert.Equal(["b"], s.Candidate.Find("security", "pki")!.Entries("ca-profile").Select(e => e.Key));

        File.WriteAllText(set, "set security pki ca-profile d\nset security pki bogus\n");
        Assert.False(s.Execute($"load set {set}"));
        Assert.Equal($"error: {set}: line 2: syntax error at [edit security pki] 'bogus', expecting one of: ca-profile trusted-ca-group auto-re-enrollment trap allow-sha1-signatures traceoptions\n", TakeErr());
        Assert.Null(s.Candidate.Find("security", "pki", "ca-profile", "d")); // all or nothing
        Assert.False(s.Execute("load merge /nonexistent/file"));
        Assert.StartsWith("error: could not read '/nonexistent/file'", TakeErr());
    }

    [Fact]
    public void UnknownCommand_AndPipes()
    {
        ConfigurationSession s = New();
        Assert.False(s.Execute("sett security"));
        Assert.Equal("syntax error at 'sett', expecting one of: set delete insert show edit up top commit rollback load exit quit\n", TakeErr());
        Assert.False(s.Execute("show | count"));
        Assert.Equal("syntax error: '| count' (expected '| display set' or '| compare')\n", TakeErr());
        Assert.False(s.Execute("set security pki {"));
        Assert.True(s.Execute(""));
    }

    [Fact]
    public void ShowList_ShowsEveryEntry()
    {
        ConfigurationSession s = New();
        s.Execute("set security pki ca-profile a ca-identity a");
        s.Execute("set security pki ca-profile b");
        TakeOut();
        s.Execute("show security pki ca-profile");
        Assert.Equal("ca-profile a {\n    ca-identity a;\n}\nca-profile b;\n", TakeOut());
        s.Execute("show security pki ca-profile a");
        Assert.Equal("ca-identity a;\n", TakeOut());
    }

    [Fact]
    public void CommitAndQuit()
    {
        ConfigurationSession s = New();
        s.Execute("set security pki");
        Assert.True(s.Execute("commit and-quit"));
        Assert.True(s.Exited);
        Assert.Equal("commit complete\nExiting configuration mode\n", TakeOut());
    }

    [Fact]
    public void Insert_ReordersCrlUrls()
    {
        ConfigurationSession s = New();
        s.Execute("edit security pki ca-profile p revocation-check crl");
        s.Execute("set url http://a.example.com/a.crl");
        s.Execute("set url http://b.example.com/b.crl");
        s.Execute("set url ldap://c.example.com/cn=c");
        Assert.True(s.Execute("insert url ldap://c.example.com/cn=c before url http://a.example.com/a.crl"));
        Assert.True(s.Execute("top insert security pki ca-profile p revocation-check crl url http://a.example.com/a.crl after url http://b.example.com/b.crl"));
        Assert.Equal(["ldap://c.example.com/cn=c", "http://b.example.com/b.crl", "http://a.example.com/a.crl"],
            Certgate.Config.Pki.PkiConfiguration.From(s.Candidate).CaProfiles[0].CrlUrls.Select(u => u.Url.OriginalString));
        Assert.False(s.Execute("insert security pki ca-profile p revocation-check crl url http://zz.example.com/ before url http://a.example.com/a.crl"));
        Assert.StartsWith("error: [edit security pki ca-profile p revocation-check crl url http://zz.example.com/]: not an existing list entry", TakeErr());
        Assert.False(s.Execute("insert security pki ca-profile p revocation-check crl url http://a.example.com/a.crl before url http://nope.example.com/"));
        Assert.Equal("error: [edit security pki ca-profile p revocation-check crl] 'url http://nope.example.com/': statement not found\n", TakeErr());
        Assert.False(s.Execute("insert security pki ca-profile p before"));
        Assert.StartsWith("syntax error: expected 'insert", TakeErr());
    }

    [Fact]
    public void DeleteAlone_EmptiesTheCurrentLevel()
    {
        ConfigurationSession s = New();
        s.Execute("set security pki ca-profile p ca-identity p");
        s.Execute("set security pki ca-profile p enrollment retry 4");
        s.Execute("set security pki ca-profile q");
        s.Execute("edit security pki ca-profile p");
        Assert.True(s.Execute("delete"));
        Assert.Empty(s.Candidate.Find("security", "pki", "ca-profile", "p")!.Children);
        Assert.NotNull(s.Candidate.Find("security", "pki", "ca-profile", "q"));
    }

    [Fact]
    public void AutoSaveOff_WritesOnFlushOrExit()
    {
        ConfigurationSession s = New();
        s.AutoSave = false;
        s.Execute("set security pki ca-profile p");
        Assert.False(_store.HasCandidate);
        s.Flush();
        Assert.True(_store.HasCandidate);
        s.Execute("set security pki ca-profile q");
        s.Execute("exit");
        Assert.NotNull(_store.LoadCandidate().Find("security", "pki", "ca-profile", "q"));
    }
}
