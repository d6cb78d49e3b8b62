using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Settings;
using Certgate.Ca.Storage;

namespace Certgate.Ca.Issuance;

/// <summary>
/// The names a certificate (or a request) holds, in the form the CA indexes them (<see cref="HeldName"/>): DNS names
/// and the CN share the kind <c>name</c> (a CN of one gateway cannot become the DNS name of another), IP addresses
/// <c>ip</c>, e-mail addresses <c>email</c>.
/// </summary>
public static class CertificateNames
{
    public const string Name = "name";
    public const string Ip = "ip";
    public const string Email = "email";

    /// <summary>The held names of an issued certificate (DER). A certificate that cannot be read holds none.</summary>
    public static IReadOnlyList<HeldName> Of(byte[] der)
    {
        ArgumentNullException.ThrowIfNull(der);
        try
        {
            using X509Certificate2 cert = X509CertificateLoader.LoadCertificate(der);
            var sans = new List<RequestedSan>();
            foreach (X509Extension e in cert.Extensions)
            {
                if (e.Oid?.Value == Oids.SubjectAltName)
                {
                    ParsedCsr.ReadGeneralNames(e.RawData, sans);
                }
            }
            return Of(cert.SubjectName, sans);
        }
        catch (Exception e) when (e is CryptographicException or IssuanceRefusedException)
        {
            return [];
        }
    }

    /// <summary>The held names of a subject and its subjectAltNames (duplicates removed).</summary>
    public static IReadOnlyList<HeldName> Of(X500DistinguishedName subject, IEnumerable<RequestedSan> sans)
    {
        ArgumentNullException.ThrowIfNull(subject);
        ArgumentNullException.ThrowIfNull(sans);
        var set = new List<HeldName>();
        void Add(HeldName n)
        {
            if (n.Name.Length > 0 && !set.Contains(n))
            {
                set.Add(n);
            }
        }
        if (SubjectNames.CommonName(subject) is { } cn)
        {
            Add(new HeldName(Name, cn.Trim().ToLowerInvariant()));
        }
        foreach (RequestedSan san in sans)
        {
            switch (san.Type)
            {
                case "dns":
                    Add(new HeldName(Name, san.Value.ToLowerInvariant()));
                    break;
                case "ip" when IPAddress.TryParse(san.Value, out IPAddress? a):
                    Add(new HeldName(Ip, a.ToString()));
                    break;
                case "email":
                    Add(new HeldName(Email, san.Value.ToLowerInvariant()));
                    break;
            }
        }
        return set;
    }
}
