using System.Globalization;
using System.Net;
using Certgate.Config.Schema;
using Certgate.Config.Tree;

namespace Certgate.Config.Pki;

/// <summary>
/// The Junos words of <c>security pki ca-profile P revocation-check</c>: which method the profile names. CRL
/// checking is on unless configured otherwise (reference §1.1.2). This is configuration, not behaviour: how the
/// validator then checks is <c>Certgate.Pki.Validation.RevocationMode</c>, mapped from these words (and
/// <c>crl disable on-download-failure</c>) in one table, <c>Certgate.Gateway.Crl.RevocationModes</c>.
/// </summary>
public enum RevocationCheck
{
    /// <summary><c>revocation-check crl</c> (the default).</summary>
    Crl,
    /// <summary><c>revocation-check use-ocsp</c>.</summary>
    Ocsp,
    /// <summary><c>revocation-check disable</c>.</summary>
    Disabled,
}

/// <summary>Which protocol renews a certificate automatically.</summary>
public enum ReEnrollmentProtocol
{
    Scep,
    Cmpv2,
}

/// <summary>One configured CRL location. <see cref="Password"/> is the plain text; never log it.</summary>
public sealed class CrlUrl
{
    public required Uri Url { get; init; }

    public string? Password { get; init; }

    /// <summary>The URL only; the password is never printed.</summary>
    public override string ToString() => Url.ToString();
}

/// <summary>OCSP settings of a CA profile.</summary>
public sealed record OcspSettings(
    IReadOnlyList<Uri> Urls,
    bool? NoncePayload,
    bool DisableResponderRevocationCheck,
    bool AcceptUnknownStatus,
    string? ConnectionFailure);

/// <summary><c>security pki ca-profile NAME</c> with defaults applied.</summary>
public sealed record CaProfile(
    string Name,
    string? CaIdentity,
    IPAddress? SourceAddress,
    string? RoutingInstance,
    string? ProxyProfile,
    Uri? EnrollmentUrl,
    int Retry,
    TimeSpan RetryInterval,
    RevocationCheck Revocation,
    IReadOnlyList<CrlUrl> CrlUrls,
    TimeSpan RefreshInterval,
    bool DisableOnDownloadFailure,
    OcspSettings? Ocsp,
    string? AdministratorEmail);

/// <summary><c>security pki trusted-ca-group NAME</c>.</summary>
public sealed record TrustedCaGroup(string Name, IReadOnlyList<string> CaProfiles);

/// <summary>One auto-re-enrollment entry (flat, <c>scep</c> or <c>cmpv2</c> form). Holds the challenge password in
/// plain text: this type deliberately prints no values.</summary>
public sealed class AutoReEnrollment
{
    public required string CertificateId { get; init; }

    public required string CaProfileName { get; init; }

    public ReEnrollmentProtocol Protocol { get; init; }

    public string? ChallengePassword { get; init; }

    /// <summary>Percentage of the lifetime still remaining when renewal starts (1..99), or null when not configured.</summary>
    public int? TriggerPercentage { get; init; }

    public bool ReGenerateKeyPair { get; init; }

    /// <summary>Requested validity in days, or null.</summary>
    public int? ValidityPeriodDays { get; init; }

    /// <summary><c>des</c>/<c>des3</c> when configured; null lets the SCEP client choose from GetCACaps (DESIGN.md).</summary>
    public string? ScepEncryptionAlgorithm { get; init; }

    /// <summary><c>md5</c>/<c>sha1</c> when configured; null lets the SCEP client choose.</summary>
    public string? ScepDigestAlgorithm { get; init; }

    public override string ToString() => $"auto-re-enrollment {CertificateId} ({Protocol}, ca-profile {CaProfileName})";
}

/// <summary>
/// The typed view of <c>[edit security pki]</c> that the gateway's PKI agent consumes, with every default applied.
/// Build it from a committed (checked) tree.
/// </summary>
public sealed class PkiConfiguration
{
    private PkiConfiguration(IReadOnlyList<CaProfile> caProfiles, IReadOnlyList<TrustedCaGroup> groups, IReadOnlyList<AutoReEnrollment> reEnrollments, IReadOnlyList<string> traceFlags, bool configured)
    {
        CaProfiles = caProfiles;
        TrustedCaGroups = groups;
        AutoReEnrollments = reEnrollments;
        TraceFlags = traceFlags;
        IsConfigured = configured;
    }

    /// <summary>True when <c>security pki</c> is present.</summary>
    public bool IsConfigured { get; }

    /// <summary><c>security pki allow-sha1-signatures</c> (a Certgate extension): SHA-1 signatures on peer
    /// certificates, CRLs and IKE AUTH are accepted. Default false.</summary>
    public bool AllowSha1Signatures { get; private init; }

    public IReadOnlyList<CaProfile> CaProfiles { get; }

