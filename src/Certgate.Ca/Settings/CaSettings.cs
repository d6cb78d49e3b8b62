namespace Certgate.Ca.Settings;

/// <summary>CRL production settings.</summary>
/// <param name="Validity">nextUpdate − thisUpdate of each CRL.</param>
/// <param name="Overlap">A new CRL is issued this long before the current one's nextUpdate, so relying parties
/// never sit with an expired CRL.</param>
/// <param name="CheckInterval">How often the host checks whether a CRL is due.</param>
/// <param name="RegenerateOnRevoke">Issue a new CRL right after each revocation.</param>
public sealed record CrlSettings(TimeSpan Validity, TimeSpan Overlap, TimeSpan CheckInterval, bool RegenerateOnRevoke)
{
    /// <summary>7 days validity, 1 day overlap, checked every 10 minutes, regenerated on revocation.</summary>
    public static CrlSettings Default { get; } = new(TimeSpan.FromDays(7), TimeSpan.FromDays(1), TimeSpan.FromMinutes(10), true);
}

/// <summary>LDAP CRL publishing settings (the publisher itself lives in the HTTP host).</summary>
/// <param name="Url">e.g. <c>ldap://ldap.example.net:389</c>; null disables publishing.</param>
/// <param name="BindDn">DN to bind as; null binds anonymously.</param>
/// <param name="PasswordFile">File holding the bind password (never the password itself in settings).</param>
/// <param name="EntryDn">Entry whose <c>certificateRevocationList;binary</c> is replaced.</param>
public sealed record LdapPublishSettings(string? Url, string? BindDn, string? PasswordFile, string? EntryDn)
{
    public static LdapPublishSettings Disabled { get; } = new(null, null, null, null);

    public bool Enabled => Url is not null;
}

/// <summary>RA certificate settings (RA mode signs/decrypts SCEP messages with a separate certificate).</summary>
public sealed record RaSettings(string Subject, string KeySpec, int Days);

/// <summary>All CA settings, validated. Read from <c>DIR/ca.json</c> by <see cref="CaSettingsFile"/>.</summary>
public sealed record CaSettings
{
    /// <summary>Storage: <c>sqlite:PATH</c> (relative to DIR) or <c>postgres:CONNSTRING</c>.</summary>
    public string Database { get; init; } = "sqlite:ca.db";

    /// <summary>Base URL for the CDP (<c>{BaseUrl}/crl/ca.crl</c>) and AIA (<c>{BaseUrl}/ca.crt</c>); null omits both.</summary>
    public string? BaseUrl { get; init; }

    public GetCaCertMode GetCaCert { get; init; } = GetCaCertMode.CaOnly;

    /// <summary>RA certificate parameters; required when <see cref="GetCaCert"/> is not <see cref="GetCaCertMode.CaOnly"/>.</summary>
    public RaSettings? Ra { get; init; }

    public required string DefaultProfile { get; init; }

    public required IReadOnlyDictionary<string, CertificateProfile> Profiles { get; init; }

    public CrlSettings Crl { get; init; } = CrlSettings.Default;

    public LdapPublishSettings Ldap { get; init; } = LdapPublishSettings.Disabled;

    /// <summary>Connection, rate, pending-queue and refusal-audit limits (<c>limits</c>, issue #14 §5).</summary>
    public CaLimits Limits { get; init; } = CaLimits.Default;

    /// <summary>True when an RA certificate must exist.</summary>
    public bool UsesRa => GetCaCert != GetCaCertMode.CaOnly;

    /// <summary>The CDP URL written into issued certificates, or null.</summary>
    public string? CrlUrl => BaseUrl is null ? null : BaseUrl.TrimEnd('/') + "/crl/ca.crl";

    /// <summary>The AIA caIssuers URL written into issued certificates, or null.</summary>
    public string? CaIssuersUrl => BaseUrl is null ? null : BaseUrl.TrimEnd('/') + "/ca.crt";

    /// <summary>The profile named <paramref name="name"/>, or the default profile when null.</summary>
    /// <exception cref="KeyNotFoundException">No such profile.</exception>
    public CertificateProfile GetProfile(string? name)
    {
        name ??= DefaultProfile;
        return Profiles.TryGetValue(name, out CertificateProfile? p) ? p : throw new KeyNotFoundException($"no certificate profile '{name}'");
    }

    /// <summary>Settings with one default profile (<c>default</c>), used by tests and <c>ca init</c>.</summary>
    public static CaSettings CreateDefault() => new()
    {
        DefaultProfile = "default",
        Profiles = new Dictionary<string, CertificateProfile>(StringComparer.Ordinal)
        {
            ["default"] = new CertificateProfile
            {
                Name = "default",
                ExtendedKeyUsages = [Oids.ServerAuth, Oids.ClientAuth, Oids.IkeIntermediate],
            },
        },
    };
}

/// <summary>OIDs the CA writes.</summary>
public static class Oids
{
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    public const string ClientAuth = "1.3.6.1.5.5.7.3.2";
    /// <summary>id-kp-ipsecIKE is 1.3.6.1.5.5.7.3.17; ikeIntermediate (1.3.6.1.5.5.8.2.2) is what Windows/Cisco want.</summary>
    public const string IkeIntermediate = "1.3.6.1.5.5.8.2.2";
    public const string IpsecIke = "1.3.6.1.5.5.7.3.17";
    public const string ChallengePassword = "1.2.840.113549.1.9.7";
    public const string SubjectAltName = "2.5.29.17";
    public const string BasicConstraints = "2.5.29.19";
    public const string RsaEncryption = "1.2.840.113549.1.1.1";
    public const string EcPublicKey = "1.2.840.10045.2.1";
}
