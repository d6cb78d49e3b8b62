using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using Certgate.Ca.Settings;

namespace Certgate.Ca.Challenges;

/// <summary>
/// The names a challenge is bound to (<c>certgate ca challenge --subject DN --dns NAME --ip ADDR --email A</c>): a
/// request using the challenge may ask only for these — the subject exactly (when one is bound) and a subset of the
/// subjectAltNames — and they are allowed even outside the profile's name policy, because the operator named them.
/// Stored with the challenge as JSON.
/// </summary>
public sealed record NameBinding
{
    /// <summary>Most names one challenge binds (the same bound as a request's subjectAltNames).</summary>
    public const int MaxNames = 32;

    /// <summary>The bound subject DN as given (in <c>ca init --subject</c> syntax), or null: the subject then obeys the
    /// profile's subject policy.</summary>
    public string? Subject { get; init; }

    /// <summary>Bound DNS names, lower case (a leading <c>*</c> label binds that wildcard name).</summary>
    public IReadOnlyList<string> DnsNames { get; init; } = [];

    /// <summary>Bound IP addresses in canonical notation.</summary>
    public IReadOnlyList<string> IpAddresses { get; init; } = [];

    /// <summary>Bound e-mail addresses (domain lower case).</summary>
    public IReadOnlyList<string> Emails { get; init; } = [];

    /// <summary>The bound subject, parsed.</summary>
    public X500DistinguishedName? SubjectName => Subject is null ? null : new X500DistinguishedName(Subject);

    /// <summary>True when nothing is bound (the challenge is unbound).</summary>
    public bool IsEmpty => Subject is null && DnsNames.Count == 0 && IpAddresses.Count == 0 && Emails.Count == 0;

    /// <summary>Builds and checks a binding from the operator's names.</summary>
    /// <exception cref="ArgumentException">A name is malformed (the message names the option and value), or too many.</exception>
    public static NameBinding Create(string? subject, IEnumerable<string>? dns, IEnumerable<string>? ips, IEnumerable<string>? emails)
    {
        if (subject is not null)
        {
            X500DistinguishedName parsed;
            try
            {
                parsed = new X500DistinguishedName(subject);
            }
            catch (CryptographicException)
            {
                throw new ArgumentException($"--subject '{subject}': not a distinguished name (e.g. \"CN=gw1.example.net,O=Example\")", nameof(subject));
            }
            string? problem = parsed.RawData.Length <= 2 ? "an empty subject binds nothing" : null;
            if (problem is not null || SubjectNames.TryRead(parsed, out problem) is null)
            {
                throw new ArgumentException($"--subject '{subject}': {problem}", nameof(subject));
            }
        }
        var d = new List<string>();
        foreach (string name in dns ?? [])
        {
            string lower = name.ToLowerInvariant();
            if (DnsNamePattern.TryParse(lower, out _) is null || (lower.Contains('*', StringComparison.Ordinal) && !(lower.StartsWith("*.", StringComparison.Ordinal) && !lower[2..].Contains('*', StringComparison.Ordinal))))
            {
                throw new ArgumentException($"--dns '{name}': not a DNS name (letters, digits, hyphens and dots; a wildcard only as a whole first label, *.example.net)", nameof(dns));
            }
            AddOnce(d, lower);
        }
        var i = new List<string>();
        foreach (string text in ips ?? [])
        {
            if (!IPAddress.TryParse(text, out IPAddress? a) || (a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && a.ScopeId != 0) || (a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && text.Count(c => c == '.') != 3))
            {
                throw new ArgumentException($"--ip '{text}': not an IPv4 or IPv6 address", nameof(ips));
            }
            AddOnce(i, a.ToString());
        }
        var e = new List<string>();
        foreach (string text in emails ?? [])
        {
            AddOnce(e, NormalizeEmail(text) ?? throw new ArgumentException($"--email '{text}': not an e-mail address (local@domain)", nameof(emails)));
        }
        if (d.Count + i.Count + e.Count > MaxNames)
        {
            throw new ArgumentException($"a challenge binds at most {MaxNames} names; {d.Count + i.Count + e.Count} given", nameof(dns));
        }
        return new NameBinding { Subject = subject, DnsNames = d, IpAddresses = i, Emails = e };
    }

    /// <summary>An e-mail address with its domain in lower case, or null when it is not local@domain with an LDH domain.</summary>
    public static string? NormalizeEmail(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int at = text.LastIndexOf('@');
        if (text.Length > 320 || at <= 0 || at > 64 || !text.All(c => c > ' ' && c < 0x7F) || text.IndexOf('@') != at
            || !DnsNamePattern.IsHostName(text[(at + 1)..]))
        {
            return null;
        }
        return string.Concat(text.AsSpan(0, at + 1), text[(at + 1)..].ToLowerInvariant());
    }

    /// <summary>The binding as stored (JSON), or null when nothing is bound.</summary>
    public string? Encode()
    {
        if (IsEmpty)
        {
            return null;
        }
        var o = new JsonObject
        {
            ["subject"] = Subject,
            ["dns"] = new JsonArray([.. DnsNames.Select(n => (JsonNode?)n)]),
            ["ip"] = new JsonArray([.. IpAddresses.Select(n => (JsonNode?)n)]),
            ["email"] = new JsonArray([.. Emails.Select(n => (JsonNode?)n)]),
        };
        return o.ToJsonString();
    }

    /// <summary>Reads a stored binding (null or empty: unbound).</summary>
    /// <exception cref="InvalidDataException">The stored text is not a binding.</exception>
    public static NameBinding? Decode(string? stored)
    {
        if (string.IsNullOrEmpty(stored))
        {
            return null;
        }
        try
        {
            JsonNode root = JsonNode.Parse(stored) ?? throw new InvalidDataException("challenge binding is null");
            static List<string> List(JsonNode? n) => n is JsonArray a ? [.. a.Select(x => x!.GetValue<string>())] : [];
            return new NameBinding
            {
                Subject = root["subject"]?.GetValue<string>(),
                DnsNames = List(root["dns"]),
                IpAddresses = List(root["ip"]),
                Emails = List(root["email"]),
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"challenge binding '{stored}' cannot be read: {e.Message}", e);
        }
    }

    /// <summary>The bound names for messages and the CLI: <c>subject CN=…; dns a, b; ip 192.0.2.1; email x@y</c>.</summary>
    public string Describe()
    {
        var parts = new List<string>();
        if (Subject is not null)
        {
            parts.Add("subject " + Subject);
        }
        if (DnsNames.Count > 0)
        {
            parts.Add("dns " + string.Join(", ", DnsNames));
        }
        if (IpAddresses.Count > 0)
        {
            parts.Add("ip " + string.Join(", ", IpAddresses));
        }
        if (Emails.Count > 0)
        {
            parts.Add("email " + string.Join(", ", Emails));
        }
        return parts.Count == 0 ? "no names" : string.Join("; ", parts);
    }

    private static void AddOnce(List<string> list, string value)
    {
        if (!list.Contains(value, StringComparer.Ordinal))
        {
            list.Add(value);
        }
    }
}
