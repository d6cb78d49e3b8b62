using System.Net;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Challenges;
using Certgate.Ca.Settings;
using Certgate.Ca.Storage;

namespace Certgate.Ca.Issuance;

/// <summary>Who vouches for the names a request asks for (issue #14 §1).</summary>
public enum NameAuthority
{
    /// <summary>An unbound challenge: the profile's <see cref="NamePolicy"/> decides, and no other key's names.</summary>
    Profile,

    /// <summary>A challenge bound to names: only those names (the subject exactly when one is bound).</summary>
    Binding,

    /// <summary>The operator approved or signed this request (<c>ca approve</c>, <c>ca sign</c>) and saw its names.</summary>
    Operator,

    /// <summary>A renewal: only the subject and subjectAltNames of the certificate being renewed.</summary>
    Renewal,
}

/// <summary>The authority for a request's names, with what it allows.</summary>
/// <param name="Authority">Which rule applies.</param>
/// <param name="Binding">The challenge's bound names (<see cref="NameAuthority.Binding"/>).</param>
/// <param name="Source">Names the challenge or certificate in messages (<c>challenge 1A2B…</c>, <c>certificate serial 0x…</c>).</param>
/// <param name="Predecessor">The certificate being renewed (<see cref="NameAuthority.Renewal"/>).</param>
public sealed record NameGrant(NameAuthority Authority, NameBinding? Binding = null, string? Source = null, X509Certificate2? Predecessor = null)
{
    /// <summary>An unbound challenge (the default: the safe one).</summary>
    public static NameGrant Profile { get; } = new(NameAuthority.Profile);

    /// <summary>The operator approved the request.</summary>
    public static NameGrant Operator { get; } = new(NameAuthority.Operator);
}

/// <summary>
/// What is never issued, whatever authorised the request: the CA's or RA's own subject (or a subject whose CN is
/// theirs), a subject that cannot be compared attribute by attribute (multi-valued RDNs, too many or too long values).
/// </summary>
public sealed class ReservedSubjectCheck : ICsrCheck
{
    public void Check(IssuanceContext context)
    {
        // A request's basicConstraints (cA=TRUE included) is never copied: the template writes cA=FALSE and
        // UsageEnforcer refuses anything else, so such a request gets an end-entity certificate (as before #14).
        ParsedCsr csr = context.Csr;
        IReadOnlyList<SubjectAttribute> attributes = SubjectNames.TryRead(csr.Subject, out string? problem)
            ?? throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"subject {csr.Subject.Name}: {problem}");
        if (attributes.Count > SubjectNames.MaxAttributes)
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"the subject has {attributes.Count} attributes; at most {SubjectNames.MaxAttributes}");
        }
        foreach (SubjectAttribute a in attributes)
        {
            if (a.Value is null || a.Value.Length > SubjectNames.MaxValueLength)
            {
                throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest,
                    $"subject attribute {SubjectNames.ShortName(a.Oid)} is {(a.Value is null ? "not a string" : $"{a.Value.Length} characters; at most {SubjectNames.MaxValueLength}")}");
            }
        }
        Reserved(context, context.Issuer.SubjectName, "CA");
        if (context.Settings.Ra?.Subject is { } ra)
        {
            Reserved(context, new X500DistinguishedName(ra), "RA");
        }
    }

    private static void Reserved(IssuanceContext context, X500DistinguishedName own, string who)
    {
        X500DistinguishedName subject = context.Csr.Subject;
        if (SubjectNames.AreEqual(subject, own))
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"subject {subject.Name} is the {who}'s own subject");
        }
        if (SubjectNames.CommonName(own) is { } ownCn && SubjectNames.CommonName(subject) is { } cn
            && string.Equals(cn.Trim(), ownCn.Trim(), StringComparison.OrdinalIgnoreCase))
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"subject {subject.Name} uses the {who}'s own common name {ownCn}");
        }
    }
}

/// <summary>
/// The request's names against what vouches for them (<see cref="NameGrant"/>): the profile's name policy under an
/// unbound challenge, the bound names under a bound one, the old certificate's names for a renewal. The held-name
/// rule (no name another key holds) needs the store and runs in <see cref="CertificateAuthority"/>.
/// </summary>
public sealed class NamePolicyCheck : ICsrCheck
{
    public void Check(IssuanceContext context)
    {
        NameGrant grant = context.Grant ?? NameGrant.Profile;
        switch (grant.Authority)
        {
            case NameAuthority.Operator:
                return;
            case NameAuthority.Renewal:
                CheckRenewal(context, grant);
                return;
            case NameAuthority.Binding:
                CheckBinding(context, grant);
                return;
            default:
                CheckSubjectPolicy(context);
                foreach (RequestedSan san in context.Csr.RequestedSans)
                {
                    CheckProfileSan(context, san);
                }
                return;
        }
    }

