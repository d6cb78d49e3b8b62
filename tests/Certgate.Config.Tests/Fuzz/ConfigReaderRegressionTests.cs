using Certgate.Config.Session;
using Certgate.Config.Storage;
using Certgate.Config.Text;

namespace Certgate.Config.Tests.Fuzz;

/// <summary>What <see cref="ConfigReaderFuzzTests"/> found, one named case each (issue #13).</summary>
public sealed class ConfigReaderRegressionTests
{
    private static readonly string HugeWord = new('a', 1_000_000);

    /// <summary>A megabyte-long word was quoted whole in the error (a one-megabyte "line"); it is refused by its length.</summary>
    [Theory]
    [InlineData("security { pki { ca-profile p { ca-identity WORD; } } }")]
    [InlineData("set security pki ca-profile p ca-identity WORD")]
    [InlineData("set security pki ca-profile p ca-identity \"WORD\"")]
    [InlineData("security { WORD { } }")]
    public void HugeWord_IsRefusedInOneShortLine(string template)
    {
        string text = template.Replace("WORD", HugeWord, StringComparison.Ordinal);
        string message = Cfg.ErrorOf(() => ConfigText.Parse(Cfg.Schema, text));
        Assert.Equal("line 1: a word of 1000000 characters is too long (at most 8192)", message);
    }

    /// <summary>Thousands of words before a missing ';' were all quoted in the error; the error quotes an excerpt.</summary>
    [Fact]
    public void ManyWordsBeforeAMissingSemicolon_ErrorQuotesAnExcerpt()
    {
        string words = string.Join(' ', Enumerable.Range(0, 20_000).Select(i => "w" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        string message = Cfg.ErrorOf(() => ConfigText.ParseCurly(Cfg.Schema, "security { pki { ca-profile p { ca-identity " + words + " } } }"));
        Assert.StartsWith("line 1: syntax error: missing ';' after 'ca-identity w0 w1 w2", message);
        Assert.Matches(@"… \(\d+ characters\)'$", message);
        Assert.True(message.Length < 300, message);
    }

    /// <summary>A tokenizer error in a set-style line was numbered twice (<c>line 3: line 1: missing closing '"'</c>).</summary>
    [Fact]
    public void UnterminatedQuote_InSetText_NamesItsLineOnce()
    {
        string message = Cfg.ErrorOf(() => ConfigText.ParseSet(Cfg.Schema, "set security pki\n\nset security pki ca-profile \"p ca-identity x\n"));
        Assert.Equal("line 3: missing closing '\"'", message);
    }

    /// <summary>The same through a session's load, which must leave the candidate as it was.</summary>
    [Fact]
    public void HugeWord_InLoadMerge_ChangesNothing()
    {
        using var dir = new TempDir();
        var store = new ConfigurationStore(dir.Path);
        var err = new StringWriter();
        var session = new ConfigurationSession(store, TextWriter.Null, err);
        Assert.False(session.LoadText("merge", "security { pki { ca-profile p { ca-identity " + HugeWord + "; } } }", "terminal"));
        Assert.Equal("error: terminal: line 1: a word of 1000000 characters is too long (at most 8192)", err.ToString().TrimEnd());
        Assert.False(session.Changed);
        Assert.False(store.HasCandidate);
    }
}
