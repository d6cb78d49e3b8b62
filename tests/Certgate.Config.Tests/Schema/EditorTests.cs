using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Config.Tests.Schema;

public sealed class EditorTests
{
    [Fact]
    public void Set_RangeError_NamesLevelValueAndRange()
    {
        ConfigNode root = Cfg.Empty();
        string m = Cfg.ErrorOf(() => Cfg.Set(root, "security pki ca-profile foo enrollment retry 2000"));
        Assert.Equal("syntax error at [edit security pki ca-profile foo enrollment] 'retry 2000': value 2000 is outside the range 0..1080", m);
    }

    [Fact]
    public void Set_FailedStatement_LeavesTreeAsItWasWhenUsedThroughSession_AndNoPartialLeaf()
    {
        ConfigNode root = Cfg.Empty();
        Assert.Throws<ConfigException>(() => Cfg.Set(root, "security pki ca-profile foo enrollment retry x"));
        // The editor created the levels before the bad value; the session works on a copy so nothing leaks (SessionTests).
        Assert.Null(root.Find("security", "pki", "ca-profile", "foo", "enrollment", "retry"));
    }

    [Fact]
    public void Set_NotANumber() =>
        Assert.Equal("syntax error at [edit security pki ca-profile foo enrollment] 'retry ten': 'ten' is not a number (expected an integer 0..1080)",
            Cfg.ErrorOf(() => Cfg.Set(Cfg.Empty(), "security pki ca-profile foo enrollment retry ten")));

    [Fact]
    public void Set_BadUrl_ListsSchemes() =>
        Assert.Equal("syntax error at [edit security pki ca-profile foo enrollment] 'url ftp://x': 'ftp://x' is not a URL (expected http://, https://)",
            Cfg.ErrorOf(() => Cfg.Set(Cfg.Empty(), "security pki ca-profile foo enrollment url ftp://x")));

    [Fact]
    public void Set_CrlUrlAcceptsLdap_EnrollmentDoesNot()
    {
        ConfigNode root = Cfg.Empty();
        Cfg.Set(root, "security pki ca-profile foo revocation-check crl url ldap://ldap.example.com/cn=crl");
        Assert.NotNull(root.Find("security", "pki", "ca-profile", "foo", "revocation-check", "crl", "url", "ldap://ldap.example.com/cn=crl"));
        Assert.Contains("expected http://, https://", Cfg.ErrorOf(() => Cfg.Set(root, "security pki ca-profile foo enrollment url ldap://x")));
    }

    [Fact]
    public void Set_UnknownKeyword_ListsValidKeywords() =>
        Assert.Equal("syntax error at [edit security pki] 'foo', expecting one of: ca-profile trusted-ca-group auto-re-enrollment trap allow-sha1-signatures traceoptions",
            Cfg.ErrorOf(() => Cfg.Set(Cfg.Empty(), "security pki foo")));

    [Fact]
    public void Set_UnknownTopLevel() =>
        Assert.Equal("syntax error at [edit] 'secuirty', expecting one of: security interfaces routing-instances routing-options protocols services", Cfg.ErrorOf(() => Cfg.Set(Cfg.Empty(), "secuirty pki")));

    [Fact]
    public void Set_MissingValue_SaysWhatIsExpected() =>
        Assert.Equal("syntax error at [edit security pki ca-profile foo] 'ca-identity': missing value (expected a string of 1..255 characters)",
            Cfg.ErrorOf(() => Cfg.Set(Cfg.Empty(), "security pki ca-profile foo ca-identity")));

    [Fact]
    public void Set_MissingListName() =>
        Assert.StartsWith("syntax error at [edit security pki] 'ca-profile': missing name (expected 1..32 characters without '/' '%' '.' space)",
            Cfg.ErrorOf(() => Cfg.Set(Cfg.Empty(), "security pki ca-profile")));

