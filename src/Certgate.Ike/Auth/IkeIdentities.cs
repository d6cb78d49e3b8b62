using System.Net;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;
using Certgate.Pki.Identity;

namespace Certgate.Ike.Auth;

/// <summary>
/// Which identity this side puts in its IDi/IDr payload and whether the peer's is acceptable (RFC 7296 §3.5,
/// RFC 4945 §3.1, reference §3.6). The checks, in order, for the peer:
/// <list type="number">
/// <item>the ID payload decodes to a supported type with data of the right length;</item>
/// <item>with certificates, the ID is backed by the validated certificate (<see cref="CertificateIdentity.IsConsistent"/>:
/// a DN is the subject, an address / FQDN / e-mail is in the subjectAltName; ID_KEY_ID is refused);</item>
/// <item>the ID matches one of the configured remote-ids (any match, DN container/wildcard/exact-match per
/// <see cref="RemoteIdentity"/>); without remote-id, a certificate must carry the tunnel's remote-gateway as an
/// iPAddress subjectAltName (<see cref="PeerCertificatePolicy.GatewayProblem"/>, when <see cref="IkePeerConfig.RemoteGateway"/>
/// is set) and a pre-shared key needs an ID equal to the peer's gateway address (reference §3.6, "Impl. decision").</item>
/// </list>
/// </summary>
public static class IkeIdentities
{
    /// <summary>
    /// The identity this side sends: the configured local-id, else the certificate's subject DN (always backed by the
    /// certificate, as strongSwan does), else with a pre-shared key the local gateway address (reference §3.6).
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="IkeException">A pre-shared key, no local-id and no specific local address to send.</exception>
    public static IkeIdentity Local(IkePeerConfig config, IPAddress? localAddress)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.LocalId is { } configured)
        {
            return configured;
        }
        if (config.PreSharedKey is null && config.Certificate is { } cert)
        {
            return IkeIdentity.FromDistinguishedName(cert.SubjectName);
        }
        IPAddress? address = localAddress is { IsIPv4MappedToIPv6: true } ? localAddress.MapToIPv4() : localAddress;
        if (address is null || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            throw new IkeException("with a pre-shared key and no local-id this side sends its gateway address, but the IKE socket is bound to no specific address; configure local-id");
        }
        return IkeIdentity.FromAddress(address);
    }

    /// <summary>
    /// Why the configured local-id cannot be sent with the local certificate (RFC 4945 §3.1: the peer matches the ID
    /// against the certificate, so an ID the certificate does not carry would only be refused there), or null.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static string? LocalProblem(IkePeerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.PreSharedKey is not null || config.Certificate is not { } cert || config.LocalId is not { } id)
        {
            return null;
        }
        if (id.Kind == IdentityKind.KeyId)
        {
            return $"local-id {Describe(id)} cannot be bound to local certificate '{cert.Subject}' (a key-id is not part of a certificate); use the subject DN or a subjectAltName of it ({SanText(cert)})";
        }
        return CertificateIdentity.IsConsistent(id, cert, out _)
            ? null
            : $"local-id {Describe(id)} is not carried by local certificate '{cert.Subject}' (subjectAltName: {SanText(cert)}); the peer would refuse it (RFC 4945 §3.1)";
    }

    /// <summary>
    /// The IDr an initiator sends to name the responder it wants (RFC 7296 §3.5, "optional"): only when exactly one
    /// concrete remote-id is configured (an address, FQDN, e-mail or key-id), as strongSwan sends IDr only for a
    /// configured remote id that is no wildcard. DN patterns are never sent: the peer would compare our encoding.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static IkeIdentity? Requested(IkePeerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.RemoteIds.Count != 1)
        {
            return null;
        }
        RemoteIdentity r = config.RemoteIds[0];
        return r.Kind is RemoteIdentityKind.Address or RemoteIdentityKind.Fqdn or RemoteIdentityKind.Email or RemoteIdentityKind.KeyId
            ? r.Identity
            : null;
    }

    /// <summary>The body of an ID payload (RFC 7296 §3.5: ID Type, 3 reserved octets, Identification Data).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="identity"/> is null.</exception>
    public static byte[] Encode(IkeIdentity identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return Payloads.WriteTyped4((byte)IdTypeOf(identity.Kind), identity.Data.Span);
    }

    /// <summary>Decodes an ID payload body; the peer's <paramref name="role"/> names it in the error.</summary>
    /// <exception cref="IkeException">An ID type Certgate does not handle, or data of the wrong length.</exception>
    /// <exception cref="IkeFormatException">The body is shorter than its fixed part.</exception>
    public static IkeIdentity Decode(ReadOnlyMemory<byte> body, string role)
    {
        (byte type, ReadOnlyMemory<byte> data) = Payloads.ReadTyped4(body, "ID");
        IdentityKind kind = KindOf((IdType)type)
            ?? throw new IkeException($"the {role} sent ID type {type}, which Certgate does not accept (ID_IPV4_ADDR, ID_IPV6_ADDR, ID_FQDN, ID_RFC822_ADDR, ID_DER_ASN1_DN, ID_KEY_ID)");
        var id = new IkeIdentity(kind, data.ToArray());
        bool ok = kind switch
        {
            IdentityKind.Ipv4Address or IdentityKind.Ipv6Address => id.Address is not null,
            IdentityKind.Fqdn or IdentityKind.Email => data.Length > 0 && data.Span.IndexOfAnyExceptInRange((byte)0x21, (byte)0x7e) < 0,
            IdentityKind.DistinguishedName => id.DistinguishedName is not null,
            _ => data.Length > 0,
        };
        return ok ? id : throw new IkeException($"the {role} sent a malformed {(IdType)type} identity ({data.Length} octets: {Convert.ToHexString(data.Span[..Math.Min(data.Length, 32)])})");
    }

    /// <summary>
    /// Checks the peer's identity (the order is in the class remarks); <paramref name="certificate"/> is its
    /// validated certificate, null with a pre-shared key. The error names the check that failed, the identity and
    /// the certificate's subject and subjectAltName.
    /// </summary>
    /// <exception cref="IkeException">The identity is refused.</exception>
    public static void CheckPeer(IkeIdentity peer, X509Certificate2? certificate, IkePeerConfig config, IPAddress peerAddress, string role)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(peerAddress);
        string proof = certificate is null ? "" : $"; its certificate: subject '{certificate.Subject}', subjectAltName {SanText(certificate)}";
        // RFC 4945 §3.1: "the ID ... MUST be matched against the certificate"; Certgate cannot bind a key-id to one.
        if (certificate is not null && !CertificateIdentity.IsConsistent(peer, certificate, out _))
        {
            throw new IkeException(peer.Kind == IdentityKind.KeyId
                ? $"the {role}'s identity check against its certificate failed: {Describe(peer)} cannot be bound to a certificate{proof}"
                : $"the {role}'s identity check against its certificate failed: {Describe(peer)} is {(peer.Kind == IdentityKind.DistinguishedName ? "not the certificate's subject" : "not in the certificate's subjectAltName")}{proof}");
        }
        if (config.RemoteIds.Count > 0)
        {
            if (!RemoteIdentity.MatchesAny(config.RemoteIds, peer))
            {
                throw new IkeException($"the {role}'s remote-id check failed: it identifies as {Describe(peer)}, which matches no configured remote-id ({string.Join("; ", config.RemoteIds)}){proof}");
            }
            return;
        }
        // Issue #14 §2: without remote-id a certificate must name the tunnel's remote-gateway, whatever ID it sends.
        if (certificate is not null && config.RemoteGateway is { } remoteGateway && PeerCertificatePolicy.GatewayProblem(certificate, remoteGateway) is { } unbound)
        {
            throw new IkeException($"the {role}'s gateway check failed: {unbound}");
        }
        IPAddress gateway = peerAddress.IsIPv4MappedToIPv6 ? peerAddress.MapToIPv4() : peerAddress;
        if (certificate is null && (peer.Address is not { } a || !a.Equals(gateway)))
        {
            // Reference §3.6: without remote-id a pre-shared key proves nothing about names, so only the address the
            // peer really speaks from is accepted as its identity.
            throw new IkeException($"the {role}'s remote-id check failed: it identifies as {Describe(peer)}; with a pre-shared key and no remote-id only its gateway address ({gateway}) is accepted; configure remote-id");
        }
    }

    /// <summary>The identity's value as people write it: a DN (RFC 4514 order as .NET prints it), an address, an FQDN, an e-mail, a key-id in hex.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="identity"/> is null.</exception>
    public static string Value(IkeIdentity identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return identity.Kind switch
        {
            IdentityKind.Ipv4Address or IdentityKind.Ipv6Address when identity.Address is { } a => a.ToString(),
            IdentityKind.Fqdn or IdentityKind.Email => identity.Text!,
            IdentityKind.DistinguishedName when identity.DistinguishedName is { } dn => dn.Name,
            _ => Convert.ToHexString(identity.Data.Span),
        };
    }

    /// <summary>The value and its IANA type, for logs, errors and <c>show</c>: "gw@example.net (ID_RFC822_ADDR)".</summary>
    /// <exception cref="ArgumentNullException"><paramref name="identity"/> is null.</exception>
    public static string Describe(IkeIdentity identity) => $"{Value(identity)} ({IdTypeOf(identity.Kind)})";

    /// <summary>The IANA ID type (RFC 7296 §3.5) of an identity kind: the one mapping between Pki's words and the registry.</summary>
    public static IdType IdTypeOf(IdentityKind kind) => kind switch
    {
        IdentityKind.Ipv4Address => IdType.ID_IPV4_ADDR,
        IdentityKind.Ipv6Address => IdType.ID_IPV6_ADDR,
        IdentityKind.Fqdn => IdType.ID_FQDN,
        IdentityKind.Email => IdType.ID_RFC822_ADDR,
        IdentityKind.DistinguishedName => IdType.ID_DER_ASN1_DN,
        IdentityKind.KeyId => IdType.ID_KEY_ID,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not an identity kind"),
    };

    /// <summary>The identity kind of an IANA ID type, null for one Certgate does not accept (ID_DER_ASN1_GN, unknown numbers).</summary>
    public static IdentityKind? KindOf(IdType type) => type switch
    {
        IdType.ID_IPV4_ADDR => IdentityKind.Ipv4Address,
        IdType.ID_IPV6_ADDR => IdentityKind.Ipv6Address,
        IdType.ID_FQDN => IdentityKind.Fqdn,
        IdType.ID_RFC822_ADDR => IdentityKind.Email,
        IdType.ID_DER_ASN1_DN => IdentityKind.DistinguishedName,
        IdType.ID_KEY_ID => IdentityKind.KeyId,
        _ => null,
    };

    /// <summary>The subjectAltName entries identity matching uses, for error messages.</summary>
    public static string SanText(X509Certificate2 certificate)
    {
        SubjectAltNames san = SubjectAltNames.FromCertificate(certificate);
        IEnumerable<string> entries = san.DnsNames.Select(d => "DNS:" + d)
            .Concat(san.IpAddresses.Select(i => "IP:" + i))
            .Concat(san.Emails.Select(e => "email:" + e))
            .Concat(san.DirectoryNames.Select(d => "DirName:" + d.Name));
        string text = string.Join(", ", entries);
        return text.Length == 0 ? "none" : text;
    }
}
