using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Encoding;
using Certgate.Pki.Tests.Certificates;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Pki.Tests.Encoding;

public sealed class PemAndInputTests
{
    [Fact]
    public void Pem_round_trips_and_tolerates_crlf_and_text_around()
    {
        byte[] data = RandomNumberGenerator.GetBytes(200);
        string pem = Pem.Write("CERTIFICATE", data);
        string messy = "Bag Attributes\r\n  friendlyName: x\r\n\r\n  " + pem.Replace("\n", "\r\n", StringComparison.Ordinal) + "\r\ntrailing";
        PemBlock block = Assert.Single(Pem.ReadAll(messy));
        Assert.Equal("CERTIFICATE", block.Label);
        Assert.Equal(data, block.Data);
    }

    [Theory]
    [InlineData("-----BEGIN CERTIFICATE-----\nAAAA\n", "no matching END")]
    [InlineData("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "base64")]
    [InlineData("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "empty")]
    public void Pem_rejects_garbage_with_a_reason(string text, string reason)
    {
        var e = Assert.Throws<PkiFormatException>(() => Pem.ReadAll(text));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Certificate_is_found_in_pem_and_der_and_wrong_kinds_are_named()
    {
        using RSA key = RSA.Create(2048);
        using var ca = TestCertificates.CreateCa(key);
        Assert.Equal(ca.RawData, PkiInput.DecodeCertificate(ca.RawData));
        Assert.Equal(ca.RawData, PkiInput.DecodeCertificate(System.Text.Encoding.ASCII.GetBytes(Pem.Write("CERTIFICATE", ca.RawData))));

        var e1 = Assert.Throws<PkiFormatException>(() => PkiInput.DecodeCertificate(key.ExportPkcs8PrivateKey()));
        Assert.Contains("holds a private key", e1.Message, StringComparison.Ordinal);
        var e2 = Assert.Throws<PkiFormatException>(() => PkiInput.DecodeCertificate(System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem())));
        Assert.Contains("'PRIVATE KEY'", e2.Message, StringComparison.Ordinal);
        var e3 = Assert.Throws<PkiFormatException>(() => PkiInput.DecodeCertificate(ca.RawData.AsSpan(0, ca.RawData.Length - 10)));
        Assert.Contains("neither PEM nor DER", e3.Message, StringComparison.Ordinal);
        Assert.Throws<PkiFormatException>(() => PkiInput.DecodeCertificate([]));
    }

    [Fact]
    public void Crl_and_request_are_classified()
    {
        using RSA key = RSA.Create(2048);
        using var ca = TestCertificates.CreateCa(key);
        using TestCa authority = TestCa.Wrap(ca, key);
        byte[] crl = authority.CrlBytes(thisUpdate: TestCertificates.NotBefore, nextUpdate: TestCertificates.NotAfter, number: 1);
        Assert.Equal(crl, PkiInput.DecodeCrl(crl));
        var e = Assert.Throws<PkiFormatException>(() => PkiInput.DecodeCertificate(crl));
        Assert.Contains("holds a CRL", e.Message, StringComparison.Ordinal);
        byte[] csr = new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest();
        Assert.Equal(csr, PkiInput.DecodeCertificateRequest(csr));
        var e2 = Assert.Throws<PkiFormatException>(() => PkiInput.DecodeCertificate(csr));
        Assert.Contains("certificate request", e2.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Huge_file_is_refused_from_its_size_without_reading_it()
    {
        string path = Path.GetTempFileName();
        try
        {
            using (var f = new FileStream(path, FileMode.Create))
            {
                f.SetLength(100L * 1024 * 1024); // sparse: no 100 MB written
            }
            // Refused from its size; that it is quick (not read) is measured in bench/ (input-bounds), not asserted here (issue 13).
            var e = Assert.Throws<PkiFormatException>(() => PkiInput.ReadFile(path));
            Assert.Contains("too large", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Empty_file_is_refused()
    {
        string path = Path.GetTempFileName();
        try
        {
            var e = Assert.Throws<PkiFormatException>(() => PkiInput.ReadFile(path));
            Assert.Contains("empty", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
