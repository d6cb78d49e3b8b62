using Certgate.Config.Schema;
using Certgate.Config.Tree;

namespace Certgate.Config.Pki;

/// <summary>
/// Declares <c>[edit security pki]</c> (reference §1.1.1, AS-era core and later statements) and its commit checks.
/// Ranges follow the reference; defaults follow DESIGN.md "Decisions": retry 10, retry-interval 900 s,
/// refresh-interval 24 h, at most 3 CRL URLs.
/// </summary>
public static class PkiSchema
{
    public const int DefaultRetry = 10;
    public const int DefaultRetryInterval = 900;
    public const int DefaultRefreshIntervalHours = 24;
    public const int MaxCrlUrls = 3;
    public const int MaxTrustedCaGroupProfiles = 20;
    public const int DefaultTrapDays = 60;

    internal const string MustBeDefined = "Referenced ca-profile must be defined under [edit security pki ca-profile]";

    /// <summary>Adds <c>security pki</c> to <paramref name="schema"/> (creating <c>security</c> if needed).</summary>
    public static void Declare(ConfigSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        if (schema.Root.Find("security") is null)
        {
            schema.Root.Container("security");
        }
        schema.Root["security"].Container("pki", Pki, presence: true, description: "PKI: CA profiles, re-enrollment, CRL handling");
        schema.AddCheck(Check);
    }

    private static void Pki(Statement pki)
    {
        ValueSyntax caName = ValueSyntax.ObjectName(32);
        ValueSyntax certId = ValueSyntax.ObjectName(32);
        pki.List("ca-profile", caName, CaProfile, description: "a trusted CA (or RA)")
           .List("trusted-ca-group", ValueSyntax.ObjectName(63), g => g
               .LeafList("ca-profiles", caName, maxElements: MaxTrustedCaGroupProfiles))
           .Container("auto-re-enrollment", are => are
               .List("certificate-id", certId, e => ReEnrollment(e, scep: true, flat: true))
               .Container("scep", s => s.List("certificate-id", certId, e => ReEnrollment(e, scep: true, flat: false)))
               .Container("cmpv2", s => s.List("certificate-id", certId, e => ReEnrollment(e, scep: false, flat: false))))
           .Container("trap", t => t
               .List("certificate-id", certId, e => e.Leaf("days", ValueSyntax.Integer(1, 100), "60"))
               .List("ca-identity", caName, e => e.Leaf("days", ValueSyntax.Integer(1, 100), "60"))
               .Container("all-certificates", e => e.Leaf("days", ValueSyntax.Integer(1, 100), "60"), presence: true))
           // Certgate extension (issue #14 §2): accept SHA-1 signatures on peer certificates, CRLs and IKE AUTH.
           .Flag("allow-sha1-signatures", "accept SHA-1 signatures on peer certificates, CRLs and IKE AUTH (legacy peers only)")
           .Container("traceoptions", t => t
               .List("file", ValueSyntax.String(1, 1024, "^[^/]+$", "a file name without '/'"), f => f
                   .Leaf("files", ValueSyntax.Integer(2, 1000), "3")
                   .Leaf("size", ValueSyntax.String(1, 16, "^[0-9]+[kmg]?$", "a size such as 10k, 1m, 1g"))
                   .Flag("world-readable")
                   .Flag("no-world-readable")
                   .Leaf("match", ValueSyntax.String(1, 255))
                   .Choice("world-readable", "no-world-readable"), maxElements: 1)
               .Inline("file")
               .List("flag", ValueSyntax.Enum("certificate-verification", "online-crl-check", "enrollment", "all")));
    }

    private static void CaProfile(Statement p)
    {
        p.Leaf("ca-identity", ValueSyntax.String(1, 255))
         .Leaf("source-address", ValueSyntax.IpAddress())
         .Leaf("routing-instance", ValueSyntax.String(1, 128))
         .Leaf("proxy-profile", ValueSyntax.String(1, 64))
         .Container("enrollment", e => e
             .Leaf("url", ValueSyntax.Url("http", "https"))
             .Leaf("retry", ValueSyntax.Integer(0, 1080), DefaultRetry.ToString(System.Globalization.CultureInfo.InvariantCulture))
             .Leaf("retry-interval", ValueSyntax.Integer(0, 3600), DefaultRetryInterval.ToString(System.Globalization.CultureInfo.InvariantCulture)))
         .Container("revocation-check", r => r
             .Flag("use-crl")
             .Flag("use-ocsp")
             .Flag("disable")
             .Choice("use-crl", "use-ocsp", "disable")
             .Container("crl", c => c
                 .Container("disable", d => d.Flag("on-download-failure"))
                 .Leaf("refresh-interval", ValueSyntax.Integer(0, 8784), DefaultRefreshIntervalHours.ToString(System.Globalization.CultureInfo.InvariantCulture))
                 .List("url", ValueSyntax.Url("http", "https", "ldap"), u => u.Leaf("password", ValueSyntax.Secret()), maxElements: MaxCrlUrls))
             .Container("ocsp", o => o
                 .List("url", ValueSyntax.Url("http", "https"))
                 .Leaf("nonce-payload", ValueSyntax.Enum("enable", "disable"))
                 .Flag("disable-responder-revocation-check")
                 .Flag("accept-unknown-status")
                 .Container("connection-failure", f => f
                     .Flag("fallback-crl")
                     .Flag("disable")
                     .Choice("fallback-crl", "disable"))))
         .Container("administrator", a => a.Leaf("email-address", ValueSyntax.Email(), aliases: "e-mail-address"));
    }

