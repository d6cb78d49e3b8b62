using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Ca.Settings;

/// <summary>One attribute of a subject DN: its OID and its value as text (null when it is not a string).</summary>
public readonly record struct SubjectAttribute(string Oid, string? Value);

/// <summary>Reading and comparing subject DNs attribute by attribute (the CA's name policy, issue #14 §1).</summary>
public static class SubjectNames
{
    /// <summary>Most attributes a request's subject may have (each RDN single-valued).</summary>
    public const int MaxAttributes = 16;

    /// <summary>Longest attribute value accepted in a request's subject (RFC 5280's upper bounds are at most 200 for
    /// the usual attributes; 256 leaves room).</summary>
    public const int MaxValueLength = 256;

    public const string CommonNameOid = "2.5.4.3";

    /// <summary>Attributes a profile may require (<c>names.subject.require</c>), by short name.</summary>
    public static IReadOnlyDictionary<string, string> RequirableAttributes { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["O"] = "2.5.4.10",
        ["OU"] = "2.5.4.11",
        ["C"] = "2.5.4.6",
        ["L"] = "2.5.4.7",
        ["ST"] = "2.5.4.8",
        ["DC"] = "0.9.2342.19200300.100.1.25",
    };

    /// <summary>The subject's attributes in encoded order (most significant first), or null with
    /// <paramref name="problem"/> when an RDN is multi-valued or the DN cannot be read.</summary>
    public static IReadOnlyList<SubjectAttribute>? TryRead(X500DistinguishedName name, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(name);
        var list = new List<SubjectAttribute>();
        try
        {
            foreach (X500RelativeDistinguishedName rdn in name.EnumerateRelativeDistinguishedNames(reversed: false))
            {
                if (rdn.HasMultipleElements)
                {
                    problem = "the subject has a multi-valued RDN (attributes joined with '+')";
                    return null;
                }
                list.Add(new SubjectAttribute(rdn.GetSingleElementType().Value ?? "", rdn.GetSingleElementValue()));
            }
        }
        catch (CryptographicException)
        {
            problem = "the subject DN cannot be read";
            return null;
        }
        problem = null;
        return list;
    }

    /// <summary>The value of the first attribute named <paramref name="shortName"/> (O, OU, C, L, ST, DC, CN), or null.</summary>
    public static string? Single(X500DistinguishedName name, string shortName)
    {
        string oid = shortName == "CN" ? CommonNameOid : RequirableAttributes[shortName];
        return TryRead(name, out _) is { } attributes ? attributes.FirstOrDefault(a => a.Oid == oid).Value : null;
    }

    /// <summary>The subject's CN (the first), or null.</summary>
    public static string? CommonName(X500DistinguishedName name) => Single(name, "CN");

    /// <summary>True when both DNs have the same attributes with the same values (values compared case-insensitively,
    /// as RFC 5280 §7.1 caseIgnoreMatch does; string encodings may differ). The order of the RDNs is not compared:
    /// <c>ca challenge --subject "CN=gw1,O=Example"</c> (written most specific first, as <c>ca init --subject</c>)
    /// binds a client that encodes C, O, CN as well as one that encodes CN, O, C, and the CA's own name is refused in
    /// any order.</summary>
    public static bool AreEqual(X500DistinguishedName a, X500DistinguishedName b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.RawData.AsSpan().SequenceEqual(b.RawData))
        {
            return true;
        }
        IReadOnlyList<SubjectAttribute>? x = TryRead(a, out _);
        IReadOnlyList<SubjectAttribute>? y = TryRead(b, out _);
        if (x is null || y is null || x.Count != y.Count)
        {
            return false;
        }
        static List<string> Sorted(IReadOnlyList<SubjectAttribute> list) =>
            [.. list.Select(a => a.Oid + "=" + (a.Value?.Trim().ToUpperInvariant() ?? "\0(not a string)")).Order(StringComparer.Ordinal)];
        if (x.Any(a => a.Value is null) || y.Any(a => a.Value is null))
        {
            return false;
        }
        return Sorted(x).SequenceEqual(Sorted(y), StringComparer.Ordinal);
    }

    /// <summary>The short name of an attribute OID for messages (CN, O, …), else the OID.</summary>
    public static string ShortName(string oid) => oid == CommonNameOid ? "CN"
        : RequirableAttributes.FirstOrDefault(kv => kv.Value == oid).Key ?? oid;
}
