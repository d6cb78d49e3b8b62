using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Scep.Tests;

public sealed class ScepRoundTripTests
{
    private static X509Certificate2 CaPublic => X509CertificateLoader.LoadCertificate(ScepTestPki.Ca.RawData);

    [Fact]
    public void PkcsReq_issued_round_trip()
    {
        (RSA key, X509Certificate2 signer, byte[] csr) = ScepTestPki.Client();
        using RSA _ = key;
        var creds = new ScepClientCredentials(signer, CaPublic);
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, creds);

        ScepServerRequest server = ScepServerRequest.Parse(req.Der, ScepTestPki.Ca);
        Assert.Equal(ScepMessageType.PkcsReq, server.MessageType);
        Assert.Equal(req.TransactionId, server.TransactionId);
        Assert.Equal(csr, server.Csr);
        Assert.Equal(ScepCipher.Aes256Cbc, server.Cipher);
        Assert.Equal(req.SenderNonce, server.Message.SenderNonce);
        Assert.Equal(signer.RawData, server.Message.SignerCertificate.RawData);

        X509Certificate2 issued = ScepTestPki.Issue(server.Csr!);
        byte[] rep = CertRepBuilder.Build(server.Message, server.Cipher, ScepTestPki.Ca, ScepReply.Success(issued));

