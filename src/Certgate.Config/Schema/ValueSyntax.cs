using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Certgate.Net.Addressing;

namespace Certgate.Config.Schema;

/// <summary>
/// The type of a leaf value or a list key. <see cref="TryNormalize"/> turns what the operator typed into the
/// canonical stored form, or says in the operator's terms what was wrong and what was expected.
/// </summary>
public abstract class ValueSyntax
{
    /// <summary>What a valid value looks like, for messages (e.g. <c>an integer 0..1080</c>).</summary>
    public abstract string Expected { get; }

    /// <summary>True for secrets: stored obfuscated and shown with a <c>## SECRET-DATA</c> comment.</summary>
    public virtual bool IsSecret => false;

    /// <summary>Validates <paramref name="text"/>; on failure <paramref name="problem"/> names the value and the expectation.</summary>
    public abstract bool TryNormalize(string text, out string normalized, out string problem);

    /// <summary>Any text of <paramref name="min"/>..<paramref name="max"/> characters, optionally matching a pattern.</summary>
    public static ValueSyntax String(int min = 1, int max = 255, string? pattern = null, string? patternDescription = null, string forbidden = "") =>
        new StringValue(min, max, pattern, patternDescription, forbidden);

    /// <summary>A Junos object name (CA profile, certificate-id): 1..<paramref name="max"/> chars without <c>/ % .</c> or space (reference §0).</summary>
    public static ValueSyntax ObjectName(int max = 32) => new StringValue(1, max, null, null, "/%. ");

    /// <summary>A name that starts alphanumeric, then <c>[A-Za-z0-9_-]</c> (IKE/IPsec policy and proposal names).</summary>
    public static ValueSyntax Identifier(int max = 32) =>
        new StringValue(1, max, "^[A-Za-z0-9][A-Za-z0-9_-]*$", "a letter or digit, then letters, digits, '-' or '_'", "");

    public static ValueSyntax Integer(long min, long max) => new IntegerValue(min, max);

    public static ValueSyntax Enum(params string[] values) => new EnumValue(values);

    public static ValueSyntax IpAddress(bool v4 = true, bool v6 = true) => new AddressValue(v4, v6);

    public static ValueSyntax Prefix() => new PrefixValue();

    /// <summary>A URL with one of <paramref name="schemes"/> (e.g. <c>http</c>, <c>https</c>, <c>ldap</c>).</summary>
    public static ValueSyntax Url(params string[] schemes) => new UrlValue(schemes);

    public static ValueSyntax Secret() => new SecretValue();

    public static ValueSyntax Email() => new StringValue(3, 255, "^[^@\\s]+@[^@\\s]+$", "an e-mail address (user@domain)", "");
}

internal sealed class StringValue(int min, int max, string? pattern, string? patternDescription, string forbidden) : ValueSyntax
{
    private readonly Regex? _pattern = pattern is null ? null : new Regex(pattern, RegexOptions.CultureInvariant);

    public override string Expected =>
        patternDescription ?? (forbidden.Length > 0
            ? $"{min}..{max} characters without {string.Join(' ', forbidden.Select(c => c == ' ' ? "space" : $"'{c}'"))}"
            : $"a string of {min}..{max} characters");

    public override bool TryNormalize(string text, out string normalized, out string problem)
    {
        normalized = text;
        problem = "";
        if (text.Length < min || text.Length > max)
        {
            problem = $"'{text}' has {text.Length} characters (expected {min}..{max})";
            return false;
        }
        foreach (char c in forbidden)
        {
            if (text.Contains(c))
            {
                problem = $"'{text}' must not contain {(c == ' ' ? "a space" : $"'{c}'")} (expected {Expected})";
                return false;
            }
        }
        if (text.Any(char.IsControl))
        {
            problem = "value contains a control character";
            return false;
        }
        if (_pattern is not null && !_pattern.IsMatch(text))
        {
            problem = $"'{text}' is not valid (expected {Expected})";
            return false;
        }
        return true;
    }
}

internal sealed class IntegerValue(long min, long max) : ValueSyntax
{
    public long Min => min;

    public long Max => max;

    public override string Expected => $"an integer {min}..{max}";

