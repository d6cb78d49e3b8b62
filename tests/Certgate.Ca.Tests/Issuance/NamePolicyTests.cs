using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Challenges;
using Certgate.Ca.Issuance;
using Certgate.Ca.Settings;
using Certgate.Ca.Storage;
using Certgate.Ca.Tests.Fixtures;
using Certgate.Pki.Revocation;

namespace Certgate.Ca.Tests.Issuance;

/// <summary>
/// The CA's name policy (issue #14 §1): profile patterns and ranges under an unbound challenge, the held-name rule,
/// names bound to a challenge, what is never issued, renewal within the old certificate's names, and CertPoll/GetCert
/// only for the key's holder. Every refusal message is asserted as the operator reads it.
/// </summary>
public sealed class NamePolicyTests
{
    // The test CA is "CN=Test CA,O=Certgate" (TestPki.CreateCa).
    private const string CaSubject = "CN=Test CA,O=Certgate";

    // Each request comes from its own address: the refusal audit writes the first refusal of an address and event
    // in full and counts the rest of that interval (limits.refusalAudit), and these tests read each reason there.
    private static int _lastHost;

    private static string NextRequester() => $"198.51.100.{Interlocked.Increment(ref _lastHost) % 250 + 1}";

    private static EnrollmentRequest Pkcs(byte[] csr, string? txid = null, X509Certificate2? signer = null) =>
        new(csr, txid ?? Guid.NewGuid().ToString("N"), EnrollmentMessageType.PkcsReq, signer, NextRequester());

    private static CaSettings WithNames(NamePolicy names, Func<CertificateProfile, CertificateProfile>? more = null)
    {
        var p = new CertificateProfile { Name = "default", ExtendedKeyUsages = [Oids.ServerAuth, Oids.ClientAuth], Names = names };
        return CaSettings.CreateDefault() with
        {
            Profiles = new Dictionary<string, CertificateProfile> { ["default"] = more is null ? p : more(p) },
        };
    }

    private static DnsNamePattern Pattern(string text) => DnsNamePattern.TryParse(text, out string? problem) ?? throw new ArgumentException(problem);

    private static IpRange Range(string text) => IpRange.TryParse(text, out string? problem) ?? throw new ArgumentException(problem);