        ScepCertRep read = ScepCertRep.Read(rep, req, creds);
        Assert.Equal(ScepPkiStatus.Success, read.Status);
        Assert.Equal(issued.RawData, read.IssuedCertificate(signer.PublicKey)!.RawData);
        Assert.Equal(req.TransactionId, read.TransactionId);
        Assert.NotEqual(req.SenderNonce, read.Message.SenderNonce);
        Assert.Equal(16, read.Message.SenderNonce.Length);
    }

    [Fact]
    public void CertRep_signer_info_uses_rsaEncryption_and_the_request_digest_and_AES256()
    {
        (RSA key, X509Certificate2 signer, byte[] csr) = ScepTestPki.Client();
        using RSA _ = key;
        var creds = new ScepClientCredentials(signer, CaPublic, HashAlgorithmName.SHA384, ScepCipher.Aes128Cbc);
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, "tx-384", creds);
        ScepServerRequest server = ScepServerRequest.Parse(req.Der, ScepTestPki.Ca);
        Assert.Equal(ScepCipher.Aes128Cbc, server.Cipher);
        byte[] rep = CertRepBuilder.Build(server.Message, server.Cipher, ScepTestPki.Ca, ScepReply.Success(ScepTestPki.Issue(csr)));

        var cms = new SignedCms();
        cms.Decode(rep);
        Assert.Equal("1.2.840.113549.1.1.1", cms.SignerInfos[0].SignatureAlgorithm.Value); // strongSwan accepts only rsaEncryption
        Assert.Equal("2.16.840.1.101.3.4.2.2", cms.SignerInfos[0].DigestAlgorithm.Value);
        var env = new EnvelopedCms();
        env.Decode(cms.ContentInfo.Content);
        Assert.Equal("2.16.840.1.101.3.4.1.42", env.ContentEncryptionAlgorithm.Oid.Value);
    }

    [Fact]
    public void Legacy_sha1_des_request_gets_sha1_and_3des_reply_never_single_des()
    {
        (RSA key, X509Certificate2 signer, byte[] csr) = ScepTestPki.Client();
        using RSA _ = key;
        var creds = new ScepClientCredentials(signer, CaPublic, HashAlgorithmName.SHA1, ScepCipher.DesCbc);
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, creds);
        ScepServerRequest server = ScepServerRequest.Parse(req.Der, ScepTestPki.Ca);
        Assert.Equal(ScepCipher.DesCbc, server.Cipher);
        byte[] rep = CertRepBuilder.Build(server.Message, server.Cipher, ScepTestPki.Ca, ScepReply.Success(ScepTestPki.Issue(csr)));
        ScepCertRep read = ScepCertRep.Read(rep, req, creds);
        Assert.Equal(ScepPkiStatus.Success, read.Status);
        Assert.Equal("1.3.14.3.2.26", read.Message.DigestAlgorithmOid);
        read.Message.DecryptContent(signer, out ScepCipher replyCipher);
        Assert.Equal(ScepCipher.TripleDesCbc, replyCipher);
    }

    [Fact]
    public void Pending_then_CertPoll_then_issued()
    {
        (RSA key, X509Certificate2 signer, byte[] csr) = ScepTestPki.Client("CN=pending-1,O=Example");
        using RSA _ = key;
        var creds = new ScepClientCredentials(signer, CaPublic);
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, creds);
        ScepServerRequest server = ScepServerRequest.Parse(req.Der, ScepTestPki.Ca);
        byte[] pending = CertRepBuilder.Build(server.Message, server.Cipher, ScepTestPki.Ca, ScepReply.Pending());

        ScepCertRep p = ScepCertRep.Read(pending, req, creds);
        Assert.Equal(ScepPkiStatus.Pending, p.Status);
        Assert.Empty(p.Certificates);
        Assert.Empty(p.Message.Envelope); // RFC 8894 §3.3.2: PENDING omits the pkcsPKIEnvelope

        ScepOutgoingRequest poll = ScepClientMessages.CertPoll(req.TransactionId, CaPublic.SubjectName, new X500DistinguishedName("CN=pending-1,O=Example"), creds);
        ScepServerRequest serverPoll = ScepServerRequest.Parse(poll.Der, ScepTestPki.Ca);
        Assert.Equal(ScepMessageType.CertPoll, serverPoll.MessageType);
        Assert.Equal(req.TransactionId, serverPoll.TransactionId);
        Assert.Equal(CaPublic.SubjectName.Name, serverPoll.IssuerAndSubject!.Issuer.Name);
        Assert.Equal("CN=pending-1, O=Example", serverPoll.IssuerAndSubject.Subject.Name);
        Assert.Null(serverPoll.Csr);

        X509Certificate2 issued = ScepTestPki.Issue(csr);
        byte[] rep = CertRepBuilder.Build(serverPoll.Message, serverPoll.Cipher, ScepTestPki.Ca, ScepReply.Success(issued));
        ScepCertRep done = ScepCertRep.Read(rep, poll, creds);
        Assert.Equal(ScepPkiStatus.Success, done.Status);
        Assert.Equal(issued.SerialNumber, done.IssuedCertificate()!.SerialNumber);
    }

    [Fact]
    public void Failure_carries_failInfo_and_text()
    {
        (RSA key, X509Certificate2 signer, byte[] csr) = ScepTestPki.Client();
        using RSA _ = key;
        var creds = new ScepClientCredentials(signer, CaPublic);
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, creds);
        ScepServerRequest server = ScepServerRequest.Parse(req.Der, ScepTestPki.Ca);
        byte[] rep = CertRepBuilder.Build(server.Message, server.Cipher, ScepTestPki.Ca, ScepReply.Failure(ScepFailInfo.BadRequest, "the challenge password was already used"));
        ScepCertRep read = ScepCertRep.Read(rep, req, creds);
        Assert.Equal(ScepPkiStatus.Failure, read.Status);
        Assert.Equal(ScepFailInfo.BadRequest, read.FailInfo);
        Assert.Equal("the challenge password was already used", read.FailInfoText);
        Assert.Empty(read.Certificates);
    }

    [Fact]
    public void GetCert_and_GetCrl_payloads_round_trip()
    {
        (RSA key, X509Certificate2 signer, byte[] _) = ScepTestPki.Client();
        using RSA k = key;
        var creds = new ScepClientCredentials(signer, CaPublic);
        byte[] serial = [0x00, 0x8a, 0x01, 0x02];
        ScepOutgoingRequest get = ScepClientMessages.GetCert(CaPublic.SubjectName, serial, creds);
        ScepServerRequest s = ScepServerRequest.Parse(get.Der, ScepTestPki.Ca);
        Assert.Equal(ScepMessageType.GetCert, s.MessageType);
        Assert.Equal("8A0102", s.IssuerAndSerialNumber!.SerialHex);

        ScepOutgoingRequest crlReq = ScepClientMessages.GetCrl(CaPublic.SubjectName, [0x05], creds);
        ScepServerRequest sc = ScepServerRequest.Parse(crlReq.Der, ScepTestPki.Ca);
        Assert.Equal(ScepMessageType.GetCrl, sc.MessageType);
        byte[] fakeCrl = [0x30, 0x03, 0x02, 0x01, 0x07];
        byte[] rep = CertRepBuilder.Build(sc.Message, sc.Cipher, ScepTestPki.Ca, ScepReply.SuccessCrl(fakeCrl));
        ScepCertRep read = ScepCertRep.Read(rep, crlReq, creds);
        Assert.Equal(fakeCrl, Assert.Single(read.Crls));
    }

    [Fact]
    public void Degenerate_signed_data_round_trips_and_is_readable_by_SignedCms()
    {
        X509Certificate2 other = ScepTestPki.CreateCa("CN=Other,O=Certgate");
        byte[] der = DegenerateSignedData.Encode([CaPublic, other]);
        (X509Certificate2Collection certs, IReadOnlyList<byte[]> crls) = DegenerateSignedData.Decode(der);
        Assert.Equal(2, certs.Count);
        Assert.Empty(crls);
        var cms = new SignedCms();
        cms.Decode(der);
        Assert.Equal(2, cms.Certificates.Count);
        Assert.Empty(cms.SignerInfos);
    }

    [Fact]
    public void Request_encrypted_to_another_CA_is_a_format_error()
    {
        (RSA key, X509Certificate2 signer, byte[] csr) = ScepTestPki.Client();
        using RSA _ = key;
        X509Certificate2 other = ScepTestPki.CreateCa("CN=Other CA");
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, new ScepClientCredentials(signer, X509CertificateLoader.LoadCertificate(other.RawData)));
        var e = Assert.Throws<ScepFormatException>(() => ScepServerRequest.Parse(req.Der, ScepTestPki.Ca));
        Assert.Contains("not encrypted to", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CertRep_with_wrong_nonce_or_untrusted_signer_is_refused()
    {
        (RSA key, X509Certificate2 signer, byte[] csr) = ScepTestPki.Client();
        using RSA _ = key;
        var creds = new ScepClientCredentials(signer, CaPublic);
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, creds);
        ScepServerRequest server = ScepServerRequest.Parse(req.Der, ScepTestPki.Ca);
        byte[] rep = CertRepBuilder.Build(server.Message, server.Cipher, ScepTestPki.Ca, ScepReply.Pending());

        ScepOutgoingRequest replayed = req with { SenderNonce = new byte[16] };
        Assert.Contains("recipientNonce", Assert.Throws<ScepFormatException>(() => ScepCertRep.Read(rep, replayed, creds)).Message, StringComparison.Ordinal);

        X509Certificate2 other = ScepTestPki.CreateCa("CN=Impostor");
        byte[] forged = CertRepBuilder.Build(server.Message, server.Cipher, other, ScepReply.Pending());
        Assert.Contains("not the CA", Assert.Throws<ScepFormatException>(() => ScepCertRep.Read(forged, req, creds)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CertRep_sent_to_the_server_is_refused()
    {
        (RSA key, X509Certificate2 signer, byte[] csr) = ScepTestPki.Client();
        using RSA _ = key;
        var creds = new ScepClientCredentials(signer, CaPublic);
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, creds);
        ScepServerRequest server = ScepServerRequest.Parse(req.Der, ScepTestPki.Ca);
        byte[] rep = CertRepBuilder.Build(server.Message, server.Cipher, ScepTestPki.Ca, ScepReply.Pending());
        Assert.Throws<ScepFormatException>(() => ScepServerRequest.Parse(rep, ScepTestPki.Ca));
    }
}

public sealed class ScepRejectedRequestTests
{
    [Fact]
    public void Bad_signature_keeps_the_readable_request_for_a_badMessageCheck_CertRep()
    {
        (RSA key, X509Certificate2 signer, byte[] csr) = ScepTestPki.Client();
        using RSA _ = key;
        var creds = new ScepClientCredentials(signer, X509CertificateLoader.LoadCertificate(ScepTestPki.Ca.RawData));
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, creds);
        byte[] bad = req.Der.ToArray();
        bad[^10] ^= 0x40; // inside the RSA signature value (the last field)
        ScepFormatException e = Assert.Throws<ScepFormatException>(() => ScepServerRequest.Parse(bad, ScepTestPki.Ca));
        Assert.Equal(ScepFailInfo.BadMessageCheck, e.FailInfo);
        Assert.NotNull(e.Request);
        Assert.Equal(req.TransactionId, e.Request!.TransactionId);

        byte[] rep = CertRepBuilder.Build(e.Request, ScepCipher.Aes256Cbc, ScepTestPki.Ca, ScepReply.Failure(e.FailInfo, "signature"));
        ScepCertRep read = ScepCertRep.Read(rep, req, creds);
        Assert.Equal(ScepFailInfo.BadMessageCheck, read.FailInfo);
    }

    [Fact]
    public void Not_encrypted_to_us_is_badMessageCheck_with_the_request()
    {
        (RSA key, X509Certificate2 signer, byte[] csr) = ScepTestPki.Client();
        using RSA _ = key;
        X509Certificate2 other = ScepTestPki.CreateCa("CN=Elsewhere");
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, new ScepClientCredentials(signer, X509CertificateLoader.LoadCertificate(other.RawData)));
        ScepFormatException e = Assert.Throws<ScepFormatException>(() => ScepServerRequest.Parse(req.Der, ScepTestPki.Ca));
        Assert.Equal(ScepFailInfo.BadMessageCheck, e.FailInfo);
        Assert.Equal(ScepMessageType.PkcsReq, e.Request!.MessageType);
    }
}
