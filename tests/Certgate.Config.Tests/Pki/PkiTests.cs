using Certgate.Config.Pki;
using Certgate.Config.Schema;
using Certgate.Config.Tree;

namespace Certgate.Config.Tests.Pki;

public sealed class PkiTests
{
    private static string Check(params string[] lines) =>
        CommitCheckException.Format(Cfg.Schema.Check(Cfg.FromSet(lines)));

    [Fact]
    public void Representative_PassesChecks() => Assert.Empty(Cfg.Schema.Check(Cfg.FromSet(Cfg.Representative)));

    [Fact]
    public void ReEnrollment_ProfileMustExist_Section6Message() =>
        Assert.Equal("""
            [edit security pki auto-re-enrollment certificate-id gw1 ca-profile-name]
              'Referenced ca-profile must be defined under [edit security pki ca-profile]'
            error: configuration check-out failed
            """.ReplaceLineEndings(), Check("set security pki auto-re-enrollment certificate-id gw1 ca-profile-name nope"));

    [Fact]
    public void ReEnrollment_ProfileNeedsEnrollmentUrl() =>
        Assert.Equal("""
            [edit security pki auto-re-enrollment scep certificate-id gw1 ca-profile-name]
              'Referenced ca-profile must have enrollment url configured under [edit security pki ca-profile ca1 enrollment url]'
            error: configuration check-out failed
            """.ReplaceLineEndings(), Check(
                "set security pki ca-profile ca1 ca-identity ca1",
                "set security pki auto-re-enrollment scep certificate-id gw1 ca-profile-name ca1"));

    [Fact]
    public void ReEnrollment_CaProfileNameMandatory() =>
        Assert.Contains("'Missing mandatory statement: 'ca-profile-name''", Check("set security pki auto-re-enrollment cmpv2 certificate-id gw1 re-generate-keypair"));

    [Fact]
    public void ReEnrollment_OneProtocolPerCertificateId() =>
        Assert.Contains("certificate-id gw1 is configured for auto-re-enrollment more than once (certificate-id, scep)", Check(
            "set security pki ca-profile ca1 enrollment url http://ca.example.com/",
            "set security pki auto-re-enrollment certificate-id gw1 ca-profile-name ca1",
            "set security pki auto-re-enrollment scep certificate-id gw1 ca-profile-name ca1"));

    [Fact]
    public void TrustedCaGroup_MembersMustExist() =>
        Assert.Contains("[edit security pki trusted-ca-group g ca-profiles]" + Environment.NewLine + "  'Referenced ca-profile 'b' must be defined under [edit security pki ca-profile]'",
            Check("set security pki ca-profile a", "set security pki trusted-ca-group g ca-profiles [ a b ]"));

    [Fact]
    public void TrapCaIdentity_MustExist() =>
        Assert.Contains("[edit security pki trap ca-identity zz]", Check("set security pki trap ca-identity zz days 5"));

    [Fact]
    public void UseOcsp_NeedsUrl() =>
        Assert.Contains("'use-ocsp requires at least one url under ocsp'", Check("set security pki ca-profile a revocation-check use-ocsp"));

    [Fact]
    public void CrlUrlLimit_AlsoCheckedAtCommit_ForHandEditedFiles()
    {
        // Files loaded through the parser hit the set-time limit; a tree built by a consumer is still checked at commit.
        ConfigNode root = Cfg.FromSet("set security pki ca-profile a revocation-check crl url http://1.example.com/");
        Assert.Empty(Cfg.Schema.Check(root));
        string text = "security { pki { ca-profile a { revocation-check { crl { url http://1.example.com/; url http://2.example.com/; url http://3.example.com/; url http://4.example.com/; } } } } }";
        Assert.Contains("at most 3 'url' entries", Assert.Throws<ConfigException>(() => Certgate.Config.Text.ConfigText.ParseCurly(Cfg.Schema, text)).Message);
    }

    [Fact]
    public void TypedView_DefaultsFromDesignDecisions()
    {
        PkiConfiguration pki = PkiConfiguration.From(Cfg.FromSet("set security pki ca-profile bare"));
        CaProfile p = Assert.Single(pki.CaProfiles);
        Assert.True(pki.IsConfigured);
        Assert.Equal(10, p.Retry);
        Assert.Equal(TimeSpan.FromSeconds(900), p.RetryInterval);
        Assert.Equal(TimeSpan.FromHours(24), p.RefreshInterval);
        Assert.Equal(RevocationCheck.Crl, p.Revocation);
        Assert.False(p.DisableOnDownloadFailure);
        Assert.Null(p.EnrollmentUrl);
        Assert.Empty(p.CrlUrls);
        Assert.Null(p.Ocsp);
    }