    private static async Task<EnrollmentResult> EnrollAsync(TestAuthority t, ECDsa key, string subject, string[]? dns = null, string[]? ips = null,
        string[]? emails = null, NameBinding? binding = null, IEnumerable<X509Extension>? extra = null)
    {
        CreatedChallenge ch = await t.Ca.CreateChallengeAsync(TimeSpan.FromHours(1), null, "admin", binding);
        return await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(key, subject, ch.Password, dns, ips, emails, extraExtensions: extra)));
    }

    private static void Refused(EnrollmentResult r, string message)
    {
        Assert.Equal(EnrollmentStatus.Failed, r.Status);
        Assert.Equal(EnrollmentFailInfo.BadRequest, r.FailInfo);
        Assert.Equal(message, r.Message);
    }

    private static async Task AuditedAsync(TestAuthority t, string message) =>
        Assert.Contains(await t.Store.ReadAuditAsync(0, 1000), r => r.Entry.Event == "enrollment-refused" && (r.Entry.Detail ?? "").Contains(message, StringComparison.Ordinal));

    // ---------------- patterns and ranges ----------------

    [Theory]
    [InlineData("*.vpn.example.net", "gw1.vpn.example.net", true)]
    [InlineData("*.vpn.example.net", "GW1.VPN.Example.NET", true)]
    [InlineData("*.vpn.example.net", "vpn.example.net", false)]
    [InlineData("*.vpn.example.net", "a.gw1.vpn.example.net", false)]
    [InlineData("*.vpn.example.net", ".vpn.example.net", false)]
    [InlineData("*.vpn.example.net", "gw1.vpn.example.net.evil.com", false)]
    [InlineData("gw-*.example.net", "", false)]
    [InlineData("gw1.*.example.net", "gw1.site2.example.net", true)]
    [InlineData("gw1.example.net", "gw1.example.net", true)]
    [InlineData("gw1.example.net", "gw2.example.net", false)]
    public void DnsNamePattern_star_stands_for_exactly_one_label(string pattern, string name, bool expected)
    {
        DnsNamePattern? p = DnsNamePattern.TryParse(pattern, out string? problem);
        if (pattern.Contains("-*", StringComparison.Ordinal))
        {
            Assert.Null(p);
            Assert.Contains("one whole label", problem, StringComparison.Ordinal);
            return;
        }
        Assert.Equal(expected, p!.Matches(name));
    }

    [Fact]
    public void DnsNamePattern_matches_a_long_hostile_name_in_one_pass()
    {
        // 10,000 labels of "a": no backtracking, the walk stops at the first extra label.
        string hostile = string.Join('.', Enumerable.Repeat("a", 10_000));
        Assert.False(Pattern("*.*.*.example.net").Matches(hostile));
        Assert.False(Pattern("*.vpn.example.net").Matches(hostile + ".vpn.example.net"));
    }

    [Fact]
    public void IpRange_holds_its_family_only_and_refuses_host_bits()
    {
        IpRange v4 = Range("192.0.2.0/24");
        Assert.True(v4.Contains(IPAddress.Parse("192.0.2.200")));
        Assert.False(v4.Contains(IPAddress.Parse("192.0.3.1")));
        Assert.False(v4.Contains(IPAddress.Parse("::ffff:192.0.2.1")));
        IpRange v6 = Range("2001:db8:5::/48");
        Assert.True(v6.Contains(IPAddress.Parse("2001:db8:5:1::7")));
        Assert.False(v6.Contains(IPAddress.Parse("2001:db8:6::1")));
        Assert.True(Range("10.0.0.0/9").Contains(IPAddress.Parse("10.127.255.255")));
        Assert.False(Range("10.0.0.0/9").Contains(IPAddress.Parse("10.128.0.0")));
        Assert.True(Range("198.51.100.7").Contains(IPAddress.Parse("198.51.100.7")));
        Assert.Null(IpRange.TryParse("10.0.0.1/24", out string? p1));
        Assert.Equal("10.0.0.1/24 has host bits set; the network is 10.0.0.0/24", p1);
        Assert.Null(IpRange.TryParse("10.0.0.0/33", out string? p2));
        Assert.Equal("prefix length '33': expected 0 to 32", p2);
        Assert.Null(IpRange.TryParse("10.1/8", out _));
    }

    // ---------------- settings ----------------

    private static string ProfileText(string names) => $$"""
        { "profiles": { "gw": { "names": {{names}} } } }
        """;

    [Theory]
    [InlineData("""{ "dns": ["gw*.example.net"] }""", "ca.json: profiles.gw.names.dns 'gw*.example.net': '*' stands for one whole label (as in *.vpn.example.net), not part of one ('gw*')")]
    [InlineData("""{ "ip": ["10.0.0.1/24"] }""", "ca.json: profiles.gw.names.ip '10.0.0.1/24': 10.0.0.1/24 has host bits set; the network is 10.0.0.0/24")]
    [InlineData("""{ "ip": ["vpn"] }""", "ca.json: profiles.gw.names.ip 'vpn': expected an IPv4 or IPv6 range such as 192.0.2.0/24 or 2001:db8::/48")]
    [InlineData("""{ "email": ["exa mple.net"] }""", "ca.json: profiles.gw.names.email 'exa mple.net': label 'exa mple' is not a DNS label (letters, digits and hyphens, 1 to 63)")]
    [InlineData("""{ "subject": { "require": { "X": "1" } } }""", "ca.json: profiles.gw.names.subject.require 'X': expected one of O, OU, C, L, ST, DC")]
    [InlineData("""{ "subject": { "cn": ["*.*."] } }""", "ca.json: profiles.gw.names.subject.cn '*.*.': label '' is not a DNS label (letters, digits and hyphens, 1 to 63)")]
    [InlineData("""{ "hosts": [] }""", "ca.json: unknown setting 'profiles.gw.names.hosts' (known: subject, dns, ip, email)")]
    public void Settings_refuse_bad_names_naming_the_profile_and_field(string names, string message)
    {
        CaSettingsException e = Assert.Throws<CaSettingsException>(() => CaSettingsFile.Parse(ProfileText(names), "ca.json"));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void Settings_read_names_and_grace_once()
    {
        CaSettings s = CaSettingsFile.Parse("""
            { "profiles": { "gw": { "supersededGraceHours": 2, "names": {
                "subject": { "require": { "o": "Example", "C": "US" }, "cn": ["*.vpn.example.net"] },
                "dns": ["*.vpn.example.net"], "ip": ["192.0.2.0/24", "2001:db8::/32"], "email": ["example.net"] } } } }
            """, "ca.json");
        CertificateProfile p = s.GetProfile("gw");
        Assert.Equal(TimeSpan.FromHours(2), p.SupersededGrace);
        Assert.Equal("Example", p.Names.RequiredSubject["O"]);
        Assert.Equal(["192.0.2.0/24", "2001:db8::/32"], p.Names.IpRanges.Select(r => r.Text));
        Assert.Equal("*.vpn.example.net", Assert.Single(p.Names.DnsNames).Text);
        CaSettingsException e = Assert.Throws<CaSettingsException>(() => CaSettingsFile.Parse("""{ "profiles": { "gw": { "renewalSubjectMustMatch": false } } }""", "ca.json"));
        Assert.StartsWith("ca.json: profiles.gw.renewalSubjectMustMatch: false is no longer allowed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ca_init_text_requires_the_CA_subjects_O_and_C_and_documents_every_new_setting()
    {
        string text = CaSettingsFile.DefaultTextFor(new X500DistinguishedName("CN=Example VPN CA,O=Example,C=US"));
        CertificateProfile p = CaSettingsFile.Parse(text, "ca.json").GetProfile(null);
        Assert.Equal(2, p.Names.RequiredSubject.Count);
        Assert.Equal(("Example", "US"), (p.Names.RequiredSubject["O"], p.Names.RequiredSubject["C"]));
        Assert.Empty(p.Names.IpRanges);
        Assert.Empty(p.Names.EmailDomains);
        Assert.Equal(TimeSpan.FromHours(24), p.SupersededGrace);
        foreach (string documented in new[] { "supersededGraceHours", "names ", "subject.require", "subject.cn", "dns ", "ip ", "email ", "exactly ONE whole label" })
        {
            Assert.Contains(documented, text, StringComparison.Ordinal);
        }
        // No O in the CA's subject: nothing to require.
        Assert.Empty(CaSettingsFile.Parse(CaSettingsFile.DefaultTextFor(new X500DistinguishedName("CN=Lab CA")), "ca.json").GetProfile(null).Names.RequiredSubject);
    }

    // ---------------- the attack from the issue ----------------

    [Fact]
    public async Task Attack_CaOwnSubject_WithAnotherGatewaysFqdnAndAddress_UnboundChallenge_IsRefused()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync(WithNames(new NamePolicy { RequiredSubject = new Dictionary<string, string> { ["O"] = "Certgate" } }));
        using ECDsa gw2 = TestPki.NewEcKey(), attacker = TestPki.NewEcKey();
        // gw2 enrolled with a challenge bound to its names (as the tutorial now does).
        EnrollmentResult legit = await EnrollAsync(t, gw2, "CN=gw2.example.net,O=Certgate", ["gw2.example.net"], ["192.0.2.2"],
            binding: NameBinding.Create("CN=gw2.example.net,O=Certgate", ["gw2.example.net"], ["192.0.2.2"], null));
        Assert.Equal(EnrollmentStatus.Issued, legit.Status);
        string gw2Serial = "0x" + legit.Certificate!.SerialNumber;

        // The attack as found: the CA's own DN with gw2's FQDN and address, one valid (unbound) challenge.
        CreatedChallenge ch = await t.Ca.CreateChallengeAsync(TimeSpan.FromHours(1), null, "admin");
        Refused(await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(attacker, CaSubject, ch.Password, ["gw2.example.net"], ["192.0.2.2"]))),
            "subject CN=Test CA, O=Certgate is the CA's own subject");
        // Each name on its own is refused too, with its own reason.
        Refused(await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(attacker, "CN=evil,O=Certgate", ch.Password, ["gw2.example.net"]))),
            $"DNS name gw2.example.net is held by certificate serial {gw2Serial} (CN=gw2.example.net, O=Certgate); revoke it first, or bind a challenge to the name (certgate ca challenge)");
        Refused(await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(attacker, "CN=gw2.example.net,O=Certgate", ch.Password))),
            $"CN gw2.example.net is held by certificate serial {gw2Serial} (CN=gw2.example.net, O=Certgate); revoke it first, or bind a challenge to the name (certgate ca challenge)");
        Refused(await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(attacker, "CN=evil,O=Certgate", ch.Password, ips: ["192.0.2.2"]))),
            "IP address 192.0.2.2 needs a challenge bound to it (certgate ca challenge --ip 192.0.2.2): profile 'default' allows no IP address under an unbound challenge");
        await AuditedAsync(t, "is the CA's own subject");
        await AuditedAsync(t, "DNS name gw2.example.net is held by certificate serial");
        Assert.Single(await t.Store.ListCertificatesAsync(0, 10));

        // The challenge was not burned by the refusals: the attacker's own name still works.
        Assert.Equal(EnrollmentStatus.Issued, (await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(attacker, "CN=gw3.example.net,O=Certgate", ch.Password, ["gw3.example.net"])))).Status);
    }

    // ---------------- the profile's policy (unbound challenge) ----------------

    [Fact]
    public async Task Unbound_dns_names_must_match_the_profiles_patterns()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync(WithNames(new NamePolicy { DnsNames = [Pattern("*.vpn.example.net")] }));
        using ECDsa k = TestPki.NewEcKey();
        EnrollmentResult evil = await EnrollAsync(t, k, "CN=gw1,O=Example", ["evil.example.com"]);
        Refused(evil, "DNS name evil.example.com is outside the profile's allowed names *.vpn.example.net (profile 'default')");
        await AuditedAsync(t, "DNS name evil.example.com is outside the profile's allowed names *.vpn.example.net");
        Refused(await EnrollAsync(t, k, "CN=gw1,O=Example", ["a.gw1.vpn.example.net"]),
            "DNS name a.gw1.vpn.example.net is outside the profile's allowed names *.vpn.example.net (profile 'default')");
        Refused(await EnrollAsync(t, k, "CN=gw1,O=Example", ["*.vpn.example.net"]),
            "DNS name *.vpn.example.net is a wildcard; only a challenge bound to it (certgate ca challenge --dns '*.vpn.example.net') allows one");
        Assert.Equal(EnrollmentStatus.Issued, (await EnrollAsync(t, k, "CN=gw1,O=Example", ["gw1.vpn.example.net"])).Status);
    }

    [Fact]
    public async Task Unbound_subject_must_carry_the_required_values_and_a_matching_cn()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync(WithNames(new NamePolicy
        {
            RequiredSubject = new Dictionary<string, string> { ["O"] = "Example", ["C"] = "US" },
            CommonNames = [Pattern("*.vpn.example.net")],
        }));
        using ECDsa k = TestPki.NewEcKey();
        Refused(await EnrollAsync(t, k, "CN=gw1.vpn.example.net,C=US"), "subject CN=gw1.vpn.example.net, C=US lacks O=Example, which profile 'default' requires");
        Refused(await EnrollAsync(t, k, "CN=gw1.vpn.example.net,O=Evil,C=US"), "subject CN=gw1.vpn.example.net, O=Evil, C=US has O=Evil; profile 'default' requires O=Example");
        Refused(await EnrollAsync(t, k, "CN=gw1.vpn.example.net,O=Example,O=Evil,C=US"), "subject CN=gw1.vpn.example.net, O=Example, O=Evil, C=US has O=Evil; profile 'default' requires O=Example");
        Refused(await EnrollAsync(t, k, "CN=admin,O=Example,C=US"), "CN admin is outside the profile's allowed common names *.vpn.example.net (profile 'default')");
        Assert.Equal(EnrollmentStatus.Issued, (await EnrollAsync(t, k, "CN=gw1.vpn.example.net,OU=VPN,O=example,C=US")).Status);
    }

    [Fact]
    public async Task Unbound_ip_and_email_only_within_the_profiles_ranges_and_domains()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync(WithNames(new NamePolicy
        {
            IpRanges = [Range("192.0.2.0/24"), Range("2001:db8:5::/48")],
            EmailDomains = [Pattern("example.net")],
        }));
        using ECDsa k = TestPki.NewEcKey();
        Refused(await EnrollAsync(t, k, "CN=gw1", ips: ["198.51.100.1"]), "IP address 198.51.100.1 is outside the profile's allowed ranges 192.0.2.0/24, 2001:db8:5::/48 (profile 'default')");
        Refused(await EnrollAsync(t, k, "CN=gw1", ips: ["2001:db8:6::1"]), "IP address 2001:db8:6::1 is outside the profile's allowed ranges 192.0.2.0/24, 2001:db8:5::/48 (profile 'default')");
        Refused(await EnrollAsync(t, k, "CN=gw1", emails: ["vpn@evil.example"]), "e-mail address vpn@evil.example is outside the profile's allowed domains example.net (profile 'default')");
        EnrollmentResult ok = await EnrollAsync(t, k, "CN=gw1", ips: ["192.0.2.1", "2001:db8:5::1"], emails: ["vpn@Example.NET"]);
        Assert.Equal(EnrollmentStatus.Issued, ok.Status);

        // Within the range, another key's address is still refused (held-name rule).
        using ECDsa other = TestPki.NewEcKey();
        Refused(await EnrollAsync(t, other, "CN=gw2", ips: ["192.0.2.1"]),
            $"IP address 192.0.2.1 is held by certificate serial 0x{ok.Certificate!.SerialNumber} (CN=gw1); revoke it first, or bind a challenge to the name (certgate ca challenge)");
    }

    [Fact]
    public async Task Default_profile_refuses_unbound_email()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        using ECDsa k = TestPki.NewEcKey();
        Refused(await EnrollAsync(t, k, "CN=gw1", emails: ["vpn@example.net"]),
            "e-mail address vpn@example.net needs a challenge bound to it (certgate ca challenge --email vpn@example.net): profile 'default' allows no e-mail address under an unbound challenge");
    }

    [Fact]
    public async Task Held_names_belong_to_their_key_until_revoked_or_expired()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        using ECDsa k1 = TestPki.NewEcKey(), k2 = TestPki.NewEcKey();
        EnrollmentResult first = await EnrollAsync(t, k1, "CN=gw1.example.net,O=Example", ["gw1.example.net"]);
        Assert.Equal(EnrollmentStatus.Issued, first.Status);
        t.Clock.Advance(TimeSpan.FromMinutes(1));
        // The same key may enroll its names again (a gateway that lost its certificate but kept its key).
        Assert.Equal(EnrollmentStatus.Issued, (await EnrollAsync(t, k1, "CN=gw1.example.net,O=Example", ["gw1.example.net"])).Status);
        // A DNS name equal to another certificate's CN is that name too.
        Refused(await EnrollAsync(t, k2, "CN=other,O=Example", ["GW1.example.net"]),
            $"DNS name gw1.example.net is held by certificate serial 0x{first.Certificate!.SerialNumber} (CN=gw1.example.net, O=Example); revoke it first, or bind a challenge to the name (certgate ca challenge)");
        foreach (CertificateRecord c in await t.Store.ListCertificatesAsync(0, 10))
        {
            await t.Ca.RevokeAsync(c.Serial, CrlReason.cessationOfOperation, "admin");
        }
        Assert.Equal(EnrollmentStatus.Issued, (await EnrollAsync(t, k2, "CN=gw1.example.net,O=Example", ["gw1.example.net"])).Status);
    }

    // ---------------- bound challenges ----------------

    [Fact]
    public async Task Bound_challenge_allows_exactly_its_names_even_outside_the_profile()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync(WithNames(new NamePolicy { DnsNames = [Pattern("*.vpn.example.net")] }));
        using ECDsa k = TestPki.NewEcKey();
        NameBinding b = NameBinding.Create("CN=gw1.example.net,OU=VPN,O=Example", ["gw1.example.net", "*.lab.example.net"], ["10.99.0.1", "2001:DB8::1"], ["vpn@Example.net"]);
        Assert.Equal("subject CN=gw1.example.net,OU=VPN,O=Example; dns gw1.example.net, *.lab.example.net; ip 10.99.0.1, 2001:db8::1; email vpn@example.net", b.Describe());

        CreatedChallenge ch = await t.Ca.CreateChallengeAsync(TimeSpan.FromHours(1), null, "admin", b);
        string id = ch.Id;
        Assert.Equal(b, ch.Binding);
        Refused(await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k, "CN=gw1.example.net,O=Example", ch.Password))),
            $"subject CN=gw1.example.net, O=Example is not the subject challenge {id} binds (CN=gw1.example.net,OU=VPN,O=Example)");
        Refused(await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k, "CN=gw1.example.net,OU=VPN,O=Example", ch.Password, ["gw2.example.net"]))),
            $"DNS name gw2.example.net is not among the names challenge {id} binds ({b.Describe()})");
        Refused(await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k, "CN=gw1.example.net,OU=VPN,O=Example", ch.Password, ips: ["10.99.0.2"]))),
            $"IP address 10.99.0.2 is not among the names challenge {id} binds ({b.Describe()})");
        Refused(await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k, "CN=gw1.example.net,OU=VPN,O=Example", ch.Password, emails: ["root@example.net"]))),
            $"e-mail address root@example.net is not among the names challenge {id} binds ({b.Describe()})");

        // A subset, in another case and spelling, outside the profile's DNS pattern and with an IP: the operator named them.
        EnrollmentResult ok = await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(k, "CN=GW1.example.net,OU=VPN,O=Example", ch.Password,
            ["GW1.example.net", "*.lab.example.net"], ["2001:db8:0::1", "10.99.0.1"], ["vpn@EXAMPLE.net"])));
        Assert.Equal(EnrollmentStatus.Issued, ok.Status);
        Assert.Contains(await t.Store.ReadAuditAsync(0, 1000), r => r.Entry.Event == "challenge-created" && (r.Entry.Detail ?? "").EndsWith("bound to " + b.Describe(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bound_challenge_without_a_subject_keeps_the_subject_policy_and_the_held_cn_rule()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync(WithNames(new NamePolicy { RequiredSubject = new Dictionary<string, string> { ["O"] = "Example" } }));
        using ECDsa k1 = TestPki.NewEcKey(), k2 = TestPki.NewEcKey();
        EnrollmentResult gw1 = await EnrollAsync(t, k1, "CN=gw1,O=Example");
        NameBinding ip = NameBinding.Create(null, null, ["10.99.0.2"], null);
        Refused(await EnrollAsync(t, k2, "CN=gw2,O=Other", ips: ["10.99.0.2"], binding: ip), "subject CN=gw2, O=Other has O=Other; profile 'default' requires O=Example");
        Refused(await EnrollAsync(t, k2, "CN=gw1,O=Example", ips: ["10.99.0.2"], binding: ip),
            $"CN gw1 is held by certificate serial 0x{gw1.Certificate!.SerialNumber} (CN=gw1, O=Example); revoke it first, or bind a challenge to the name (certgate ca challenge)");
        Assert.Equal(EnrollmentStatus.Issued, (await EnrollAsync(t, k2, "CN=gw2,O=Example", ips: ["10.99.0.2"], binding: ip)).Status);
    }

    [Theory]
    [InlineData("not a dn", null, null, null, "--subject 'not a dn': not a distinguished name")]
    [InlineData(null, "gw*.example.net", null, null, "--dns 'gw*.example.net': not a DNS name")]
    [InlineData(null, "a.*.example.net", null, null, "--dns 'a.*.example.net': not a DNS name")]
    [InlineData(null, null, "10.0.0", null, "--ip '10.0.0': not an IPv4 or IPv6 address")]
    [InlineData(null, null, null, "nobody", "--email 'nobody': not an e-mail address (local@domain)")]
    public void Binding_refuses_malformed_names_naming_the_option(string? subject, string? dns, string? ip, string? email, string message)
    {
        ArgumentException e = Assert.ThrowsAny<ArgumentException>(() => NameBinding.Create(subject, dns is null ? null : [dns], ip is null ? null : [ip], email is null ? null : [email]));
        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
        Assert.Contains("at most 32 names", Assert.ThrowsAny<ArgumentException>(() => NameBinding.Create(null, Enumerable.Range(0, 33).Select(i => $"gw{i}.example.net"), null, null)).Message, StringComparison.Ordinal);
    }

    // ---------------- never issued ----------------

    [Fact]
    public async Task Ca_and_ra_subjects_and_common_names_are_never_issued_even_under_a_bound_challenge()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync(CaSettings.CreateDefault() with { Ra = new RaSettings("CN=Certgate RA,O=Certgate", "rsa:2048", 30) });
        using ECDsa k = TestPki.NewEcKey();
        Refused(await EnrollAsync(t, k, "CN=Test CA,O=Certgate", binding: NameBinding.Create("CN=Test CA,O=Certgate", null, null, null)),
            "subject CN=Test CA, O=Certgate is the CA's own subject");
        Refused(await EnrollAsync(t, k, "O=Certgate,CN=test ca"), "subject O=Certgate, CN=test ca is the CA's own subject"); // any order, any case
        Refused(await EnrollAsync(t, k, "CN=test ca,OU=VPN,O=Certgate"), "subject CN=test ca, OU=VPN, O=Certgate uses the CA's own common name Test CA");
        Refused(await EnrollAsync(t, k, "CN=Certgate RA,O=Certgate"), "subject CN=Certgate RA, O=Certgate is the RA's own subject");
        Refused(await EnrollAsync(t, k, "CN=Certgate RA,O=Other"), "subject CN=Certgate RA, O=Other uses the RA's own common name Certgate RA");
        // Nor by an operator's own signing.
        var context = new IssuanceContext(ParsedCsr.Parse(TestPki.Csr(k, CaSubject)), t.Ca.Settings.GetProfile(null), t.Ca.Settings, t.Ca.Certificate,
            t.Clock.GetUtcNow(), IssuanceKind.Initial, "file", null, NameGrant.Operator);
        Assert.Equal("subject CN=Test CA, O=Certgate is the CA's own subject", Assert.Throws<IssuanceRefusedException>(() => t.Ca.Pipeline.BuildTemplate(context)).Message);
    }

    [Fact]
    public async Task A_request_for_ca_true_or_more_usages_gets_the_profiles_end_entity_certificate()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        using ECDsa k = TestPki.NewEcKey();
        EnrollmentResult r = await EnrollAsync(t, k, "CN=gw1", extra:
        [
            new X509BasicConstraintsExtension(true, true, 3, true),
            new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true),
            new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.3"), new Oid("1.3.6.1.5.5.7.3.4")], false),
        ]);
        X509Certificate2 c = r.Certificate!;
        Assert.False(c.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Equal(X509KeyUsageFlags.DigitalSignature, c.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages);
        Assert.Equal([Oids.ServerAuth, Oids.ClientAuth, Oids.IkeIntermediate],
            c.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value));
    }

    [Fact]
    public async Task Usage_enforcer_refuses_a_template_beyond_the_profile()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        using ECDsa k = TestPki.NewEcKey();
        var context = new IssuanceContext(ParsedCsr.Parse(TestPki.Csr(k)), t.Ca.Settings.GetProfile(null), t.Ca.Settings, t.Ca.Certificate, t.Clock.GetUtcNow(), IssuanceKind.Initial, "x", null);
        CertificateTemplate template = new IssuancePipeline().BuildTemplate(context);
        template.Extensions.RemoveAll(e => e is X509KeyUsageExtension);
        template.Extensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        Assert.Contains("keyUsage KeyCertSign, beyond profile 'default'", Assert.Throws<InvalidOperationException>(() => new UsageEnforcer().Enforce(template, context)).Message, StringComparison.Ordinal);
        template.Extensions.RemoveAll(e => e is X509KeyUsageExtension);
        template.Extensions.RemoveAll(e => e is X509EnhancedKeyUsageExtension);
        template.Extensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.3")], false));
        Assert.Contains("extendedKeyUsage 1.3.6.1.5.5.7.3.3, beyond profile 'default'", Assert.Throws<InvalidOperationException>(() => new UsageEnforcer().Enforce(template, context)).Message, StringComparison.Ordinal);
        template.Extensions.RemoveAll(e => e is X509EnhancedKeyUsageExtension || e is X509BasicConstraintsExtension);
        template.Extensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        Assert.Contains("cA=TRUE", Assert.Throws<InvalidOperationException>(() => new UsageEnforcer().Enforce(template, context)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_request_with_more_than_32_names_is_refused_before_any_policy()
    {
        using ECDsa k = TestPki.NewEcKey();
        IssuanceRefusedException e = Assert.Throws<IssuanceRefusedException>(() => ParsedCsr.Parse(TestPki.Csr(k, dns: Enumerable.Range(0, 33).Select(i => $"gw{i}.example.net"))));
        Assert.Equal("the request asks for more than 32 subjectAltNames", e.Message);
    }

    // ---------------- renewal ----------------

    private static EnrollmentRequest Renewal(byte[] csr, X509Certificate2 signer, string? txid = null) =>
        new(csr, txid ?? Guid.NewGuid().ToString("N"), EnrollmentMessageType.RenewalReq, signer, NextRequester());

    [Fact]
    public async Task Renewal_asks_only_for_the_old_certificates_names_and_renews_once()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        using ECDsa oldKey = TestPki.NewEcKey(), newKey = TestPki.NewEcKey(), thirdKey = TestPki.NewEcKey();
        const string subject = "CN=gw1.example.net,O=Example";
        X509Certificate2 old = (await EnrollAsync(t, oldKey, subject, ["gw1.example.net", "gw1-alt.example.net"], ["10.99.0.1"],
            binding: NameBinding.Create(subject, ["gw1.example.net", "gw1-alt.example.net"], ["10.99.0.1"], null))).Certificate!;
        string serial = "0x" + old.SerialNumber;

        Refused(await t.Ca.EnrollAsync(Renewal(TestPki.Csr(newKey, subject, dns: ["gw1.example.net", "gw2.example.net"]), old)),
            $"renewal asks for DNS name gw2.example.net, which certificate serial {serial} does not carry");
        Refused(await t.Ca.EnrollAsync(Renewal(TestPki.Csr(newKey, subject, ips: ["10.99.0.2"]), old)),
            $"renewal asks for IP address 10.99.0.2, which certificate serial {serial} does not carry");
        Refused(await t.Ca.EnrollAsync(Renewal(TestPki.Csr(newKey, "CN=gw2.example.net,O=Example", dns: ["gw1.example.net"]), old)),
            $"renewal asks for subject CN=gw2.example.net, O=Example but certificate serial {serial} is for CN=gw1.example.net, O=Example");
        // Refusals released the claim: a renewal within the names (a subset, another encoding of the subject) works.
        EnrollmentResult renewed = await t.Ca.EnrollAsync(Renewal(TestPki.Csr(newKey, "CN=GW1.example.net, O=Example", dns: ["gw1.example.net"], ips: ["10.99.0.1"]), old));
        Assert.Equal(EnrollmentStatus.Issued, renewed.Status);
        CertificateRecord oldRecord = (await t.Store.GetCertificateAsync(old.SerialNumber))!;
        Assert.Equal(renewed.Certificate!.SerialNumber, oldRecord.Successor);

        // The old certificate renews no more — also not as a Cisco-style PKCSReq.
        string again = $"certificate serial {serial} already has a successor (serial 0x{renewed.Certificate.SerialNumber}); it cannot renew again";
        Refused(await t.Ca.EnrollAsync(Renewal(TestPki.Csr(thirdKey, subject, dns: ["gw1.example.net"]), old)), again);
        Refused(await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(thirdKey, subject, dns: ["gw1.example.net"]), signer: old)), again);
        await AuditedAsync(t, "already has a successor");
        // The successor renews in its turn.
        Assert.Equal(EnrollmentStatus.Issued, (await t.Ca.EnrollAsync(Renewal(TestPki.Csr(thirdKey, subject, dns: ["gw1.example.net"]), renewed.Certificate))).Status);
    }

    [Fact]
    public async Task Superseded_certificate_is_revoked_after_the_grace_period_with_reason_superseded()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync(WithNames(NamePolicy.Default, p => p with { SupersededGrace = TimeSpan.FromHours(2) }));
        using ECDsa oldKey = TestPki.NewEcKey(), newKey = TestPki.NewEcKey();
        X509Certificate2 old = (await EnrollAsync(t, oldKey, "CN=gw1")).Certificate!;
        EnrollmentResult renewed = await t.Ca.EnrollAsync(Renewal(TestPki.Csr(newKey, "CN=gw1"), old, "renew-1"));

        // Within the grace period the gateway may fetch its new certificate again with the old one (install failed).
        t.Clock.Advance(TimeSpan.FromHours(1));
        await t.Ca.GetCurrentCrlAsync("test");
        Assert.False((await t.Store.GetCertificateAsync(old.SerialNumber))!.IsRevoked);
        Assert.Equal(EnrollmentStatus.Issued, (await t.Ca.PollAsync("renew-1", old, "192.0.2.7")).Status);
        Assert.Equal(renewed.Certificate!.RawData, (await t.Ca.GetCertificateForHolderAsync(renewed.Certificate.SerialNumber, old, "192.0.2.7")).Certificate!.RawData);

        t.Clock.Advance(TimeSpan.FromHours(1.5));
        CrlRecord crl = await t.Ca.GetCurrentCrlAsync("test");
        CertificateRecord revoked = (await t.Store.GetCertificateAsync(old.SerialNumber))!;
        Assert.Equal(CrlReason.superseded, revoked.RevocationReason);
        Assert.Contains((await t.Store.ListRevokedAsync()), e => e.SerialNumberHex == old.SerialNumber && e.Reason == CrlReason.superseded);
        Assert.False((await t.Store.GetCertificateAsync(renewed.Certificate.SerialNumber))!.IsRevoked);
    }

    // ---------------- CertPoll and GetCert: the key's holder only ----------------

    [Fact]
    public async Task CertPoll_and_GetCert_answer_only_the_holder_of_the_key()
    {
        var settings = CaSettings.CreateDefault() with
        {
            Profiles = new Dictionary<string, CertificateProfile> { ["default"] = new() { Name = "default", Approval = ApprovalMode.Manual } },
        };
        await using TestAuthority t = await TestAuthority.CreateAsync(settings);
        using ECDsa holder = TestPki.NewEcKey(), stranger = TestPki.NewEcKey();
        X509Certificate2 holderSigner = TestPki.SelfSigned(holder, "CN=gw1", t.Clock.GetUtcNow());
        X509Certificate2 strangerSigner = TestPki.SelfSigned(stranger, "CN=gw1", t.Clock.GetUtcNow());
        Assert.Equal(EnrollmentStatus.Pending, (await t.Ca.EnrollAsync(Pkcs(TestPki.Csr(holder, "CN=gw1"), "pending-1", holderSigner))).Status);

        Refused(await t.Ca.PollAsync("pending-1", strangerSigner, "192.0.2.66"), "CertPoll for transactionID pending-1 is not signed by the key of its request");
        Refused(await t.Ca.PollAsync("pending-1", null, "192.0.2.66"), "CertPoll for transactionID pending-1 is not signed by the key of its request");
        await AuditedAsync(t, "CertPoll for transactionID pending-1 is not signed by the key of its request");
        Assert.Equal(EnrollmentStatus.Pending, (await t.Ca.PollAsync("pending-1", holderSigner, "192.0.2.7")).Status);

        X509Certificate2 issued = (await t.Ca.ApproveAsync("pending-1", "admin")).Certificate!;
        Assert.Equal(EnrollmentStatus.Issued, (await t.Ca.PollAsync("pending-1", holderSigner, "192.0.2.7")).Status);
        Refused(await t.Ca.PollAsync("pending-1", strangerSigner, "192.0.2.66"), "CertPoll for transactionID pending-1 is not signed by the key of its request");

        Refused(await t.Ca.GetCertificateForHolderAsync(issued.SerialNumber, strangerSigner, "192.0.2.66"),
            $"GetCert for certificate serial 0x{issued.SerialNumber} is not signed by that certificate's key");
        Assert.Equal(issued.RawData, (await t.Ca.GetCertificateForHolderAsync(issued.SerialNumber, holderSigner, "192.0.2.7")).Certificate!.RawData);
        Assert.Equal(EnrollmentFailInfo.BadCertId, (await t.Ca.GetCertificateForHolderAsync("7777", holderSigner, "192.0.2.7")).FailInfo);
    }
}
