using System.Formats.Asn1;
using System.Net;
using System.Net.Sockets;
using Certgate.Pki.Encoding;

namespace Certgate.Pki.Certificates;

/// <summary>The subjectAltName GeneralNames Certgate uses (RFC 5280 §4.2.1.6); other forms are counted, not kept.</summary>
public sealed record SubjectAlternativeNames(
    IReadOnlyList<string> Emails,
    IReadOnlyList<string> DnsNames,
    IReadOnlyList<IPAddress> IPAddresses,
    IReadOnlyList<string> Uris,
    int OtherCount)
{
    public static readonly SubjectAlternativeNames Empty = new([], [], [], [], 0);

    public const string Oid = "2.5.29.17";

    public IEnumerable<IPAddress> IPv4 => IPAddresses.Where(a => a.AddressFamily == AddressFamily.InterNetwork);

    public IEnumerable<IPAddress> IPv6 => IPAddresses.Where(a => a.AddressFamily == AddressFamily.InterNetworkV6);

    public bool IsEmpty => Emails.Count + DnsNames.Count + IPAddresses.Count + Uris.Count + OtherCount == 0;

    /// <summary>Decodes the extension value (<c>GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName</c>).</summary>
    /// <exception cref="PkiFormatException">Malformed.</exception>
    public static SubjectAlternativeNames Decode(ReadOnlyMemory<byte> extensionValue)
    {
        var emails = new List<string>();
        var dns = new List<string>();
        var ips = new List<IPAddress>();
        var uris = new List<string>();
        int other = 0;
        try
        {
            var reader = new AsnReader(extensionValue, AsnEncodingRules.DER);
            AsnReader seq = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            while (seq.HasData)
            {
                Asn1Tag tag = seq.PeekTag();
                if (tag.TagClass != TagClass.ContextSpecific)
                {
                    throw new PkiFormatException("subjectAltName holds a non-GeneralName element");
                }
                switch (tag.TagValue)
                {
                    case 1:
                        emails.Add(seq.ReadCharacterString(UniversalTagNumber.IA5String, new Asn1Tag(TagClass.ContextSpecific, 1)));
                        break;
                    case 2:
                        dns.Add(seq.ReadCharacterString(UniversalTagNumber.IA5String, new Asn1Tag(TagClass.ContextSpecific, 2)));
                        break;
                    case 6:
                        uris.Add(seq.ReadCharacterString(UniversalTagNumber.IA5String, new Asn1Tag(TagClass.ContextSpecific, 6)));
                        break;
                    case 7:
                        byte[] raw = seq.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 7));
                        if (raw.Length is 4 or 16)
                        {
                            ips.Add(new IPAddress(raw));
                        }
                        else
                        {
                            other++; // 8/32 bytes: a name-constraints style address/mask, not an identity
                        }
                        break;
                    default:
                        seq.ReadEncodedValue();
                        other++;
                        break;
                }
            }
        }
        catch (AsnContentException e)
        {
            throw new PkiFormatException("the subjectAltName extension is malformed", e);
        }
        return new SubjectAlternativeNames(emails, dns, ips, uris, other);
    }

    /// <summary>Junos' one-line form: <c>"test@juniper.net", juniper.net, ipv4 10.0.0.1, ipv6 empty</c>.</summary>
    public string ToJunosString()
    {
        var parts = new List<string>();
        parts.AddRange(Emails.Select(e => "\"" + e + "\""));
        parts.AddRange(DnsNames);
        List<IPAddress> v4 = IPv4.ToList();
        List<IPAddress> v6 = IPv6.ToList();
        parts.Add(v4.Count == 0 ? "ipv4 empty" : string.Join(", ", v4.Select(a => "ipv4 " + a)));
        parts.Add(v6.Count == 0 ? "ipv6 empty" : string.Join(", ", v6.Select(a => "ipv6 " + a)));
        return string.Join(", ", parts);
    }
}