    /// <summary>The profile's subject policy: required attribute values and CN patterns.</summary>
    internal static void CheckSubjectPolicy(IssuanceContext context)
    {
        NamePolicy policy = context.Profile.Names;
        X500DistinguishedName subject = context.Csr.Subject;
        IReadOnlyList<SubjectAttribute> attributes = SubjectNames.TryRead(subject, out _) ?? [];
        foreach ((string attribute, string required) in policy.RequiredSubject)
        {
            string oid = SubjectNames.RequirableAttributes[attribute];
            bool found = false;
            foreach (SubjectAttribute a in attributes)
            {
                if (a.Oid != oid)
                {
                    continue;
                }
                found = true;
                if (!string.Equals(a.Value?.Trim(), required, StringComparison.OrdinalIgnoreCase))
                {
                    throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest,
                        $"subject {subject.Name} has {attribute}={a.Value}; profile '{context.Profile.Name}' requires {attribute}={required}");
                }
            }
            if (!found)
            {
                throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest,
                    $"subject {subject.Name} lacks {attribute}={required}, which profile '{context.Profile.Name}' requires");
            }
        }
        if (policy.CommonNames.Count > 0)
        {
            int count = attributes.Count(a => a.Oid == SubjectNames.CommonNameOid);
            string? cn = SubjectNames.CommonName(subject);
            if (count > 1)
            {
                throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"subject {subject.Name} has {count} CNs; profile '{context.Profile.Name}' allows one");
            }
            if (cn is not null && !policy.CommonNames.Any(p => p.Matches(cn)))
            {
                throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest,
                    $"CN {cn} is outside the profile's allowed common names {List(policy.CommonNames)} (profile '{context.Profile.Name}')");
            }
        }
    }

    private static void CheckProfileSan(IssuanceContext context, RequestedSan san)
    {
        NamePolicy policy = context.Profile.Names;
        string profile = context.Profile.Name;
        switch (san.Type)
        {
            case "dns":
                if (!DnsNamePattern.IsHostName(san.Value))
                {
                    throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, san.Value.Contains('*', StringComparison.Ordinal)
                        ? $"DNS name {san.Value} is a wildcard; only a challenge bound to it (certgate ca challenge --dns '{san.Value}') allows one"
                        : $"DNS name {san.Value} is not a host name (letters, digits and hyphens in labels of 1 to 63)");
                }
                if (policy.DnsNames.Count > 0 && !policy.DnsNames.Any(p => p.Matches(san.Value)))
                {
                    throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest,
                        $"DNS name {san.Value} is outside the profile's allowed names {List(policy.DnsNames)} (profile '{profile}')");
                }
                break;
            case "ip":
                IPAddress address = IPAddress.Parse(san.Value);
                if (policy.IpRanges.Count == 0)
                {
                    throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest,
                        $"IP address {san.Value} needs a challenge bound to it (certgate ca challenge --ip {san.Value}): profile '{profile}' allows no IP address under an unbound challenge");
                }
                if (!policy.IpRanges.Any(r => r.Contains(address)))
                {
                    throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest,
                        $"IP address {san.Value} is outside the profile's allowed ranges {List(policy.IpRanges)} (profile '{profile}')");
                }
                break;
            case "email":
                string? normal = NameBinding.NormalizeEmail(san.Value);
                if (normal is null)
                {
                    throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"e-mail address {san.Value} is not local@domain");
                }
                if (policy.EmailDomains.Count == 0)
                {
                    throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest,
                        $"e-mail address {san.Value} needs a challenge bound to it (certgate ca challenge --email {san.Value}): profile '{profile}' allows no e-mail address under an unbound challenge");
                }
                string domain = normal[(normal.LastIndexOf('@') + 1)..];
                if (!policy.EmailDomains.Any(p => p.Matches(domain)))
                {
                    throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest,
                        $"e-mail address {san.Value} is outside the profile's allowed domains {List(policy.EmailDomains)} (profile '{profile}')");
                }
                break;
        }
    }

    private static void CheckBinding(IssuanceContext context, NameGrant grant)
    {
        NameBinding binding = grant.Binding!;
        string source = grant.Source ?? "the challenge";
        X500DistinguishedName subject = context.Csr.Subject;
        if (binding.SubjectName is { } bound)
        {
            if (!SubjectNames.AreEqual(subject, bound))
            {
                throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"subject {subject.Name} is not the subject {source} binds ({binding.Subject})");
            }
        }
        else
        {
            CheckSubjectPolicy(context);
        }
        foreach (RequestedSan san in context.Csr.RequestedSans)
        {
            bool ok = san.Type switch
            {
                "dns" => binding.DnsNames.Contains(san.Value.ToLowerInvariant(), StringComparer.Ordinal),
                "ip" => binding.IpAddresses.Contains(IPAddress.Parse(san.Value).ToString(), StringComparer.Ordinal),
                "email" => NameBinding.NormalizeEmail(san.Value) is { } e && binding.Emails.Contains(e, StringComparer.Ordinal),
                _ => false,
            };
            if (!ok)
            {
                throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"{Describe(san)} is not among the names {source} binds ({binding.Describe()})");
            }
        }
    }

    private static void CheckRenewal(IssuanceContext context, NameGrant grant)
    {
        X509Certificate2 old = grant.Predecessor!;
        string source = grant.Source ?? "the certificate being renewed";
        X500DistinguishedName subject = context.Csr.Subject;
        if (!SubjectNames.AreEqual(subject, old.SubjectName))
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"renewal asks for subject {subject.Name} but {source} is for {old.Subject}");
        }
        var oldSans = new List<RequestedSan>();
        foreach (X509Extension e in old.Extensions)
        {
            if (e.Oid?.Value == Oids.SubjectAltName)
            {
                ParsedCsr.ReadGeneralNames(e.RawData, oldSans);
            }
        }
        foreach (RequestedSan san in context.Csr.RequestedSans)
        {
            bool ok = oldSans.Any(o => o.Type == san.Type && san.Type switch
            {
                "dns" or "email" => string.Equals(o.Value, san.Value, StringComparison.OrdinalIgnoreCase),
                "ip" => IPAddress.Parse(o.Value).Equals(IPAddress.Parse(san.Value)),
                _ => false,
            });
            if (!ok)
            {
                throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"renewal asks for {Describe(san)}, which {source} does not carry");
            }
        }
    }

    /// <summary>A SAN in the user's terms: <c>DNS name gw1.example.net</c>, <c>IP address 192.0.2.1</c>, <c>e-mail address a@b</c>.</summary>
    public static string Describe(RequestedSan san) => san.Type switch
    {
        "dns" => "DNS name " + san.Value,
        "ip" => "IP address " + san.Value,
        "email" => "e-mail address " + san.Value,
        _ => $"subjectAltName {san.Type} {san.Value}",
    };

    private static string List<T>(IReadOnlyList<T> items) => string.Join(", ", items);
}