    [Fact]
    public void AllowSha1Signatures_IsOffByDefault_AndSetByItsStatement()
    {
        // Certgate extension (issue #14 §2): the legacy switch for SHA-1 signatures on peer certificates, CRLs and AUTH.
        Assert.False(PkiConfiguration.From(Cfg.FromSet("set security pki ca-profile bare")).AllowSha1Signatures);
        ConfigNode root = Cfg.FromSet("set security pki allow-sha1-signatures");
        Assert.Empty(Cfg.Schema.Check(root));
        Assert.True(PkiConfiguration.From(root).AllowSha1Signatures);
    }

    [Fact]
    public void TypedView_Representative()
    {
        PkiConfiguration pki = PkiConfiguration.From(Cfg.FromSet(Cfg.Representative));
        CaProfile e = pki.FindCaProfile("entrust")!;
        Assert.Equal("entrust", e.CaIdentity);
        Assert.Equal(new Uri("http://ca-1.example.com/cgi-bin/pkiclient.exe"), e.EnrollmentUrl);
        Assert.Equal(20, e.Retry);
        Assert.Equal(TimeSpan.FromSeconds(60), e.RetryInterval);
        Assert.Equal(TimeSpan.FromHours(12), e.RefreshInterval);
        Assert.True(e.DisableOnDownloadFailure);
        Assert.Equal(["ldap://ldap.example.com/ou=ca,o=example", "http://crl.example.com/entrust.crl"], e.CrlUrls.Select(u => u.Url.OriginalString));
        Assert.Equal("ldap-secret", e.CrlUrls[0].Password);
        Assert.Null(e.CrlUrls[1].Password);
        Assert.Equal("pki-admin@example.com", e.AdministratorEmail);

        CaProfile o = pki.FindCaProfile("ocsp-ca")!;
        Assert.Equal(RevocationCheck.Ocsp, o.Revocation);
        Assert.Equal(System.Net.IPAddress.Parse("192.0.2.1"), o.SourceAddress);
        Assert.Equal(true, o.Ocsp!.NoncePayload);
        Assert.Equal("fallback-crl", o.Ocsp.ConnectionFailure);
        Assert.Equal(RevocationCheck.Disabled, pki.FindCaProfile("offline")!.Revocation);

        Assert.Equal(["entrust", "ocsp-ca"], Assert.Single(pki.TrustedCaGroups).CaProfiles);
        Assert.Equal(["local-entrust2", "gw2"], pki.AutoReEnrollments.Select(a => a.CertificateId));
        AutoReEnrollment r = pki.AutoReEnrollments[0];
        Assert.Equal(ReEnrollmentProtocol.Scep, r.Protocol);
        Assert.Equal("entrust", r.CaProfileName);
        Assert.Equal("chall-1234", r.ChallengePassword);
        Assert.Equal(10, r.TriggerPercentage);
        Assert.True(r.ReGenerateKeyPair);
        Assert.Equal(365, r.ValidityPeriodDays);
        Assert.DoesNotContain("chall", r.ToString());
        Assert.Equal(ReEnrollmentProtocol.Cmpv2, pki.AutoReEnrollments[1].Protocol);
        Assert.Equal(["enrollment", "online-crl-check"], pki.TraceFlags);
        Assert.DoesNotContain("ldap-secret", e.CrlUrls[0].ToString());
    }

    [Fact]
    public void TypedView_Unconfigured()
    {
        PkiConfiguration pki = PkiConfiguration.From(Cfg.Empty());
        Assert.False(pki.IsConfigured);
        Assert.Empty(pki.CaProfiles);
        Assert.Throws<ArgumentNullException>("root", () => PkiConfiguration.From(null!));
    }

    [Fact]
    public void Schema_DefaultsMatchConstants()
    {
        Statement enrollment = Cfg.Schema.Root["security"]["pki"]["ca-profile"]["enrollment"];
        Assert.Equal("10", enrollment["retry"].Default);
        Assert.Equal("900", enrollment["retry-interval"].Default);
        Assert.Equal(3, Cfg.Schema.Root["security"]["pki"]["ca-profile"]["revocation-check"]["crl"]["url"].MaxElements);
    }
}
