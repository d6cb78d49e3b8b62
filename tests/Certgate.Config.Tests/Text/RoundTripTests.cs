using System.Globalization;
using Certgate.Config.Schema;
using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Config.Tests.Text;

/// <summary>parse(write(tree)) == tree for generated trees, in both formats.</summary>
public sealed class RoundTripTests
{
    // Candidate values; the generator keeps those a syntax accepts. They include the characters that force quoting.
    private static readonly string[] Samples =
    [
        "a", "gw1", "entrust", "local-entrust2", "pki.log", "10k", "1m", "admin@example.com",
        "http://ca.example.com/cgi-bin/pkiclient.exe", "ldap://ldap.example.com/ou=ca,o=example", "https://x.example.net:8443/p?q=1&r=2",
        "10.0.0.1", "2001:db8::1", "192.0.2.0/24", "with space", "quote\"d", "semi;colon", "brace{x}", "[bracket]", "hash#tag",
        "back\\slash", "/*not a comment*/", "Example CA, Inc.", "plain secret",
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void GeneratedTrees_RoundTripThroughBothFormats(int seed)
    {
        var random = new Random(seed);
        for (int i = 0; i < 40; i++)
        {
            ConfigNode tree = ConfigNode.CreateRoot(Cfg.Schema);
            Fill(tree, random, 0);
            string curly = ConfigText.WriteCurly(tree);
            string set = ConfigText.WriteSet(tree);
            ConfigNode fromCurly = ConfigText.ParseCurly(Cfg.Schema, curly);
            ConfigNode fromSet = ConfigText.ParseSet(Cfg.Schema, set);
            Assert.True(tree.StructurallyEquals(fromCurly), "curly round trip failed:\n" + curly + "\nreparsed:\n" + ConfigText.WriteCurly(fromCurly));
            Assert.True(tree.StructurallyEquals(fromSet), "set round trip failed:\n" + set + "\nreparsed:\n" + ConfigText.WriteSet(fromSet));
            Assert.Equal(curly, ConfigText.WriteCurly(fromSet));
        }
    }

    [Fact]
    public void Generator_CoversEveryStatementKind()
    {
        var seen = new HashSet<StatementKind>();
        var random = new Random(7);
        for (int i = 0; i < 20; i++)
        {
            ConfigNode tree = ConfigNode.CreateRoot(Cfg.Schema);
            Fill(tree, random, 0);
            Walk(tree, n => seen.Add(n.Statement.Kind));
        }
        Assert.Equal(Enum.GetValues<StatementKind>().ToHashSet(), seen);
    }

    private static void Walk(ConfigNode n, Action<ConfigNode> f)
    {
        f(n);
        foreach (ConfigNode c in n.Children)
        {
            Walk(c, f);
        }
    }

    private static void Fill(ConfigNode node, Random random, int depth)
    {
        foreach (Statement s in node.Statement.Children)
        {
            if (depth > 0 && random.NextDouble() < 0.35)
            {
                continue;
            }
            switch (s.Kind)
            {
                case StatementKind.Container:
                    Fill(ConfigEditor.Set(node, [s.Name]), random, depth + 1);
                    break;
                case StatementKind.List:
                    int count = random.Next(0, Math.Min(s.MaxElements == 0 ? 3 : s.MaxElements, 3) + 1);
                    for (int i = 0; i < count; i++)
                    {
                        if (Value(s.Type!, random) is { } key)
                        {
                            Fill(ConfigEditor.Set(node, [s.Name, key]), random, depth + 1);
                        }
                    }
                    break;
                case StatementKind.Leaf:
                    if (Value(s.Type!, random) is { } v)
                    {
                        ConfigEditor.Set(node, [s.Name, v]);
                    }
                    break;
                case StatementKind.LeafList:
                    var values = Enumerable.Range(0, random.Next(1, 4)).Select(_ => Value(s.Type!, random)).OfType<string>().ToList();
                    if (values.Count > 0)
                    {
                        ConfigEditor.Set(node, [s.Name, "[", .. values, "]"]);
                    }
                    break;
                case StatementKind.Flag:
                    ConfigEditor.Set(node, [s.Name]);
                    break;
            }
        }
    }

    private static string? Value(ValueSyntax syntax, Random random)
    {
        switch (syntax)
        {
            case IntegerValue i:
                return random.NextInt64(i.Min, i.Max + 1).ToString(CultureInfo.InvariantCulture);
            case EnumValue e:
                return e.Values[random.Next(e.Values.Count)];
            default:
                var ok = Samples.Where(s => syntax.TryNormalize(s, out _, out _)).ToList();
                return ok.Count == 0 ? null : ok[random.Next(ok.Count)];
        }
    }
}
