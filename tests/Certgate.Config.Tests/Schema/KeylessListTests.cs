using Certgate.Config.Schema;
using Certgate.Config.Session;
using Certgate.Config.Storage;
using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Config.Tests.Schema;

/// <summary><c>interfaces { ge-0/0/0 { ... } }</c>: a list written without its keyword, in both formats.</summary>
public sealed class KeylessListTests
{
    private const string JunosCurly = """
        interfaces {
            ge-0/0/0 {
                description wan;
                unit 0 {
                    family {
                        inet {
                            address 192.0.2.1/24;
                        }
                    }
                }
            }
        }
        """;

    [Fact]
    public void JunosCurly_Parses_AndWritesBackTheSame()
    {
        ConfigNode root = ConfigText.ParseCurly(Cfg.Schema, JunosCurly);
        Assert.Equal(JunosCurly.ReplaceLineEndings("\n") + "\n", ConfigText.WriteCurly(root));
        Assert.Equal("""
            set interfaces ge-0/0/0 description wan
            set interfaces ge-0/0/0 unit 0 family inet address 192.0.2.1/24

            """, ConfigText.WriteSet(root));
        ConfigNode unit = root.Find("interfaces", "ge-0/0/0", "unit", "0")!;
        Assert.Equal(["interfaces", "ge-0/0/0", "unit", "0"], unit.Path);
        Assert.Same(unit, root.Find("interfaces", "interface", "ge-0/0/0", "unit", "0"));
    }

    [Fact]
    public void Keyword_StillAccepted_DeleteAndErrors()
    {
        ConfigNode root = Cfg.FromSet("set interfaces interface eth0 unit 0 family inet", "set interfaces eth1 unit 0");
        Assert.Equal("set interfaces eth0 unit 0 family inet\nset interfaces eth1 unit 0\n", ConfigText.WriteSet(root));
        ConfigEditor.Delete(root, Cfg.Words("interfaces eth0"));
        Assert.Equal("set interfaces eth1 unit 0\n", ConfigText.WriteSet(root));
        Assert.Equal("warning: statement not found", Cfg.ErrorOf(() => ConfigEditor.Delete(root, Cfg.Words("interfaces eth9"))));
        Assert.Equal("line 1: syntax error at [edit interfaces] 'interface ge-0/0': 'ge-0/0' is not an interface such as ge-0/0/0, ms-0/0/0 or a Linux name such as eth0",
            Cfg.ErrorOf(() => Cfg.FromSet("set interfaces ge-0/0 unit 0")));
    }

    [Fact]
    public void ConfigurationMode_EditSetShowCompare()
    {
        using var dir = new TempDir();
        var output = new StringWriter();
        var error = new StringWriter();
        var session = new ConfigurationSession(new ConfigurationStore(dir.Path), output, error, "t");
        Assert.True(session.Execute("edit interfaces eth0"), error.ToString());
        Assert.Equal("[edit interfaces eth0]", session.Banner);
        Assert.True(session.Execute("set unit 0 family inet address 10.0.0.1/24"), error.ToString());
        Assert.True(session.Execute("top"));
        Assert.True(session.Execute("show interfaces | display set"), error.ToString());
        Assert.Equal("set interfaces eth0 unit 0 family inet address 10.0.0.1/24\n", output.ToString().ReplaceLineEndings("\n"));
        output.GetStringBuilder().Clear();
        Assert.True(session.Execute("show | compare"), error.ToString());
        Assert.Contains("[edit]\n+  interfaces {\n+      eth0 {", output.ToString().ReplaceLineEndings("\n"));
        Assert.True(session.Execute("delete interfaces eth0 unit 0"), error.ToString());
        Assert.Equal("", error.ToString());
    }

    [Fact]
    public void Json_UsesTheListName_AsJunosJsonDoes()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(ConfigJson.Write(ConfigText.ParseCurly(Cfg.Schema, JunosCurly)));
        System.Text.Json.JsonElement entry = doc.RootElement.GetProperty("interfaces").GetProperty("interface")[0];
        Assert.Equal("ge-0/0/0", entry.GetProperty("name").GetString());
        Assert.Equal("wan", entry.GetProperty("description").GetString());
    }

    [Fact]
    public void DeclarationMistakes_AreArgumentErrors()
    {
        Statement root = Statement.CreateRoot();
        root.Container("c").List("a", ValueSyntax.String()).List("b", ValueSyntax.String()).Keyless("a");
        Assert.Throws<ArgumentException>("name", () => root.Keyless("c"));
        Assert.Throws<ArgumentException>("name", () => root.Keyless("b"));
    }
}
