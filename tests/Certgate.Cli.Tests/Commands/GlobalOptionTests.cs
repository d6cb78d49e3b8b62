using Certgate.Cli;

namespace Certgate.Cli.Tests.Commands;

/// <summary>
/// Issue #13: global options (<c>--state</c>, <c>--json</c>, <c>--yes</c>) after the command words, as people type them
/// (<c>certgate gateway run --state DIR</c> was refused with <c>unexpected '--state'</c>).
/// </summary>
public sealed class GlobalOptionTests : IDisposable
{
    private readonly string _state = Path.Combine(Path.GetTempPath(), "certgate-cli-global-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_state))
        {
            Directory.Delete(_state, recursive: true);
        }
    }

    private static (int Code, string Out, string Err) Run(string stdin, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CertgateCli.Run(args, new StringReader(stdin), o, e);
        return (code, o.ToString().ReplaceLineEndings("\n"), e.ToString().ReplaceLineEndings("\n"));
    }

    private void Configure() =>
        Assert.Equal(0, Run("set security pki ca-profile a ca-identity a\ncommit\n", "configure", "--state", _state).Code);

    [Fact]
    public void StateAfterTheCommandWords_IsTheStateDirectory()
    {
        Configure();
        (int code, string output, string err) = Run("", "show", "configuration", "display", "set", "--state", _state);
        Assert.Equal("", err);
        Assert.Equal(0, code);
        Assert.Equal("set security pki ca-profile a ca-identity a\n", output);

        (code, output, err) = Run("", "show", "configuration", $"--state={_state}", "display", "set");
        Assert.Equal("", err);
        Assert.Equal("set security pki ca-profile a ca-identity a\n", output);
    }

    [Fact]
    public void GatewayStatus_WithStateAfterTheWords_IsAccepted()
    {
        (int code, string output, string err) = Run("", "gateway", "status", "--state", _state);
        Assert.Equal("", err);
        Assert.Equal(3, code);
        Assert.Equal($"no gateway running on {_state}; commands work on the directory directly\n", output);
    }

    [Fact]
    public void JsonAndDisplayJsonPipe_AfterTheWords_StillWork()
    {
        Configure();
        (int code, string output, _) = Run("", "show", "configuration", "security", "--state", _state, "|", "display", "json");
        Assert.Equal(0, code);
        Assert.Contains("\"ca-identity\": \"a\"", output);
        (code, output, _) = Run("", "show", "configuration", "security", "| display json", "--state", _state);
        Assert.Equal(0, code);
        Assert.Contains("\"ca-identity\": \"a\"", output);
        (code, output, _) = Run("", "show", "configuration", "security", "--json", "--state", _state);
        Assert.Equal(0, code);
        Assert.Contains("\"ca-identity\": \"a\"", output);
    }

    [Fact]
    public void StateTwice_DifferentDirectories_IsAUsageError_SameDirectoryIsFine()
    {
        (int code, _, string err) = Run("", "--state", _state, "show", "configuration", "--state", _state + "-other");
        Assert.Equal(2, code);
        Assert.Equal($"error: --state is given twice with different directories ('{_state}' and '{_state}-other')\n", err);

        Configure();
        (code, string output, _) = Run("", "--state", _state, "show", "configuration", "display", "set", "--state", _state);
        Assert.Equal(0, code);
        Assert.Equal("set security pki ca-profile a ca-identity a\n", output);
    }

    /// <summary>The word after a command's own dash option is its value even when it looks like a global option,
    /// and after <c>--</c> every word belongs to the command.</summary>
    [Fact]
    public void ValuesThatLookLikeOptions_ReachTheCommand()
    {
        (int code, _, string err) = Run("", "configure", "-f", "--state", "--state", _state);
        Assert.Equal(1, code);
        Assert.StartsWith("error: configure: cannot read '--state'", err);

        (code, _, err) = Run("", "configure", "-f", "--json", "--state", _state);
        Assert.Equal(1, code);
        Assert.StartsWith("error: configure: cannot read '--json'", err);

        (code, _, err) = Run("", "--state", _state, "show", "configuration", "--", "--yes");
        Assert.Equal(1, code);
        Assert.StartsWith("error: syntax error at [edit] '--yes'", err);
    }
}
