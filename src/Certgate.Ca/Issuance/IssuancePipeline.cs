using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Storage;

namespace Certgate.Ca.Issuance;

/// <summary>
/// The issuance pipeline, in fixed order (the smallstep model):
/// <code>
///   CSR checks → template (from CSR, profile-filtered) → modifiers → validators → enforcers → sign → persist
/// </code>
/// Persist records the certificate under a fresh random serial in one statement guarded by the serial's primary key;
/// on a collision a new serial is drawn and the certificate signed again, so a certificate is only ever returned
/// after it is durably stored under a unique serial.
/// </summary>
public sealed class IssuancePipeline
{
    /// <summary>Serial collisions tolerated before giving up (2^-127 odds each; more means a broken source).</summary>
    public const int MaxSerialAttempts = 8;

    private readonly ISerialNumberSource _serials;

    public IssuancePipeline(ISerialNumberSource? serials = null)
    {
        _serials = serials ?? RandomSerialNumberSource.Instance;
    }

    public List<ICsrCheck> CsrChecks { get; } = [new KeyPolicyCheck(), new SanPolicyCheck(), new SubjectPresentCheck(), new ReservedSubjectCheck(), new NamePolicyCheck()];

    public List<ICertificateModifier> Modifiers { get; } = [new ValidityModifier(), new ExtensionsModifier()];

    public List<ICertificateValidator> Validators { get; } = [new TemplateValidator()];

    public List<ICertificateEnforcer> Enforcers { get; } = [new IssuerValidityEnforcer(), new UniqueExtensionsEnforcer(), new UsageEnforcer()];

    /// <summary>Runs the checks and builds the template without signing (for tests and dry runs).</summary>
    /// <exception cref="IssuanceRefusedException">A check refused the request.</exception>
    public CertificateTemplate BuildTemplate(IssuanceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        foreach (ICsrCheck check in CsrChecks)
        {
            check.Check(context);
        }
        CertificateTemplate template = CertificateTemplate.FromRequest(context);
        foreach (ICertificateModifier m in Modifiers)
        {
            m.Modify(template, context);
        }
        foreach (ICertificateValidator v in Validators)
        {
            v.Validate(template, context);
        }
        foreach (ICertificateEnforcer e in Enforcers)
        {
            e.Enforce(template, context);
        }
        return template;
    }

    /// <summary>Runs every stage, signs with the issuer's private key and stores the certificate.</summary>
    /// <exception cref="IssuanceRefusedException">A check refused the request.</exception>
    /// <exception cref="InvalidOperationException">No unique serial after <see cref="MaxSerialAttempts"/> draws.</exception>
    public async Task<(X509Certificate2 Certificate, CertificateRecord Record)> IssueAsync(IssuanceContext context, ICaStore store, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        CertificateTemplate template = BuildTemplate(context);
        for (int attempt = 0; attempt < MaxSerialAttempts; attempt++)
        {
            byte[] serial = _serials.Next();
            X509Certificate2 cert = Sign(template, context.Issuer, serial);
            var record = new CertificateRecord(
                Convert.ToHexString(serial), cert.Subject, template.NotBefore, template.NotAfter, cert.RawData, context.Profile.Name,
                context.Csr.PublicKeySha256, context.TransactionId, context.Now);
            if (await store.TryInsertCertificateAsync(record, cancellationToken).ConfigureAwait(false))
            {
                return (cert, record);
            }
            cert.Dispose();
        }
        throw new InvalidOperationException($"no unique serial number after {MaxSerialAttempts} attempts; the serial source is broken");
    }

    /// <summary>Signs the template with the issuer's key (SHA-256; SHA-384 for a P-384 CA key).</summary>
    internal static X509Certificate2 Sign(CertificateTemplate template, X509Certificate2 issuer, byte[] serial)
    {
        (X509SignatureGenerator generator, HashAlgorithmName hash, IDisposable key) = CreateGenerator(issuer);
        using (key)
        {
            var request = new CertificateRequest(template.Subject, template.PublicKey, hash);
            foreach (X509Extension e in template.Extensions)
            {
                request.CertificateExtensions.Add(e);
            }
            return request.Create(issuer.SubjectName, generator, template.NotBefore, template.NotAfter, serial);
        }
    }

    /// <summary>A signature generator for the CA key. The caller disposes the key.</summary>
    internal static (X509SignatureGenerator Generator, HashAlgorithmName Hash, IDisposable Key) CreateGenerator(X509Certificate2 issuer)
    {
        if (issuer.GetRSAPrivateKey() is { } rsa)
        {
            return (X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1), HashAlgorithmName.SHA256, rsa);
        }
        if (issuer.GetECDsaPrivateKey() is { } ec)
        {
            HashAlgorithmName hash = ec.KeySize > 256 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256;
            return (X509SignatureGenerator.CreateForECDsa(ec), hash, ec);
        }
        throw new InvalidOperationException("the CA certificate has no RSA or ECDSA private key");
    }
}
