using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Certgate.Pki.Identity;

/// <summary>One attribute type and value of an RDN, with the value normalised for comparison.</summary>
/// <param name="Oid">The attribute type (e.g. 2.5.4.3 for CN).</param>
/// <param name="Value">RFC 5280 §7.1 comparison form: leading/trailing whitespace removed, inner runs of
/// whitespace collapsed to one space, case folded; non-string values as "#" + hex of their DER.</param>
internal readonly record struct Ava(string Oid, string Value);

/// <summary>
/// Distinguished-name comparison per RFC 5280 §7.1 ("conforming implementations MUST ... compare
/// case-insensitively ... and ignore insignificant whitespace" via the LDAP StringPrep of RFC 4518, simplified here
/// to whitespace compression and invariant upper-casing).
/// </summary>
public static class DistinguishedNames
{
    /// <summary>True when the two names are equal under RFC 5280 §7.1 rules (byte-equal names are equal).</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static bool Equal(X500DistinguishedName a, X500DistinguishedName b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.RawData.AsSpan().SequenceEqual(b.RawData))
        {
            return true;
        }
        List<Ava[]>? x = TryParse(a.RawData);
        List<Ava[]>? y = TryParse(b.RawData);
        return x is not null && y is not null && RdnSequenceEqual(x, 0, y, 0, x.Count) && x.Count == y.Count;
    }

    internal static bool RdnSequenceEqual(IReadOnlyList<Ava[]> x, int xStart, IReadOnlyList<Ava[]> y, int yStart, int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (!RdnEqual(x[xStart + i], y[yStart + i]))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>RDNs are sets: equal when they hold the same attribute values in any order.</summary>
    internal static bool RdnEqual(Ava[] x, Ava[] y)
    {
        if (x.Length != y.Length)
        {
            return false;
        }
        foreach (Ava a in x)
        {
            if (Array.IndexOf(y, a) < 0)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Parses a DER Name into RDNs in encoding order (most general first); null when malformed.</summary>
    /// <remarks>
    /// Name ::= CHOICE { rdnSequence RDNSequence }
    /// RDNSequence ::= SEQUENCE OF RelativeDistinguishedName
    /// RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue
    /// AttributeTypeAndValue ::= SEQUENCE { type AttributeType, value AttributeValue }
    /// </remarks>
    internal static List<Ava[]>? TryParse(ReadOnlyMemory<byte> der)
    {
        try
        {
            var reader = new AsnReader(der, AsnEncodingRules.BER);
            AsnReader seq = reader.ReadSequence();
            if (reader.HasData)
            {
                return null;
            }
            var rdns = new List<Ava[]>();
            while (seq.HasData)
            {
                AsnReader set = seq.ReadSetOf(skipSortOrderValidation: true);
                var avas = new List<Ava>();
                while (set.HasData)
                {
                    AsnReader atv = set.ReadSequence();
                    string oid = atv.ReadObjectIdentifier();
                    ReadOnlyMemory<byte> value = atv.ReadEncodedValue();
                    avas.Add(new Ava(oid, NormalizeValue(value.Span)));
                }
                if (avas.Count == 0)
                {
                    return null;
                }
                rdns.Add(avas.ToArray());
            }
            return rdns;
        }
        catch (AsnContentException)
        {
            return null;
        }
    }

    private static string NormalizeValue(ReadOnlySpan<byte> encoded)
    {
        string? text = DecodeString(encoded);
        return text is null ? "#" + Convert.ToHexString(encoded) : Normalize(text);
    }

    private static string? DecodeString(ReadOnlySpan<byte> encoded)
    {
        try
        {
            Asn1Tag tag = Asn1Tag.Decode(encoded, out _);
            if (tag.TagClass != TagClass.Universal || tag.IsConstructed)
            {
                return null;
            }
            AsnDecoder.ReadEncodedValue(encoded, AsnEncodingRules.BER, out int offset, out int length, out _);
            ReadOnlySpan<byte> c = encoded.Slice(offset, length);
            return (UniversalTagNumber)tag.TagValue switch
            {
                UniversalTagNumber.UTF8String => System.Text.Encoding.UTF8.GetString(c),
                UniversalTagNumber.PrintableString or UniversalTagNumber.IA5String or UniversalTagNumber.VisibleString
                    or UniversalTagNumber.NumericString => System.Text.Encoding.ASCII.GetString(c),
                // T61String is in practice Latin-1 (what OpenSSL and .NET assume).
                UniversalTagNumber.T61String => System.Text.Encoding.Latin1.GetString(c),
                UniversalTagNumber.BMPString => System.Text.Encoding.BigEndianUnicode.GetString(c),
                UniversalTagNumber.UniversalString => new UTF32Encoding(bigEndian: true, byteOrderMark: false).GetString(c),
                _ => null,
            };
        }
        catch (AsnContentException)
        {
            return null;
        }
    }

    /// <summary>Whitespace compression and case folding (RFC 4518 §2.6.1 insignificant space, simplified).</summary>
    internal static string Normalize(string value)
    {
        var sb = new StringBuilder(value.Length);
        bool space = false;
        foreach (char ch in value.Trim())
        {
            if (char.IsWhiteSpace(ch))
            {
                space = true;
                continue;
            }
            if (space)
            {
                sb.Append(' ');
                space = false;
            }
            sb.Append(char.ToUpperInvariant(ch));
        }
        return sb.ToString();
    }
}
