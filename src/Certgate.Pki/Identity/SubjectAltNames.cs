using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Certgate.Pki.Identity;

/// <summary>The subjectAltName entries identity matching uses (RFC 5280 §4.2.1.6).</summary>
/// <remarks>
/// GeneralName ::= CHOICE {
///      otherName                 [0]  AnotherName,
///      rfc822Name                [1]  IA5String,
///      dNSName                   [2]  IA5String,
///      x400Address               [3]  ORAddress,
///      directoryName             [4]  Name,
///      ediPartyName              [5]  EDIPartyName,
///      uniformResourceIdentifier [6]  IA5String,
///      iPAddress                 [7]  OCTET STRING,
///      registeredID              [8]  OBJECT IDENTIFIER }
/// </remarks>
public sealed class SubjectAltNames
{
    private SubjectAltNames(List<string> dns, List<IPAddress> ips, List<string> emails, List<X500DistinguishedName> dirs)
    {
        DnsNames = dns;
        IpAddresses = ips;
        Emails = emails;
        DirectoryNames = dirs;
    }

    /// <summary>dNSName entries.</summary>
    public IReadOnlyList<string> DnsNames { get; }

    /// <summary>iPAddress entries (4 or 16 octets; others are skipped).</summary>
    public IReadOnlyList<IPAddress> IpAddresses { get; }

    /// <summary>rfc822Name entries.</summary>
    public IReadOnlyList<string> Emails { get; }

    /// <summary>directoryName entries.</summary>
    public IReadOnlyList<X500DistinguishedName> DirectoryNames { get; }

    /// <summary>Reads the certificate's subjectAltName; empty lists when it has none or it is malformed.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="certificate"/> is null.</exception>
    public static SubjectAltNames FromCertificate(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var dns = new List<string>();
        var ips = new List<IPAddress>();
        var emails = new List<string>();
        var dirs = new List<X500DistinguishedName>();
        X509Extension? ext = certificate.Extensions["2.5.29.17"];
        if (ext is not null)
        {
            try
            {
                var reader = new AsnReader(ext.RawData, AsnEncodingRules.DER);
                AsnReader names = reader.ReadSequence();
                while (names.HasData)
                {
                    Asn1Tag tag = names.PeekTag();
                    if (tag.TagClass != TagClass.ContextSpecific)
                    {
                        names.ReadEncodedValue();
                        continue;
                    }
                    switch (tag.TagValue)
                    {
                        case 1:
                            emails.Add(System.Text.Encoding.ASCII.GetString(names.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 1))));
                            break;
                        case 2:
                            dns.Add(System.Text.Encoding.ASCII.GetString(names.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 2))));
                            break;
                        case 4:
                            AsnReader explicitName = names.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 4, true));
                            dirs.Add(new X500DistinguishedName(explicitName.ReadEncodedValue().Span));
                            break;
                        case 7:
                            byte[] ip = names.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 7));
                            if (ip.Length is 4 or 16)
                            {
                                ips.Add(new IPAddress(ip));
                            }
                            break;
                        default:
                            names.ReadEncodedValue();
                            break;
                    }
                }
            }
            catch (AsnContentException)
            {
                // A malformed SAN yields no identities: nothing can match it, which fails closed.
                dns.Clear();
                ips.Clear();
                emails.Clear();
                dirs.Clear();
            }
        }
        return new SubjectAltNames(dns, ips, emails, dirs);
    }

    /// <summary>True when a dNSName equals <paramref name="fqdn"/> (case-insensitive, a trailing dot ignored).
    /// Wildcard dNSNames are not honoured: an IKE peer identity names one host.</summary>
    public bool HasDnsName(string fqdn) => DnsNames.Any(d => FqdnEquals(d, fqdn));

    /// <summary>True when an iPAddress entry equals <paramref name="address"/> (IPv4-mapped IPv6 is not folded).</summary>
    public bool HasIpAddress(IPAddress address) => IpAddresses.Any(a => a.Equals(address));

    /// <summary>True when an rfc822Name equals <paramref name="email"/> (case-insensitive).</summary>
    public bool HasEmail(string email) => Emails.Any(e => string.Equals(e, email, StringComparison.OrdinalIgnoreCase));

    internal static bool FqdnEquals(string a, string b) =>
        string.Equals(a.TrimEnd('.'), b.TrimEnd('.'), StringComparison.OrdinalIgnoreCase) && a.TrimEnd('.').Length > 0;
}
