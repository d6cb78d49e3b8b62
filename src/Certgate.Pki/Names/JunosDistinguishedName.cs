using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Certgate.Pki.Encoding;

namespace Certgate.Pki.Names;

/// <summary>One attribute of a distinguished name, in the order it is encoded.</summary>
public sealed record DnAttribute(string Oid, string Key, string Value);

/// <summary>
/// Junos subject strings (<c>"DC=juniper,CN=router2,OU=eng,O=Example,L=Sunnyvale,ST=CA,C=US"</c>) to and from
/// <see cref="X500DistinguishedName"/>. The attributes are encoded in the order given (first given = first RDN
/// in the DER), and shown back in that same order, as Junos does.
/// </summary>
public static class JunosDistinguishedName
{
    /// <summary>Key → (OID, label in Junos' per-field display). Order here is the per-field display order.</summary>
    private static readonly (string Key, string Oid, string Label)[] Known =
    [
        ("O", "2.5.4.10", "Organization"),
        ("OU", "2.5.4.11", "Organizational unit"),
        ("C", "2.5.4.6", "Country"),
        ("ST", "2.5.4.8", "State"),
        ("L", "2.5.4.7", "Locality"),
        ("CN", "2.5.4.3", "Common name"),
        ("E", "1.2.840.113549.1.9.1", "Email"),
        ("DC", "0.9.2342.19200300.100.1.25", "Domain component"),
        ("SN", "2.5.4.5", "DN serial number"),
    ];

