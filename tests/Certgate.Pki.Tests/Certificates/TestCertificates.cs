using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Pki.Tests.Certificates;

/// <summary>Builds a CA and leaf certificates with fixed validity and serials for tests.</summary>
internal static class TestCertificates
{
    public static readonly DateTimeOffset NotBefore = new(2017, 4, 21, 19, 22, 0, TimeSpan.Zero);
    public static readonly DateTimeOffset NotAfter = new(2028, 4, 3, 9, 13, 0, TimeSpan.Zero);

    public static X509Certificate2 CreateCa(RSA key, string subject = "CN=Root, O=juniper, C=us")
    {
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        return req.Create(new X500DistinguishedName(req.SubjectName.RawData), X509SignatureGenerator.CreateForRSA(key, RSASignaturePadding.Pkcs1), NotBefore, NotAfter, [0x01]).CopyWithPrivateKey(key);
    }

    public static X509Certificate2 CreateLeaf(X509Certificate2 ca, RSA caKey, PublicKey subjectKey, X500DistinguishedName subject, byte[]? serial = null)
    {
        var req = new CertificateRequest(subject, subjectKey, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.17"), new Oid("1.3.6.1.5.5.7.3.1")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddEmailAddress("test@juniper.net");
        san.AddDnsName("juniper.net");
        san.AddIpAddress(IPAddress.Parse("192.0.2.1"));
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509AuthorityInformationAccessExtension(["http://10.204.128.120:8090/Root/"], ["http://10.204.128.120/ca.crt"]));
        req.CertificateExtensions.Add(CrlDistributionPoint("http://10.204.128.120:8080/crl-as-der/currentcrl-292.crl?id=292"));
        req.CertificateExtensions.Add(Policies("1.3.6.1.4.1.2636.1.1"));
        return req.Create(ca.SubjectName, X509SignatureGenerator.CreateForRSA(caKey, RSASignaturePadding.Pkcs1), NotBefore, NotAfter.AddYears(-10), serial ?? [0x00, 0x04, 0x3d, 0xa0]);
    }

    public static X509Extension CrlDistributionPoint(string uri) =>
        CertificateRevocationListBuilder.BuildCrlDistributionPointExtension([uri]);

    public static X509Extension Policies(string oid)
    {
        var w = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
        using (w.PushSequence())
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(oid);
        }
        return new X509Extension("2.5.29.32", w.Encode(), false);
    }
}
