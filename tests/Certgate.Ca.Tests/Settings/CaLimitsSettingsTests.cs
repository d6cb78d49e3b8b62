using System.Net;
using Certgate.Ca.Settings;

namespace Certgate.Ca.Tests.Settings;

/// <summary>The <c>limits</c> block of ca.json: documented defaults, and clear errors for bad values.</summary>
public sealed class CaLimitsSettingsTests
{
    [Fact]
    public void The_text_ca_init_writes_holds_the_defaults()
    {
        CaLimits limits = CaSettingsFile.Parse(CaSettingsFile.DefaultText, "ca.json").Limits;
        Assert.Equal(CaLimits.Default.Http, limits.Http);
        Assert.Equal(CaLimits.Default.Pending, limits.Pending);
        Assert.Equal(CaLimits.Default.RefusalAudit, limits.RefusalAudit);
        Assert.Equal(new TokenBucket(30, 30), limits.Rate.PkiOperation);
        Assert.Equal(new TokenBucket(600, 120), limits.Rate.Get);
        Assert.Equal(100_000, limits.Rate.TrackedAddresses);
        Assert.Empty(limits.Rate.Trusted);
        string comments = CaSettingsFile.DefaultText[..CaSettingsFile.DefaultText.IndexOf("\n{", StringComparison.Ordinal)];
        foreach (string key in new[] { "maxConnections", "maxRequestBodyBytes", "maxRequestLineBytes", "maxRequestHeadersBytes", "headersTimeoutSeconds",
                     "keepAliveSeconds", "minRequestBodyBytesPerSecond", "pkiOperation", "trackedAddresses", "trusted", "perAddress", "perSubject", "rowsPerInterval" })
        {
            Assert.Contains(key, comments, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Values_are_read_and_null_turns_a_rate_limit_off()
    {
        string text = CaSettingsFile.DefaultText.Replace("\"trusted\": []", "\"trusted\": [\"10.1.0.0/16\", \"2001:db8::1\"]", StringComparison.Ordinal)
            .Replace("\"get\": { \"perMinute\": 600, \"burst\": 120 }", "\"get\": null", StringComparison.Ordinal)
            .Replace("\"maxConnections\": 1024", "\"maxConnections\": 7", StringComparison.Ordinal);
        CaLimits limits = CaSettingsFile.Parse(text, "ca.json").Limits;
        Assert.Null(limits.Rate.Get);
        Assert.Equal(7, limits.Http.MaxConnections);
        Assert.True(limits.Rate.Trusted[0].Contains(IPAddress.Parse("10.1.200.3")));
        Assert.True(limits.Rate.Trusted[1].Contains(IPAddress.Parse("2001:db8::1")));
        Assert.False(limits.Rate.Trusted[1].Contains(IPAddress.Parse("2001:db8::2")));
        // Absent block: every default.
        Assert.Equal(CaLimits.Default, CaSettingsFile.Parse("""{ "profiles": { "p": {} } }""", "x").Limits);
    }

    [Theory]
    [InlineData("\"trusted\": []", "\"trusted\": [\"10.1.0.1/16\"]", "ca.json: limits.rate.trusted '10.1.0.1/16': expected an address or a prefix such as 10.0.0.0/8 or 2001:db8::/32 (no host bits set)")]
    [InlineData("\"maxConnections\": 1024", "\"maxConnections\": 0", "ca.json: limits.http.maxConnections: expected an integer from 1 to 1000000")]
    [InlineData("\"maxRequestBodyBytes\": 65536", "\"maxRequestBodyBytes\": 1048576", "ca.json: limits.http.maxRequestBodyBytes: expected an integer from 1024 to 262144")]
    [InlineData("\"pkiOperation\": { \"perMinute\": 30, \"burst\": 30 }", "\"pkiOperation\": { \"perMinute\": 30, \"bust\": 30 }", "ca.json: unknown setting 'limits.rate.pkiOperation.bust' (known: perMinute, burst)")]
    [InlineData("\"total\": 1000", "\"total\": \"many\"", "ca.json: limits.pending.total: expected an integer from 1 to 10000000")]
    [InlineData("\"rowsPerInterval\": 200", "\"rowsPerInterval\": 200, \"rows\": 1", "ca.json: unknown setting 'limits.refusalAudit.rows' (known: intervalSeconds, rowsPerInterval)")]
    public void Bad_values_are_refused_naming_the_field(string from, string to, string message)
    {
        string text = CaSettingsFile.DefaultText.Replace(from, to, StringComparison.Ordinal);
        Assert.NotEqual(CaSettingsFile.DefaultText, text);
        CaSettingsException e = Assert.Throws<CaSettingsException>(() => CaSettingsFile.Parse(text, "ca.json"));
        Assert.Equal(message, e.Message);
    }
}
