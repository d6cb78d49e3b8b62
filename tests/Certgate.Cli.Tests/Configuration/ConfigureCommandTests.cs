using Certgate.Cli;

namespace Certgate.Cli.Tests.Configuration;

/// <summary><c>certgate configure</c> and <c>certgate show configuration</c> through <see cref="CertgateCli.Run"/>.</summary>
public sealed class ConfigureCommandTests : IDisposable
{
    private readonly string _state = Path.Combine(Path.GetTempPath(), "certgate-cli-config-" + Guid.NewGuid().ToString("N"));

    /// <summary>Input files live outside the state directory, so that a test can start from a state directory that
    /// does not exist.</summary>
    private readonly string _files = Path.Combine(Path.GetTempPath(), "certgate-cli-config-files-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        foreach (string dir in new[] { _state, _files })
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private string WriteFile(string name, string text)
    {
        Directory.CreateDirectory(_files);
        string path = Path.Combine(_files, name);
        File.WriteAllText(path, text);
        return path;
    }

    private (int Code, string Out, string Err) Run(string stdin, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CertgateCli.Run(["--state", _state, .. args], new StringReader(stdin), o, e);
        return (code, o.ToString().ReplaceLineEndings("\n"), e.ToString().ReplaceLineEndings("\n"));
    }

    private const string Script = """
        # PKI for gateway 1
        set security pki ca-profile entrust ca-identity entrust
        set security pki ca-profile entrust enrollment url http://ca-1.example.com/cgi-bin/pkiclient.exe
        set security pki auto-re-enrollment certificate-id gw1 ca-profile entrust
        set security pki auto-re-enrollment certificate-id gw1 challenge-password topsecret
        commit comment "pki"
        """;

    [Fact]
    public void ScriptOnStdin_Commits_ShowConfigurationShowsActive()
    {
        (int code, string output, string err) = Run(Script, "configure");
        Assert.Equal("", err);
        Assert.Equal(0, code);
        Assert.Equal("commit complete\n", output);

        (code, output, _) = Run("", "show", "configuration", "security", "pki", "ca-profile", "entrust");
        Assert.Equal(0, code);
        Assert.Equal("ca-identity entrust;\nenrollment {\n    url http://ca-1.example.com/cgi-bin/pkiclient.exe;\n}\n", output);

        (_, output, _) = Run("", "show", "configuration", "display", "set");
        Assert.Contains("set security pki auto-re-enrollment certificate-id gw1 ca-profile-name entrust\n", output);
        Assert.DoesNotContain("topsecret", output);

        (_, output, _) = Run("", "--json", "show", "configuration", "security");
        Assert.Contains("\"ca-profile-name\": \"entrust\"", output);
    }

    /// <summary>Issue #13: a script stops at its first error (with the line), so that a later <c>commit</c> commits
    /// nothing; the script's changes are not saved; an uncommitted script without errors still leaves its candidate.</summary>
    [Fact]
    public void ScriptWithErrors_StopsAtFirstError_NamesTheLine_CommitsNothing()
    {
        (int code, string output, string err) = Run("""
            set security pki ca-profile p ca-identity p
            set security pki ca-profile p enrollment retry 2000
            set security pki ca-profile q ca-identity q
            commit
            """, "configure");
        Assert.Equal(1, code);
        Assert.Equal("syntax error at [edit security pki ca-profile p enrollment] 'retry 2000': value 2000 is outside the range 0..1080\n"
            + "  (stdin line 2: set security pki ca-profile p enrollment retry 2000)\n"
            + "configure: stopped at stdin line 2: the lines after it did not run, and the changes since the last commit were not saved\n", err);
        Assert.Equal("", output);
        Assert.False(File.Exists(Path.Combine(_state, "config", "juniper.conf")));
        Assert.False(File.Exists(Path.Combine(_state, "config", "candidate.conf")));

        // A script without errors and without commit leaves its candidate; the next session commits it.
        (code, output, _) = Run("set security pki ca-profile p ca-identity p\n", "configure");
        Assert.Equal(0, code);
        Assert.Equal("The configuration has been changed but not committed\n", output);
        (code, output, _) = Run("show | compare\ncommit\n", "configure");
        Assert.Equal(0, code);
        Assert.Equal("[edit]\n+  security {\n+      pki {\n+          ca-profile p {\n+              ca-identity p;\n+          }\n+      }\n+  }\ncommit complete\n", output);
    }

    /// <summary>Issue #13: a bad line after a commit stops there; what was committed before it stays committed.</summary>
    [Fact]
    public void ScriptWithError_AfterACommit_KeepsThatCommit_DropsTheRest()
    {
        (int code, _, string err) = Run("set security pki ca-profile a ca-identity a\ncommit\nset security pki ca-profile b ca-identity b\nsett x\ncommit\n", "configure");
        Assert.Equal(1, code);
        Assert.Contains("  (stdin line 4: sett x)\n", err);
        Assert.Equal("set security pki ca-profile a ca-identity a\n", Run("", "show", "configuration", "display", "set").Out);
        Assert.False(File.Exists(Path.Combine(_state, "config", "candidate.conf")));
    }

    private const string Curly = """
        ## Last commit: 2026-01-02 03:04:05 UTC by someone
        security {
            pki {
                ca-profile entrust {
                    ca-identity entrust;
                    enrollment {
                        url http://ca-1.example.com/cgi-bin/pkiclient.exe;
                    }
                }
            }
        }
        """;

    /// <summary>Issue #13: the README says <c>-f FILE</c> takes curly-brace text; it was refused line by line.</summary>
    [Fact]
    public void DashF_CurlyBraceFile_IsMergedIntoTheCandidate()
    {
        string file = WriteFile("gw.conf", Curly);
        (int code, string output, string err) = Run("", "configure", "-f", file);
        Assert.Equal("", err);
        Assert.Equal(0, code);
        Assert.Equal("load complete\nThe configuration has been changed but not committed\n", output);
        (code, output, _) = Run("commit\n", "configure");
        Assert.Equal(0, code);
        Assert.Equal("set security pki ca-profile entrust ca-identity entrust\nset security pki ca-profile entrust enrollment url http://ca-1.example.com/cgi-bin/pkiclient.exe\n",
            Run("", "show", "configuration", "display", "set").Out);
    }

    [Fact]
    public void Stdin_CurlyBraceText_IsMerged_AndAnErrorNamesItsLine_ChangingNothing()
    {
        (int code, string output, _) = Run(Curly, "configure");
        Assert.Equal(0, code);
        Assert.Equal("load complete\nThe configuration has been changed but not committed\n", output);
        string candidate = File.ReadAllText(Path.Combine(_state, "config", "candidate.conf"));

        (code, output, string err) = Run("security {\n    pki {\n        ca-profile x {\n            enrollment { retry 2000; }\n        }\n    }\n}\n", "configure");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.StartsWith("error: stdin: line 4: syntax error at [edit security pki ca-profile x enrollment] 'retry 2000'", err);
        Assert.Equal(candidate, File.ReadAllText(Path.Combine(_state, "config", "candidate.conf")));
    }

    /// <summary>Issue #13: <c>load merge|override|set terminal</c> in a script read the lines up to <c>^D</c> (or the end
    /// of the input); the script goes on after the marker.</summary>
    [Fact]
    public void Stdin_LoadTerminal_ReadsUpToCaretD_ThenTheScriptGoesOn()
    {
        (int code, string output, string err) = Run("load merge terminal\n" + Curly + "\n^D\nshow security pki ca-profile entrust ca-identity\ncommit\n", "configure");
        Assert.Equal("", err);
        Assert.Equal(0, code);
        Assert.Equal("load complete\nca-identity entrust;\ncommit complete\n", output);

        (code, output, err) = Run("load set terminal\nset security pki ca-profile b ca-identity b\ndelete security pki ca-profile entrust\n^D\ncommit\n", "configure");
        Assert.Equal("", err);
        Assert.Equal(0, code);
        Assert.Equal("set security pki ca-profile b ca-identity b\n", Run("", "show", "configuration", "display", "set").Out);

        // Override replaces everything; the end of the input ends the text as well.
        (code, output, err) = Run("load override terminal\nsecurity { pki { ca-profile c { ca-identity c; } } }\n", "configure");
        Assert.Equal("", err);
        Assert.Equal(0, code);
        Assert.Equal("load complete\nThe configuration has been changed but not committed\n", output);
        Assert.Equal(0, Run("commit\n", "configure").Code);
        Assert.Equal("set security pki ca-profile c ca-identity c\n", Run("", "show", "configuration", "display", "set").Out);
    }

    [Fact]
    public void Stdin_LoadTerminal_ErrorNamesTheScriptLine_AndStopsBeforeCommit()
    {
        (int code, _, string err) = Run("set security pki ca-profile a ca-identity a\nload merge terminal\nsecurity {\n    pki {\n        bogus;\n    }\n}\n^D\ncommit\n", "configure");
        Assert.Equal(1, code);
        Assert.StartsWith("error: stdin: line 5: syntax error at [edit security pki] 'bogus'", err);
        Assert.Contains("configure: stopped at stdin line 2:", err);
        Assert.False(File.Exists(Path.Combine(_state, "config", "juniper.conf")));
        Assert.False(File.Exists(Path.Combine(_state, "config", "candidate.conf")));
    }

    [Fact]
    public void ConfigureLoadMergeTerminal_ReadsStdin_AndCommits()
    {
        (int code, string output, string err) = Run(Curly + "\n^D\n", "configure", "load", "merge", "terminal");
        Assert.Equal("", err);
        Assert.Equal(0, code);
        Assert.Equal("load complete\ncommit complete\n", output);
        Assert.Contains("ca-identity entrust", Run("", "show", "configuration").Out);
    }

    /// <summary>Terminal text longer than the reader's limit is refused in one line, and nothing is committed.</summary>
    [Fact]
    public void ConfigureLoadMergeTerminal_TooLongText_IsRefused()
    {
        string line = "/* " + new string('x', 1000) + " */\n";
        string text = string.Concat(Enumerable.Repeat(line, 17 * 1024)) + "^D\n";
        (int code, string output, string err) = Run(text, "configure", "load", "merge", "terminal");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Equal("error: configure load: the terminal text is longer than 16777216 characters\n", err);
        Assert.False(File.Exists(Path.Combine(_state, "config", "juniper.conf")));
    }

    /// <summary>A set-style script whose first word is mistyped stays a command error, not a curly-brace one.</summary>
    [Fact]
    public void Stdin_MistypedCommand_IsACommandError()
    {
        (int code, _, string err) = Run("sett security pki ca-profile a\n", "configure");
        Assert.Equal(1, code);
        Assert.StartsWith("syntax error at 'sett', expecting one of: set delete", err);
    }

    [Fact]
    public void FailedCommit_ExitsNonZero_ActiveUnchanged()
    {
        (int code, _, string err) = Run("set security pki auto-re-enrollment certificate-id gw1 ca-profile-name nope\ncommit\n", "configure");
        Assert.Equal(1, code);
        Assert.StartsWith("[edit security pki auto-re-enrollment certificate-id gw1 ca-profile-name]\n  'Referenced ca-profile must be defined under [edit security pki ca-profile]'\nerror: configuration check-out failed\n", err);
        (code, string output, _) = Run("", "show", "configuration");
        Assert.Equal(0, code);
        Assert.Equal("", output);
    }

    [Fact]
    public void DashF_ReadsCommandsFromFile()
    {
        Directory.CreateDirectory(_state);
        string file = Path.Combine(_state, "cmds.txt");
        File.WriteAllText(file, Script);
        (int code, string output, _) = Run("", "configure", "-f", file);
        Assert.Equal(0, code);
        Assert.Equal("commit complete\n", output);
        (code, _, string err) = Run("", "configure", "-f", Path.Combine(_state, "missing.txt"));
        Assert.Equal(1, code);
        Assert.StartsWith("error: configure: cannot read", err);
    }

    [Fact]
    public void ConfigureLoad_LoadsAndCommits_OrChangesNothing()
    {
        Directory.CreateDirectory(_state);
        string good = Path.Combine(_state, "good.conf");
        File.WriteAllText(good, "security { pki { ca-profile a { ca-identity a; } } }");
        (int code, string output, _) = Run("", "configure", "load", "merge", good);
        Assert.Equal(0, code);
        Assert.Equal("load complete\ncommit complete\n", output);

        string bad = Path.Combine(_state, "bad.set");
        File.WriteAllText(bad, "set security pki auto-re-enrollment certificate-id c ca-profile-name zz\n");
        (code, _, string err) = Run("", "configure", "load", "set", bad);
        Assert.Equal(1, code);
        Assert.Contains("error: configuration check-out failed", err);
        Assert.False(File.Exists(Path.Combine(_state, "config", "candidate.conf")));
        (_, output, _) = Run("", "show", "configuration", "display", "set");
        Assert.Equal("set security pki ca-profile a ca-identity a\n", output);

        (code, _, err) = Run("", "configure", "load", "replace", good);
        Assert.Equal(2, code);
        Assert.Contains("expected 'merge FILE', 'override FILE' or 'set FILE'", err);
    }

    [Fact]
    public void ShowConfiguration_BadPath()
    {
        (int code, _, string err) = Run("", "show", "configuration", "security", "pky");
        Assert.Equal(1, code);
        Assert.Equal("error: syntax error at [edit security] 'pky', expecting one of: pki\n", err);
    }

    [Fact]
    public void Exit_StopsReadingTheScript()
    {
        (int code, string output, _) = Run("set security pki\nexit\nset security pki ca-profile after\n", "configure");
        Assert.Equal(0, code);
        Assert.Equal("The configuration has been changed but not committed\nExiting configuration mode\n", output);
        Assert.DoesNotContain("after", File.ReadAllText(Path.Combine(_state, "config", "candidate.conf")));
    }

    /// <summary>Issue #13: on a state directory that was never configured, a refused statement in <c>load merge</c> /
    /// <c>load set</c> crashed with <c>DirectoryNotFoundException</c>; it must give the one-line error it gives on a
    /// configured directory.</summary>
    [Theory]
    [InlineData("merge", "security { pki { ca-profile p { enrollment { retry 2000; } } } }")]
    [InlineData("set", "set security pki ca-profile p enrollment retry 2000\n")]
    [InlineData("merge", "security { pki { auto-re-enrollment { certificate-id c { ca-profile-name zz; } } } }")]
    public void ConfigureLoad_RefusedFile_OnUnconfiguredStateDirectory_SameErrorAsConfigured(string mode, string text)
    {
        string bad = WriteFile("bad." + mode, text);
        Assert.False(Directory.Exists(_state));
        (int code, string output, string err) = Run("", "configure", "load", mode, bad);
        Assert.Equal(1, code);
        Assert.Equal("", output.Replace("load complete\n", "", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(_state, "config", "candidate.conf")));
        Assert.False(File.Exists(Path.Combine(_state, "config", "juniper.conf")));

        // The same file on a configured directory: the same error.
        string good = WriteFile("good.set", "set security pki ca-profile a ca-identity a\n");
        Assert.Equal(0, Run("", "configure", "load", "set", good).Code);
        (int code2, _, string err2) = Run("", "configure", "load", mode, bad);
        Assert.Equal(1, code2);
        Assert.Equal(err2, err);
        Assert.DoesNotContain("Exception", err);
    }
}
