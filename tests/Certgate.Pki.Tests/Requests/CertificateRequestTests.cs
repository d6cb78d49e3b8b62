using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using Certgate.Pki.Encoding;
using Certgate.Pki.Keys;
using Certgate.Pki.Names;
using Certgate.Pki.Requests;

namespace Certgate.Pki.Tests.Requests;

public sealed class CertificateRequestTests
{
    [Theory]
    [InlineData(KeyAlgorithm.Rsa, 2048, SignatureDigest.Sha1, "sha1WithRSAEncryption")]
    [InlineData(KeyAlgorithm.Rsa, 2048, SignatureDigest.Sha256, "sha256WithRSAEncryption")]
    [InlineData(KeyAlgorithm.Rsa, 2048, SignatureDigest.Sha512, "sha512WithRSAEncryption")]
    [InlineData(KeyAlgorithm.Ecdsa, 256, SignatureDigest.Sha256, "ecdsa-with-SHA256")]
    [InlineData(KeyAlgorithm.Ecdsa, 384, SignatureDigest.Sha384, "ecdsa-with-SHA384")]
    public void Build_then_parse_gives_back_everything(KeyAlgorithm algorithm, int size, SignatureDigest digest, string sigName)
    {
        using KeyPair key = KeyPair.Generate(algorithm, size);
        byte[] der = CertificateRequestBuilder.Create(key, new CertificateRequestOptions
        {
            Subject = JunosDistinguishedName.Parse("DC=juniper,CN=router2,O=Example,C=US"),
            DnsNames = ["router2.example.com"],
            IPAddresses = [IPAddress.Parse("192.0.2.7"), IPAddress.Parse("2001:db8::7")],
            Emails = ["ops@example.com"],
            ChallengePassword = "s3cret",
            Digest = digest,
        });
        CertificateSigningRequest csr = CertificateSigningRequest.Parse(der);
        Assert.Equal("DC=juniper, CN=router2, O=Example, C=US", csr.SubjectString);
        Assert.Equal(["router2.example.com"], csr.AlternativeNames.DnsNames);
        Assert.Equal(["ops@example.com"], csr.AlternativeNames.Emails);
        Assert.Equal(["192.0.2.7"], csr.AlternativeNames.IPv4.Select(a => a.ToString()));
        Assert.Equal(["2001:db8::7"], csr.AlternativeNames.IPv6.Select(a => a.ToString()));
        Assert.Equal("s3cret", csr.ChallengePassword);
        Assert.Equal(sigName, csr.SignatureAlgorithm);
        Assert.True(key.Matches(csr.PublicKey));
        Assert.Equal(size, csr.PublicKeyInfo.Bits);

        CertificateSigningRequest fromPem = CertificateSigningRequest.Parse(System.Text.Encoding.ASCII.GetBytes(csr.ToPem()));
        Assert.Equal(der, fromPem.RawData);
    }

    [Fact]
    public void Challenge_password_is_printable_when_possible_else_utf8()
    {
        Assert.Equal((byte)UniversalTagNumber.PrintableString, CertificateRequestBuilder.EncodeDirectoryString("abc-123")[0]);
        Assert.Equal((byte)UniversalTagNumber.UTF8String, CertificateRequestBuilder.EncodeDirectoryString("p@ss")[0]);
    }

    [Fact]
    public void Sha1_with_ecdsa_is_refused()
    {
        using KeyPair key = KeyPair.Generate(KeyAlgorithm.Ecdsa, 256);
        Assert.Throws<ArgumentException>(() => CertificateRequestBuilder.Create(key, new CertificateRequestOptions
        {
            Subject = new("CN=x"),
            Digest = SignatureDigest.Sha1,
        }));
    }

    [Fact]
    public void Tampered_signature_and_hostile_bytes_give_one_exception_type()
    {
        using KeyPair key = KeyPair.Generate(KeyAlgorithm.Ecdsa, 256);
        byte[] der = CertificateRequestBuilder.Create(key, new CertificateRequestOptions { Subject = new("CN=victim") });
        byte[] tampered = (byte[])der.Clone();
        int at = tampered.AsSpan().IndexOf("victim"u8);
        tampered[at] = (byte)'V';
        Assert.Throws<PkiFormatException>(() => CertificateSigningRequest.Parse(tampered));

        // Every truncation and many single-byte corruptions: never anything but PkiFormatException.
        for (int len = 0; len < der.Length; len += 3)
        {
            Assert.False(CertificateSigningRequest.TryParse(der.AsSpan(0, len), out _, out string? error));
            Assert.NotNull(error);
        }
        var rng = new Random(1234);
        for (int i = 0; i < 300; i++)
        {
            byte[] broken = (byte[])der.Clone();
            broken[rng.Next(broken.Length)] ^= (byte)(1 << rng.Next(8));
            try
            {
                CertificateSigningRequest.Parse(broken);
            }
            catch (PkiFormatException)
            {
                // expected for most mutations
            }
        }
        Assert.Throws<PkiFormatException>(() => CertificateSigningRequest.Parse(RandomNumberGenerator.GetBytes(5000)));
    }
}
