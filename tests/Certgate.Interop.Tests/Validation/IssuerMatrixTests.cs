using System.Security.Cryptography.X509Certificates;
using Certgate.Cli;
using Certgate.Interop.Tests.Tools;
using Certgate.Pki.Revocation;

namespace Certgate.Interop.Tests.Validation;

/// <summary>Whether the gateway certificate of a cell is on the CRL.</summary>
public enum MatrixStatus
{
    Good,
    Revoked,
}

/// <summary>
/// Issue #13's matrix: for every issuing tool × key identifiers present or absent × good or revoked, the gateway
/// path (the commands a user types: <c>configure</c> a CA profile, <c>ca-certificate load</c>, <c>key-pair
/// import</c>, <c>local-certificate load</c>, <c>crl load</c>, <c>local-certificate verify</c>) must judge the
/// certificate exactly as <c>openssl verify -crl_check -CAfile ca.pem -CRLfile crl.pem cert.pem</c> does.
/// The commands run through <see cref="CertgateCli.Run"/>, the entry point of the <c>certgate</c> executable.
/// </summary>
public sealed class IssuerMatrixTests(IssuerMatrixPki pki) : IClassFixture<IssuerMatrixPki>
{
    [Theory]
    [InlineData(MatrixIssuer.OpenSsl, MatrixKeyIds.Present, MatrixStatus.Good)]
    [InlineData(MatrixIssuer.OpenSsl, MatrixKeyIds.Present, MatrixStatus.Revoked)]
    [InlineData(MatrixIssuer.OpenSsl, MatrixKeyIds.Absent, MatrixStatus.Good)]
    [InlineData(MatrixIssuer.OpenSsl, MatrixKeyIds.Absent, MatrixStatus.Revoked)]
    [InlineData(MatrixIssuer.OpenSsl, MatrixKeyIds.CaOnly, MatrixStatus.Good)]
    [InlineData(MatrixIssuer.OpenSsl, MatrixKeyIds.CaOnly, MatrixStatus.Revoked)]
    // strongSwan pki has no switch to leave key identifiers out (see IssuerMatrixPki.StrongSwan): Present only.
    [InlineData(MatrixIssuer.StrongSwanPki, MatrixKeyIds.Present, MatrixStatus.Good)]
    [InlineData(MatrixIssuer.StrongSwanPki, MatrixKeyIds.Present, MatrixStatus.Revoked)]
    // The Certgate CA always writes them (see IssuerMatrixPki.OurCa): Present only.
    [InlineData(MatrixIssuer.Certgate, MatrixKeyIds.Present, MatrixStatus.Good)]
    [InlineData(MatrixIssuer.Certgate, MatrixKeyIds.Present, MatrixStatus.Revoked)]
    public void Gateway_verify_agrees_with_openssl_verify(MatrixIssuer issuer, MatrixKeyIds keyIds, MatrixStatus status)
    {
        MatrixCa ca = pki.Get(issuer, keyIds);
        bool revoked = status == MatrixStatus.Revoked;
        string certificate = revoked ? ca.RevokedCertificate : ca.GoodCertificate;
        string key = revoked ? ca.RevokedKey : ca.GoodKey;
        AssertKeyIdentifiers(issuer, keyIds, ca, certificate);

        ExternalTool.Result openssl = ExternalTool.Run("openssl", ["verify", "-crl_check", "-CAfile", ca.Certificate, "-CRLfile", ca.Crl, certificate]);
        bool opensslOk = openssl.ExitCode == 0 && openssl.StdOut.Contains(": OK", StringComparison.Ordinal);
        (bool gatewayOk, string gatewaySays) = GatewayVerify(ca, certificate, key);

        Assert.True(opensslOk == gatewayOk,
            $"openssl verify says {(opensslOk ? "OK" : "fail")}, the gateway {(gatewayOk ? "OK" : "fail")}\nopenssl: {openssl.Combined}\ngateway: {gatewaySays}");
        if (revoked)
        {
            Assert.False(opensslOk, openssl.Combined);
            Assert.Contains("certificate revoked", openssl.Combined);
            Assert.Contains("was revoked at", gatewaySays);
            Assert.Contains("keyCompromise", gatewaySays);
        }
        else
        {
            Assert.True(opensslOk, openssl.Combined);
            Assert.Equal("Local certificate gw1 verification success\n", gatewaySays);
        }
    }

    /// <summary>The cell holds what its name says: which of CA SKI, certificate SKI/AKI and CRL AKI are there.</summary>
    private static void AssertKeyIdentifiers(MatrixIssuer issuer, MatrixKeyIds keyIds, MatrixCa ca, string certificate)
    {
        using X509Certificate2 caCert = X509CertificateLoader.LoadCertificateFromFile(ca.Certificate);
        using X509Certificate2 leaf = X509CertificateLoader.LoadCertificateFromFile(certificate);
        CertificateRevocationList crl = CertificateRevocationList.LoadFile(ca.Crl);
        bool caSki = caCert.Extensions["2.5.29.14"] is not null;
        bool leafSki = leaf.Extensions["2.5.29.14"] is not null;
        bool leafAki = leaf.Extensions["2.5.29.35"] is not null;
        bool crlAki = crl.AuthorityKeyIdentifier is not null;
        string seen = $"CA SKI {caSki}, certificate SKI {leafSki} AKI {leafAki}, CRL AKI {crlAki}";
        (bool, bool, bool, bool) expected = keyIds switch
        {
            // strongSwan writes no subjectKeyIdentifier in an end-entity certificate.
            MatrixKeyIds.Present => (true, issuer != MatrixIssuer.StrongSwanPki, true, true),
            MatrixKeyIds.Absent => (false, false, false, false),
            MatrixKeyIds.CaOnly => (true, false, false, false),
            _ => throw new ArgumentOutOfRangeException(nameof(keyIds)),
        };
        Assert.True(expected == (caSki, leafSki, leafAki, crlAki), $"{issuer}/{keyIds}: {seen}");
        if (keyIds == MatrixKeyIds.CaOnly)
        {
            Assert.Equal(1, leaf.Version);
        }
    }

    /// <summary>A fresh gateway state directory taken through the user's commands; the verify verdict and its words.</summary>
    private (bool Ok, string Says) GatewayVerify(MatrixCa ca, string certificate, string key)
    {
        string state = pki.File("state-" + Guid.NewGuid().ToString("N"));
        (int Code, string Out, string Err) Run(string stdin, params string[] args)
        {
            var o = new StringWriter();
            var e = new StringWriter();
            int code = CertgateCli.Run(["--state", state, .. args], new StringReader(stdin), o, e);
            return (code, o.ToString().ReplaceLineEndings("\n"), e.ToString().ReplaceLineEndings("\n"));
        }
        void Ok(string stdin, params string[] args)
        {
            (int code, string output, string err) = Run(stdin, args);
            Assert.True(code == 0, $"certgate {string.Join(' ', args)} exited {code}: {err}{output}");
        }

        Ok("set security pki ca-profile matrix ca-identity matrix\ncommit\n", "configure");
        Ok("", "request", "security", "pki", "ca-certificate", "load", "ca-profile", "matrix", "filename", ca.Certificate, "--yes");
        Ok("", "request", "security", "pki", "key-pair", "import", "certificate-id", "gw1", "filename", key);
        Ok("", "request", "security", "pki", "local-certificate", "load", "certificate-id", "gw1", "filename", certificate);
        Ok("", "request", "security", "pki", "crl", "load", "ca-profile", "matrix", "filename", ca.Crl);
        (int verify, string says, string error) = Run("", "request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw1");
        return (verify == 0, says + error);
    }
}
