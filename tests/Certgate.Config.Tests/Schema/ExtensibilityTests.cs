using Certgate.Config.Schema;
using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Config.Tests.Schema;

/// <summary>
/// Later hierarchies (<c>services ipsec-vpn</c>, <c>services service-set</c>, <c>interfaces</c>, <c>routing-options</c>)
/// are only declarations: this test-only schema gets parsing, writing, aliases, choices and a cross-reference check
/// without any engine change.
/// </summary>
public sealed class ExtensibilityTests
{
    private static ConfigSchema Schema()
    {
        var schema = new ConfigSchema();
        Certgate.Config.Pki.PkiSchema.Declare(schema);
        schema.Root
            .Container("services", s => s
                .Container("ipsec-vpn", v => v
                    .Container("ike", ike => ike
                        .List("policy", ValueSyntax.Identifier(32), p => p
                            .LeafList("proposals", ValueSyntax.Identifier(32))
                            .Leaf("local-certificate", ValueSyntax.ObjectName(32))
                            .Container("remote-id", r => r
                                .Flag("any-remote-id")
                                .LeafList("ipv4_addr", ValueSyntax.IpAddress(v6: false))
                                .LeafList("ipv6-addr", ValueSyntax.IpAddress(v4: false), aliases: "ipv6_addr")
                                .LeafList("key-id", ValueSyntax.String(1, 255), aliases: "key_id")
                                .Choice("any-remote-id", "ipv4_addr")))))
                .List("service-set", ValueSyntax.String(1, 63), ss => ss
                    .Container("ipsec-vpn-options", o => o
                        .Leaf("local-gateway", ValueSyntax.IpAddress())
                        .LeafList("trusted-ca", ValueSyntax.ObjectName(32))
                        .Flag("no-anti-replay")
                        .Leaf("anti-replay-window-size", ValueSyntax.Integer(64, 4096))
                        .Choice("no-anti-replay", "anti-replay-window-size"))))
            .Container("routing-options", r => r
                .Container("static", st => st
                    .List("route", ValueSyntax.Prefix(), rt => rt.Leaf("next-hop", ValueSyntax.String(1, 64)))));
        schema.AddCheck(root =>
            root.Find("services")?.Entries("service-set")
                .SelectMany(ss => ss.Find("ipsec-vpn-options", "trusted-ca")?.Values.Select(v => (ss, v)) ?? [])
                .Where(x => root.Find("security", "pki", "ca-profile", x.v) is null)
                .Select(x => new CommitError([.. x.ss.Path, "ipsec-vpn-options", "trusted-ca"], $"Referenced ca-profile {x.v} is not defined"))
                ?? []);
        return schema;
    }

    [Fact]
    public void DeclaredHierarchies_WorkEndToEnd()
    {
        ConfigSchema schema = Schema();
        ConfigNode root = ConfigText.ParseSet(schema, """
            set security pki ca-profile entrust
            set services ipsec-vpn ike policy ike-cert-pol proposals ike-cert
            set services ipsec-vpn ike policy ike-cert-pol local-certificate local-entrust2
            set services ipsec-vpn ike policy ike-cert-pol remote-id key_id abc
            set services ipsec-vpn ike policy ike-cert-pol remote-id ipv6_addr 2001:db8::2
            set services service-set ipsec-1 ipsec-vpn-options local-gateway 10.1.15.2
            set services service-set ipsec-1 ipsec-vpn-options trusted-ca [ entrust missing ]
            set services service-set ipsec-1 ipsec-vpn-options no-anti-replay
            set services service-set ipsec-1 ipsec-vpn-options anti-replay-window-size 128
            set routing-options static route 10.1.56.0/24 next-hop sp-1/2/0.1
            """);
        string curly = ConfigText.WriteCurly(root);
        Assert.Contains("key-id abc;", curly);
        Assert.Contains("ipv6-addr 2001:db8::2;", curly);
        Assert.Contains("route 10.1.56.0/24 {", curly);
        Assert.DoesNotContain("no-anti-replay", curly); // the choice replaced it
        Assert.True(root.StructurallyEquals(ConfigText.ParseCurly(schema, curly)));
        CommitError e = Assert.Single(schema.Check(root));
        Assert.Equal("[edit services service-set ipsec-1 ipsec-vpn-options trusted-ca]" + Environment.NewLine + "  'Referenced ca-profile missing is not defined'", e.ToString());
        Assert.Contains("is not an IP prefix", Assert.Throws<ConfigException>(() => ConfigText.ParseSet(schema, "set routing-options static route 10.1.56.0/33")).Message);
    }

    [Fact]
    public void SchemaDeclarationMistakes_AreArgumentErrors()
    {
        Statement root = Statement.CreateRoot();
        root.Leaf("x", ValueSyntax.Integer(1, 2));
        Assert.Throws<ArgumentException>("name", () => root.Leaf("x", ValueSyntax.Integer(1, 2)));
        Assert.Throws<ArgumentException>("defaultValue", () => root.Leaf("y", ValueSyntax.Integer(1, 2), "9"));
        Assert.Throws<ArgumentException>("name", () => root.Choice("x", "nope"));
        Assert.Throws<InvalidOperationException>(() => root["x"].Flag("z"));
    }
}
