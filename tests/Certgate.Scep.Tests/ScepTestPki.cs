using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Scep.Tests;

/// <summary>RSA CA, client keys, CSRs and issued certificates for SCEP message tests.</summary>
internal static class ScepTestPki
{
    private static readonly Lazy<X509Certificate2> LazyCa = new(() => CreateCa("CN=SCEP Test CA,O=Certgate"));

    /// <summary>A shared RSA-2048 CA with private key (creating RSA keys is slow).</summary>
    public static X509Certificate2 Ca => LazyCa.Value;

    public static X509Certificate2 CreateCa(string subject)
    {
        using RSA key = RSA.Create(2048);
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign
            | X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return req.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
    }

    /// <summary>A client: its key, a self-signed signer certificate and a CSR with a challenge password.</summary>
    public static (RSA Key, X509Certificate2 Signer, byte[] Csr) Client(string subject = "CN=client-1,O=Example", string? challenge = "secret")
    {
        RSA key = RSA.Create(2048);
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        DateTimeOffset now = DateTimeOffset.UtcNow;
        X509Certificate2 signer = req.CreateSelfSigned(now.AddDays(-1), now.AddDays(1));
        if (challenge is not null)
        {
            var w = new AsnWriter(AsnEncodingRules.DER);
            w.WriteCharacterString(UniversalTagNumber.PrintableString, challenge);
            req.OtherRequestAttributes.Add(new AsnEncodedData("1.2.840.113549.1.9.7", w.Encode()));
        }
        return (key, signer, req.CreateSigningRequest());
    }

    /// <summary>Signs <paramref name="csr"/> with <see cref="Ca"/>.</summary>
    public static X509Certificate2 Issue(byte[] csr)
    {
        CertificateRequest req = CertificateRequest.LoadSigningRequest(csr, HashAlgorithmName.SHA256);
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using RSA caKey = Ca.GetRSAPrivateKey()!;
        return req.Create(Ca.SubjectName, X509SignatureGenerator.CreateForRSA(caKey, RSASignaturePadding.Pkcs1), now.AddMinutes(-5), now.AddDays(10), RandomNumberGenerator.GetBytes(16).Select((b, i) => i == 0 ? (byte)(b & 0x7f) : b).ToArray());
    }
}
