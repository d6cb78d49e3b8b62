using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Settings;

namespace Certgate.Ca.Issuance;

/// <summary>Stage 1: checks on the request itself. Throws <see cref="IssuanceRefusedException"/> to refuse.</summary>
public interface ICsrCheck
{
    void Check(IssuanceContext context);
}

/// <summary>Stage 3: fills in or changes the template (validity, extensions).</summary>
public interface ICertificateModifier
{
    void Modify(CertificateTemplate template, IssuanceContext context);
}

/// <summary>Stage 4: checks the finished template; throws <see cref="IssuanceRefusedException"/> to refuse.</summary>
public interface ICertificateValidator
{
    void Validate(CertificateTemplate template, IssuanceContext context);
}

/// <summary>Stage 5: last word before signing; enforces CA-wide invariants whatever the earlier stages did.</summary>
public interface ICertificateEnforcer
{
    void Enforce(CertificateTemplate template, IssuanceContext context);
}

/// <summary>The key type and size must be one the profile allows.</summary>
public sealed class KeyPolicyCheck : ICsrCheck
{
    public void Check(IssuanceContext context)
    {
        PublicKey key = context.Csr.PublicKey;
        CertificateProfile p = context.Profile;
        switch (key.Oid.Value)
        {
            case Oids.RsaEncryption:
                using (RSA? rsa = key.GetRSAPublicKey())
                {
                    int bits = rsa?.KeySize ?? 0;
                    if (p.RsaMinimumBits == 0 || bits < p.RsaMinimumBits)
                    {
                        throw new IssuanceRefusedException(EnrollmentFailInfo.BadAlg, p.RsaMinimumBits == 0
                            ? $"profile '{p.Name}' does not accept RSA keys"
                            : $"RSA key of {bits} bits; profile '{p.Name}' needs at least {p.RsaMinimumBits}");
                    }
                }
                break;
            case Oids.EcPublicKey:
                string curve;
                using (ECDsa? ec = key.GetECDsaPublicKey())
                {
                    curve = ec?.ExportParameters(false).Curve.Oid.Value switch
                    {
                        "1.2.840.10045.3.1.7" => "p256",
                        "1.3.132.0.34" => "p384",
                        "1.3.132.0.35" => "p521",
                        _ => "unknown curve",
                    };
                }
                if (!p.EcdsaCurves.Contains(curve))
                {
                    throw new IssuanceRefusedException(EnrollmentFailInfo.BadAlg, $"EC key on {curve}; profile '{p.Name}' accepts {(p.EcdsaCurves.Count == 0 ? "no EC keys" : string.Join(", ", p.EcdsaCurves))}");
                }
                break;
            default:
                throw new IssuanceRefusedException(EnrollmentFailInfo.BadAlg, $"public key algorithm {key.Oid.Value} is not RSA or ECDSA");
        }
    }
}

/// <summary>Every requested SAN must be of a type the profile allows, and well formed.</summary>
public sealed class SanPolicyCheck : ICsrCheck
{
    public void Check(IssuanceContext context)
    {
        foreach (RequestedSan san in context.Csr.RequestedSans)
        {
            if (!SanPolicy.IsAllowed(san.Type, context.Profile.AllowedSans))
            {
                throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"subjectAltName type {san.Type} is not allowed by profile '{context.Profile.Name}'");
            }
            bool ok = san.Type switch
            {
                "dns" => san.Value.Length is > 0 and <= 253 && san.Value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '*'),
                "email" => san.Value.Length is > 2 and <= 320 && san.Value.IndexOf('@', StringComparison.Ordinal) > 0 && san.Value.All(c => c > ' ' && c < 0x7F),
                "ip" => IPAddress.TryParse(san.Value, out _),
                _ => false,
            };
            if (!ok)
            {
                throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"subjectAltName {san.Type} '{san.Value}' is malformed");
            }
        }
    }
}

/// <summary>A certificate must name its subject somewhere: a non-empty subject DN or at least one allowed SAN.</summary>
public sealed class SubjectPresentCheck : ICsrCheck
{
    public void Check(IssuanceContext context)
    {
        bool emptySubject = context.Csr.Subject.RawData.Length <= 2; // an empty SEQUENCE is 30 00
        if (emptySubject && context.Csr.RequestedSans.Count == 0)
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, "the request has an empty subject and no subjectAltName");
        }
    }
}

/// <summary>Validity: from now (backdated for clock skew) for the profile's days, clamped into the CA's own validity.</summary>
public sealed class ValidityModifier : ICertificateModifier
{
    /// <summary>Backdating of notBefore, so a client whose clock is slightly behind accepts the certificate.</summary>
    public static readonly TimeSpan Backdate = TimeSpan.FromMinutes(5);

