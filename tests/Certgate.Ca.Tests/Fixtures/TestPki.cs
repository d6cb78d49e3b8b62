using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Settings;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Ca.Tests.Fixtures;

/// <summary>Keys, CA certificates and CSRs for tests.</summary>
public static class TestPki
{
    /// <summary>A self-signed ECDSA P-256 CA (fast) valid from <paramref name="now"/> − 1 day for <paramref name="days"/>.</summary>
    public static X509Certificate2 CreateCa(DateTimeOffset now, int days = 3650, string subject = "CN=Test CA,O=Certgate")
    {
        using TestCa ca = CreateAuthority(now, days, subject);
        return ca.CertificateWithKey();
    }

    /// <summary>
    /// The shared test CA (tests/Shared/TestPki), with the key usage, validity and key identifiers this project's CA
    /// certificates always had: an ECDSA P-256 root with subjectKeyIdentifier and no authorityKeyIdentifier.
    /// </summary>
    internal static TestCa CreateAuthority(DateTimeOffset now, int days = 3650, string subject = "CN=Test CA,O=Certgate") =>
        TestCa.CreateRoot(subject, new CertOptions
        {
            KeyType = TestKeyType.EcdsaP256,
            KeyUsage = X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature,
            NotBefore = now.AddDays(-1),
            NotAfter = now.AddDays(days),
            OmitAuthorityKeyIdentifier = true,
        }, now);

    /// <summary>A DER PKCS#10 request.</summary>
    public static byte[] Csr(AsymmetricAlgorithm key, string subject = "CN=gw1.example.net,O=Example", string? challenge = null,
        IEnumerable<string>? dns = null, IEnumerable<string>? ips = null, IEnumerable<string>? emails = null, string? uri = null,
        IEnumerable<X509Extension>? extraExtensions = null)
    {
        CertificateRequest req = key switch
        {
            RSA rsa => new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            ECDsa ec => new CertificateRequest(subject, ec, HashAlgorithmName.SHA256),
            _ => throw new ArgumentException("key", nameof(key)),
        };
        var san = new SubjectAlternativeNameBuilder();
        bool anySan = false;
        foreach (string d in dns ?? []) { san.AddDnsName(d); anySan = true; }
        foreach (string i in ips ?? []) { san.AddIpAddress(IPAddress.Parse(i)); anySan = true; }
        foreach (string e in emails ?? []) { san.AddEmailAddress(e); anySan = true; }
        if (uri is not null) { san.AddUri(new Uri(uri)); anySan = true; }
        if (anySan)
        {
            req.CertificateExtensions.Add(san.Build());
        }
        foreach (X509Extension e in extraExtensions ?? [])
        {
            req.CertificateExtensions.Add(e);
        }
        if (challenge is not null)
        {
            var w = new AsnWriter(AsnEncodingRules.DER);
            w.WriteCharacterString(UniversalTagNumber.PrintableString, challenge);
            req.OtherRequestAttributes.Add(new AsnEncodedData(Oids.ChallengePassword, w.Encode()));
        }
        return req.CreateSigningRequest();
    }

    public static ECDsa NewEcKey() => ECDsa.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>A self-signed certificate for <paramref name="key"/>, as a SCEP client signs its first PKCSReq with.</summary>
    public static X509Certificate2 SelfSigned(ECDsa key, string subject, DateTimeOffset now) =>
        TestCa.SelfSigned(key, subject, now.AddDays(-1), now.AddDays(1));
}
