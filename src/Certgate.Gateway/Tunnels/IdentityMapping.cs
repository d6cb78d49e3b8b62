using System.Net;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Auth;
using Certgate.Pki.Identity;
using Certgate.ServiceSets.Plan;
using Certgate.Ipsec.Registry;

namespace Certgate.Gateway.Tunnels;

/// <summary>
/// The plan's <c>local-id</c> / <c>remote-id</c> as the IKE engine's identities (reference §3.6). Values were
/// checked at commit, so a value that does not parse here is a plan bug, reported as <see cref="IOException"/> naming
/// the tunnel like the other start-up failures.
/// </summary>
internal static class IdentityMapping
{
    /// <summary>
    /// The identity to send: the configured one, or null for the certificate's subject DN (a local
    /// <c>distinguished-name</c>, or no local-id with a certificate). With a certificate the identity must be in it.
    /// </summary>
    /// <exception cref="IOException">The certificate does not carry the configured local-id.</exception>
    public static IkeIdentity? Local(TunnelPlan t, X509Certificate2? certificate)
    {
        IdentityPlan id = t.Peer.LocalId;
        if (id.Type == IdType.ID_DER_ASN1_DN && id.Value is null)
        {
            return certificate is null ? null : IkeIdentity.FromDistinguishedName(certificate.SubjectName);
        }
        IkeIdentity local = Identity(t, id);
        if (certificate is not null && !CertificateIdentity.IsConsistent(local, certificate, out _))
        {
            throw new IOException($"tunnel {t.Id}: local-id {IkeIdentities.Describe(local)} is not carried by local certificate {t.Peer.LocalCertificate} "
                + $"(subject '{certificate.Subject}', subjectAltName: {IkeIdentities.SanText(certificate)}); the peer would refuse it (RFC 4945 §3.1): "
                + "set a local-id the certificate carries, or delete local-id to send its subject");
        }
        return local;
    }

    /// <summary>The remote-ids, any of which the peer may have; empty: the default rule (reference §3.6).</summary>
    /// <exception cref="IOException">A value does not parse.</exception>
    public static IReadOnlyList<RemoteIdentity> Remote(TunnelPlan t) => [.. t.Peer.RemoteIds.Select(r => Remote(t, r))];

    private static RemoteIdentity Remote(TunnelPlan t, IdentityPlan r)
    {
        try
        {
            return r.Type switch
            {
                IdType.ID_DER_ASN1_DN => RemoteIdentity.DistinguishedName(r.Value!, r.Match switch
                {
                    Certgate.Config.Ipsec.DnMatch.Container => DistinguishedNameMatch.Container,
                    Certgate.Config.Ipsec.DnMatch.Wildcard => DistinguishedNameMatch.Wildcard,
                    _ => DistinguishedNameMatch.ExactMatch,
                }),
                IdType.ID_FQDN => RemoteIdentity.Fqdn(r.Value!),
                IdType.ID_RFC822_ADDR => RemoteIdentity.Email(r.Value!),
                IdType.ID_KEY_ID => RemoteIdentity.KeyId(Convert.FromHexString(r.Value!)),
                _ => RemoteIdentity.Address(IPAddress.Parse(r.Value!)),
            };
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new IOException($"tunnel {t.Id}: remote-id {r.Type} '{r.Value}' is not valid: {e.Message}");
        }
    }

    private static IkeIdentity Identity(TunnelPlan t, IdentityPlan id)
    {
        try
        {
            return id.Type switch
            {
                IdType.ID_FQDN => IkeIdentity.FromFqdn(id.Value!),
                IdType.ID_RFC822_ADDR => IkeIdentity.FromEmail(id.Value!),
                IdType.ID_KEY_ID => IkeIdentity.FromKeyId(Convert.FromHexString(id.Value!)),
                _ => IkeIdentity.FromAddress(IPAddress.Parse(id.Value!)),
            };
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new IOException($"tunnel {t.Id}: local-id {id.Type} '{id.Value}' is not valid: {e.Message}");
        }
    }
}
