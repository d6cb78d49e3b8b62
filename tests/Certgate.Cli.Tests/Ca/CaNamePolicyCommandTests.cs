using Certgate.Ca.Audit;
using Certgate.Ca.Storage;
using Certgate.Ca.Settings;

namespace Certgate.Cli.Tests.Ca;

/// <summary><c>ca init</c>'s default name policy, <c>ca challenge</c> with bound names, and name settings checked when
/// a command starts (issue #14 §1).</summary>
public sealed class CaNamePolicyCommandTests : IDisposable
{
    private readonly CaFixture _f = new();

    public void Dispose() => _f.Dispose();

    [Fact]
    public void Init_RequiresTheCaSubjectsOrganisationAndCountry()
    {
        _f.InitCa("CN=Example VPN CA,O=Example,C=US");
        string text = File.ReadAllText(Path.Combine(_f.Dir, "ca.json"));
        Assert.Contains("\"require\": { \"O\": \"Example\", \"C\": \"US\" }", text, StringComparison.Ordinal);
        CertificateProfile p = CaSettingsFile.Parse(text, "ca.json").GetProfile(null);
        Assert.Equal("US", p.Names.RequiredSubject["C"]);
        Assert.Empty(p.Names.IpRanges);
    }

    [Fact]
    public async Task Challenge_WithNames_PrintsTheBoundNames_AndAuditsThem()
    {
        _f.InitCa();
        (int code, string output, string err) = _f.Run("ca", "challenge", "--dir", _f.Dir, "--subject", "CN=gw1.example.net,OU=VPN,O=Example",
            "--dns", "gw1.example.net", "--dns", "GW1-alt.example.net", "--ip", "10.99.0.1", "--ip", "2001:db8::1", "--email", "vpn@example.net");
        Assert.True(code == 0, err);
        Assert.Matches("^[A-Z2-7]{20}$", Assert.Single(output.TrimEnd('\n').Split('\n')));
        const string bound = "subject CN=gw1.example.net,OU=VPN,O=Example; dns gw1.example.net, gw1-alt.example.net; ip 10.99.0.1, 2001:db8::1; email vpn@example.net";
        Assert.Contains($"bound to {bound}: a request using it may ask only for these names", err, StringComparison.Ordinal);
        Assert.Contains("unbound: a request using it may ask only for names the profile's policy allows", _f.Run("ca", "challenge", "--dir", _f.Dir).Err, StringComparison.Ordinal);

        await using var store = await Certgate.Ca.Sqlite.SqliteCaStore.OpenAsync(Path.Combine(_f.Dir, "ca.db"));
        IReadOnlyList<AuditRecord> audit = await store.ReadAuditAsync(0, 100);
        Assert.Contains(audit, a => a.Entry.Event == AuditEvents.ChallengeCreated && (a.Entry.Detail ?? "").EndsWith("bound to " + bound, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--subject", "nonsense", "ca challenge: --subject 'nonsense': not a distinguished name")]
    [InlineData("--dns", "gw*.example.net", "ca challenge: --dns 'gw*.example.net': not a DNS name")]
    [InlineData("--ip", "10.0.0", "ca challenge: --ip '10.0.0': not an IPv4 or IPv6 address")]
    [InlineData("--email", "nobody", "ca challenge: --email 'nobody': not an e-mail address (local@domain)")]
    public void Challenge_BadName_NamesTheOption(string option, string value, string expected)
    {
        _f.InitCa();
        Assert.Contains(expected, _f.Fails(2, "ca", "challenge", "--dir", _f.Dir, option, value));
    }

    [Fact]
    public void Serve_RefusesABadNamePattern_NamingTheProfileAndField()
    {
        _f.InitCa();
        string path = Path.Combine(_f.Dir, "ca.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"dns\": []", "\"dns\": [\"gw*.vpn.example.net\"]", StringComparison.Ordinal));
        (int code, _, string err) = _f.Run("ca", "serve", "--dir", _f.Dir, "--listen", "http://127.0.0.1:0");
        Assert.NotEqual(0, code);
        Assert.Contains("profiles.default.names.dns 'gw*.vpn.example.net': '*' stands for one whole label (as in *.vpn.example.net), not part of one ('gw*')", err, StringComparison.Ordinal);
    }
}
