using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Layout;
using Certgate.Ca.Scep;
using Certgate.Ca.Settings;
using Certgate.Ca.Sqlite;
using Certgate.Ca.Tests.Fixtures;
using Certgate.Scep;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Ca.Tests.Scep;

/// <summary>
/// RA by default (issue #14 §4): a CA made by <c>ca init</c> answers GetCACert with its RA and itself (RFC 8894
/// §3.2.1.1), the RA key decrypts SCEP envelopes and signs CertReps, and the CA key only signs — an envelope an
/// attacker encrypted to the CA certificate gets the uniform undecryptable answer. A CA configured with
/// <c>getCaCert "ca"</c> (an existing CA keeps its mode) still answers with its bare certificate.
/// </summary>
public sealed class ScepRaModeTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private SqliteCaStore? _store;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
        _dir.Dispose();
    }

    private async Task<(CaMaterial Material, CertificateAuthority Ca)> InitAsync(string keySpec, string? settingsText = null)
    {
        CaMaterial m = CaDirectory.Init(_dir.File("ca"), "CN=RA Mode Test CA,O=Certgate", keySpec, 365, settingsText);
        _store = await SqliteCaStore.OpenAsync(_dir.File("ca.db"));
        return (m, new CertificateAuthority(m.Settings, m.Certificate, _store, null, m.RaCertificate));
    }

    [Theory]
    [InlineData("rsa:2048")]
    [InlineData("ecdsa:p256")]
    public async Task A_new_CA_answers_GetCACert_with_its_RA_and_itself_and_its_own_key_only_signs(string keySpec)
    {
        (CaMaterial m, CertificateAuthority ca) = await InitAsync(keySpec);
        Assert.Equal(GetCaCertMode.RaAndCa, m.Settings.GetCaCert);
        Assert.NotNull(m.RaCertificate);

        ScepCaCertAnswer answer = new ScepService(ca, null).GetCaCert();
        Assert.Equal("application/x-x509-ca-ra-cert", answer.ContentType);
        (X509Certificate2Collection certs, _) = DegenerateSignedData.Decode(answer.Body);
        Assert.Equal(2, certs.Count);
        // certificates is a SET OF (DER sorts it): clients tell the CA from the RA by basicConstraints and keyUsage.
        X509Certificate2 ra = certs.Single(c => c.RawData.AsSpan().SequenceEqual(m.RaCertificate!.RawData));
        X509Certificate2 caCert = certs.Single(c => c.RawData.AsSpan().SequenceEqual(m.Certificate.RawData));

        // The RA: issued by the CA, its own subject, not a CA, keyEncipherment (clients encrypt to it) and
        // digitalSignature (it signs CertReps), RSA whatever the CA's key.
        Assert.Equal(caCert.Subject, ra.Issuer);
        Assert.NotEqual(caCert.Subject, ra.Subject);
        Assert.False(ra.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Equal(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, ra.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages);
        Assert.NotNull(ra.GetRSAPublicKey());
        using (var chain = new X509Chain())
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(caCert);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            Assert.True(chain.Build(ra), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        }
        // The CA key only signs: no keyEncipherment on the CA certificate.
        X509KeyUsageFlags caUsage = caCert.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages;
        Assert.False(caUsage.HasFlag(X509KeyUsageFlags.KeyEncipherment), caUsage.ToString());
        Assert.Same(m.RaCertificate, ca.MessageCertificate);
    }

    [Fact]
    public async Task A_CA_configured_CA_only_answers_GetCACert_with_its_bare_certificate()
    {
        string text = CaSettingsFile.DefaultText.Replace("\"getCaCert\": \"ra-and-ca\"", "\"getCaCert\": \"ca\"", StringComparison.Ordinal);
        Assert.NotEqual(CaSettingsFile.DefaultText, text);
        (CaMaterial m, CertificateAuthority ca) = await InitAsync("rsa:2048", text);
        Assert.Null(m.RaCertificate);
        ScepCaCertAnswer answer = new ScepService(ca, null).GetCaCert();
        Assert.Equal("application/x-x509-ca-cert", answer.ContentType);
        Assert.Equal(m.Certificate.RawData, answer.Body);
        // That CA decrypts with its own key, so its certificate says keyEncipherment.
        Assert.True(m.Certificate.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages.HasFlag(X509KeyUsageFlags.KeyEncipherment));
    }

    [Fact]
    public void A_ca_json_without_getCaCert_keeps_the_CA_only_mode_of_an_older_CA()
    {
        string text = CaSettingsFile.DefaultText.Replace("\"getCaCert\": \"ra-and-ca\",", "", StringComparison.Ordinal);
        Assert.Equal(GetCaCertMode.CaOnly, CaSettingsFile.Parse(text, "ca.json").GetCaCert);
    }

    [Fact]
    public async Task An_RA_with_the_CAs_own_subject_is_refused_at_init()
    {
        string text = CaSettingsFile.DefaultText.Replace("\"subject\": \"CN=Certgate RA\"", "\"subject\": \"CN=RA Mode Test CA,O=Certgate\"", StringComparison.Ordinal);
        var e = await Assert.ThrowsAsync<CaSettingsException>(() => InitAsync("rsa:2048", text));
        Assert.Contains("ra.subject 'CN=RA Mode Test CA,O=Certgate' is the CA's own subject", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_dir.File("ca/ca.key")));
    }

    [Fact]
    public async Task The_CA_key_never_decrypts_an_envelope_encrypted_to_the_CA_certificate_gets_the_uniform_failure()
    {
        (CaMaterial m, CertificateAuthority ca) = await InitAsync("rsa:2048");
        var log = new StringWriter();
        var service = new ScepService(ca, log);
        X509Certificate2 caPublic = X509CertificateLoader.LoadCertificate(m.Certificate.RawData);
        X509Certificate2 raPublic = X509CertificateLoader.LoadCertificate(m.RaCertificate!.RawData);

        // An attacker (or an old client) encrypts to the CA certificate: the CA key would decrypt it; the RA
        // key cannot, and the answer is the one every undecryptable envelope gets.
        (ScepOutgoingRequest toCa, ScepClientCredentials caCreds) = await RequestAsync(ca, "CN=to-ca,O=Certgate", caPublic);
        ScepPkiOperationAnswer refused = await service.PkiOperationAsync(toCa.Der, "192.0.2.7", CancellationToken.None);
        Assert.Equal(ScepPkiStatus.Failure, refused.Status);
        ScepCertRep failure = ScepCertRep.Read(refused.CertRep!, toCa, caCreds, [raPublic]);
        Assert.Equal(ScepFailInfo.BadMessageCheck, failure.FailInfo);
        Assert.Equal(ScepFormatException.UndecryptableText, failure.FailInfoText);
        Assert.Equal(raPublic.RawData, failure.Message.SignerCertificate.RawData);
        Assert.Contains($"Failure {ScepFailInfo.BadMessageCheck}: {ScepFormatException.UndecryptableText}", log.ToString(), StringComparison.Ordinal);

        // The same client encrypting to the RA is served, and the RA signs the answer.
        (ScepOutgoingRequest toRa, ScepClientCredentials raCreds) = await RequestAsync(ca, "CN=to-ra,O=Certgate", raPublic);
        ScepPkiOperationAnswer issued = await service.PkiOperationAsync(toRa.Der, "192.0.2.7", CancellationToken.None);
        Assert.Equal(ScepPkiStatus.Success, issued.Status);
        ScepCertRep success = ScepCertRep.Read(issued.CertRep!, toRa, raCreds, [raPublic]);
        Assert.Equal(m.Certificate.Subject, success.IssuedCertificate()!.Issuer);
    }

    private static async Task<(ScepOutgoingRequest, ScepClientCredentials)> RequestAsync(CertificateAuthority ca, string subject, X509Certificate2 recipient)
    {
        string challenge = (await ca.CreateChallengeAsync(TimeSpan.FromHours(1), null, "test")).Password;
        using RSA key = RSA.Create(2048);
        byte[] csr = TestPki.Csr(key, subject, challenge);
        X509Certificate2 signer = TestCa.SelfSigned(key, subject, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var creds = new ScepClientCredentials(signer, recipient);
        return (ScepClientMessages.Enrollment(csr, null, creds), creds);
    }
}
