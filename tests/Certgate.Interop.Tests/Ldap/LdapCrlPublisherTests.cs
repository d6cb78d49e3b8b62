using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Http.Ldap;
using Certgate.Ca.Settings;
using Certgate.Ca.Storage;
using Certgate.Interop.Tests.Tools;
using Certgate.Pki.Revocation;

namespace Certgate.Interop.Tests.Ldap;

/// <summary>
/// The CA publishes its CRL to a real OpenLDAP slapd; <c>ldapsearch</c> (what relying parties and strongSwan's
/// LDAP fetcher use) reads back exactly the DER the CA serves.
/// </summary>
public sealed class LdapCrlPublisherTests(SlapdFixture slapd) : IClassFixture<SlapdFixture>
{
    private static int _entries;

    private static string NewEntryDn(string name) =>
        $"cn={name} {Interlocked.Increment(ref _entries)},{SlapdFixture.Suffix}";

    private LdapPublishSettings Settings(string entryDn, string? passwordFile = null, string? url = null) =>
        new(url ?? slapd.Url, SlapdFixture.RootDn, passwordFile ?? slapd.PasswordFile, entryDn);

    [Fact]
    public async Task Ca_crl_published_to_slapd_reads_back_byte_identical_with_ldapsearch()
    {
        await using LdapTestAuthority authority = await LdapTestAuthority.CreateAsync();
        X509Certificate2 revoked = await authority.EnrollAsync("CN=revoked.example.net,O=Example");
        Assert.Equal(RevokeOutcome.Revoked, await authority.Ca.RevokeAsync(revoked.SerialNumber, CrlReason.keyCompromise, "test"));
        CrlRecord crl = await authority.Ca.GenerateCrlAsync("test");
        // What the HTTP endpoint serves is the current CRL's DER.
        CrlRecord served = await authority.Ca.GetCurrentCrlAsync("test");
        Assert.Equal(crl.Der, served.Der);
        string entry = NewEntryDn("Certgate CA");
        var log = new StringWriter();
        var publisher = new LdapCrlPublisher(Settings(entry), authority.Ca.Certificate, log: log);

        await publisher.PublishAsync(served);

        IReadOnlyList<byte[]> crls = slapd.SearchValues(entry, LdapCrlPublisher.CrlAttribute);
        byte[] fromLdap = Assert.Single(crls);
        Assert.Equal(served.Der, fromLdap);
        // …and identical to what the CA serves over HTTP at its CRL distribution point.
        await using (Certgate.Ca.Http.CaHttpServer web = await Certgate.Ca.Http.CaHttpServer.StartAsync(authority.Ca, new Certgate.Ca.Http.CaHttpOptions { Listen = new Uri("http://127.0.0.1:0") }))
        {
            using var http = new HttpClient();
            Assert.Equal(fromLdap, await http.GetByteArrayAsync(new Uri(web.BaseAddress, "crl/ca.crl")));
        }
        Assert.Equal(authority.Ca.Certificate.RawData, Assert.Single(slapd.SearchValues(entry, LdapCrlPublisher.CaCertificateAttribute)));
        // The bytes are a CRL the CA signed, with the revoked certificate on it.
        CertificateRevocationList parsed = CertificateRevocationList.Load(fromLdap);
        Assert.True(parsed.VerifySignature(authority.Ca.Certificate));
        Assert.True(parsed.TryGetRevocation(revoked, out _));
        // The created entry carries the structural and the PKI class.
        string classes = slapd.Ldap("ldapsearch", ["-LLL", "-b", entry, "-s", "base", "objectClass"]).StdOut;
        Assert.Contains("objectClass: applicationProcess", classes);
        Assert.Contains("objectClass: pkiCA", classes);
        Assert.Contains($"CRL {served.Number}", log.ToString());
        Assert.DoesNotContain(File.ReadAllText(slapd.PasswordFile), log.ToString());
    }

