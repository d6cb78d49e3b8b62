using System.Net;
using System.Net.Sockets;

namespace Certgate.Ca.Settings;

/// <summary>
/// What names a request under an unbound challenge may ask for (a profile's <c>names</c> block, issue #14 §1).
/// Parsed once when the settings load; matching is linear in the name's length (no regular expressions).
/// </summary>
/// <remarks>
/// Names a challenge binds (<c>certgate ca challenge --subject/--dns/--ip/--email</c>), names an operator approves
/// (<c>ca approve</c>, <c>ca sign</c>) and a renewal's names (a subset of its certificate's) do not go through this
/// policy: they were named by the operator, or were checked when the first certificate was issued.
/// </remarks>
public sealed record NamePolicy
{
    /// <summary>No requirement on the subject, any DNS name and CN (unless another certificate holds it), no IP
    /// address and no e-mail address.</summary>
    public static NamePolicy Default { get; } = new();

    /// <summary>Attribute (short name, upper case: O, OU, C, L, ST, DC) → the value every such RDN must have. Each
    /// attribute listed must appear in the subject at least once.</summary>
    public IReadOnlyDictionary<string, string> RequiredSubject { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Patterns the subject's CN must match (empty: any CN).</summary>
    public IReadOnlyList<DnsNamePattern> CommonNames { get; init; } = [];

    /// <summary>Patterns every DNS subjectAltName must match (empty: any DNS name).</summary>
    public IReadOnlyList<DnsNamePattern> DnsNames { get; init; } = [];

    /// <summary>Ranges every iPAddress subjectAltName must lie in (empty: none allowed without a bound challenge).</summary>
    public IReadOnlyList<IpRange> IpRanges { get; init; } = [];

    /// <summary>Domain patterns of every rfc822Name subjectAltName (empty: none allowed without a bound challenge).</summary>
    public IReadOnlyList<DnsNamePattern> EmailDomains { get; init; } = [];
}

/// <summary>
/// A DNS name pattern: labels separated by dots, each a literal LDH label or <c>*</c>, which matches exactly one
/// whole, non-empty label. <c>*.vpn.example.net</c> matches <c>gw1.vpn.example.net</c>, not <c>vpn.example.net</c>
/// and not <c>a.gw1.vpn.example.net</c>. Case-insensitive (RFC 4343). Matching walks the name once.
/// </summary>
public sealed class DnsNamePattern
{
    private readonly string[] _labels;

    private DnsNamePattern(string text, string[] labels)
    {
        Text = text;
        _labels = labels;
    }

    /// <summary>The pattern as written (lower case).</summary>
    public string Text { get; }

    /// <summary>Parses a pattern; null with <paramref name="problem"/> when it is not one.</summary>
    public static DnsNamePattern? TryParse(string text, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(text);
        string lower = text.ToLowerInvariant();
        if (lower.Length is 0 or > 253)
        {
            problem = "expected a DNS name pattern of 1 to 253 characters";
            return null;
        }
        string[] labels = lower.Split('.');
        foreach (string label in labels)
        {
            if (label != "*" && !IsLdhLabel(label))
            {
                problem = label.Contains('*', StringComparison.Ordinal)
                    ? $"'*' stands for one whole label (as in *.vpn.example.net), not part of one ('{label}')"
                    : $"label '{label}' is not a DNS label (letters, digits and hyphens, 1 to 63)";
                return null;
            }
        }
        problem = null;
        return new DnsNamePattern(lower, labels);
    }