    public IReadOnlyList<TrustedCaGroup> TrustedCaGroups { get; }

    public IReadOnlyList<AutoReEnrollment> AutoReEnrollments { get; }

    public IReadOnlyList<string> TraceFlags { get; }

    /// <summary>The CA profile named <paramref name="name"/>, or null.</summary>
    public CaProfile? FindCaProfile(string name) => CaProfiles.FirstOrDefault(p => p.Name == name);

    /// <summary>Reads the typed view from a configuration root.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="root"/> is null.</exception>
    public static PkiConfiguration From(ConfigNode root)
    {
        ArgumentNullException.ThrowIfNull(root);
        ConfigNode? pki = root.Find("security", "pki");
        if (pki is null)
        {
            return new PkiConfiguration([], [], [], [], false);
        }
        var profiles = pki.Entries("ca-profile").Select(ReadProfile).ToList();
        var groups = pki.Entries("trusted-ca-group").Select(g => new TrustedCaGroup(g.Key!, g.Child("ca-profiles")?.Values ?? [])).ToList();
        var entries = PkiSchema.ReEnrollmentEntries(pki).Select(e => ReadReEnrollment(e.Entry, e.Form)).ToList();
        var flags = pki.Find("traceoptions")?.Entries("flag").Select(f => f.Key!).ToList() ?? [];
        return new PkiConfiguration(profiles, groups, entries, flags, true) { AllowSha1Signatures = pki.Has("allow-sha1-signatures") };
    }

    private static CaProfile ReadProfile(ConfigNode p)
    {
        ConfigNode enrollment = p.Child("enrollment") ?? Defaults(p, "enrollment");
        ConfigNode? rc = p.Child("revocation-check");
        ConfigNode crl = rc?.Child("crl") ?? Defaults(rc ?? Defaults(p, "revocation-check"), "crl");
        RevocationCheck mode = rc is null ? RevocationCheck.Crl
            : rc.Has("disable") ? RevocationCheck.Disabled
            : rc.Has("use-ocsp") ? RevocationCheck.Ocsp
            : RevocationCheck.Crl;
        ConfigNode? ocsp = rc?.Child("ocsp");
        return new CaProfile(
            p.Key!,
            p.Leaf("ca-identity"),
            p.Leaf("source-address") is { } sa ? IPAddress.Parse(sa) : null,
            p.Leaf("routing-instance"),
            p.Leaf("proxy-profile"),
            enrollment.Leaf("url") is { } u ? new Uri(u) : null,
            Int(enrollment.LeafOrDefault("retry")!),
            TimeSpan.FromSeconds(Int(enrollment.LeafOrDefault("retry-interval")!)),
            mode,
            crl.Entries("url").Select(e => new CrlUrl { Url = new Uri(e.Key!), Password = Secret(e.Leaf("password")) }).ToList(),
            TimeSpan.FromHours(Int(crl.LeafOrDefault("refresh-interval")!)),
            crl.Find("disable", "on-download-failure") is not null,
            ocsp is null ? null : new OcspSettings(
                ocsp.Entries("url").Select(e => new Uri(e.Key!)).ToList(),
                ocsp.Leaf("nonce-payload") is { } np ? np == "enable" : null,
                ocsp.Has("disable-responder-revocation-check"),
                ocsp.Has("accept-unknown-status"),
                ocsp.Child("connection-failure")?.Children.FirstOrDefault()?.Name),
            p.Find("administrator", "email-address")?.Value);
    }

    private static AutoReEnrollment ReadReEnrollment(ConfigNode e, string form) => new()
    {
        CertificateId = e.Key!,
        CaProfileName = e.Leaf("ca-profile-name") ?? "",
        Protocol = form == "cmpv2" ? ReEnrollmentProtocol.Cmpv2 : ReEnrollmentProtocol.Scep,
        ChallengePassword = Secret(e.Leaf("challenge-password")),
        TriggerPercentage = e.Leaf("re-enroll-trigger-time-percentage") is { } t ? Int(t) : null,
        ReGenerateKeyPair = e.Has("re-generate-keypair"),
        ValidityPeriodDays = e.Leaf("validity-period") is { } v ? Int(v) : null,
        ScepEncryptionAlgorithm = e.Leaf("scep-encryption-algorithm"),
        ScepDigestAlgorithm = e.Leaf("scep-digest-algorithm"),
    };

    /// <summary>An unattached empty node for <paramref name="name"/>, so that <see cref="ConfigNode.LeafOrDefault"/> yields schema defaults.</summary>
    private static ConfigNode Defaults(ConfigNode parent, string name) => new(parent.Statement[name], null, null);

    private static int Int(string s) => int.Parse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

    private static string? Secret(string? stored) => stored is null ? null : SecretValue.Reveal(stored);
}