    [Theory]
    [InlineData("a/b", "must not contain '/'")]
    [InlineData("a%b", "must not contain '%'")]
    [InlineData("a.b", "must not contain '.'")]
    [InlineData("\"a b\"", "must not contain a space")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456", "has 33 characters (expected 1..32)")]
    public void CaProfileAndCertificateIdNames_FollowSection0(string name, string problem)
    {
        Assert.Contains(problem, Cfg.ErrorOf(() => Cfg.Set(Cfg.Empty(), $"security pki ca-profile {name}")));
        Assert.Contains(problem, Cfg.ErrorOf(() => Cfg.Set(Cfg.Empty(), $"security pki auto-re-enrollment certificate-id {name}")));
    }

    [Fact]
    public void TrustedCaGroupName_Allows63() 
    {
        ConfigNode root = Cfg.Empty();
        Cfg.Set(root, "security pki trusted-ca-group " + new string('g', 63));
        Assert.Contains("has 64 characters (expected 1..63)", Cfg.ErrorOf(() => Cfg.Set(root, "security pki trusted-ca-group " + new string('g', 64))));
    }

    [Theory]
    [InlineData("enrollment retry", 0, 1080)]
    [InlineData("enrollment retry-interval", 0, 3600)]
    [InlineData("revocation-check crl refresh-interval", 0, 8784)]
    public void Ranges_AcceptBoundsRejectOutside(string leaf, int min, int max)
    {
        ConfigNode root = Cfg.Empty();
        Cfg.Set(root, $"security pki ca-profile p {leaf} {min}");
        Cfg.Set(root, $"security pki ca-profile p {leaf} {max}");
        Assert.Contains($"value {max + 1} is outside the range {min}..{max}", Cfg.ErrorOf(() => Cfg.Set(root, $"security pki ca-profile p {leaf} {max + 1}")));
        Assert.Contains($"value {min - 1} is outside the range {min}..{max}", Cfg.ErrorOf(() => Cfg.Set(root, $"security pki ca-profile p {leaf} {min - 1}")));
    }

    [Fact]
    public void ReEnrollRanges()
    {
        ConfigNode root = Cfg.Empty();
        Assert.Contains("value 100 is outside the range 1..99", Cfg.ErrorOf(() => Cfg.Set(root, "security pki auto-re-enrollment certificate-id c re-enroll-trigger-time-percentage 100")));
        Assert.Contains("value 0 is outside the range 1..4095", Cfg.ErrorOf(() => Cfg.Set(root, "security pki auto-re-enrollment certificate-id c validity-period 0")));
        Assert.Contains("'aes' is not one of: des des3", Cfg.ErrorOf(() => Cfg.Set(root, "security pki auto-re-enrollment certificate-id c scep-encryption-algorithm aes")));
    }

    [Fact]
    public void Choice_SettingOneRemovesTheOthers()
    {
        ConfigNode root = Cfg.Empty();
        Cfg.Set(root, "security pki ca-profile p revocation-check use-crl");
        Cfg.Set(root, "security pki ca-profile p revocation-check crl refresh-interval 5");
        Cfg.Set(root, "security pki ca-profile p revocation-check disable");
        ConfigNode rc = root.Find("security", "pki", "ca-profile", "p", "revocation-check")!;
        Assert.Equal(["disable", "crl"], rc.Children.Select(c => c.Name));
        Cfg.Set(root, "security pki ca-profile p revocation-check use-ocsp");
        Assert.Equal(["use-ocsp", "crl"], rc.Children.Select(c => c.Name));
    }

    [Fact]
    public void Alias_CaProfileAcceptedRenderedAsCaProfileName()
    {
        ConfigNode root = Cfg.FromSet("set security pki auto-re-enrollment certificate-id gw1 ca-profile entrust");
        Assert.Equal("entrust", root.Find("security", "pki", "auto-re-enrollment", "certificate-id", "gw1")!.Leaf("ca-profile-name"));
        Assert.Contains("ca-profile-name entrust;", ConfigText.WriteCurly(root));
        ConfigNode fromCurly = ConfigText.ParseCurly(Cfg.Schema, "security { pki { auto-re-enrollment { certificate-id gw1 { ca-profile entrust; } } } }");
        Assert.True(root.StructurallyEquals(fromCurly));
    }

    [Fact]
    public void Alias_EMailAddress()
    {
        ConfigNode root = Cfg.FromSet("set security pki ca-profile p administrator e-mail-address admin@example.com");
        Assert.Equal("set security pki ca-profile p administrator email-address admin@example.com\n", ConfigText.WriteSet(root));
    }

    [Fact]
    public void LeafList_BracketsAppendsAndMax20()
    {
        ConfigNode root = Cfg.Empty();
        Cfg.Set(root, "security pki trusted-ca-group g ca-profiles [ a b ]");
        Cfg.Set(root, "security pki trusted-ca-group g ca-profiles c");
        Cfg.Set(root, "security pki trusted-ca-group g ca-profiles a");
        Assert.Equal(["a", "b", "c"], root.Find("security", "pki", "trusted-ca-group", "g", "ca-profiles")!.Values);
        string many = string.Join(' ', Enumerable.Range(0, 18).Select(i => "p" + i));
        Assert.Equal("error: [edit security pki trusted-ca-group g] 'ca-profiles': at most 20 values may be configured",
            Cfg.ErrorOf(() => Cfg.Set(root, $"security pki trusted-ca-group g ca-profiles [ {many} ]")));
        Assert.Equal(3, root.Find("security", "pki", "trusted-ca-group", "g", "ca-profiles")!.Values.Count);
    }

    [Fact]
    public void CrlUrls_AtMostThree()
    {
        ConfigNode root = Cfg.Empty();
        for (int i = 1; i <= 3; i++)
        {
            Cfg.Set(root, $"security pki ca-profile p revocation-check crl url http://crl{i}.example.com/c.crl");
        }
        Assert.Equal("error: [edit security pki ca-profile p revocation-check crl] 'url http://crl4.example.com/c.crl': at most 3 'url' entries may be configured",
            Cfg.ErrorOf(() => Cfg.Set(root, "security pki ca-profile p revocation-check crl url http://crl4.example.com/c.crl")));
        // Setting a child of an existing URL is not a new entry.
        Cfg.Set(root, "security pki ca-profile p revocation-check crl url http://crl2.example.com/c.crl password x");
    }

    [Fact]
    public void Lists_KeepUserOrder_ChildrenKeepSchemaOrder()
    {
        ConfigNode root = Cfg.FromSet(
            "set security pki traceoptions flag all",
            "set security pki ca-profile zeta enrollment url http://z.example.com/",
            "set security pki ca-profile alpha ca-identity a",
            "set security pki ca-profile zeta ca-identity z");
        ConfigNode pki = root.Find("security", "pki")!;
        Assert.Equal(["ca-profile", "ca-profile", "traceoptions"], pki.Children.Select(c => c.Name));
        Assert.Equal(["zeta", "alpha"], pki.Entries("ca-profile").Select(e => e.Key));
        Assert.Equal(["ca-identity", "enrollment"], pki.Entry("ca-profile", "zeta")!.Children.Select(c => c.Name));
    }

    [Fact]
    public void Delete_PrunesEmptyParents_KeepsPresenceAndListEntries()
    {
        ConfigNode root = Cfg.FromSet("set security pki ca-profile p enrollment retry 5");
        ConfigEditor.Delete(root, Cfg.Words("security pki ca-profile p enrollment retry"));
        ConfigNode? p = root.Find("security", "pki", "ca-profile", "p");
        Assert.NotNull(p);
        Assert.Empty(p.Children); // enrollment pruned, the entry stays
        ConfigEditor.Delete(root, Cfg.Words("security pki ca-profile p"));
        Assert.NotNull(root.Find("security", "pki")); // presence container stays
        Assert.Equal("set security pki\n", ConfigText.WriteSet(root));
        ConfigEditor.Delete(root, Cfg.Words("security pki"));
        Assert.Empty(root.Children); // security (not presence) pruned
    }

    [Fact]
    public void Delete_LeafWithValue_LeafListValue_Missing()
    {
        ConfigNode root = Cfg.FromSet("set security pki ca-profile p enrollment retry 5", "set security pki trusted-ca-group g ca-profiles [ a b ]");
        ConfigEditor.Delete(root, Cfg.Words("security pki ca-profile p enrollment retry 5"));
        ConfigEditor.Delete(root, Cfg.Words("security pki trusted-ca-group g ca-profiles a"));
        Assert.Equal(["b"], root.Find("security", "pki", "trusted-ca-group", "g", "ca-profiles")!.Values);
        Assert.Equal("warning: statement not found", Cfg.ErrorOf(() => ConfigEditor.Delete(root, Cfg.Words("security pki ca-profile nope"))));
        Assert.Equal("warning: statement not found", Cfg.ErrorOf(() => ConfigEditor.Delete(root, Cfg.Words("security pki trusted-ca-group g ca-profiles zz"))));
    }

    [Fact]
    public void Secret_StoredObfuscated_NeverInMessages()
    {
        ConfigNode root = Cfg.FromSet("set security pki auto-re-enrollment certificate-id c challenge-password \"s3cret pw\"");
        string stored = root.Find("security", "pki", "auto-re-enrollment", "certificate-id", "c", "challenge-password")!.Value!;
        Assert.StartsWith("$9$", stored);
        Assert.DoesNotContain("s3cret", ConfigText.WriteCurly(root));
        Assert.DoesNotContain("s3cret", ConfigText.WriteSet(root));
        Assert.Contains("challenge-password \"" + stored + "\"; ## SECRET-DATA", ConfigText.WriteCurly(root));
        // Re-entering the stored form keeps it as is.
        ConfigNode again = Cfg.FromSet(ConfigText.WriteSet(root));
        Assert.True(root.StructurallyEquals(again));
        string m = Cfg.ErrorOf(() => Cfg.Set(root, "security pki auto-re-enrollment certificate-id c challenge-password $9$!!!"));
        Assert.Equal("syntax error at [edit security pki auto-re-enrollment certificate-id c] 'challenge-password': the $9$ secret is damaged (expected the form shown by 'show')", m);
    }

    [Fact]
    public void Addresses_Normalized_AndChecked()
    {
        ConfigNode root = Cfg.FromSet("set security pki ca-profile p source-address 2001:DB8:0:0::1");
        Assert.Equal("2001:db8::1", root.Find("security", "pki", "ca-profile", "p", "source-address")!.Value);
        Assert.Contains("'10.0.0' is not an IPv4 or IPv6 address", Cfg.ErrorOf(() => Cfg.Set(root, "security pki ca-profile p source-address 10.0.0")));
    }

    [Fact]
    public void Canonicalize_ReplacesAliasesAndRejectsWordsBelowLeaf()
    {
        IReadOnlyList<string> path = ConfigEditor.Canonicalize(Cfg.Schema.Root, [], Cfg.Words("security pki auto-re-enrollment certificate-id x ca-profile"), out var last);
        Assert.Equal("security pki auto-re-enrollment certificate-id x ca-profile-name", string.Join(' ', path));
        Assert.Equal("ca-profile-name", last.Name);
        Assert.Contains("'ca-identity' has no statements below it", Cfg.ErrorOf(() => ConfigEditor.Canonicalize(Cfg.Schema.Root, [], Cfg.Words("security pki ca-profile p ca-identity x y"), out _)));
    }

    [Fact]
    public void Url_LengthLimit500() =>
        Assert.Contains("the URL has 501 characters (expected at most 500)",
            Cfg.ErrorOf(() => Cfg.Set(Cfg.Empty(), "security pki ca-profile p revocation-check ocsp url http://x.example.com/" + new string('a', 501 - "http://x.example.com/".Length))));
}
