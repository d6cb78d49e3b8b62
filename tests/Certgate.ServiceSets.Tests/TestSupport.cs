using Certgate.Config;
using Certgate.Config.Ipsec;
using Certgate.Config.Pki;
using Certgate.Config.Text;
using Certgate.Config.Tree;
using Certgate.ServiceSets.Plan;

namespace Certgate.ServiceSets.Tests;

internal static class Plans
{
    public static string Example(string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Examples", name)).ReplaceLineEndings("\n");

    public static string NextHop => Example("ipsec-next-hop.set");

    public static string Interface => Example("ipsec-interface.set");

    /// <summary>Parses set lines, insists that they pass the commit checks, and compiles them.</summary>
    public static ServiceSetPlan Compile(string text, params string[] more)
    {
        ConfigNode root = ConfigText.ParseSet(GatewaySchema.Instance, text);
        ConfigText.ApplySet(root, string.Join('\n', more));
        var errors = GatewaySchema.Instance.Check(root);
        Assert.True(errors.Count == 0, CommitCheckException.Format(errors));
        return ServiceSetCompiler.Compile(IpsecVpnConfiguration.From(root), PkiConfiguration.From(root));
    }
}