    [Fact]
    public async Task Ldapsearch_t_writes_the_identical_der_to_a_file()
    {
        await using LdapTestAuthority authority = await LdapTestAuthority.CreateAsync();
        CrlRecord crl = await authority.Ca.GetCurrentCrlAsync("test");
        string entry = NewEntryDn("Certgate CA file");
        await new LdapCrlPublisher(Settings(entry), authority.Ca.Certificate).PublishAsync(crl.Der);

        using var tmp = new TempDirectory("certgate-ldapsearch-");
        ExternalTool.Result r = ExternalTool.Run("ldapsearch",
            ["-x", "-H", slapd.Url, "-LLL", "-t", "-T", tmp.Path, "-b", entry, "-s", "base", "(objectClass=*)", LdapCrlPublisher.CrlAttribute]);
        Assert.True(r.ExitCode == 0, r.Combined);
        string[] files = Directory.GetFiles(tmp.Path);
        string file = Assert.Single(files);
        Assert.Equal(crl.Der, File.ReadAllBytes(file));
    }

    [Fact]
    public async Task Publishing_again_replaces_the_crl_leaving_one_value()
    {
        await using LdapTestAuthority authority = await LdapTestAuthority.CreateAsync();
        string entry = NewEntryDn("Certgate CA twice");
        var publisher = new LdapCrlPublisher(Settings(entry), authority.Ca.Certificate);
        CrlRecord first = await authority.Ca.GenerateCrlAsync("test");
        await publisher.PublishAsync(first);
        Assert.Equal(first.Der, Assert.Single(slapd.SearchValues(entry, LdapCrlPublisher.CrlAttribute)));

        X509Certificate2 revoked = await authority.EnrollAsync("CN=later.example.net,O=Example");
        await authority.Ca.RevokeAsync(revoked.SerialNumber, CrlReason.superseded, "test");
        CrlRecord second = await authority.Ca.GenerateCrlAsync("test");
        Assert.True(second.Number > first.Number);
        await publisher.PublishAsync(second);

        byte[] now = Assert.Single(slapd.SearchValues(entry, LdapCrlPublisher.CrlAttribute));
        Assert.Equal(second.Der, now);
        Assert.Single(slapd.SearchValues(entry, LdapCrlPublisher.CaCertificateAttribute));
        Assert.True(CertificateRevocationList.Load(now).TryGetRevocation(revoked, out _));
    }

