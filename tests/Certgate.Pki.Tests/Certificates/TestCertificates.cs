using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Pki.Tests.Certificates;

/// <summary>A CA and Junos-like leaf certificates with fixed validity and serials, made by the shared <see cref="TestCa"/>.</summary>
internal static class TestCertificates
{
    public static readonly DateTimeOffset NotBefore = new(2017, 4, 21, 19, 22, 0, TimeSpan.Zero);
    public static readonly DateTimeOffset NotAfter = new(2028, 4, 3, 9, 13, 0, TimeSpan.Zero);

    /// <summary>A root for <paramref name="key"/> (the caller keeps it), serial 01, with the private key.</summary>
    public static X509Certificate2 CreateCa(RSA key, string subject = "CN=Root, O=juniper, C=us")
    {
        using TestCa ca = TestCa.CreateRoot(subject, new CertOptions
        {
            KeyUsage = X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment,
            NotBefore = NotBefore,
            NotAfter = NotAfter,
            Serial = [0x01],
            OmitAuthorityKeyIdentifier = true,
        }, key: Copy(key));
        return ca.CertificateWithKey();
    }

    /// <summary>A copy of <paramref name="key"/> for the CA to own (the caller goes on signing with its own).</summary>
    private static RSA Copy(RSA key)
    {
        var copy = RSA.Create();
        copy.ImportRSAPrivateKey(key.ExportRSAPrivateKey(), out _);
        return copy;
    }

    /// <summary>A Junos-like end-entity certificate (SAN, EKU, AIA, CRL distribution point, policy) for <paramref name="subjectKey"/>.</summary>
    public static X509Certificate2 CreateLeaf(X509Certificate2 ca, RSA caKey, PublicKey subjectKey, X500DistinguishedName subject, byte[]? serial = null)
    {
        var san = new SubjectAlternativeNameBuilder();
        san.AddEmailAddress("test@juniper.net");
        san.AddDnsName("juniper.net");
        san.AddIpAddress(IPAddress.Parse("192.0.2.1"));
        using TestCa issuer = TestCa.Wrap(ca, caKey);
        return issuer.Issue(subject, subjectKey, new CertOptions
        {
            KeyUsage = X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment,
            NotBefore = NotBefore,
            NotAfter = NotAfter.AddYears(-10),
            Serial = serial ?? [0x00, 0x04, 0x3d, 0xa0],
            ExtraExtensions =
            [
                new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.17"), new Oid("1.3.6.1.5.5.7.3.1")], false),
                san.Build(),
                new X509AuthorityInformationAccessExtension(["http://10.204.128.120:8090/Root/"], ["http://10.204.128.120/ca.crt"]),
                CrlDistributionPoint("http://10.204.128.120:8080/crl-as-der/currentcrl-292.crl?id=292"),
                Policies("1.3.6.1.4.1.2636.1.1"),
            ],
        });
    }

    /// <summary>A CRL distribution point extension (the product's own builder is under test elsewhere).</summary>
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
