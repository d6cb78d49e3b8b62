using System.Net;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Identity;

namespace Certgate.Ike.Auth;

/// <summary>
/// What the peer's validated certificate must allow and prove before its AUTH counts, beyond its chain (issue #14 §2):
/// <list type="number">
/// <item><see cref="UsageProblem"/>: the certificate may sign — keyUsage digitalSignature when a keyUsage is present —
/// and, when it has an extendedKeyUsage, one usage IKE accepts (RFC 4945 §5.1.3.2, §5.1.3.12);</item>
/// <item><see cref="GatewayProblem"/>: on a static tunnel without <c>remote-id</c>, it names the tunnel's
/// remote-gateway as an iPAddress subjectAltName, as a Junos SRX expects the peer's address by default — so that
/// one gateway enrolled by the CA cannot stand in for another (DESIGN.md "No remote-id on a static tunnel").</item>
/// </list>
/// </summary>
public static class PeerCertificatePolicy
{
    /// <summary>id-kp-ipsecIKE (RFC 4945 §5.1.3.12).</summary>
    public const string IpsecIke = "1.3.6.1.5.5.7.3.17";

    /// <summary>id-kp-serverAuth (RFC 5280 §4.2.1.12).</summary>
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1";

    /// <summary>id-kp-clientAuth (RFC 5280 §4.2.1.12).</summary>
    public const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    /// <summary>iKEIntermediate, what Windows and Cisco issue for IKE (1.3.6.1.5.5.8.2.2).</summary>
    public const string IkeIntermediate = "1.3.6.1.5.5.8.2.2";

    /// <summary>anyExtendedKeyUsage (RFC 5280 §4.2.1.12).</summary>
    public const string AnyExtendedKeyUsage = "2.5.29.37.0";

    private static readonly string[] IkeUsages = [IpsecIke, ServerAuth, ClientAuth, IkeIntermediate, AnyExtendedKeyUsage];

    /// <summary>
    /// Why the certificate may not authenticate an IKE peer by its keyUsage or extendedKeyUsage, or null. RFC 4945
    /// §5.1.3.2: "If the KeyUsage extension is present ... the digitalSignature bit MUST be set" for signing peers
    /// (nonRepudiation alone is not signing for IKE); §5.1.3.12: an EKU that lists none of the usages IKE implementations
    /// accept (ipsecIKE, serverAuth, clientAuth, iKEIntermediate, anyExtendedKeyUsage) keeps the key out of IKE, as
    /// strongSwan and Junos refuse it.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="certificate"/> is null.</exception>
    public static string? UsageProblem(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var problems = new List<string>(2);
        if (certificate.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is { } ku
            && (ku.KeyUsages & X509KeyUsageFlags.DigitalSignature) == 0)
        {
            problems.Add($"its keyUsage ({Flags(ku.KeyUsages)}) lacks digitalSignature, which signing the IKE AUTH needs (RFC 4945 §5.1.3.2)");
        }
        if (certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } eku)
        {
            List<string> usages = [.. eku.EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Select(o => o.Value ?? "")];
            if (!usages.Any(u => IkeUsages.Contains(u)))
            {
                problems.Add($"its extendedKeyUsage ({(usages.Count == 0 ? "empty" : string.Join(", ", usages.Select(Name)))}) has none of ipsecIKE ({IpsecIke}), "
                    + $"serverAuth, clientAuth, iKEIntermediate ({IkeIntermediate}) or anyExtendedKeyUsage (RFC 4945 §5.1.3.12)");
            }
        }
        return problems.Count == 0 ? null : $"certificate '{certificate.Subject}' (serial {certificate.SerialNumber}): {string.Join("; ", problems)}";
    }

    /// <summary>
    /// Why the certificate does not bind its holder to <paramref name="remoteGateway"/> (an iPAddress subjectAltName
    /// equal to it, IPv4-mapped IPv6 compared as IPv4), or null. Whatever ID type the peer sends, the address must be
    /// in the certificate: the tunnel names its peer by that address, and without <c>remote-id</c> nothing else does.
    /// </summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static string? GatewayProblem(X509Certificate2 certificate, IPAddress remoteGateway)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(remoteGateway);
        IPAddress wanted = Plain(remoteGateway);
        foreach (IPAddress a in SubjectAltNames.FromCertificate(certificate).IpAddresses)
        {
            if (Plain(a).Equals(wanted))
            {
                return null;
            }
        }
        return $"the certificate of {certificate.Subject} does not name {wanted} (subjectAltName: {IkeIdentities.SanText(certificate)}); "
            + "without remote-id the peer's certificate must carry the tunnel's remote-gateway as an iPAddress subjectAltName; configure remote-id to accept it";
    }

    private static IPAddress Plain(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    private static string Name(string oid) => oid switch
    {
        "1.3.6.1.5.5.7.3.4" => "emailProtection (1.3.6.1.5.5.7.3.4)",
        "1.3.6.1.5.5.7.3.3" => "codeSigning (1.3.6.1.5.5.7.3.3)",
        "1.3.6.1.5.5.7.3.8" => "timeStamping (1.3.6.1.5.5.7.3.8)",
        "1.3.6.1.5.5.7.3.9" => "OCSPSigning (1.3.6.1.5.5.7.3.9)",
        _ => oid,
    };

    private static string Flags(X509KeyUsageFlags flags) => flags == X509KeyUsageFlags.None ? "none"
        : string.Join(", ", Enum.GetValues<X509KeyUsageFlags>().Where(f => f != X509KeyUsageFlags.None && flags.HasFlag(f)).Select(f => f switch
        {
            X509KeyUsageFlags.DigitalSignature => "digitalSignature",
            X509KeyUsageFlags.NonRepudiation => "nonRepudiation",
            X509KeyUsageFlags.KeyEncipherment => "keyEncipherment",
            X509KeyUsageFlags.DataEncipherment => "dataEncipherment",
            X509KeyUsageFlags.KeyAgreement => "keyAgreement",
            X509KeyUsageFlags.KeyCertSign => "keyCertSign",
            X509KeyUsageFlags.CrlSign => "cRLSign",
            X509KeyUsageFlags.EncipherOnly => "encipherOnly",
            _ => "decipherOnly",
        }));
}