    [Fact]
    public async Task Publisher_from_ca_settings_publishes_each_new_crl_once()
    {
        string entry = NewEntryDn("Configured CA");
        // ldap.passwordFile relative to the CA's directory, as ca.json would name it.
        await using LdapTestAuthority authority = await LdapTestAuthority.CreateAsync(new LdapPublishSettings(slapd.Url, SlapdFixture.RootDn, "ldap-bind.pw", entry));
        File.Copy(slapd.PasswordFile, Path.Combine(authority.Directory, "ldap-bind.pw"));
        var log = new StringWriter();
        LdapCrlPublisher publisher = LdapCrlPublisher.FromSettings(authority.Ca, authority.Directory, log)!;
        Assert.NotNull(publisher);

        Assert.True(await publisher.PublishCurrentAsync(authority.Ca));
        CrlRecord first = await authority.Ca.GetCurrentCrlAsync("test");
        Assert.Equal(first.Number, publisher.LastPublishedNumber);
        Assert.False(await publisher.PublishCurrentAsync(authority.Ca));
        Assert.Equal(first.Der, Assert.Single(slapd.SearchValues(entry, LdapCrlPublisher.CrlAttribute)));

        // A revocation reissues the CRL; the next check publishes it.
        X509Certificate2 revoked = await authority.EnrollAsync("CN=gone.example.net,O=Example");
        await authority.Ca.RevokeAsync(revoked.SerialNumber, CrlReason.cessationOfOperation, "test");
        Assert.True(await publisher.PublishCurrentAsync(authority.Ca));
        CrlRecord second = await authority.Ca.GetCurrentCrlAsync("test");
        Assert.NotEqual(first.Number, second.Number);
        Assert.Equal(second.Der, Assert.Single(slapd.SearchValues(entry, LdapCrlPublisher.CrlAttribute)));
        Assert.True(await publisher.PublishCurrentAsync(authority.Ca, force: true));
        Assert.Equal(2, log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.Contains($"CRL {second.Number} ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Disabled_settings_give_no_publisher()
    {
        await using LdapTestAuthority authority = await LdapTestAuthority.CreateAsync();
        Assert.Null(LdapCrlPublisher.FromSettings(authority.Ca));
    }

    [Fact]
    public async Task Anonymous_write_is_refused_with_a_hint()
    {
        await using LdapTestAuthority authority = await LdapTestAuthority.CreateAsync();
        string entry = NewEntryDn("Anonymous");
        var publisher = new LdapCrlPublisher(new LdapPublishSettings(slapd.Url, null, null, entry), authority.Ca.Certificate);
        CrlRecord crl = await authority.Ca.GetCurrentCrlAsync("test");

        var e = await Assert.ThrowsAsync<LdapPublishException>(() => publisher.PublishAsync(crl));

        Assert.Equal($"LDAP server {slapd.Url} refused to create '{entry}' without a bind: set ldap.bindDn and ldap.passwordFile", e.Message);
        Assert.False(slapd.EntryExists(entry));
    }

    [Fact]
    public async Task Existing_entry_without_pki_class_gets_pkiCA_and_keeps_its_attributes()
    {
        await using LdapTestAuthority authority = await LdapTestAuthority.CreateAsync();
        string entry = NewEntryDn("Existing role");
        slapd.Ldap("ldapadd", [], $"dn: {entry}\nobjectClass: organizationalRole\ncn: {entry.Split(',')[0][3..]}\ndescription: made by the operator\n");
        CrlRecord crl = await authority.Ca.GetCurrentCrlAsync("test");

        await new LdapCrlPublisher(Settings(entry), authority.Ca.Certificate).PublishAsync(crl);

        Assert.Equal(crl.Der, Assert.Single(slapd.SearchValues(entry, LdapCrlPublisher.CrlAttribute)));
        string text = slapd.Ldap("ldapsearch", ["-LLL", "-b", entry, "-s", "base", "objectClass", "description"]).StdOut;
        Assert.Contains("objectClass: organizationalRole", text);
        Assert.Contains("objectClass: pkiCA", text);
        Assert.Contains("description: made by the operator", text);
    }

    [Fact]
    public async Task Wrong_password_is_a_clear_bind_refused_error_without_the_password()
    {
        await using LdapTestAuthority authority = await LdapTestAuthority.CreateAsync();
        string wrongFile = slapd.ScratchFile("wrong-password");
        const string wrong = "not-the-password-4711";
        File.WriteAllText(wrongFile, wrong + "\n");
        string entry = NewEntryDn("Refused");
        var publisher = new LdapCrlPublisher(Settings(entry, passwordFile: wrongFile), authority.Ca.Certificate);

        var e = await Assert.ThrowsAsync<LdapPublishException>(() => publisher.PublishAsync([0x30, 0x00]));

        Assert.Equal($"LDAP bind as '{SlapdFixture.RootDn}' refused by {slapd.Url}: invalid credentials (check ldap.bindDn and the password file)", e.Message);
        Assert.DoesNotContain(wrong, e.ToString());
        Assert.False(slapd.EntryExists(entry));
    }

    [Fact]
    public async Task Missing_parent_entry_is_named_in_the_error()
    {
        await using LdapTestAuthority authority = await LdapTestAuthority.CreateAsync();
        string parent = "ou=nowhere," + SlapdFixture.Suffix;
        var publisher = new LdapCrlPublisher(Settings("cn=Orphan CA," + parent), authority.Ca.Certificate);

        CrlRecord crl = await authority.Ca.GetCurrentCrlAsync("test");

        var e = await Assert.ThrowsAsync<LdapPublishException>(() => publisher.PublishAsync(crl));

        Assert.Equal($"cannot create LDAP entry 'cn=Orphan CA,{parent}' at {slapd.Url}: its parent entry '{parent}' does not exist", e.Message);
    }

    [Fact]
    public async Task Bytes_that_are_not_a_crl_are_refused_by_the_server_with_a_clear_error()
    {
        await using LdapTestAuthority authority = await LdapTestAuthority.CreateAsync();
        string entry = NewEntryDn("Garbage");
        var publisher = new LdapCrlPublisher(Settings(entry), authority.Ca.Certificate);

        var e = await Assert.ThrowsAsync<LdapPublishException>(() => publisher.PublishAsync([0x30, 0x00]));

        Assert.Equal($"LDAP server {slapd.Url} refused a value for '{entry}' as malformed: " +
            "certificateRevocationList;binary: value #0 invalid per syntax", e.Message);
        Assert.False(slapd.EntryExists(entry));
    }

    [Fact]
    public async Task Missing_entry_that_is_not_named_cn_is_not_guessed()
    {
        await using LdapTestAuthority authority = await LdapTestAuthority.CreateAsync();
        string entry = "ou=ca," + SlapdFixture.Suffix;
        var publisher = new LdapCrlPublisher(Settings(entry), authority.Ca.Certificate);

        var e = await Assert.ThrowsAsync<LdapPublishException>(() => publisher.PublishAsync([0x30, 0x00]));

        Assert.Contains($"LDAP entry '{entry}' does not exist", e.Message);
        Assert.Contains("pkiCA", e.Message);
    }

    [Fact]
    public async Task Unreachable_server_is_a_clear_error()
    {
        await using LdapTestAuthority authority = await LdapTestAuthority.CreateAsync();
        // A port nothing listens on: bind one, note it, release it.
        int port;
        using (var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        }
        var publisher = new LdapCrlPublisher(Settings("cn=x," + SlapdFixture.Suffix, url: $"ldap://127.0.0.1:{port}"), authority.Ca.Certificate)
        {
            OperationTimeout = TimeSpan.FromSeconds(5),
        };

        var e = await Assert.ThrowsAsync<LdapPublishException>(() => publisher.PublishAsync([0x30, 0x00]));

        Assert.StartsWith($"LDAP server ldap://127.0.0.1:{port} is unreachable", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public async Task Unreadable_password_file_is_named()
    {
        await using LdapTestAuthority authority = await LdapTestAuthority.CreateAsync();
        string missing = slapd.ScratchFile("no-such-password-file");
        var publisher = new LdapCrlPublisher(Settings("cn=x," + SlapdFixture.Suffix, passwordFile: missing), authority.Ca.Certificate);

        var e = await Assert.ThrowsAsync<LdapPublishException>(() => publisher.PublishAsync([0x30, 0x00]));

        Assert.StartsWith($"cannot read the LDAP bind password file '{missing}'", e.Message);
    }

    [Fact]
    public async Task Settings_mistakes_are_argument_errors()
    {
        await using LdapTestAuthority authority = await LdapTestAuthority.CreateAsync();
        X509Certificate2 cert = authority.Ca.Certificate;
        Assert.Throws<ArgumentException>("settings", () => new LdapCrlPublisher(LdapPublishSettings.Disabled, cert));
        Assert.Throws<ArgumentException>("settings", () => new LdapCrlPublisher(new("http://x", null, null, "cn=a"), cert));
        Assert.Throws<ArgumentException>("settings", () => new LdapCrlPublisher(new("ldap://x", null, null, null), cert));
        Assert.Throws<ArgumentException>("settings", () => new LdapCrlPublisher(new("ldap://x", "cn=admin", null, "cn=a"), cert));
        Assert.Throws<ArgumentNullException>("caCertificate", () => new LdapCrlPublisher(new("ldap://x", null, null, "cn=a"), null!));
        var ok = new LdapCrlPublisher(new("ldaps://ldap.example.net", null, null, "cn=a,dc=x"), cert);
        Assert.Equal("ldaps://ldap.example.net", ok.Server);
        await Assert.ThrowsAsync<ArgumentException>("crlDer", () => ok.PublishAsync(Array.Empty<byte>()));
    }
}