    public override bool TryNormalize(string text, out string normalized, out string problem)
    {
        normalized = text;
        problem = "";
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v))
        {
            problem = $"'{text}' is not a number (expected {Expected})";
            return false;
        }
        if (v < min || v > max)
        {
            problem = $"value {v.ToString(CultureInfo.InvariantCulture)} is outside the range {min}..{max}";
            return false;
        }
        normalized = v.ToString(CultureInfo.InvariantCulture);
        return true;
    }
}

internal sealed class EnumValue(string[] values) : ValueSyntax
{
    public IReadOnlyList<string> Values => values;

    public override string Expected => "one of: " + string.Join(' ', values);

    public override bool TryNormalize(string text, out string normalized, out string problem)
    {
        normalized = text;
        problem = values.Contains(text, StringComparer.Ordinal) ? "" : $"'{text}' is not {Expected}";
        return problem.Length == 0;
    }
}

internal sealed class AddressValue(bool v4, bool v6) : ValueSyntax
{
    public override string Expected => v4 && v6 ? "an IPv4 or IPv6 address" : v4 ? "an IPv4 address" : "an IPv6 address";

    public override bool TryNormalize(string text, out string normalized, out string problem)
    {
        normalized = text;
        problem = "";
        if (text.Contains('/') || text.Contains('%') || !IPAddress.TryParse(text, out IPAddress? a)
            || (a.AddressFamily == AddressFamily.InterNetwork && (!v4 || text.Count(c => c == '.') != 3))
            || (a.AddressFamily == AddressFamily.InterNetworkV6 && !v6))
        {
            problem = $"'{text}' is not {Expected}";
            return false;
        }
        normalized = a.ToString();
        return true;
    }
}

internal sealed class PrefixValue : ValueSyntax
{
    public override string Expected => "an IP prefix (a.b.c.d/n or x:x::x/n)";

    public override bool TryNormalize(string text, out string normalized, out string problem)
    {
        normalized = text;
        problem = "";
        if (!IpPrefix.TryParse(text, out IpPrefix? p))
        {
            problem = $"'{text}' is not {Expected}";
            return false;
        }
        normalized = p.Value.ToString();
        return true;
    }
}

internal sealed class UrlValue(string[] schemes) : ValueSyntax
{
    public override string Expected => string.Join(", ", schemes.Select(s => s + "://"));

    public override bool TryNormalize(string text, out string normalized, out string problem)
    {
        normalized = text;
        problem = "";
        if (text.Length > 500)
        {
            problem = $"the URL has {text.Length} characters (expected at most 500)";
            return false;
        }
        if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? uri)
            || !schemes.Contains(uri.Scheme, StringComparer.OrdinalIgnoreCase)
            || string.IsNullOrEmpty(uri.Host)
            || text.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            problem = $"'{text}' is not a URL (expected {Expected})";
            return false;
        }
        return true;
    }
}

/// <summary>
/// Secrets are stored as <c>$9$</c> + base64 so that <c>show</c> and the files never print the plain text.
/// Why not real encryption: like Junos' <c>$9$</c>, this is obfuscation only; the files themselves are mode 0600.
/// </summary>
internal sealed class SecretValue : ValueSyntax
{
    internal const string Marker = "$9$";

    public override string Expected => "a secret (plain text or $9$ form)";

    public override bool IsSecret => true;

    public override bool TryNormalize(string text, out string normalized, out string problem)
    {
        normalized = text;
        problem = "";
        if (text.Length == 0)
        {
            problem = "the secret is empty";
            return false;
        }
        if (text.StartsWith(Marker, StringComparison.Ordinal))
        {
            if (Reveal(text) is null)
            {
                problem = "the $9$ secret is damaged (expected the form shown by 'show')";
                return false;
            }
            return true;
        }
        if (text.Length > 255 || text.Any(char.IsControl))
        {
            problem = "the secret must be 1..255 printable characters";
            return false;
        }
        normalized = Marker + Convert.ToBase64String(Encoding.UTF8.GetBytes(text));
        return true;
    }

    /// <summary>The plain text of a stored secret, or null when it is not in the stored form.</summary>
    internal static string? Reveal(string stored)
    {
        if (!stored.StartsWith(Marker, StringComparison.Ordinal))
        {
            return null;
        }
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(stored[Marker.Length..]));
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