    public void Modify(CertificateTemplate template, IssuanceContext context)
    {
        template.NotBefore = context.Now - Backdate;
        template.NotAfter = context.Now + TimeSpan.FromDays(context.Profile.ValidityDays);
        IssuerValidityEnforcer.Clamp(template, context.Issuer);
    }
}

/// <summary>basicConstraints cA=FALSE, keyUsage, extendedKeyUsage, SKI, AKI, CDP, AIA, and the SANs.</summary>
public sealed class ExtensionsModifier : ICertificateModifier
{
    /// <summary>keyUsage bits RFC 5480 §3 permits for id-ecPublicKey.</summary>
    private const X509KeyUsageFlags EcAllowed = X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.NonRepudiation | X509KeyUsageFlags.KeyAgreement
        | X509KeyUsageFlags.EncipherOnly | X509KeyUsageFlags.DecipherOnly;

    public void Modify(CertificateTemplate template, IssuanceContext context)
    {
        CertificateProfile p = context.Profile;
        template.Extensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));

        // RFC 5480 §3: for id-ecPublicKey "keyEncipherment ... and dataEncipherment MUST NOT be asserted".
        X509KeyUsageFlags ku = template.IsRsaKey ? p.KeyUsage : p.KeyUsage & EcAllowed;
        if (ku != X509KeyUsageFlags.None)
        {
            template.Extensions.Add(new X509KeyUsageExtension(ku, true));
        }
        if (p.ExtendedKeyUsages.Count > 0)
        {
            var oids = new OidCollection();
            foreach (string o in p.ExtendedKeyUsages)
            {
                oids.Add(new Oid(o));
            }
            template.Extensions.Add(new X509EnhancedKeyUsageExtension(oids, false));
        }
        template.Extensions.Add(new X509SubjectKeyIdentifierExtension(template.PublicKey, false));
        template.Extensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(context.Issuer, includeKeyIdentifier: true, includeIssuerAndSerial: false));

        if (template.Sans.Count > 0)
        {
            var b = new SubjectAlternativeNameBuilder();
            foreach (RequestedSan san in template.Sans)
            {
                switch (san.Type)
                {
                    case "dns": b.AddDnsName(san.Value); break;
                    case "ip": b.AddIpAddress(IPAddress.Parse(san.Value)); break;
                    case "email": b.AddEmailAddress(san.Value); break;
                }
            }
            // RFC 5280 §4.2.1.6: "If the subject field contains an empty sequence, then the issuing CA MUST include a
            // subjectAltName extension that is marked as critical."
            bool critical = template.Subject.RawData.Length <= 2;
            template.Extensions.Add(b.Build(critical));
        }

        if (context.Settings.CrlUrl is { } crl)
        {
            template.Extensions.Add(CertificateRevocationListBuilder.BuildCrlDistributionPointExtension([crl]));
        }
        if (context.Settings.CaIssuersUrl is { } aia)
        {
            template.Extensions.Add(new X509AuthorityInformationAccessExtension(null, [aia]));
        }
    }
}

/// <summary>The template must be signable: a subject or SANs left after filtering, and a non-empty validity.</summary>
public sealed class TemplateValidator : ICertificateValidator
{
    public void Validate(CertificateTemplate template, IssuanceContext context)
    {
        if (template.Subject.RawData.Length <= 2 && template.Sans.Count == 0)
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, "nothing names the subject: empty subject DN and no allowed subjectAltName");
        }
        if (template.NotAfter <= template.NotBefore || template.NotAfter <= context.Now)
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadTime, $"the CA certificate expires {context.Issuer.NotAfter:u}; it cannot issue a certificate valid now");
        }
    }
}

/// <summary>A certificate never outlives (or predates) its issuer.</summary>
public sealed class IssuerValidityEnforcer : ICertificateEnforcer
{
    public void Enforce(CertificateTemplate template, IssuanceContext context) => Clamp(template, context.Issuer);

    internal static void Clamp(CertificateTemplate template, X509Certificate2 issuer)
    {
        var issuerNotBefore = new DateTimeOffset(issuer.NotBefore.ToUniversalTime());
        var issuerNotAfter = new DateTimeOffset(issuer.NotAfter.ToUniversalTime());
        if (template.NotBefore < issuerNotBefore)
        {
            template.NotBefore = issuerNotBefore;
        }
        if (template.NotAfter > issuerNotAfter)
        {
            template.NotAfter = issuerNotAfter;
        }
    }
}

/// <summary>The template's extensions: each OID at most once (RFC 5280 §4.2: "A certificate MUST NOT include more than
/// one instance of a particular extension").</summary>
public sealed class UniqueExtensionsEnforcer : ICertificateEnforcer
{
    public void Enforce(CertificateTemplate template, IssuanceContext context)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (X509Extension e in template.Extensions)
        {
            if (!seen.Add(e.Oid!.Value!))
            {
                throw new InvalidOperationException($"the issuance pipeline added extension {e.Oid.Value} twice");
            }
        }
    }
}
