using Certgate.Ca.Scep;
using Certgate.Ca.Tests.Fixtures;
using Certgate.Scep;

namespace Certgate.Ca.Tests.Scep;

/// <summary>
/// The SCEP service of Certgate.Ca driven through its public API, without HTTP (the transport is Certgate.Ca.Http's
/// endpoint mapping). The captured-request mutation tests in Certgate.Scep.Tests drive its PKIOperation the same way.
/// </summary>
public sealed class ScepServiceTests
{
    [Fact]
    public async Task GetCaCaps_adds_SHA384_after_SHA256_for_strongSwan()
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        IReadOnlyList<string> caps = new ScepService(t.Ca, null).GetCaCaps(null);
        int sha256 = caps.ToList().IndexOf("SHA-256");
        Assert.True(sha256 >= 0, string.Join(' ', caps));
        Assert.Equal("SHA-384", caps[sha256 + 1]);
        Assert.Single(caps, c => c == "SHA-384");
        Assert.Contains("AES", caps);
    }

    [Fact]
    public async Task GetCaCert_of_a_CA_configured_CA_only_is_the_DER_certificate()
    {
        // getCaCert "ca" named explicitly (a CA made by `ca init` has an RA: ScepRaModeTests).
        await using TestAuthority t = await TestAuthority.CreateAsync(Certgate.Ca.Settings.CaSettings.CreateDefault() with { GetCaCert = Certgate.Ca.Settings.GetCaCertMode.CaOnly });
        ScepCaCertAnswer answer = new ScepService(t.Ca, null).GetCaCert();
        Assert.Equal("application/x-x509-ca-cert", answer.ContentType);
        Assert.Equal(t.Ca.Certificate.RawData, answer.Body);
    }

    [Theory]
    [InlineData(new byte[0], "without a pkiMessage")]
    [InlineData(new byte[] { 0x30, 0x03, 0x02, 0x01, 0x00 }, "pkiMessage")]
    public async Task PkiOperation_that_cannot_be_answered_in_SCEP_is_a_400_reason(byte[] der, string expected)
    {
        await using TestAuthority t = await TestAuthority.CreateAsync();
        var log = new StringWriter();
        ScepPkiOperationAnswer answer = await new ScepService(t.Ca, log).PkiOperationAsync(der, "192.0.2.1", CancellationToken.None);
        Assert.Null(answer.CertRep);
        Assert.Null(answer.Status);
        Assert.Contains(expected, answer.BadRequestReason, StringComparison.Ordinal);
        Assert.Contains("scep 192.0.2.1 refused", log.ToString(), StringComparison.Ordinal);
    }
}
