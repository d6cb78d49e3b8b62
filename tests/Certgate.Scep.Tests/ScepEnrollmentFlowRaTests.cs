using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca;
using Certgate.Ca.Layout;
using Certgate.Ca.Scep;
using Certgate.Ca.Sqlite;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Scep.Tests;

/// <summary>
/// A gateway that holds only the CA certificate (the README tutorial loads <c>ca.pem</c> alone) still enrolls with a
/// CA made by <c>ca init</c>, which decrypts only with its RA (issue #14 §4): the flow asks GetCACert once and keeps
/// the RA the stored CA signed. An RA certificate the CA did not sign, put first in the answer, is ignored.
/// The CA is the real <see cref="ScepService"/> over SQLite behind an in-process HTTP handler.
/// </summary>
public sealed class ScepEnrollmentFlowRaTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("certgate-scep-ra-").FullName;
    private SqliteCaStore? _store;
    private CertificateAuthority? _ca;
    private CaMaterial? _material;

    public async Task InitializeAsync()
    {
        _material = CaDirectory.Init(Path.Combine(_dir, "ca"), "CN=Flow RA Test CA,O=Certgate", "rsa:2048", 30);
        _store = await SqliteCaStore.OpenAsync(Path.Combine(_dir, "ca.db"));
        _ca = new CertificateAuthority(_material.Settings, _material.Certificate, _store, null, _material.RaCertificate);
    }

    public async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task With_only_the_CA_certificate_the_flow_learns_the_CAs_RA_and_enrolls_ignoring_a_foreign_RA()
    {
        X509Certificate2 caPublic = X509CertificateLoader.LoadCertificate(_material!.Certificate.RawData);
        X509Certificate2 raPublic = X509CertificateLoader.LoadCertificate(_material.RaCertificate!.RawData);
        using X509Certificate2 foreign = ForeignRa();
        byte[] getCaCert = DegenerateSignedData.Encode([foreign, raPublic, caPublic]);
        var log = new StringWriter();
        using var http = new HttpClient(new InProcessCa(new ScepService(_ca!, log), getCaCert));
        var flow = new ScepEnrollmentFlow(http, new Uri("http://ca.test/scep"), null, caPublic, []);

        ScepAlgorithms algorithms = ScepAlgorithms.Choose(await flow.GetCapabilitiesAsync());
        string challenge = (await _ca!.CreateChallengeAsync(TimeSpan.FromHours(1), null, "test")).Password;
        using RSA key = RSA.Create(2048);
        var subject = new X500DistinguishedName("CN=flow-ra,O=Certgate");
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var w = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
        w.WriteCharacterString(System.Formats.Asn1.UniversalTagNumber.UTF8String, challenge);
        req.OtherRequestAttributes.Add(new AsnEncodedData("1.2.840.113549.1.9.7", w.Encode()));
        using X509Certificate2 signer = ScepEnrollmentFlow.SelfSignedSigner(key, subject, DateTimeOffset.UtcNow);
        ScepEnrollment result = await flow.EnrollAsync(ScepMessageType.PkcsReq, req.CreateSigningRequest(), signer,
            ScepClient.TransactionIdFor(signer.PublicKey), algorithms);

        Assert.True(result.Status == ScepPkiStatus.Success, $"{result.Status} {result.FailInfo} {result.FailInfoText}\n{log}");
        Assert.Equal(caPublic.Subject, result.Certificate!.Issuer);
        Assert.Equal(raPublic.RawData, Assert.Single(flow.RaCertificates).RawData);
        Assert.Equal(raPublic.RawData, flow.Recipient.RawData);
    }

    /// <summary>An RA-shaped certificate (keyEncipherment, not a CA, the real RA's subject) issued by another CA.</summary>
    private static X509Certificate2 ForeignRa()
    {
        using TestCa otherCa = TestCa.CreateRoot("CN=Other CA", now: DateTimeOffset.UtcNow);
        using RSA raKey = RSA.Create(2048);
        return otherCa.Issue("CN=Certgate RA", raKey, new CertOptions
        {
            KeyUsage = X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.DigitalSignature,
            OmitBasicConstraints = true,
            NotBefore = DateTimeOffset.UtcNow.AddDays(-1),
            NotAfter = DateTimeOffset.UtcNow.AddDays(10),
            Serial = [1, 2, 3],
        });
    }

    /// <summary>GetCACaps and PKIOperation from the real service; GetCACert from the test.</summary>
    private sealed class InProcessCa(ScepService service, byte[] getCaCert) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            string query = request.RequestUri!.Query;
            if (query.Contains("operation=GetCACaps", StringComparison.Ordinal))
            {
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(string.Join("\n", service.GetCaCaps(null))) };
            }
            if (query.Contains("operation=GetCACert", StringComparison.Ordinal))
            {
                var content = new ByteArrayContent(getCaCert);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/x-x509-ca-ra-cert");
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
            }
            byte[] body = await request.Content!.ReadAsByteArrayAsync(cancellationToken);
            ScepPkiOperationAnswer answer = await service.PkiOperationAsync(body, "192.0.2.9", cancellationToken);
            if (answer.CertRep is null)
            {
                return new HttpResponseMessage(HttpStatusCode.BadRequest) { Content = new StringContent(answer.BadRequestReason ?? "") };
            }
            var rep = new ByteArrayContent(answer.CertRep);
            rep.Headers.ContentType = new MediaTypeHeaderValue("application/x-pki-message");
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = rep };
        }
    }
}
