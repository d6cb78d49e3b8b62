using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Cli.Demo;

/// <summary>
/// The smallest CA that can sign the demo's request by hand, standing in for "have it signed elsewhere".
/// The real CA is <c>certgate ca</c>.
/// </summary>
internal static class OfflineCa
{
    public static X509Certificate2 CreateRoot(RSA key, string subject)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(5));
    }

    /// <summary>Signs a PEM PKCS#10 request for one year, copying its subjectAltName, and returns the certificate PEM.</summary>
    public static string Sign(X509Certificate2 caCert, RSA caKey, string csrPem)
    {
        CertificateRequest csr = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256,
            CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions, RSASignaturePadding.Pkcs1);
        var request = new CertificateRequest(csr.SubjectName, csr.PublicKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        foreach (X509Extension e in csr.CertificateExtensions)
        {
            if (e.Oid?.Value == "2.5.29.17")
            {
                request.CertificateExtensions.Add(e);
            }
        }
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(caCert, true, false));
        byte[] serial = RandomNumberGenerator.GetBytes(9);
        serial[0] &= 0x7F;
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using X509Certificate2? copy = caCert.HasPrivateKey ? null : caCert.CopyWithPrivateKey(caKey);
        X509Certificate2 signer = copy ?? caCert;
        using X509Certificate2 issued = request.Create(signer, now.AddMinutes(-5), now.AddYears(1), serial);
        return issued.ExportCertificatePem();
    }
}
