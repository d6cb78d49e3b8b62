using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Config.Tests.Text;

/// <summary><c>show</c> and <c>show | display set</c> of a representative configuration against golden files.</summary>
public sealed class GoldenTests
{
    private static string Golden(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", name)).ReplaceLineEndings("\n");

    [Fact]
    public void Show_MatchesGolden() =>
        Assert.Equal(Golden("representative.conf"), ConfigText.WriteCurly(Cfg.FromSet(Cfg.Representative)));

    [Fact]
    public void DisplaySet_MatchesGolden() =>
        Assert.Equal(Golden("representative.set"), ConfigText.WriteSet(Cfg.FromSet(Cfg.Representative)));

    [Fact]
    public void Goldens_ParseBackToTheSameTree()
    {
        ConfigNode tree = Cfg.FromSet(Cfg.Representative);
        Assert.True(tree.StructurallyEquals(ConfigText.ParseCurly(Cfg.Schema, Golden("representative.conf"))));
        Assert.True(tree.StructurallyEquals(ConfigText.ParseSet(Cfg.Schema, Golden("representative.set"))));
    }

    [Fact]
    public void Json_NamesEntriesAndKeepsSecretsObfuscated()
    {
        string json = ConfigJson.Write(Cfg.FromSet(Cfg.Representative));
        Assert.Contains("\"name\": \"entrust\"", json);
        Assert.DoesNotContain("chall-1234", json);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        Assert.Equal("20", doc.RootElement.GetProperty("security").GetProperty("pki").GetProperty("ca-profile")[0].GetProperty("enrollment").GetProperty("retry").GetString());
    }
}
