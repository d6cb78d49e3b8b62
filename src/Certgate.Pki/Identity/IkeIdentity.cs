using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Certgate.Pki.Identity;

/// <summary>IKEv2 Identification types (RFC 7296 §3.5; IANA "IKEv2 Identification Payload ID Types").</summary>
public enum IkeIdentityType : byte
{
    ID_IPV4_ADDR = 1,
    ID_FQDN = 2,
    ID_RFC822_ADDR = 3,
    ID_IPV6_ADDR = 5,
    ID_DER_ASN1_DN = 9,
    ID_DER_ASN1_GN = 10,
    ID_KEY_ID = 11,
}

/// <summary>An IKE identity as carried in an IDi/IDr payload: a type and its data.</summary>
public sealed record IkeIdentity(IkeIdentityType Type, ReadOnlyMemory<byte> Data)
{
    /// <summary>ID_IPV4_ADDR or ID_IPV6_ADDR.</summary>
    public static IkeIdentity FromAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return new(address.AddressFamily == AddressFamily.InterNetworkV6 ? IkeIdentityType.ID_IPV6_ADDR : IkeIdentityType.ID_IPV4_ADDR,
            address.GetAddressBytes());
    }

    /// <summary>ID_FQDN.</summary>
    public static IkeIdentity FromFqdn(string fqdn)
    {
        ArgumentException.ThrowIfNullOrEmpty(fqdn);
        return new(IkeIdentityType.ID_FQDN, System.Text.Encoding.ASCII.GetBytes(fqdn));
    }

    /// <summary>ID_RFC822_ADDR.</summary>
    public static IkeIdentity FromEmail(string email)
    {
        ArgumentException.ThrowIfNullOrEmpty(email);
        return new(IkeIdentityType.ID_RFC822_ADDR, System.Text.Encoding.ASCII.GetBytes(email));
    }

    /// <summary>ID_DER_ASN1_DN.</summary>
    public static IkeIdentity FromDistinguishedName(X500DistinguishedName name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return new(IkeIdentityType.ID_DER_ASN1_DN, name.RawData);
    }

    /// <summary>ID_KEY_ID.</summary>
    public static IkeIdentity FromKeyId(ReadOnlySpan<byte> keyId) => new(IkeIdentityType.ID_KEY_ID, keyId.ToArray());

    /// <summary>The address of an ID_IPV4_ADDR/ID_IPV6_ADDR with the right length, else null.</summary>
    public IPAddress? Address => (Type, Data.Length) switch
    {
        (IkeIdentityType.ID_IPV4_ADDR, 4) or (IkeIdentityType.ID_IPV6_ADDR, 16) => new IPAddress(Data.Span),
        _ => null,
    };

    /// <summary>The text of an ID_FQDN / ID_RFC822_ADDR, else null.</summary>
    public string? Text => Type is IkeIdentityType.ID_FQDN or IkeIdentityType.ID_RFC822_ADDR ? System.Text.Encoding.ASCII.GetString(Data.Span) : null;

    /// <summary>The name of an ID_DER_ASN1_DN (null when not one or not a valid Name).</summary>
    public X500DistinguishedName? DistinguishedName =>
        Type == IkeIdentityType.ID_DER_ASN1_DN && DistinguishedNames.TryParse(Data) is not null ? new X500DistinguishedName(Data.Span) : null;

    /// <summary>Readable form for logs and <c>show</c> output, e.g. "fqdn gw1.example.net".</summary>
    public override string ToString() => Type switch
    {
        IkeIdentityType.ID_IPV4_ADDR or IkeIdentityType.ID_IPV6_ADDR => $"ip {Address?.ToString() ?? Convert.ToHexString(Data.Span)}",
        IkeIdentityType.ID_FQDN => $"fqdn {Text}",
        IkeIdentityType.ID_RFC822_ADDR => $"email {Text}",
        IkeIdentityType.ID_DER_ASN1_DN => $"dn {DistinguishedName?.Name ?? Convert.ToHexString(Data.Span)}",
        _ => $"{Type} {Convert.ToHexString(Data.Span)}",
    };
}