/// <summary>
/// Last word on usages, whatever the earlier stages did: basicConstraints cA=FALSE, no keyCertSign or cRLSign, and
/// keyUsage and extendedKeyUsage within the profile's (a request's own extensions are never copied; this enforces it).
/// </summary>
public sealed class UsageEnforcer : ICertificateEnforcer
{
    public void Enforce(CertificateTemplate template, IssuanceContext context)
    {
        CertificateProfile p = context.Profile;
        foreach (X509Extension e in template.Extensions)
        {
            switch (e)
            {
                case X509BasicConstraintsExtension bc when bc.CertificateAuthority:
                    throw new InvalidOperationException("the issuance pipeline produced basicConstraints cA=TRUE");
                case X509KeyUsageExtension ku when (ku.KeyUsages & ~p.KeyUsage) != 0 || (ku.KeyUsages & (X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign)) != 0:
                    throw new InvalidOperationException($"the issuance pipeline produced keyUsage {ku.KeyUsages}, beyond profile '{p.Name}' ({p.KeyUsage})");
                case X509EnhancedKeyUsageExtension eku:
                    foreach (System.Security.Cryptography.Oid oid in eku.EnhancedKeyUsages)
                    {
                        if (!p.ExtendedKeyUsages.Contains(oid.Value!))
                        {
                            throw new InvalidOperationException($"the issuance pipeline produced extendedKeyUsage {oid.Value}, beyond profile '{p.Name}'");
                        }
                    }
                    break;
            }
        }
    }
}

/// <summary>Names the held-name rule looks up for a request: under an unbound challenge every name; under a bound
/// challenge only the CN when the subject is not bound (the operator named the rest).</summary>
public static class HeldNameRule
{
    /// <summary>The names to look up for <paramref name="context"/> (empty when the rule does not apply).</summary>
    public static IReadOnlyList<HeldName> NamesToCheck(IssuanceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        NameGrant grant = context.Grant ?? NameGrant.Profile;
        return grant.Authority switch
        {
            NameAuthority.Profile => CertificateNames.Of(context.Csr.Subject, context.Csr.RequestedSans),
            NameAuthority.Binding when grant.Binding!.Subject is null && SubjectNames.CommonName(context.Csr.Subject) is { } cn
                => [new HeldName(CertificateNames.Name, cn.Trim().ToLowerInvariant())],
            _ => [],
        };
    }

    /// <summary>A held name in the user's terms.</summary>
    public static string Describe(HeldName name, IssuanceContext context) => name.Kind switch
    {
        CertificateNames.Ip => "IP address " + name.Name,
        CertificateNames.Email => "e-mail address " + name.Name,
        _ => context.Csr.RequestedSans.Any(s => s.Type == "dns" && string.Equals(s.Value, name.Name, StringComparison.OrdinalIgnoreCase))
            ? "DNS name " + name.Name : "CN " + name.Name,
    };
}
