using Certgate.Config.Session;
using Certgate.Config.Storage;
using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Config.Tests.Ipsec;

/// <summary>The example configurations: committed through configuration mode, and <c>show</c> /
/// <c>show | display set</c> against golden files, parsed back to the same tree.</summary>
public sealed class ServiceSetTextTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Golden(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", name)).ReplaceLineEndings("\n");

    [Theory]
    [InlineData("ipsec-next-hop.set")]
    [InlineData("ipsec-interface.set")]
    public void Example_CommitsInConfigurationMode(string file)
    {
        var store = new ConfigurationStore(Path.Combine(_dir.Path, file), time: new FixedTime(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero)));
        var output = new StringWriter();
        var error = new StringWriter();
        var session = new ConfigurationSession(store, output, error, "tester");
        foreach (string line in Examples.Read(file).Split('\n'))
        {
            if (line.Length > 0 && !line.StartsWith('#'))
            {
                Assert.True(session.Execute(line), $"'{line}': {error}");
            }
        }
        Assert.True(session.Execute("commit"), error.ToString());
        Assert.Equal("", error.ToString());
        Assert.Contains("commit complete", output.ToString());
        Assert.True(Cfg.FromSet(Examples.Read(file)).StructurallyEquals(store.LoadActive()));
    }

    [Theory]
    [InlineData("ipsec-next-hop.set", "ipsec-next-hop")]
    [InlineData("ipsec-interface.set", "ipsec-interface")]
    public void Example_ShowAndDisplaySet_MatchGolden_AndParseBack(string file, string golden)
    {
        ConfigNode tree = Cfg.FromSet(Examples.Read(file));
        Assert.Equal(Golden(golden + ".conf"), ConfigText.WriteCurly(tree));
        Assert.Equal(Golden(golden + ".set"), ConfigText.WriteSet(tree));
        Assert.True(tree.StructurallyEquals(ConfigText.ParseCurly(Cfg.Schema, Golden(golden + ".conf"))));
        Assert.True(tree.StructurallyEquals(ConfigText.ParseSet(Cfg.Schema, Golden(golden + ".set"))));
    }

    [Fact]
    public void Secrets_AndAliases_InIpsecPolicies()
    {
        ConfigNode tree = Cfg.FromSet(
            "set services ipsec-vpn ike policy p pre-shared-key ascii-text \"very secret\"",
            "set services ipsec-vpn ike policy p remote-id ipv6_addr 2001:db8::2",
            "set services ipsec-vpn ike policy p remote-id key_id 0a0b",
            "set services ipsec-vpn ike policy p local-id ipv4-addr 192.0.2.1");
        string set = ConfigText.WriteSet(tree);
        Assert.DoesNotContain("very secret", set);
        Assert.Contains("set services ipsec-vpn ike policy p pre-shared-key ascii-text \"$9$", set);
        Assert.Contains("set services ipsec-vpn ike policy p remote-id ipv6-addr 2001:db8::2", set);
        Assert.Contains("set services ipsec-vpn ike policy p remote-id key-id 0a0b", set);
        Assert.Contains("set services ipsec-vpn ike policy p local-id ipv4_addr 192.0.2.1", set);
        Assert.Contains("## SECRET-DATA", ConfigText.WriteCurly(tree));
        Assert.True(tree.StructurallyEquals(ConfigText.ParseSet(Cfg.Schema, set)));
    }

    [Fact]
    public void LocalIdChoice_ReplacesThePreviousKind()
    {
        ConfigNode tree = Cfg.FromSet(
            "set services ipsec-vpn ike policy p local-id fqdn gw.example.com",
            "set services ipsec-vpn ike policy p local-id distinguished-name");
        Assert.Equal("set services ipsec-vpn ike policy p local-id distinguished-name\n", ConfigText.WriteSet(tree));
    }
}