    private static void ReEnrollment(Statement e, bool scep, bool flat)
    {
        e.Leaf("ca-profile-name", ValueSyntax.ObjectName(32), aliases: "ca-profile");
        if (scep)
        {
            e.Leaf("challenge-password", ValueSyntax.Secret());
        }
        e.Leaf("re-enroll-trigger-time-percentage", ValueSyntax.Integer(1, 99))
         .Flag("re-generate-keypair");
        if (flat)
        {
            e.Leaf("validity-period", ValueSyntax.Integer(1, 4095));
        }
        if (scep)
        {
            e.Leaf("scep-encryption-algorithm", ValueSyntax.Enum("des", "des3"))
             .Leaf("scep-digest-algorithm", ValueSyntax.Enum("md5", "sha1"));
        }
    }

    /// <summary>The commit checks of <c>security pki</c> (reference §1.1.2 and §6 messages).</summary>
    internal static IEnumerable<CommitError> Check(ConfigNode root)
    {
        ConfigNode? pki = root.Find("security", "pki");
        if (pki is null)
        {
            yield break;
        }
        var profiles = pki.Entries("ca-profile").ToDictionary(p => p.Key!, StringComparer.Ordinal);

        foreach ((ConfigNode entry, _) in ReEnrollmentEntries(pki))
        {
            string? name = entry.Leaf("ca-profile-name");
            if (name is null)
            {
                yield return new CommitError(entry.Path, "Missing mandatory statement: 'ca-profile-name'");
                continue;
            }
            IReadOnlyList<string> at = [.. entry.Path, "ca-profile-name"];
            if (!profiles.TryGetValue(name, out ConfigNode? profile))
            {
                yield return new CommitError(at, MustBeDefined);
            }
            else if (profile.Find("enrollment", "url") is null)
            {
                yield return new CommitError(at, $"Referenced ca-profile must have enrollment url configured under [edit security pki ca-profile {name} enrollment url]");
            }
        }

        foreach (ConfigNode group in pki.Entries("trusted-ca-group"))
        {
            foreach (string member in group.Child("ca-profiles")?.Values ?? [])
            {
                if (!profiles.ContainsKey(member))
                {
                    yield return new CommitError([.. group.Path, "ca-profiles"], $"Referenced ca-profile '{member}' must be defined under [edit security pki ca-profile]");
                }
            }
        }

        foreach (ConfigNode trap in pki.Find("trap")?.Entries("ca-identity") ?? [])
        {
            if (!profiles.ContainsKey(trap.Key!))
            {
                yield return new CommitError(trap.Path, MustBeDefined);
            }
        }

        foreach (ConfigNode profile in profiles.Values)
        {
            ConfigNode? rc = profile.Child("revocation-check");
            if (rc is not null && rc.Has("use-ocsp") && !(rc.Child("ocsp")?.Entries("url").Any() ?? false))
            {
                yield return new CommitError([.. rc.Path, "use-ocsp"], "use-ocsp requires at least one url under ocsp");
            }
        }

        // The same certificate-id may be renewed by only one protocol.
        foreach (IGrouping<string, (ConfigNode Entry, string Form)> dup in ReEnrollmentEntries(pki).GroupBy(e => e.Entry.Key!).Where(g => g.Count() > 1))
        {
            yield return new CommitError(dup.Last().Entry.Path, $"certificate-id {dup.Key} is configured for auto-re-enrollment more than once ({string.Join(", ", dup.Select(d => d.Form))})");
        }
    }

    internal static IEnumerable<(ConfigNode Entry, string Form)> ReEnrollmentEntries(ConfigNode pki)
    {
        ConfigNode? are = pki.Child("auto-re-enrollment");
        if (are is null)
        {
            yield break;
        }
        foreach (ConfigNode e in are.Entries("certificate-id"))
        {
            yield return (e, "certificate-id");
        }
        foreach (ConfigNode e in are.Child("scep")?.Entries("certificate-id") ?? [])
        {
            yield return (e, "scep");
        }
        foreach (ConfigNode e in are.Child("cmpv2")?.Entries("certificate-id") ?? [])
        {
            yield return (e, "cmpv2");
        }
    }
}
