using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Scep.Tests;

/// <summary>
/// RSA CA, client keys, CSRs and issued certificates for SCEP message tests, on the shared <see cref="TestCa"/> and the
/// real clock (the SCEP code checks validity against it).
/// </summary>
internal static class ScepTestPki
{
    private static readonly Lazy<(TestCa Authority, X509Certificate2 Certificate)> LazyCa = new(() =>
    {
        TestCa authority = CreateAuthority("CN=SCEP Test CA,O=Certgate");
        return (authority, authority.CertificateWithKey());
    });

    /// <summary>A shared RSA-2048 CA with private key (creating RSA keys is slow).</summary>
    public static X509Certificate2 Ca => LazyCa.Value.Certificate;

    /// <summary>An RSA CA with private key that may also sign and decrypt SCEP messages, valid from a day ago for 30 days.</summary>
    public static X509Certificate2 CreateCa(string subject)
    {
        using TestCa authority = CreateAuthority(subject);
        return authority.CertificateWithKey();
    }

    private static TestCa CreateAuthority(string subject)
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        // No key identifiers: the SCEP CA certificates of these tests always had none.
        return TestCa.CreateRoot(subject, new CertOptions
        {
            KeyUsage = X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment,
            NotBefore = now.AddDays(-1),
            NotAfter = now.AddDays(30),
            OmitSubjectKeyIdentifier = true,
            OmitAuthorityKeyIdentifier = true,
        }, now);
    }

    /// <summary>A client: its key, a self-signed signer certificate and a CSR with a challenge password.</summary>
    public static (RSA Key, X509Certificate2 Signer, byte[] Csr) Client(string subject = "CN=client-1,O=Example", string? challenge = "secret")
    {
        RSA key = RSA.Create(2048);
        DateTimeOffset now = DateTimeOffset.UtcNow;
        X509Certificate2 signer = TestCa.SelfSigned(key, subject, now.AddDays(-1), now.AddDays(1));
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        if (challenge is not null)
        {
            var w = new AsnWriter(AsnEncodingRules.DER);
            w.WriteCharacterString(UniversalTagNumber.PrintableString, challenge);
            req.OtherRequestAttributes.Add(new AsnEncodedData("1.2.840.113549.1.9.7", w.Encode()));
        }
        return (key, signer, req.CreateSigningRequest());
    }

    /// <summary>Signs <paramref name="csr"/> with <see cref="Ca"/>, a random positive 16-octet serial.</summary>
    public static X509Certificate2 Issue(byte[] csr)
    {
        CertificateRequest req = CertificateRequest.LoadSigningRequest(csr, HashAlgorithmName.SHA256);
        DateTimeOffset now = DateTimeOffset.UtcNow;
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        return LazyCa.Value.Authority.Issue(req.SubjectName, req.PublicKey, new CertOptions
        {
            NotBefore = now.AddMinutes(-5),
            NotAfter = now.AddDays(10),
            Serial = serial,
        });
    }
}
