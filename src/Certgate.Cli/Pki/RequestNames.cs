using System.Net;
using System.Security.Cryptography.X509Certificates;
using Certgate.Cli.Commands;
using Certgate.Pki.Encoding;
using Certgate.Pki.Names;

namespace Certgate.Cli.Pki;

/// <summary>
/// The names a certificate request carries, as typed after <c>subject</c>, <c>domain-name</c>, <c>ip-address</c>
/// (<c>ipv6-address</c>) and <c>email</c> — read and checked once for every command that builds a request.
/// </summary>
internal sealed record RequestNames(X500DistinguishedName Subject, IReadOnlyList<string> DnsNames, IReadOnlyList<IPAddress> Addresses, IReadOnlyList<string> Emails)
{
    /// <summary>Reads the keywords from <paramref name="args"/>; a usage error names the field and what was expected.</summary>
    public static RequestNames Read(Arguments args)
    {
        string command = args.Command;
        string subjectText = args.Required("subject");
        IReadOnlyList<string> dnsNames = args.All("domain-name");
        IReadOnlyList<string> ipTexts = [.. args.All("ip-address"), .. args.All("ipv6-address")];
        IReadOnlyList<string> emails = args.All("email");

        X500DistinguishedName subject;
        try
        {
            subject = JunosDistinguishedName.Parse(subjectText);
        }
        catch (Exception e) when (e is PkiFormatException or ArgumentException or FormatException)
        {
            throw new UserException($"{command}: subject '{subjectText}': {PkiContext.Describe(e)} " +
                $"(expected KEY=value pairs separated by commas, keys {string.Join(", ", JunosDistinguishedName.Keys)})", 2);
        }
        var addresses = new List<IPAddress>();
        foreach (string ip in ipTexts)
        {
            addresses.Add(IPAddress.TryParse(ip, out IPAddress? a) && ip.Contains(a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? '.' : ':')
                ? a
                : throw new UserException($"{command}: ip-address '{ip}': expected an IPv4 or IPv6 address", 2));
        }
        foreach (string dns in dnsNames)
        {
            if (Uri.CheckHostName(dns.TrimStart('*', '.')) != UriHostNameType.Dns)
            {
                throw new UserException($"{command}: domain-name '{dns}': expected a host name such as gw1.example.net", 2);
            }
        }
        foreach (string email in emails)
        {
            int at = email.IndexOf('@', StringComparison.Ordinal);
            if (at <= 0 || at == email.Length - 1 || email.Contains(' ', StringComparison.Ordinal))
            {
                throw new UserException($"{command}: email '{email}': expected an address such as vpn-admin@example.net", 2);
            }
        }
        return new RequestNames(subject, dnsNames, addresses, emails);
    }
}
