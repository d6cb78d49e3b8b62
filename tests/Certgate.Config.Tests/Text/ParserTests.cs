using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Config.Tests.Text;

public sealed class ParserTests
{
    [Fact]
    public void Curly_CommentsAndSecretDataAndFormatting()
    {
        const string text = """
            ## Last commit: 2026-01-01 00:00:00 UTC by root
            /* a block
               comment */
            security { pki { ca-profile "entrust" { ca-identity "Entrust CA"; # trailing
                enrollment { url http://ca.example.com/scep; retry 3; }
                revocation-check { crl { url ldap://l.example.com/o=x { password "$9$eA=="; ## SECRET-DATA
            } } } } trusted-ca-group g { ca-profiles [ entrust ]; } } }
            """;
        ConfigNode root = ConfigText.ParseCurly(Cfg.Schema, text);
        Assert.Equal("Entrust CA", root.Find("security", "pki", "ca-profile", "entrust")!.Leaf("ca-identity"));
        Assert.Equal("3", root.Find("security", "pki", "ca-profile", "entrust", "enrollment")!.Leaf("retry"));
        Assert.Equal("$9$eA==", root.Find("security", "pki", "ca-profile", "entrust", "revocation-check", "crl", "url", "ldap://l.example.com/o=x")!.Leaf("password"));
        Assert.Equal(["entrust"], root.Find("security", "pki", "trusted-ca-group", "g", "ca-profiles")!.Values);
    }

    [Theory]
    [InlineData("security { pki { foo; } }", "line 1: syntax error at [edit security pki] 'foo', expecting one of: ca-profile trusted-ca-group auto-re-enrollment trap allow-sha1-signatures traceoptions")]
    [InlineData("security {\n pki {\n ca-profile p { enrollment { retry 5000; } } } }", "line 3: syntax error at [edit security pki ca-profile p enrollment] 'retry 5000': value 5000 is outside the range 0..1080")]
    [InlineData("security { pki { ca-profile p { ca-identity x } } }", "line 1: syntax error: missing ';' after 'ca-identity x'")]
    [InlineData("security { pki { }", "syntax error: missing '}' at end of text (still inside [edit security])")]
    [InlineData("security { } }", "line 1: syntax error: unexpected '}'")]
    [InlineData("security { pki { ca-profile p { ca-identity x { } } } }", "line 1: syntax error at [edit security pki ca-profile p] 'ca-identity x': a leaf cannot have a '{' block")]
    [InlineData("/* open", "line 1: unterminated comment '/*'")]
    [InlineData("security { pki { ca-profile p { ca-identity \"x; } } } }", "line 1: missing closing '\"'")]
    public void Curly_Errors(string text, string message) =>
        Assert.Equal(message, Assert.Throws<ConfigException>(() => ConfigText.ParseCurly(Cfg.Schema, text)).Message);

    [Fact]
    public void Set_ErrorsGiveLine()
    {
        string m = Assert.Throws<ConfigException>(() => ConfigText.ParseSet(Cfg.Schema, "set security pki\n\n# c\nshow security")).Message;
        Assert.Equal("line 4: syntax error: 'show' (expected 'set' or 'delete')", m);
    }

    [Fact]
    public void Set_DeleteLinesApply()
    {
        ConfigNode root = ConfigText.ParseSet(Cfg.Schema, "set security pki ca-profile a\nset security pki ca-profile b\ndelete security pki ca-profile a\n");
        Assert.Equal(["b"], root.Find("security", "pki")!.Entries("ca-profile").Select(e => e.Key));
    }

    [Fact]
    public void Parse_DetectsFormat()
    {
        Assert.True(ConfigText.IsSetFormat("# comment\n\nset security pki"));
        Assert.False(ConfigText.IsSetFormat("## header\nsecurity { pki; }"));
        Assert.True(ConfigText.Parse(Cfg.Schema, "security { pki; }").StructurallyEquals(ConfigText.Parse(Cfg.Schema, "set security pki")));
    }

    [Fact]
    public void Writer_QuotesWhereNeeded()
    {
        ConfigNode root = Cfg.FromSet("set security pki ca-profile p ca-identity \"a \\\"b\\\"; {c}\"", "set security pki ca-profile q ca-identity plain");
        string curly = ConfigText.WriteCurly(root);
        Assert.Contains("ca-identity \"a \\\"b\\\"; {c}\";", curly);
        Assert.Contains("ca-identity plain;", curly);
    }

    [Fact]
    public void Writer_SingleLeafListValueWithoutBrackets()
    {
        ConfigNode root = Cfg.FromSet("set security pki trusted-ca-group g ca-profiles a");
        Assert.Contains("ca-profiles a;", ConfigText.WriteCurly(root));
    }
}
