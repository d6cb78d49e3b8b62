using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Certificates;
using Certgate.Pki.Encoding;

namespace Certgate.Pki.Tests.Certificates;

public sealed class CertificateInfoTests
{
    [Fact]
    public void Leaf_fields_are_decoded()
    {
        using RSA caKey = RSA.Create(2048);
        using X509Certificate2 ca = TestCertificates.CreateCa(caKey);
        using ECDsa leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        X509Certificate2 leaf = TestCertificates.CreateLeaf(ca, caKey, new PublicKey(leafKey), new X500DistinguishedName("CN=local, O=juniper"));
        CertificateInfo info = CertificateInfo.Parse(leaf.RawData);

        Assert.Equal(3, info.Version);
        Assert.Equal("043da0", info.SerialNumberHex);
        Assert.Equal("O=juniper, CN=local", info.SubjectString);
        Assert.Equal("C=us, O=juniper, CN=Root", info.IssuerString);
        Assert.Equal("\"test@juniper.net\", juniper.net, ipv4 192.0.2.1, ipv6 empty", info.AlternativeNames.ToJunosString());
        Assert.Equal(TestCertificates.NotBefore, info.NotBefore);
        Assert.Equal("ecdsaEncryption", info.PublicKey.Algorithm);
        Assert.Equal(256, info.PublicKey.Bits);
        Assert.StartsWith("04:", info.PublicKey.KeyHex, StringComparison.Ordinal);
        Assert.Equal("sha256WithRSAEncryption", info.SignatureAlgorithm);
        Assert.Equal(["http://10.204.128.120:8080/crl-as-der/currentcrl-292.crl?id=292"], info.CrlDistributionPoints);
        Assert.Equal(["http://10.204.128.120:8090/Root/"], info.OcspUris);
        Assert.Equal(["http://10.204.128.120/ca.crt"], info.CaIssuersUris);
        Assert.Equal(["Key encipherment", "Digital signature"], info.KeyUsage);
        Assert.Equal(["IPSec IKE", "TLS Web Server Authentication"], info.ExtendedKeyUsage);
        Assert.False(info.IsCa);
        Assert.Equal(["1.3.6.1.4.1.2636.1.1"], info.CertificatePolicies);
        Assert.Equal(Convert.ToHexStringLower(SHA1.HashData(leaf.RawData)), info.Fingerprints.Sha1.Replace(":", "", StringComparison.Ordinal));
        Assert.Equal(59, info.Fingerprints.Sha1.Length);
        Assert.Equal(47, info.Fingerprints.Md5.Length);
    }

    [Fact]
    public void Ca_key_usage_in_junos_order()
    {
        using RSA caKey = RSA.Create(2048);
        using X509Certificate2 ca = TestCertificates.CreateCa(caKey);
        CertificateInfo info = CertificateInfo.From(X509CertificateLoader.LoadCertificate(ca.RawData));
        Assert.True(info.IsCa);
        Assert.Equal(["CRL signing", "Certificate signing", "Key encipherment", "Digital signature"], info.KeyUsage);
        Assert.Equal("rsaEncryption", info.PublicKey.Algorithm);
        Assert.Equal(2048, info.PublicKey.Bits);
        Assert.StartsWith("30:82:01:0a:02:82:01:01:00", info.PublicKey.KeyHex, StringComparison.Ordinal);
    }

    [Fact]
    public void Garbage_is_a_format_error()
    {
        Assert.Throws<PkiFormatException>(() => CertificateInfo.Parse(RandomNumberGenerator.GetBytes(300)));
        Assert.Throws<PkiFormatException>(() => CertificateInfo.Parse("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"u8));
    }
}