    /// <summary>True when <paramref name="name"/> (a DNS name, any case) matches. Linear in the name's length.</summary>
    public bool Matches(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        int start = 0;
        for (int i = 0; i < _labels.Length; i++)
        {
            int dot = name.IndexOf('.', start);
            bool last = i == _labels.Length - 1;
            if (last != (dot < 0))
            {
                return false; // more or fewer labels than the pattern
            }
            int end = dot < 0 ? name.Length : dot;
            ReadOnlySpan<char> label = name.AsSpan(start, end - start);
            if (label.Length == 0)
            {
                return false;
            }
            if (_labels[i] != "*" && !label.Equals(_labels[i], StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
            start = end + 1;
        }
        return true;
    }

    /// <summary>True when <paramref name="label"/> is an LDH label (RFC 1035 §2.3.1, digits allowed first, RFC 1123).</summary>
    public static bool IsLdhLabel(ReadOnlySpan<char> label)
    {
        if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-')
        {
            return false;
        }
        foreach (char c in label)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-')
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>True when <paramref name="name"/> is a DNS host name: LDH labels, at most 253 characters, no wildcard.</summary>
    public static bool IsHostName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length is 0 or > 253)
        {
            return false;
        }
        foreach (Range r in name.AsSpan().Split('.'))
        {
            if (!IsLdhLabel(name.AsSpan()[r]))
            {
                return false;
            }
        }
        return true;
    }

    public override string ToString() => Text;
}

/// <summary>An IPv4 or IPv6 CIDR range (<c>192.0.2.0/24</c>, <c>2001:db8::/48</c>); an address alone is a /32 or /128.
/// An IPv4 address never matches an IPv6 range (IPv4-mapped addresses included) and the other way round.</summary>
public sealed class IpRange
{
    private readonly byte[] _network;

    private IpRange(string text, byte[] network, int prefix)
    {
        Text = text;
        _network = network;
        PrefixLength = prefix;
    }

    /// <summary>The range in canonical notation (network address / prefix length).</summary>
    public string Text { get; }

    public int PrefixLength { get; }

    /// <summary>Parses a CIDR; null with <paramref name="problem"/> when it is not one (host bits must be zero).</summary>
    public static IpRange? TryParse(string text, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(text);
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        string addressText = slash < 0 ? text : text[..slash];
        if (!IPAddress.TryParse(addressText, out IPAddress? address) || (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0) || addressText.Contains('%', StringComparison.Ordinal)
            || (address.AddressFamily == AddressFamily.InterNetwork && addressText.Count(c => c == '.') != 3))
        {
            problem = "expected an IPv4 or IPv6 range such as 192.0.2.0/24 or 2001:db8::/48";
            return null;
        }
        byte[] bytes = address.GetAddressBytes();
        int max = bytes.Length * 8;
        int prefix = max;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix) || prefix > max))
        {
            problem = $"prefix length '{text[(slash + 1)..]}': expected 0 to {max}";
            return null;
        }
        for (int bit = prefix; bit < max; bit++)
        {
            if ((bytes[bit / 8] & (0x80 >> (bit % 8))) != 0)
            {
                problem = $"{address}/{prefix} has host bits set; the network is {Network(bytes, prefix)}/{prefix}";
                return null;
            }
        }
        problem = null;
        return new IpRange($"{address}/{prefix}", bytes, prefix);
    }

    /// <summary>True when <paramref name="address"/> lies in the range (same address family only).</summary>
    public bool Contains(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        byte[] a = address.GetAddressBytes();
        if (a.Length != _network.Length)
        {
            return false;
        }
        int whole = PrefixLength / 8;
        if (!a.AsSpan(0, whole).SequenceEqual(_network.AsSpan(0, whole)))
        {
            return false;
        }
        int rest = PrefixLength % 8;
        if (rest == 0)
        {
            return true;
        }
        int mask = 0xFF << (8 - rest) & 0xFF;
        return (a[whole] & mask) == (_network[whole] & mask);
    }

    private static IPAddress Network(byte[] bytes, int prefix)
    {
        byte[] n = (byte[])bytes.Clone();
        for (int bit = prefix; bit < n.Length * 8; bit++)
        {
            n[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }
        return new IPAddress(n);
    }

    public override string ToString() => Text;
}
