using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Scep;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Interop.Tests.Scep;

/// <summary>The SCEP HTTP endpoints driven by Certgate's own SCEP client messages.</summary>
public sealed class ScepHttpEndpointTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    [Fact]
    public async Task GetCACaps_lists_capabilities_one_per_line_with_SHA384_for_strongSwan()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync();
        foreach (string path in new[] { "scep", "cgi-bin/pkiclient.exe" })
        {
            using HttpResponseMessage r = await Http.GetAsync(new Uri(s.ScepUrl, $"/{path}?operation=GetCACaps"));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal("text/plain", r.Content.Headers.ContentType!.MediaType);
            string[] caps = (await r.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains("AES", caps);
            Assert.Contains("POSTPKIOperation", caps);
            Assert.Contains("SHA-256", caps);
            Assert.Contains("SHA-384", caps);
            Assert.DoesNotContain("DES3", caps);
        }
    }

    [Fact]
    public async Task GetCACert_returns_the_RA_and_CA_certificates_and_bad_operations_are_400()
    {
        // A CA made by `ca init` has an RA (issue #14 §4): GetCACert is the degenerate PKCS#7 of RA and CA.
        await using ScepCaServer s = await ScepCaServer.StartAsync();
        using HttpResponseMessage r = await Http.GetAsync(s.ScepUrl + "?operation=GetCACert");
        Assert.Equal("application/x-x509-ca-ra-cert", r.Content.Headers.ContentType!.MediaType);
        (X509Certificate2Collection certs, _) = DegenerateSignedData.Decode(await r.Content.ReadAsByteArrayAsync());
        Assert.Equal(2, certs.Count);
        Assert.Contains(certs, c => c.RawData.AsSpan().SequenceEqual(s.Ca.Certificate.RawData));
        Assert.Contains(certs, c => c.RawData.AsSpan().SequenceEqual(s.Ca.RaCertificate!.RawData));

        using HttpResponseMessage next = await Http.GetAsync(s.ScepUrl + "?operation=GetNextCACert");
        Assert.Equal(HttpStatusCode.NotFound, next.StatusCode);
        using HttpResponseMessage unknown = await Http.GetAsync(s.ScepUrl + "?operation=Frobnicate");
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Contains("unknown operation", await unknown.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using HttpResponseMessage none = await Http.GetAsync(s.ScepUrl);
        Assert.Equal(HttpStatusCode.BadRequest, none.StatusCode);
        using HttpResponseMessage junk = await Http.PostAsync(s.ScepUrl + "?operation=PKIOperation", new ByteArrayContent(RandomNumberGenerator.GetBytes(300)));
        Assert.Equal(HttpStatusCode.BadRequest, junk.StatusCode);
        Assert.Contains("pkiMessage", await junk.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using HttpResponseMessage notB64 = await Http.GetAsync(s.ScepUrl + "?operation=PKIOperation&message=%%%");
        Assert.Equal(HttpStatusCode.BadRequest, notB64.StatusCode);
    }

    [Fact]
    public async Task GetCACert_of_a_CA_configured_CA_only_returns_the_DER_CA_certificate()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync(t => t.Replace("\"getCaCert\": \"ra-and-ca\"", "\"getCaCert\": \"ca\"", StringComparison.Ordinal));
        Assert.Null(s.Ca.RaCertificate);
        using HttpResponseMessage r = await Http.GetAsync(s.ScepUrl + "?operation=GetCACert");
        Assert.Equal("application/x-x509-ca-cert", r.Content.Headers.ContentType!.MediaType);
        Assert.Equal(s.Ca.Certificate.RawData, await r.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Enroll_by_POST_then_GET_retransmission_then_challenge_reuse_fails()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync();
        X509Certificate2 ca = X509CertificateLoader.LoadCertificate(s.Ca.Certificate.RawData);
        string challenge = await s.ChallengeAsync();
        using RSA key = RSA.Create(2048);
        (X509Certificate2 signer, byte[] csr) = Client(key, "CN=gw1.example.net,O=Example", challenge);
        var creds = new ScepClientCredentials(signer, s.Recipient);

        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, creds);
        ScepCertRep rep = await PostAsync(s, req, creds);
        Assert.True(rep.Status == ScepPkiStatus.Success, $"{rep.Status} {rep.FailInfo} {rep.FailInfoText}\n{s.Log}");
        X509Certificate2 issued = rep.IssuedCertificate(signer.PublicKey)!;
        Assert.Equal("CN=gw1.example.net, O=Example", issued.Subject);
        Assert.Equal(ca.SubjectName.Name, issued.Issuer);

        // A retransmission (same transactionID and key) by GET gets the same certificate back.
        ScepOutgoingRequest again = ScepClientMessages.Enrollment(csr, req.TransactionId, creds);
        using HttpResponseMessage get = await Http.GetAsync(s.ScepUrl + "?operation=PKIOperation&message=" + Uri.EscapeDataString(Convert.ToBase64String(again.Der)));
        Assert.Equal("application/x-pki-message", get.Content.Headers.ContentType!.MediaType);
        ScepCertRep rep2 = ScepCertRep.Read(await get.Content.ReadAsByteArrayAsync(), again, creds);
        Assert.Equal(issued.RawData, rep2.IssuedCertificate()!.RawData);

        // The same challenge for another key: FAILURE badRequest.
        using RSA key2 = RSA.Create(2048);
        (X509Certificate2 signer2, byte[] csr2) = Client(key2, "CN=gw2.example.net,O=Example", challenge);
        var creds2 = new ScepClientCredentials(signer2, s.Recipient);
        ScepCertRep refused = await PostAsync(s, ScepClientMessages.Enrollment(csr2, null, creds2), creds2);
        Assert.Equal(ScepPkiStatus.Failure, refused.Status);
        Assert.Equal(ScepFailInfo.BadRequest, refused.FailInfo);
        Assert.Contains("already used", refused.FailInfoText, StringComparison.Ordinal);

        // GetCert and GetCRL over SCEP.
        ScepCertRep byGet = await PostAsync(s, ScepClientMessages.GetCert(ca.SubjectName, issued.SerialNumberBytes.ToArray(), creds), creds);
        Assert.Equal(issued.RawData, byGet.IssuedCertificate()!.RawData);
        ScepCertRep crl = await PostAsync(s, ScepClientMessages.GetCrl(ca.SubjectName, issued.SerialNumberBytes.ToArray(), creds), creds);
        Assert.Single(crl.Crls);
    }

    [Fact]
    public async Task Renewal_signed_by_the_issued_certificate_is_issued_without_challenge()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync();
        X509Certificate2 ca = X509CertificateLoader.LoadCertificate(s.Ca.Certificate.RawData);
        using RSA key = RSA.Create(2048);
        (X509Certificate2 signer, byte[] csr) = Client(key, "CN=renew.example.net", await s.ChallengeAsync());
        var creds = new ScepClientCredentials(signer, s.Recipient);
        X509Certificate2 first = (await PostAsync(s, ScepClientMessages.Enrollment(csr, null, creds), creds)).IssuedCertificate()!;

        using RSA newKey = RSA.Create(2048);
        byte[] newCsr = new CertificateRequest("CN=renew.example.net", newKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest();
        var renewCreds = new ScepClientCredentials(first.CopyWithPrivateKey(key), s.Recipient);
        ScepCertRep renewed = await PostAsync(s, ScepClientMessages.Enrollment(newCsr, null, renewCreds, renewal: true), renewCreds);
        Assert.True(renewed.Status == ScepPkiStatus.Success, $"{renewed.FailInfo} {renewed.FailInfoText}");
        Assert.NotEqual(first.SerialNumber, renewed.IssuedCertificate()!.SerialNumber);
    }

    private static async Task<ScepCertRep> PostAsync(ScepCaServer s, ScepOutgoingRequest req, ScepClientCredentials creds)
    {
        using var content = new ByteArrayContent(req.Der);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-pki-message");
        using HttpResponseMessage r = await Http.PostAsync(s.ScepUrl + "?operation=PKIOperation", content);
        byte[] body = await r.Content.ReadAsByteArrayAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, $"HTTP {(int)r.StatusCode}: {System.Text.Encoding.UTF8.GetString(body)}");
        return ScepCertRep.Read(body, req, creds);
    }

    private static (X509Certificate2 Signer, byte[] Csr) Client(RSA key, string subject, string challenge)
    {
        X509Certificate2 signer = TestCa.SelfSigned(key, subject, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var w = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
        w.WriteCharacterString(System.Formats.Asn1.UniversalTagNumber.UTF8String, challenge);
        req.OtherRequestAttributes.Add(new AsnEncodedData("1.2.840.113549.1.9.7", w.Encode()));
        return (signer, req.CreateSigningRequest());
    }
}

public sealed class ScepHttpFailureTests
{
    [Fact]
    public async Task Request_with_a_broken_signature_gets_CertRep_FAILURE_badMessageCheck()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync();
        X509Certificate2 ca = X509CertificateLoader.LoadCertificate(s.Ca.Certificate.RawData);
        using RSA key = RSA.Create(2048);
        var req0 = new CertificateRequest("CN=tamper", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        X509Certificate2 signer = TestCa.SelfSigned(key, "CN=tamper", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var creds = new ScepClientCredentials(signer, s.Recipient);
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(req0.CreateSigningRequest(), null, creds);
        byte[] bad = req.Der.ToArray();
        bad[^10] ^= 0x40;
        using var http = new HttpClient();
        using HttpResponseMessage r = await http.PostAsync(s.ScepUrl + "?operation=PKIOperation", new ByteArrayContent(bad));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        ScepCertRep rep = ScepCertRep.Read(await r.Content.ReadAsByteArrayAsync(), req, creds);
        Assert.Equal(ScepPkiStatus.Failure, rep.Status);
        Assert.Equal(ScepFailInfo.BadMessageCheck, rep.FailInfo);
    }
}
