using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Http.Ldap;
using Certgate.Ca.Settings;
using Certgate.Ca.Storage;
using Certgate.Interop.Tests.Ldap;
using Certgate.Pki.Revocation;

namespace Certgate.Interop.Tests.Gateway;

/// <summary>
/// CRL over LDAP end to end: our CA revokes a gateway's certificate and publishes its CRL to a private slapd; the
/// gateway daemon, whose CA profile has <c>revocation-check crl url ldap://…?certificateRevocationList;binary</c>,
/// downloads it; <c>local-certificate verify</c> reports the revoked certificate revoked and the other one good.
/// With slapd stopped and no CRL on the box, verification is refused, unless <c>crl disable on-download-failure</c>.
/// </summary>
public sealed class LdapCrlEndToEndTests
{
    private const string EntryDn = "cn=gwca," + SlapdFixture.Suffix;

    [Fact]
    public async Task CrlFromLdap_RevokedRefused_SlapdDown_RefusedUnlessOnDownloadFailure()
    {
        var slapd = new SlapdFixture();
        try
        {
            await using GatewayTestCa ca = await GatewayTestCa.StartAsync();
            await using var gw = new GatewayUnderTest();
            string url = $"{slapd.Url}/{EntryDn}?certificateRevocationList;binary";
            gw.PrepareCaAndKey(ca, $"set security pki ca-profile ca1 revocation-check crl url \"{url}\"", checkRevocation: true);
            gw.Ok("request", "security", "pki", "generate-key-pair", "certificate-id", "gw2", "size", "2048");
            await gw.EnrollAsync(ca, "gw1");
            await gw.EnrollAsync(ca, "gw2");
            X509Certificate2 gw1 = gw.LocalCertificate("gw1");
            // No HTTP distribution point in our certificates here, and the CA's web server is down: the only way to the
            // CRL is the profile's LDAP URL.
            Assert.Empty(Certgate.Pki.Certificates.CertificateInfo.From(gw1).CrlDistributionPoints);
            await ca.StopHttpAsync();

            Assert.Equal(RevokeOutcome.Revoked, await ca.Ca.RevokeAsync(gw1.SerialNumber, CrlReason.keyCompromise, "test"));
            CrlRecord crl = await ca.Ca.GetCurrentCrlAsync("test");
            await new LdapCrlPublisher(new LdapPublishSettings(slapd.Url, SlapdFixture.RootDn, slapd.PasswordFile, EntryDn), ca.Ca.Certificate).PublishAsync(crl);

            gw.StartDaemon();
            bool downloaded = await GatewayUnderTest.WaitAsync(() => gw.Cli("", "show", "security", "pki", "crl", "ca-profile", "ca1").Code == 0, TimeSpan.FromSeconds(20));
            Assert.True(downloaded, $"the daemon did not download the CRL from LDAP within 20 s; daemon log:\n{gw.Log}");
            Assert.Contains($"updated from {url}", gw.Log);
            string shown = gw.Ok("show", "security", "pki", "crl", "ca-profile", "ca1", "detail");
            Assert.Contains("Revoked certificates: 1", shown);
            Assert.Contains("key-compromise", shown);

            (int code, string output, string err) = gw.Cli("", "request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw1");
            Assert.True(code == 1, $"gw1 is revoked but verify exited {code}: {output}{err}");
            Assert.Contains("revoked", err);
            Assert.Contains("verification failed", err);
            Assert.Equal("Local certificate gw2 verification success\n", gw.Ok("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw2"));

            // slapd down and no CRL on the box: the download fails and verification is refused …
            slapd.Dispose();
            gw.Ok("clear", "security", "pki", "crl", "all");
            (code, output, err) = gw.Cli("", "request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw2");
            Assert.True(code == 1, $"verify without a CRL exited {code}: {output}{err}");
            Assert.Contains("CRL download failed", output);
            Assert.Contains(slapd.Url, output);
            Assert.Contains("on-download-failure", err);

            // … unless the profile says to proceed when the download fails.
            gw.Configure("set security pki ca-profile ca1 revocation-check crl disable on-download-failure");
            (code, output, err) = gw.Cli("", "request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw2");
            Assert.True(code == 0, $"verify with on-download-failure exited {code}: {output}{err}");
            Assert.Contains("Local certificate gw2 verification success", output);
            Assert.Contains("CRL download failed", output);
        }
        finally
        {
            slapd.Dispose();
        }
    }
}
