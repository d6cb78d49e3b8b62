using System.Formats.Asn1;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca;
using Certgate.Ca.Issuance;
using Certgate.Scep;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Interop.Tests.Scep;

/// <summary>RA mode, manual approval (PENDING → CertPoll), and BER-ordered CSRs.</summary>
public sealed class ScepModesTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    [Fact]
    public async Task RA_mode_GetCACert_returns_RA_and_CA_and_requests_are_decrypted_and_answered_by_the_RA()
    {
        // RA mode is what `ca init` writes (issue #14 §4).
        await using ScepCaServer s = await ScepCaServer.StartAsync();
        Assert.NotNull(s.Ca.RaCertificate);
        using HttpResponseMessage r = await Http.GetAsync(s.ScepUrl + "?operation=GetCACert");
        Assert.Equal("application/x-x509-ca-ra-cert", r.Content.Headers.ContentType!.MediaType);
        (X509Certificate2Collection certs, _) = DegenerateSignedData.Decode(await r.Content.ReadAsByteArrayAsync());
        Assert.Equal(2, certs.Count);
        X509Certificate2 ra = certs.Single(c => c.RawData.AsSpan().SequenceEqual(s.Ca.RaCertificate!.RawData));
        Assert.Contains(certs, c => c.RawData.AsSpan().SequenceEqual(s.Ca.Certificate.RawData));

        using RSA key = RSA.Create(2048);
        (X509Certificate2 signer, byte[] csr) = Client(key, "CN=ra-client", await s.ChallengeAsync());
        var creds = new ScepClientCredentials(signer, ra);
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, creds);
        ScepCertRep rep = await PostAsync(s, req, creds);
        Assert.Equal(ScepPkiStatus.Success, rep.Status);
        Assert.Equal(ra.RawData, rep.Message.SignerCertificate.RawData);
        Assert.Equal(s.Ca.Certificate.SubjectName.Name, rep.IssuedCertificate()!.Issuer);
    }

    [Fact]
    public async Task Manual_approval_answers_PENDING_then_CertPoll_gets_the_certificate()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync(t => t.Replace("\"approval\": \"challenge\"", "\"approval\": \"manual\"", StringComparison.Ordinal));
        X509Certificate2 ca = X509CertificateLoader.LoadCertificate(s.Ca.Certificate.RawData);
        using RSA key = RSA.Create(2048);
        (X509Certificate2 signer, byte[] csr) = Client(key, "CN=manual-1,O=Example", null);
        var creds = new ScepClientCredentials(signer, s.Recipient);
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, creds);
        Assert.Equal(ScepPkiStatus.Pending, (await PostAsync(s, req, creds)).Status);

        ScepOutgoingRequest poll = ScepClientMessages.CertPoll(req.TransactionId, ca.SubjectName, new X500DistinguishedName("CN=manual-1,O=Example"), creds);
        Assert.Equal(ScepPkiStatus.Pending, (await PostAsync(s, poll, creds)).Status);

        await s.Ca.ApproveAsync(req.TransactionId, "test");
        ScepOutgoingRequest poll2 = ScepClientMessages.CertPoll(req.TransactionId, ca.SubjectName, new X500DistinguishedName("CN=manual-1,O=Example"), creds);
        ScepCertRep done = await PostAsync(s, poll2, creds);
        Assert.Equal(ScepPkiStatus.Success, done.Status);
        Assert.Equal("CN=manual-1, O=Example", done.IssuedCertificate(signer.PublicKey)!.Subject);

        ScepOutgoingRequest unknown = ScepClientMessages.CertPoll("no-such-transaction", ca.SubjectName, new X500DistinguishedName("CN=x"), creds);
        ScepCertRep failed = await PostAsync(s, unknown, creds);
        Assert.Equal(ScepFailInfo.BadCertId, failed.FailInfo);
    }

    [Fact]
    public void Csr_with_unsorted_attributes_is_accepted_when_signed_and_refused_when_tampered()
    {
        // strongSwan writes extensionRequest before challengePassword: BER, not DER. Built here by hand and signed.
        using RSA key = RSA.Create(2048);
        var req = new CertificateRequest("CN=ber-order", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("ber-order.test");
        req.CertificateExtensions.Add(san.Build());
        byte[] der = req.CreateSigningRequest();
        byte[] unsorted = Reorder(der, key, "the-challenge");
        ParsedCsr parsed = ParsedCsr.Parse(unsorted);
        Assert.Equal("the-challenge", parsed.ChallengePassword);
        Assert.Contains(parsed.RequestedSans, x => x.Value == "ber-order.test");

        byte[] tampered = unsorted.ToArray();
        int at = Convert.ToHexString(tampered).IndexOf(Convert.ToHexString("the-challenge"u8), StringComparison.Ordinal) / 2;
        tampered[at] ^= 0x01;
        Assert.Throws<IssuanceRefusedException>(() => ParsedCsr.Parse(tampered));
    }

    /// <summary>A CSR whose attribute SET holds extensionRequest, then challengePassword (unsorted), freshly signed.</summary>
    private static byte[] Reorder(byte[] der, RSA key, string challenge)
    {
        var outer = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var cri = outer.ReadSequence();
        byte[] version = cri.ReadEncodedValue().ToArray(), subject = cri.ReadEncodedValue().ToArray(), spki = cri.ReadEncodedValue().ToArray();
        AsnReader attrs = cri.ReadSetOf(new Asn1Tag(TagClass.ContextSpecific, 0));
        byte[] extReq = attrs.ReadEncodedValue().ToArray();
        var cp = new AsnWriter(AsnEncodingRules.DER);
        using (cp.PushSequence())
        {
            cp.WriteObjectIdentifier("1.2.840.113549.1.9.7");
            using (cp.PushSetOf())
            {
                cp.WriteCharacterString(UniversalTagNumber.UTF8String, challenge);
            }
        }
        var w = new AsnWriter(AsnEncodingRules.BER);
        using (w.PushSequence())
        {
            w.WriteEncodedValue(version);
            w.WriteEncodedValue(subject);
            w.WriteEncodedValue(spki);
            using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true))) // a SEQUENCE push keeps the order
            {
                w.WriteEncodedValue(extReq);
                w.WriteEncodedValue(cp.Encode());
            }
        }
        byte[] newCri = w.Encode();
        byte[] sig = key.SignData(newCri, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var o = new AsnWriter(AsnEncodingRules.DER);
        using (o.PushSequence())
        {
            o.WriteEncodedValue(newCri);
            using (o.PushSequence())
            {
                o.WriteObjectIdentifier("1.2.840.113549.1.1.11");
                o.WriteNull();
            }
            o.WriteBitString(sig);
        }
        byte[] result = o.Encode();
        Assert.ThrowsAny<CryptographicException>(() => CertificateRequest.LoadSigningRequest(result, HashAlgorithmName.SHA256));
        return result;
    }

    private static async Task<ScepCertRep> PostAsync(ScepCaServer s, ScepOutgoingRequest req, ScepClientCredentials creds)
    {
        using var content = new ByteArrayContent(req.Der);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-pki-message");
        using HttpResponseMessage r = await Http.PostAsync(s.ScepUrl + "?operation=PKIOperation", content);
        byte[] body = await r.Content.ReadAsByteArrayAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, $"HTTP {(int)r.StatusCode}: {System.Text.Encoding.UTF8.GetString(body)}");
        return ScepCertRep.Read(body, req, creds, [.. s.Ca.GetCaCertificates()]);
    }

    private static (X509Certificate2 Signer, byte[] Csr) Client(RSA key, string subject, string? challenge)
    {
        X509Certificate2 signer = TestCa.SelfSigned(key, subject, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        if (challenge is not null)
        {
            var w = new AsnWriter(AsnEncodingRules.DER);
            w.WriteCharacterString(UniversalTagNumber.UTF8String, challenge);
            req.OtherRequestAttributes.Add(new AsnEncodedData("1.2.840.113549.1.9.7", w.Encode()));
        }
        return (signer, req.CreateSigningRequest());
    }
}
