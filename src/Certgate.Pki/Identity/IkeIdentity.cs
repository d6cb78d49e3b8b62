using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Certgate.Pki.Identity;

/// <summary>
/// The forms of IKE identity Certgate matches, in Certgate.Pki's own words. Why not the IANA ID types here: Pki
/// sits below Certgate.Ipsec, which holds the one IKEv2 registry (docs/architecture.md), so it must not name the
/// registry's <c>IdType</c>; Certgate.Ike maps each kind to its ID type in one place (<c>IkeIdentities.IdTypeOf</c>,
/// <c>IkeIdentities.KindOf</c>), the only place that knows the wire numbers.
/// </summary>
public enum IdentityKind
{
    /// <summary>An IPv4 address (ID_IPV4_ADDR).</summary>
    Ipv4Address,

    /// <summary>A fully-qualified domain name (ID_FQDN).</summary>
    Fqdn,

    /// <summary>An e-mail address (ID_RFC822_ADDR).</summary>
    Email,

    /// <summary>An IPv6 address (ID_IPV6_ADDR).</summary>
    Ipv6Address,

    /// <summary>A DER X.500 Name (ID_DER_ASN1_DN).</summary>
    DistinguishedName,

    /// <summary>Opaque octets (ID_KEY_ID).</summary>
    KeyId,
}

/// <summary>An IKE identity as carried in an IDi/IDr payload: a type and its data.</summary>
public sealed record IkeIdentity(IdentityKind Kind, ReadOnlyMemory<byte> Data)
{
    /// <summary>ID_IPV4_ADDR or ID_IPV6_ADDR.</summary>
    public static IkeIdentity FromAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return new(address.AddressFamily == AddressFamily.InterNetworkV6 ? IdentityKind.Ipv6Address : IdentityKind.Ipv4Address,
            address.GetAddressBytes());
    }

    /// <summary>ID_FQDN.</summary>
    public static IkeIdentity FromFqdn(string fqdn)
    {
        ArgumentException.ThrowIfNullOrEmpty(fqdn);
        return new(IdentityKind.Fqdn, System.Text.Encoding.ASCII.GetBytes(fqdn));
    }

    /// <summary>ID_RFC822_ADDR.</summary>
    public static IkeIdentity FromEmail(string email)
    {
        ArgumentException.ThrowIfNullOrEmpty(email);
        return new(IdentityKind.Email, System.Text.Encoding.ASCII.GetBytes(email));
    }

    /// <summary>ID_DER_ASN1_DN.</summary>
    public static IkeIdentity FromDistinguishedName(X500DistinguishedName name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return new(IdentityKind.DistinguishedName, name.RawData);
    }

    /// <summary>ID_KEY_ID.</summary>
    public static IkeIdentity FromKeyId(ReadOnlySpan<byte> keyId) => new(IdentityKind.KeyId, keyId.ToArray());

    /// <summary>The address of an ID_IPV4_ADDR/ID_IPV6_ADDR with the right length, else null.</summary>
    public IPAddress? Address => (Kind, Data.Length) switch
    {
        (IdentityKind.Ipv4Address, 4) or (IdentityKind.Ipv6Address, 16) => new IPAddress(Data.Span),
        _ => null,
    };

    /// <summary>The text of an ID_FQDN / ID_RFC822_ADDR, else null.</summary>
    public string? Text => Kind is IdentityKind.Fqdn or IdentityKind.Email ? System.Text.Encoding.ASCII.GetString(Data.Span) : null;

    /// <summary>The name of an ID_DER_ASN1_DN (null when not one or not a valid Name).</summary>
    public X500DistinguishedName? DistinguishedName =>
        Kind == IdentityKind.DistinguishedName && DistinguishedNames.TryParse(Data) is not null ? new X500DistinguishedName(Data.Span) : null;

    /// <summary>Readable form for logs and <c>show</c> output, e.g. "fqdn gw1.example.net".</summary>
    public override string ToString() => Kind switch
    {
        IdentityKind.Ipv4Address or IdentityKind.Ipv6Address => $"ip {Address?.ToString() ?? Convert.ToHexString(Data.Span)}",
        IdentityKind.Fqdn => $"fqdn {Text}",
        IdentityKind.Email => $"email {Text}",
        IdentityKind.DistinguishedName => $"dn {DistinguishedName?.Name ?? Convert.ToHexString(Data.Span)}",
        _ => $"ID_KEY_ID {Convert.ToHexString(Data.Span)}", // the text it always had in logs and show output
    };
}
