using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Certgate.Pki.Identity;

/// <summary>The Junos <c>remote-id distinguished-name</c> matching modes (reference §3.6).</summary>
public enum DistinguishedNameMatch
{
    /// <summary>The configured RDNs appear in the peer DN as a contiguous run, in order.</summary>
    Container,
    /// <summary>Every configured type=value appears in the peer DN; order is irrelevant; other types are wildcards.</summary>
    Wildcard,
    /// <summary>The whole DN is equal.</summary>
    ExactMatch,
}

/// <summary>
/// A configured distinguished name (e.g. <c>"C=US, O=Acme, OU=VPN"</c>) and how to match peers against it.
/// </summary>
/// <remarks>
/// Order: operators write DNs both most-general-first (X.500/DER order, as Junos shows them: "C=RU, ST=RU, L=Moscow")
/// and most-specific-first (RFC 4514/LDAP, as OpenSSL and .NET show them: "CN=gw1, O=Acme"). A DN whose written
/// order cannot be known is matched in both directions for <see cref="DistinguishedNameMatch.Container"/> and
/// <see cref="DistinguishedNameMatch.ExactMatch"/>; a run reversed is still a contiguous, ordered run, so this
/// never accepts a name whose RDNs are out of order.
/// Syntax: RDNs separated by ',' or ';', multi-valued RDNs by '+', values quoted ("a, b") or with RFC 4514
/// backslash escapes (\, \+ \" \\ \2C); types by keyword (CN, C, ST/S, L, O, OU, STREET, T/TITLE, SN, GN/G,
/// SERIALNUMBER, DC, UID, E/EMAIL/EMAILADDRESS, …) or dotted OID (2.5.4.3 or OID.2.5.4.3).
/// </remarks>
public sealed class DistinguishedNamePattern
{
    private static readonly Dictionary<string, string> s_keywords = new(StringComparer.OrdinalIgnoreCase)
    {
        ["CN"] = "2.5.4.3", ["SN"] = "2.5.4.4", ["SURNAME"] = "2.5.4.4", ["SERIALNUMBER"] = "2.5.4.5",
        ["C"] = "2.5.4.6", ["L"] = "2.5.4.7", ["ST"] = "2.5.4.8", ["S"] = "2.5.4.8", ["STREET"] = "2.5.4.9",
        ["O"] = "2.5.4.10", ["OU"] = "2.5.4.11", ["T"] = "2.5.4.12", ["TITLE"] = "2.5.4.12",
        ["POSTALCODE"] = "2.5.4.17", ["G"] = "2.5.4.42", ["GN"] = "2.5.4.42", ["GIVENNAME"] = "2.5.4.42",
        ["I"] = "2.5.4.43", ["INITIALS"] = "2.5.4.43", ["DNQUALIFIER"] = "2.5.4.46", ["PSEUDONYM"] = "2.5.4.65",
        ["DC"] = "0.9.2342.19200300.100.1.25", ["UID"] = "0.9.2342.19200300.100.1.1",
        ["E"] = "1.2.840.113549.1.9.1", ["EMAIL"] = "1.2.840.113549.1.9.1", ["EMAILADDRESS"] = "1.2.840.113549.1.9.1",
        ["UNSTRUCTUREDNAME"] = "1.2.840.113549.1.9.2",
    };

    private readonly List<Ava[]> _rdns;

    private DistinguishedNamePattern(string text, DistinguishedNameMatch mode, List<Ava[]> rdns)
    {
        Text = text;
        Mode = mode;
        _rdns = rdns;
    }

    /// <summary>The configured text.</summary>
    public string Text { get; }

    /// <summary>The matching mode.</summary>
    public DistinguishedNameMatch Mode { get; }

