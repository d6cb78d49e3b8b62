using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Config.Tests.Text;

public sealed class CompareTests
{
    [Fact]
    public void Equal_IsEmpty() =>
        Assert.Equal("", ConfigCompare.Compare(Cfg.FromSet(Cfg.Representative), Cfg.FromSet(Cfg.Representative)));

    [Fact]
    public void ChangedLeaf_AddedEntry_DeletedSubtree()
    {
        ConfigNode from = Cfg.FromSet(
            "set security pki ca-profile x ca-identity a",
            "set security pki ca-profile x enrollment url http://a.example.com/",
            "set security pki ca-profile old ca-identity o");
        ConfigNode to = Cfg.FromSet(
            "set security pki ca-profile x ca-identity b",
            "set security pki ca-profile x enrollment url http://a.example.com/",
            "set security pki ca-profile y ca-identity y",
            "set security pki ca-profile y enrollment retry 3");
        Assert.Equal("""
            [edit security pki]
            -  ca-profile old {
            -      ca-identity o;
            -  }
            [edit security pki ca-profile x]
            -  ca-identity a;
            +  ca-identity b;
            [edit security pki]
            +  ca-profile y {
            +      ca-identity y;
            +      enrollment {
            +          retry 3;
            +      }
            +  }

            """.ReplaceLineEndings("\n"), ConfigCompare.Compare(from, to));
    }

    [Fact]
    public void FromEmpty_ShowsWholeTreeUnderEdit()
    {
        string diff = ConfigCompare.Compare(Cfg.Empty(), Cfg.FromSet("set security pki"));
        Assert.Equal("[edit]\n+  security {\n+      pki;\n+  }\n", diff);
    }

    [Fact]
    public void LeafListChange()
    {
        string diff = ConfigCompare.Compare(
            Cfg.FromSet("set security pki trusted-ca-group g ca-profiles [ a b ]"),
            Cfg.FromSet("set security pki trusted-ca-group g ca-profiles [ a c ]"));
        Assert.Equal("[edit security pki trusted-ca-group g]\n-  ca-profiles [ a b ];\n+  ca-profiles [ a c ];\n", diff);
    }

    [Fact]
    public void SecretChange_ShowsOnlyObfuscatedForm()
    {
        string diff = ConfigCompare.Compare(
            Cfg.FromSet("set security pki auto-re-enrollment certificate-id c challenge-password one-secret"),
            Cfg.FromSet("set security pki auto-re-enrollment certificate-id c challenge-password two-secret"));
        Assert.DoesNotContain("one-secret", diff);
        Assert.DoesNotContain("two-secret", diff);
        Assert.Contains("## SECRET-DATA", diff);
    }
}