    private static readonly Dictionary<string, string> Aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["emailAddress"] = "E",
        ["EMAIL"] = "E",
        ["serialNumber"] = "SN",
        ["S"] = "ST",
    };

    /// <summary>The keys accepted by <see cref="Parse"/>.</summary>
    public static IEnumerable<string> Keys => Known.Select(k => k.Key);

    /// <summary>Parses a Junos subject string. Values may be quoted (<c>O="Example, Inc"</c>) or escape commas (<c>\,</c>).</summary>
    /// <exception cref="FormatException">Empty string, unknown key, empty value, or a bad value (C must be 2 letters).</exception>
    public static X500DistinguishedName Parse(string subject)
    {
        ArgumentNullException.ThrowIfNull(subject);
        IReadOnlyList<DnAttribute> attributes = ParseAttributes(subject);
        var builder = new X500DistinguishedNameBuilder();
        // X500DistinguishedNameBuilder.Build() emits RDNs in reverse order of the Add calls; add them backwards
        // so the DER order is the order the operator typed.
        foreach (DnAttribute a in attributes.Reverse())
        {
            switch (a.Key)
            {
                case "C":
                    builder.AddCountryOrRegion(a.Value);
                    break;
                case "E":
                    builder.AddEmailAddress(a.Value);
                    break;
                case "DC":
                    builder.AddDomainComponent(a.Value);
                    break;
                case "SN":
                    builder.Add(a.Oid, a.Value, UniversalTagNumber.PrintableString);
                    break;
                default:
                    builder.Add(a.Oid, a.Value, UniversalTagNumber.UTF8String);
                    break;
            }
        }
        return builder.Build();
    }

    /// <summary>The attributes of a subject string, validated, in the order given.</summary>
    /// <exception cref="FormatException">As <see cref="Parse"/>.</exception>
    public static IReadOnlyList<DnAttribute> ParseAttributes(string subject)
    {
        ArgumentNullException.ThrowIfNull(subject);
        var result = new List<DnAttribute>();
        int i = 0;
        while (i < subject.Length)
        {
            while (i < subject.Length && subject[i] == ' ')
            {
                i++;
            }
            int eq = subject.IndexOf('=', i);
            if (eq < 0)
            {
                throw new FormatException($"'{subject[i..].Trim()}' is not KEY=value");
            }
            string key = subject[i..eq].Trim();
            if (Aliases.TryGetValue(key, out string? canonical))
            {
                key = canonical;
            }
            (string Key, string Oid, string Label) known = Array.Find(Known, k => k.Key.Equals(key, StringComparison.OrdinalIgnoreCase));
            if (known.Key is null)
            {
                throw new FormatException($"unknown subject key '{key}' (expected one of {string.Join(", ", Keys)})");
            }
            i = eq + 1;
            var value = new StringBuilder();
            while (i < subject.Length && subject[i] == ' ')
            {
                i++;
            }
            if (i < subject.Length && subject[i] == '"')
            {
                i++;
                while (i < subject.Length && subject[i] != '"')
                {
                    if (subject[i] == '\\' && i + 1 < subject.Length)
                    {
                        i++;
                    }
                    value.Append(subject[i++]);
                }
                if (i >= subject.Length)
                {
                    throw new FormatException($"unterminated quote in the value of {known.Key}");
                }
                i++;
                while (i < subject.Length && subject[i] == ' ')
                {
                    i++;
                }
                if (i < subject.Length && subject[i] != ',')
                {
                    throw new FormatException($"unexpected text after the quoted value of {known.Key}");
                }
            }
            else
            {
                while (i < subject.Length && subject[i] != ',')
                {
                    if (subject[i] == '\\' && i + 1 < subject.Length)
                    {
                        i++;
                    }
                    value.Append(subject[i++]);
                }
            }
            i++; // the comma
            string v = value.ToString().Trim();
            if (v.Length == 0)
            {
                throw new FormatException($"empty value for {known.Key}");
            }
            if (v.Length > 64 && known.Key is not ("E" or "DC"))
            {
                throw new FormatException($"value of {known.Key} is longer than 64 characters");
            }
            if (known.Key == "C" && (v.Length != 2 || !v.All(char.IsAsciiLetter)))
            {
                throw new FormatException($"C must be a two-letter country code, not '{v}'");
            }
            result.Add(new DnAttribute(known.Oid, known.Key, v));
        }
        if (result.Count == 0)
        {
            throw new FormatException("the subject is empty");
        }
        return result;
    }

    /// <summary>The attributes of <paramref name="name"/> in DER order (unknown OIDs keep their dotted form as key).</summary>
    /// <exception cref="PkiFormatException">The name cannot be decoded.</exception>
    public static IReadOnlyList<DnAttribute> Attributes(X500DistinguishedName name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var result = new List<DnAttribute>();
        try
        {
            foreach (X500RelativeDistinguishedName rdn in name.EnumerateRelativeDistinguishedNames(reversed: false))
            {
                if (rdn.HasMultipleElements)
                {
                    // Multi-valued RDNs are rare; decode each AttributeTypeAndValue.
                    var reader = new AsnReader(rdn.RawData, AsnEncodingRules.DER);
                    AsnReader set = reader.ReadSetOf();
                    while (set.HasData)
                    {
                        AsnReader atv = set.ReadSequence();
                        string oid = atv.ReadObjectIdentifier();
                        result.Add(Make(oid, ReadString(atv)));
                    }
                }
                else
                {
                    string oid = rdn.GetSingleElementType().Value ?? "";
                    result.Add(Make(oid, rdn.GetSingleElementValue() ?? ""));
                }
            }
        }
        catch (Exception e) when (e is CryptographicException or AsnContentException)
        {
            throw new PkiFormatException("the distinguished name cannot be decoded", e);
        }
        return result;
    }

    /// <summary>The subject string as Junos shows it: <c>DC=juniper, CN=local, OU=marketing, O=juniper, C=us</c>.</summary>
    public static string Format(X500DistinguishedName name) =>
        string.Join(", ", Attributes(name).Select(a => a.Key + "=" + Escape(a.Value)));

    /// <summary>Junos' per-field display: <c>Organization: juniper, Country: us, Common name: Root</c>, in a fixed field order.</summary>
    public static string FormatFields(X500DistinguishedName name) =>
        string.Join(", ", Fields(name).Select(f => f.Label + ": " + f.Value));

    /// <summary>(label, value) pairs in Junos' per-field order; unknown attributes come last under their OID.</summary>
    public static IReadOnlyList<(string Label, string Value)> Fields(X500DistinguishedName name)
    {
        IReadOnlyList<DnAttribute> attributes = Attributes(name);
        var fields = new List<(string, string)>();
        foreach ((string key, string _, string label) in Known)
        {
            fields.AddRange(attributes.Where(a => a.Key == key).Select(a => (label, a.Value)));
        }
        fields.AddRange(attributes.Where(a => !Known.Any(k => k.Key == a.Key)).Select(a => (a.Oid, a.Value)));
        return fields;
    }

    /// <summary>The first common name, or null.</summary>
    public static string? CommonName(X500DistinguishedName name) =>
        Attributes(name).FirstOrDefault(a => a.Key == "CN")?.Value;

    private static DnAttribute Make(string oid, string value)
    {
        (string Key, string Oid, string Label) known = Array.Find(Known, k => k.Oid == oid);
        return new DnAttribute(oid, known.Key ?? oid, value);
    }

    private static string ReadString(AsnReader atv)
    {
        Asn1Tag tag = atv.PeekTag();
        return tag.TagClass == TagClass.Universal && tag.TagValue is (int)UniversalTagNumber.UTF8String or (int)UniversalTagNumber.PrintableString
            or (int)UniversalTagNumber.IA5String or (int)UniversalTagNumber.BMPString or (int)UniversalTagNumber.T61String
            ? atv.ReadCharacterString((UniversalTagNumber)tag.TagValue)
            : Convert.ToHexString(atv.ReadEncodedValue().Span);
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace(",", "\\,", StringComparison.Ordinal);
}
