using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Pki.Identity;

/// <summary>One configured <c>remote-id</c> value (Junos: ipv4_addr, ipv6-addr, fqdn, key-id, distinguished-name, any-remote-id).</summary>
public sealed class RemoteIdentity
{
    private readonly IPAddress? _address;
    private readonly string? _text;
    private readonly byte[]? _keyId;
    private readonly DistinguishedNamePattern? _dn;

    private RemoteIdentity(RemoteIdentityKind kind, IPAddress? address = null, string? text = null, byte[]? keyId = null,
        DistinguishedNamePattern? dn = null)
    {
        Kind = kind;
        _address = address;
        _text = text;
        _keyId = keyId;
        _dn = dn;
    }

    /// <summary>What kind of identity is configured.</summary>
    public RemoteIdentityKind Kind { get; }

    /// <summary><c>any-remote-id</c>.</summary>
    public static RemoteIdentity Any { get; } = new(RemoteIdentityKind.Any);

    /// <summary><c>ipv4_addr</c> / <c>ipv6-addr</c>.</summary>
    public static RemoteIdentity Address(IPAddress address) =>
        new(RemoteIdentityKind.Address, address: address ?? throw new ArgumentNullException(nameof(address)));

    /// <summary><c>fqdn</c>.</summary>
    public static RemoteIdentity Fqdn(string fqdn)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(fqdn);
        return new(RemoteIdentityKind.Fqdn, text: fqdn);
    }

    /// <summary>An e-mail identity (user@hostname).</summary>
    public static RemoteIdentity Email(string email)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(email);
        return new(RemoteIdentityKind.Email, text: email);
    }

    /// <summary><c>key-id</c>.</summary>
    public static RemoteIdentity KeyId(ReadOnlySpan<byte> keyId) => new(RemoteIdentityKind.KeyId, keyId: keyId.ToArray());

    /// <summary><c>distinguished-name { container | wildcard | exact-match } "…"</c>.</summary>
    /// <exception cref="FormatException">The DN text is invalid.</exception>
    public static RemoteIdentity DistinguishedName(string pattern, DistinguishedNameMatch mode) =>
        new(RemoteIdentityKind.DistinguishedName, dn: DistinguishedNamePattern.Parse(pattern, mode));

    /// <summary>
    /// The one IKE identity this remote-id names (an address, FQDN, e-mail or key-id), e.g. for an initiator's IDr;
    /// null for a DN pattern or any-remote-id, which name no single encoding.
    /// </summary>
    public IkeIdentity? Identity => Kind switch
    {
        RemoteIdentityKind.Address => IkeIdentity.FromAddress(_address!),
        RemoteIdentityKind.Fqdn => IkeIdentity.FromFqdn(_text!),
        RemoteIdentityKind.Email => IkeIdentity.FromEmail(_text!),
        RemoteIdentityKind.KeyId => IkeIdentity.FromKeyId(_keyId),
        _ => null,
    };

    /// <summary>
    /// True when the peer's IKE identity satisfies this remote-id. The identity must separately be consistent
    /// with the peer's certificate (<see cref="CertificateIdentity.IsConsistent"/>).
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="peer"/> is null.</exception>
    public bool Matches(IkeIdentity peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        return Kind switch
        {
            RemoteIdentityKind.Any => true,
            RemoteIdentityKind.Address => peer.Address is { } a && a.Equals(_address),
            RemoteIdentityKind.Fqdn => peer.Kind == IdentityKind.Fqdn && SubjectAltNames.FqdnEquals(peer.Text!, _text!),
            RemoteIdentityKind.Email => peer.Kind == IdentityKind.Email
                && string.Equals(peer.Text, _text, StringComparison.OrdinalIgnoreCase),
            RemoteIdentityKind.KeyId => peer.Kind == IdentityKind.KeyId && peer.Data.Span.SequenceEqual(_keyId),
            RemoteIdentityKind.DistinguishedName => peer.DistinguishedName is { } dn && _dn!.Matches(dn),
            _ => false,
        };
    }

    /// <summary>A remote-id list matches when any entry does (Junos: "list, any match"); an empty list matches nothing.</summary>
    public static bool MatchesAny(IEnumerable<RemoteIdentity> configured, IkeIdentity peer)
    {
        ArgumentNullException.ThrowIfNull(configured);
        foreach (RemoteIdentity r in configured)
        {
            if (r.Matches(peer))
            {
                return true;
            }
        }
        return false;
    }

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        RemoteIdentityKind.Any => "any-remote-id",
        RemoteIdentityKind.Address => $"ip {_address}",
        RemoteIdentityKind.Fqdn => $"fqdn {_text}",
        RemoteIdentityKind.Email => $"email {_text}",
        RemoteIdentityKind.KeyId => $"key-id {Convert.ToHexString(_keyId!)}",
        _ => $"distinguished-name {_dn}",
    };
}

/// <summary>The kinds of <see cref="RemoteIdentity"/>.</summary>
public enum RemoteIdentityKind
{
    Any,
    Address,
    Fqdn,
    Email,
    KeyId,
    DistinguishedName,
}

/// <summary>Whether an IKE identity is backed by the certificate that authenticated it.</summary>
public static class CertificateIdentity
{
    /// <summary>
    /// True when <paramref name="identity"/> is consistent with <paramref name="certificate"/>: an ID_DER_ASN1_DN
    /// equals the subject (RFC 5280 §7.1 comparison); an FQDN, address or e-mail is present in the subjectAltName
    /// (RFC 4945 §3.1 requires the ID to be matched against the certificate). ID_KEY_ID cannot be bound to a
    /// certificate and is never consistent.
    /// </summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static bool IsConsistent(IkeIdentity identity, X509Certificate2 certificate, out string reason)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(certificate);
        SubjectAltNames san = SubjectAltNames.FromCertificate(certificate);
        bool ok;
        switch (identity.Kind)
        {
            case IdentityKind.DistinguishedName:
                ok = identity.DistinguishedName is { } dn && DistinguishedNames.Equal(dn, certificate.SubjectName);
                reason = ok ? "" : $"IKE identity {identity} is not the certificate subject '{certificate.Subject}'";
                return ok;
            case IdentityKind.Fqdn:
                ok = san.HasDnsName(identity.Text!);
                break;
            case IdentityKind.Email:
                ok = san.HasEmail(identity.Text!);
                break;
            case IdentityKind.Ipv4Address or IdentityKind.Ipv6Address:
                ok = identity.Address is { } a && san.HasIpAddress(a);
                break;
            default:
                reason = $"IKE identity {identity} cannot be checked against a certificate";
                return false;
        }
        reason = ok ? "" : $"IKE identity {identity} is not in the subjectAltName of certificate '{certificate.Subject}'";
        return ok;
    }
}