    /// <summary>Parses a configured DN.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    /// <exception cref="FormatException">The text is not a DN (the message says where).</exception>
    public static DistinguishedNamePattern Parse(string text, DistinguishedNameMatch mode)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new DistinguishedNamePattern(text, mode, ParseRdns(text));
    }

    /// <summary>Parses a configured DN; false with a reason when it is not valid.</summary>
    public static bool TryParse(string text, DistinguishedNameMatch mode, out DistinguishedNamePattern? pattern, out string? error)
    {
        try
        {
            pattern = Parse(text, mode);
            error = null;
            return true;
        }
        catch (FormatException e)
        {
            pattern = null;
            error = e.Message;
            return false;
        }
    }

    /// <summary>True when <paramref name="name"/> (e.g. the peer's subject) matches under <see cref="Mode"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    public bool Matches(X500DistinguishedName name)
    {
        ArgumentNullException.ThrowIfNull(name);
        List<Ava[]>? peer = DistinguishedNames.TryParse(name.RawData);
        if (peer is null)
        {
            return false;
        }
        List<Ava[]> reversed = Enumerable.Reverse(_rdns).ToList();
        switch (Mode)
        {
            case DistinguishedNameMatch.ExactMatch:
                return peer.Count == _rdns.Count
                    && (DistinguishedNames.RdnSequenceEqual(peer, 0, _rdns, 0, peer.Count)
                        || DistinguishedNames.RdnSequenceEqual(peer, 0, reversed, 0, peer.Count));
            case DistinguishedNameMatch.Container:
                for (int start = 0; start + _rdns.Count <= peer.Count; start++)
                {
                    if (DistinguishedNames.RdnSequenceEqual(peer, start, _rdns, 0, _rdns.Count)
                        || DistinguishedNames.RdnSequenceEqual(peer, start, reversed, 0, _rdns.Count))
                    {
                        return true;
                    }
                }
                return false;
            default:
                var all = new HashSet<Ava>(peer.SelectMany(r => r));
                return _rdns.SelectMany(r => r).All(all.Contains);
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Mode} \"{Text}\"";

    internal static List<Ava[]> ParseRdns(string text)
    {
        var rdns = new List<Ava[]>();
        var current = new List<Ava>();
        int i = 0;
        SkipSpaces(text, ref i);
        if (i == text.Length)
        {
            throw new FormatException("The distinguished name is empty.");
        }
        while (true)
        {
            SkipSpaces(text, ref i);
            int typeStart = i;
            while (i < text.Length && text[i] != '=' && text[i] is not (',' or ';' or '+'))
            {
                i++;
            }
            if (i == text.Length || text[i] != '=')
            {
                throw new FormatException($"Distinguished name '{text}': expected 'type=value' at position {typeStart + 1}.");
            }
            string type = text[typeStart..i].Trim();
            i++; // '='
            string oid = ResolveType(type, text);
            string value = ReadValue(text, ref i);
            current.Add(new Ava(oid, value.StartsWith('#') ? "#" + value[1..].ToUpperInvariant() : DistinguishedNames.Normalize(value)));
            SkipSpaces(text, ref i);
            if (i == text.Length)
            {
                rdns.Add(current.ToArray());
                return rdns;
            }
            char sep = text[i++];
            if (sep != '+')
            {
                rdns.Add(current.ToArray());
                current.Clear();
            }
        }
    }

    private static string ResolveType(string type, string text)
    {
        if (type.Length == 0)
        {
            throw new FormatException($"Distinguished name '{text}': an attribute type is missing before '='.");
        }
        if (s_keywords.TryGetValue(type, out string? oid))
        {
            return oid;
        }
        string dotted = type.StartsWith("OID.", StringComparison.OrdinalIgnoreCase) ? type[4..] : type;
        if (dotted.Length > 0 && char.IsAsciiDigit(dotted[0]) && dotted.All(c => char.IsAsciiDigit(c) || c == '.')
            && !dotted.Contains("..", StringComparison.Ordinal) && !dotted.EndsWith('.'))
        {
            return dotted;
        }
        throw new FormatException($"Distinguished name '{text}': unknown attribute type '{type}'.");
    }

    private static string ReadValue(string text, ref int i)
    {
        SkipSpaces(text, ref i);
        var sb = new StringBuilder();
        if (i < text.Length && text[i] == '"')
        {
            i++;
            while (i < text.Length && text[i] != '"')
            {
                sb.Append(text[i] == '\\' ? Escaped(text, ref i) : text[i++]);
            }
            if (i == text.Length)
            {
                throw new FormatException($"Distinguished name '{text}': a quoted value is not closed.");
            }
            i++;
            return sb.ToString();
        }
        while (i < text.Length && text[i] is not (',' or ';' or '+'))
        {
            sb.Append(text[i] == '\\' ? Escaped(text, ref i) : text[i++]);
        }
        return sb.ToString().Trim();
    }

    private static string Escaped(string text, ref int i)
    {
        // RFC 4514 §2.4: a backslash escapes a special character or two hex digits.
        if (i + 2 < text.Length && char.IsAsciiHexDigit(text[i + 1]) && char.IsAsciiHexDigit(text[i + 2]))
        {
            var bytes = new List<byte>();
            while (i + 2 < text.Length && text[i] == '\\' && char.IsAsciiHexDigit(text[i + 1]) && char.IsAsciiHexDigit(text[i + 2]))
            {
                bytes.Add(byte.Parse(text.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                i += 3;
            }
            return System.Text.Encoding.UTF8.GetString(bytes.ToArray());
        }
        if (i + 1 >= text.Length)
        {
            throw new FormatException($"Distinguished name '{text}': a value ends with a lone backslash.");
        }
        i += 2;
        return text[i - 1].ToString();
    }

    private static void SkipSpaces(string text, ref int i)
    {
        while (i < text.Length && char.IsWhiteSpace(text[i]))
        {
            i++;
        }
    }
}
