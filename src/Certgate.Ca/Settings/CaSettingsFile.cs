using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Certgate.Ca.Settings;

/// <summary>
/// Reads and writes <c>DIR/ca.json</c>: JSON with <c>//</c> and <c>/* */</c> comments and trailing commas allowed.
/// Every setting is documented in <see cref="DefaultText"/>, which <c>ca init</c> writes.
/// </summary>
public static class CaSettingsFile
{
    /// <summary>The file name inside the CA directory.</summary>
    public const string FileName = "ca.json";

    /// <summary>The commented settings file written by <c>ca init</c>. Every key is documented here.</summary>
    public const string DefaultText = """
        // Certgate CA settings. JSON; comments and trailing commas are allowed.
        //
        // database        "sqlite:PATH" (PATH relative to this directory; default "sqlite:ca.db") or
        //                 "postgres:Host=127.0.0.1;Port=5432;Username=ca;Database=ca" (or "postgres://user@host/db").
        //                 Many CA frontends may share one PostgreSQL database.
        // baseUrl         Public base URL of this CA, e.g. "http://ca.example.net:8080". Issued certificates get
        //                 CRL distribution point  {baseUrl}/crl/ca.crl  and AIA caIssuers  {baseUrl}/ca.crt.
        //                 null: neither extension is written.
        // getCaCert       What SCEP GetCACert returns: "ra-and-ca" (RA and CA, RFC 8894 §3.2.1.1; the default),
        //                 "ra" (RA only) or "ca" (the CA certificate alone). With an RA, SCEP clients encrypt their
        //                 requests to the RA and the RA key decrypts them and signs the replies: the CA key only
        //                 signs certificates and CRLs, and never decrypts what a stranger sent. "ca" makes the CA
        //                 key decrypt SCEP envelopes (older CAs; keep it only for a client that cannot use an RA).
        //                 Anything but "ca" needs an RA certificate (ra.crt/ra.key, created by `ca init`).
        // ra              { "subject": "CN=Certgate RA", "key": "rsa:2048", "days": 730 } — the RA certificate,
        //                 issued by the CA (keyUsage digitalSignature, keyEncipherment; not a CA). SCEP clients
        //                 encrypt to it, so it must be RSA; its subject must differ from the CA's.
        // defaultProfile  Profile used when a challenge names none and for manual requests.
        // profiles        name -> profile:
        //   validityDays        days an issued certificate is valid (clamped to the CA certificate's notAfter).
        //   keyUsage            any of digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment,
        //                       keyAgreement. keyEncipherment/dataEncipherment are dropped for EC keys (RFC 5480).
        //   extendedKeyUsage    any of serverAuth, clientAuth, ikeIntermediate (1.3.6.1.5.5.8.2.2), ipsecIke
        //                       (1.3.6.1.5.5.7.3.17), or a dotted OID. [] writes no EKU extension.
        //   subjectAltNames     SAN types a request may carry: dns, ip, email. A request with another type is
        //                       refused. Other requested extensions are never copied.
        //   rsaMinimumBits      smallest RSA key accepted (0 refuses RSA).
        //   ecdsaCurves         accepted curves: p256, p384, p521 ([] refuses EC keys).
        //   approval            "challenge": issue at once when the request carries a valid one-time challenge
        //                       (`certgate ca challenge`); "manual": PENDING until `certgate ca approve ID`.
        //                       Renewals signed by a current certificate of this CA never need either.
        //   allowSha1Des3       advertise SHA-1 and DES3 in GetCACaps (only for old clients). Default false.
        //   renewalSubjectMustMatch  a renewal keeps the subject of the certificate signing it. Must be true (the
        //                       default): a renewal (RenewalReq, or a PKCSReq signed by a current certificate) may ask
        //                       only for the subject and subjectAltNames its certificate already has.
        //   supersededGraceHours  a renewed certificate is revoked with reason superseded this many hours after its
        //                       successor was issued (default 24; 0 revokes at the next CRL check). Until then the
        //                       gateway may fetch the new certificate again (GetCert, CertPoll) if installing it
        //                       failed; a certificate with a successor never renews again.
        //   names               what a request with an UNBOUND challenge may ask for (a challenge made with
        //                       `certgate ca challenge --subject DN --dns NAME --ip ADDR --email A` allows exactly
        //                       the names it binds instead; `ca approve` and `ca sign` issue the names the operator
        //                       sees). Never issued, whatever the challenge: the CA's or the RA's own subject or
        //                       common name, cA=TRUE, key usages or EKUs beyond this profile's.
        //     subject.require   { "O": "Example", "C": "US" }: each attribute (O, OU, C, L, ST, DC) must be in the
        //                       subject, and every occurrence must have this value (case-insensitive).
        //                       `ca init` requires the CA subject's own O and C.
        //     subject.cn        patterns the CN must match ([]: any CN).
        //     dns               patterns every DNS name must match ([]: any DNS name). A pattern is a DNS name
        //                       whose labels may be "*", which stands for exactly ONE whole label:
        //                       "*.vpn.example.net" matches gw1.vpn.example.net, not vpn.example.net and not
        //                       a.gw1.vpn.example.net. Wildcard names are issued only when a challenge binds them.
        //     ip                CIDR ranges every IP address must lie in, IPv4 or IPv6 ("192.0.2.0/24",
        //                       "2001:db8:5::/48"). []: no IP address without a challenge bound to it — a
        //                       gateway binds a tunnel's remote-gateway to the iPAddress in its peer's certificate.
        //     email             domain patterns of e-mail addresses ("example.net", "*.example.net"). []: none.
        //                       Even within these patterns, a DNS name, CN, IP or e-mail address that a current
        //                       certificate of another key holds is refused (one gateway never takes another's name).
        // crl             validityHours (nextUpdate - thisUpdate, default 168), overlapHours (issue the next CRL this
        //                 long before nextUpdate, default 24), checkMinutes (how often to check, default 10),
        //                 regenerateOnRevoke (default true).
        // ldap            CRL publishing: url ("ldap://host:389"), bindDn, passwordFile (file holding the bind
        //                 password), entryDn (entry receiving certificateRevocationList;binary). url null: off.
        // limits          What `ca serve` takes from the network (docs/security.md, "The CA under abuse"):
        //   http            maxConnections (open at once; more wait in the backlog), maxRequestBodyBytes (the
        //                   PKIOperation POST; at most 262144), maxRequestLineBytes (URL, so PKIOperation by GET),
        //                   maxRequestHeadersBytes, headersTimeoutSeconds (to send request line and headers),
        //                   keepAliveSeconds (idle connection), minRequestBodyBytesPerSecond (slower bodies are cut
        //                   off after 5 s; 0: no check).
        //   rate            Per client address (IPv6: per /64), token buckets { "perMinute": N, "burst": N }:
        //                   pkiOperation (enrollment, renewal, polls) and get (GetCACaps, GetCACert, CRLs, ca.crt;
        //                   cheap, so looser); null turns one off. Over the limit: HTTP 429 with Retry-After.
        //                   trackedAddresses: addresses remembered at once (least recently seen forgotten first).
        //                   trusted: addresses or prefixes never limited, e.g. ["10.1.0.0/16"]; loopback is not
        //                   exempt unless listed.
        //   pending         Manual-approval queue caps: total, perAddress, perSubject. A request over a cap is a
        //                   SCEP FAILURE (badRequest) with the reason; queued requests are kept.
        //   refusalAudit    Refused requests (bad signature or message, challenge, policy, rate) are audited once per
        //                   address and reason per intervalSeconds, then counted into one summary row; at most
        //                   rowsPerInterval such rows, then one row counts the rest. Issued certificates are always
        //                   audited one by one.
        {
          "database": "sqlite:ca.db",
          "baseUrl": null,
          "getCaCert": "ra-and-ca",
          "ra": { "subject": "CN=Certgate RA", "key": "rsa:2048", "days": 730 },
          "defaultProfile": "default",
          "profiles": {
            "default": {
              "validityDays": 365,
              "keyUsage": ["digitalSignature", "keyEncipherment"],
              "extendedKeyUsage": ["serverAuth", "clientAuth", "ikeIntermediate"],
              "subjectAltNames": ["dns", "ip", "email"],
              "rsaMinimumBits": 2048,
              "ecdsaCurves": ["p256", "p384"],
              "approval": "challenge",
              "allowSha1Des3": false,
              "renewalSubjectMustMatch": true,
              "supersededGraceHours": 24,
              "names": {
                "subject": { "require": {}, "cn": [] },
                "dns": [],
                "ip": [],
                "email": []
              }
            }
          },
          "crl": { "validityHours": 168, "overlapHours": 24, "checkMinutes": 10, "regenerateOnRevoke": true },
          "ldap": { "url": null, "bindDn": null, "passwordFile": null, "entryDn": null },
          "limits": {
            "http": { "maxConnections": 1024, "maxRequestBodyBytes": 65536, "maxRequestLineBytes": 16384, "maxRequestHeadersBytes": 16384,
                      "headersTimeoutSeconds": 10, "keepAliveSeconds": 30, "minRequestBodyBytesPerSecond": 240 },
            "rate": { "pkiOperation": { "perMinute": 30, "burst": 30 }, "get": { "perMinute": 600, "burst": 120 },
                      "trackedAddresses": 100000, "trusted": [] },
            "pending": { "total": 1000, "perAddress": 50, "perSubject": 2 },
            "refusalAudit": { "intervalSeconds": 60, "rowsPerInterval": 200 }
          }
        }

        """;

    /// <summary>
    /// The settings file <c>ca init</c> writes for a CA named <paramref name="caSubject"/>: <see cref="DefaultText"/>
    /// with the default profile's <c>names.subject.require</c> set to the CA subject's O (and C when it has one), so
    /// that a challenge alone gets certificates only inside the CA's organisation.
    /// </summary>
    public static string DefaultTextFor(X500DistinguishedName caSubject)
    {
        ArgumentNullException.ThrowIfNull(caSubject);
        var require = new List<string>();
        foreach (string attribute in new[] { "O", "C" })
        {
            if (SubjectNames.Single(caSubject, attribute) is { } value)
            {
                require.Add($"{JsonSerializer.Serialize(attribute)}: {JsonSerializer.Serialize(value)}");
            }
        }
        const string empty = "\"require\": {}";
        int at = DefaultText.IndexOf(empty, StringComparison.Ordinal);
        return require.Count == 0 ? DefaultText
            : DefaultText[..at] + "\"require\": { " + string.Join(", ", require) + " }" + DefaultText[(at + empty.Length)..];
    }

    private static readonly JsonDocumentOptions Options = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        MaxDepth = 16,
    };

    /// <summary>Reads and validates a settings file.</summary>
    /// <exception cref="CaSettingsException">The file is missing, not JSON, or a value is invalid.</exception>
    public static CaSettings Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (IOException e)
        {
            throw new CaSettingsException($"{path}: cannot read the CA settings: {e.Message}", e);
        }
        return Parse(text, path);
    }

    /// <summary>Parses settings text; <paramref name="source"/> names it in messages.</summary>
    /// <exception cref="CaSettingsException">Not JSON, or a value is invalid.</exception>
    public static CaSettings Parse(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text, Options);
        }
        catch (JsonException e)
        {
            throw new CaSettingsException($"{source}: not valid JSON (line {e.LineNumber + 1}): {e.Message}", e);
        }
        using (doc)
        {
            var r = new Reader(source);
            JsonElement root = doc.RootElement;
            r.Expect(root, JsonValueKind.Object, "(top level)");
            r.Known(root, "", "database", "baseUrl", "getCaCert", "ra", "defaultProfile", "profiles", "crl", "ldap", "limits");

            var profiles = new Dictionary<string, CertificateProfile>(StringComparer.Ordinal);
            if (!root.TryGetProperty("profiles", out JsonElement ps) || ps.ValueKind != JsonValueKind.Object)
            {
                throw new CaSettingsException($"{source}: 'profiles' must be an object with at least one profile");
            }
            foreach (JsonProperty p in ps.EnumerateObject())
            {
                profiles[p.Name] = ReadProfile(r, p.Name, p.Value);
            }
            if (profiles.Count == 0)
            {
                throw new CaSettingsException($"{source}: 'profiles' must hold at least one profile");
            }

            string defaultProfile = r.String(root, "defaultProfile", "") ?? profiles.Keys.First();
            if (!profiles.ContainsKey(defaultProfile))
            {
                throw new CaSettingsException($"{source}: defaultProfile '{defaultProfile}' is not one of the profiles ({string.Join(", ", profiles.Keys)})");
            }

            // Absent: the mode of a ca.json older than RA-by-default, which keeps decrypting with the CA key (`ca init`
            // writes "ra-and-ca"; docs/decisions.md "The CA key only signs").
            GetCaCertMode mode = (r.String(root, "getCaCert", "") ?? "ca") switch
            {
                "ca" => GetCaCertMode.CaOnly,
                "ra-and-ca" => GetCaCertMode.RaAndCa,
                "ra" => GetCaCertMode.RaOnly,
                string other => throw new CaSettingsException($"{source}: getCaCert '{other}': expected ca, ra-and-ca or ra"),
            };

            RaSettings? ra = null;
            if (root.TryGetProperty("ra", out JsonElement raEl) && raEl.ValueKind != JsonValueKind.Null)
            {
                r.Expect(raEl, JsonValueKind.Object, "ra");
                r.Known(raEl, "ra.", "subject", "key", "days");
                string key = r.String(raEl, "key", "ra.") ?? "rsa:2048";
                if (!key.StartsWith("rsa:", StringComparison.Ordinal))
                {
                    throw new CaSettingsException($"{source}: ra.key '{key}': the RA certificate must be RSA (SCEP clients encrypt to it)");
                }
                KeySpec.Parse(key);
                ra = new RaSettings(r.String(raEl, "subject", "ra.") ?? "CN=Certgate RA", key, r.Int(raEl, "days", "ra.", 1, 36500) ?? 730);
            }
            if (mode != GetCaCertMode.CaOnly && ra is null)
            {
                throw new CaSettingsException($"{source}: getCaCert '{(mode == GetCaCertMode.RaOnly ? "ra" : "ra-and-ca")}' needs an 'ra' block");
            }

            CrlSettings crl = CrlSettings.Default;
            if (root.TryGetProperty("crl", out JsonElement c) && c.ValueKind != JsonValueKind.Null)
            {
                r.Expect(c, JsonValueKind.Object, "crl");
                r.Known(c, "crl.", "validityHours", "overlapHours", "checkMinutes", "regenerateOnRevoke");
                var validity = TimeSpan.FromHours(r.Int(c, "validityHours", "crl.", 1, 24 * 366) ?? 168);
                var overlap = TimeSpan.FromHours(r.Int(c, "overlapHours", "crl.", 0, 24 * 366) ?? 24);
                if (overlap >= validity)
                {
                    throw new CaSettingsException($"{source}: crl.overlapHours must be smaller than crl.validityHours");
                }
                crl = new CrlSettings(validity, overlap, TimeSpan.FromMinutes(r.Int(c, "checkMinutes", "crl.", 1, 24 * 60) ?? 10),
                    r.Bool(c, "regenerateOnRevoke", "crl.") ?? true);
            }

            LdapPublishSettings ldap = LdapPublishSettings.Disabled;
            if (root.TryGetProperty("ldap", out JsonElement l) && l.ValueKind != JsonValueKind.Null)
            {
                r.Expect(l, JsonValueKind.Object, "ldap");
                r.Known(l, "ldap.", "url", "bindDn", "passwordFile", "entryDn");
                ldap = new LdapPublishSettings(r.String(l, "url", "ldap."), r.String(l, "bindDn", "ldap."), r.String(l, "passwordFile", "ldap."), r.String(l, "entryDn", "ldap."));
                if (ldap.Url is not null && !ldap.Url.StartsWith("ldap://", StringComparison.OrdinalIgnoreCase) && !ldap.Url.StartsWith("ldaps://", StringComparison.OrdinalIgnoreCase))
                {
                    throw new CaSettingsException($"{source}: ldap.url '{ldap.Url}': expected ldap://host[:port] or ldaps://");
                }
                if (ldap.Url is not null && ldap.EntryDn is null)
                {
                    throw new CaSettingsException($"{source}: ldap.entryDn is required when ldap.url is set");
                }
            }

            string? baseUrl = r.String(root, "baseUrl", "");
            if (baseUrl is not null && BaseUrlProblem(baseUrl) is not null)
            {
                throw new CaSettingsException($"{source}: baseUrl '{baseUrl}': expected an absolute http:// or https:// URL");
            }
            string database = r.String(root, "database", "") ?? "sqlite:ca.db";
            if (!database.StartsWith("sqlite:", StringComparison.Ordinal) && !database.StartsWith("postgres:", StringComparison.Ordinal) && !database.StartsWith("postgres://", StringComparison.Ordinal) && !database.StartsWith("postgresql://", StringComparison.Ordinal))
            {
                throw new CaSettingsException($"{source}: database '{Redact(database)}': expected sqlite:PATH or postgres:CONNSTRING");
            }

            CaLimits limits = root.TryGetProperty("limits", out JsonElement lim) && lim.ValueKind != JsonValueKind.Null ? CaLimits.Read(r, lim) : CaLimits.Default;

            return new CaSettings
            {
                Limits = limits,
                Database = database,
                BaseUrl = baseUrl,
                GetCaCert = mode,
                Ra = ra,
                DefaultProfile = defaultProfile,
                Profiles = profiles,
                Crl = crl,
                Ldap = ldap,
            };
        }
    }

    /// <summary>
    /// Why <paramref name="url"/> cannot be a <c>baseUrl</c> (the address gateways reach this CA at), or null when it
    /// can: an absolute http:// or https:// URL with a host and no query or fragment (the CRL path is appended to it).
    /// </summary>
    public static string? BaseUrlProblem(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? u) || (u.Scheme != Uri.UriSchemeHttp && u.Scheme != Uri.UriSchemeHttps) || u.Host.Length == 0)
        {
            return "expected an absolute http:// or https:// URL";
        }
        return u.Query.Length > 0 || u.Fragment.Length > 0 ? "a base URL has no query or fragment (the CRL path /crl/ca.crl is appended to it)" : null;
    }

    /// <summary>
    /// <paramref name="text"/> with its top-level <c>"baseUrl"</c> value replaced by <paramref name="baseUrl"/>, keeping
    /// every comment; the result is parsed again, so a file that does not say <c>"baseUrl"</c> once is refused.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="baseUrl"/> is not a valid base URL.</exception>
    /// <exception cref="CaSettingsException">The text is invalid, or has no single <c>"baseUrl"</c> entry to replace.</exception>
    public static string WithBaseUrl(string text, string baseUrl, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(baseUrl);
        if (BaseUrlProblem(baseUrl) is { } problem)
        {
            throw new ArgumentException($"baseUrl '{baseUrl}': {problem}", nameof(baseUrl));
        }
        // Comments mention baseUrl without quotes; the JSON key is the only quoted "baseUrl" followed by a colon.
        MatchCollection found = Regex.Matches(text, "\"baseUrl\"\\s*:\\s*(null|\"(?:[^\"\\\\]|\\\\.)*\")");
        if (found.Count != 1)
        {
            throw new CaSettingsException($"{source}: cannot set baseUrl: the file has {(found.Count == 0 ? "no" : "more than one")} \"baseUrl\" entry; edit it by hand");
        }
        Group value = found[0].Groups[1];
        string result = string.Concat(text.AsSpan(0, value.Index), JsonSerializer.Serialize(baseUrl), text.AsSpan(value.Index + value.Length));
        CaSettings parsed = Parse(result, source);
        if (parsed.BaseUrl != baseUrl)
        {
            throw new CaSettingsException($"{source}: cannot set baseUrl: the \"baseUrl\" entry is not the top-level one; edit it by hand");
        }
        return result;
    }

    private static string Redact(string s) => s.Contains("assword", StringComparison.OrdinalIgnoreCase) ? "(connection string)" : s;

    private static CertificateProfile ReadProfile(Reader r, string name, JsonElement e)
    {
        string at = $"profiles.{name}.";
        r.Expect(e, JsonValueKind.Object, at.TrimEnd('.'));
        r.Known(e, at, "validityDays", "keyUsage", "extendedKeyUsage", "subjectAltNames", "rsaMinimumBits", "ecdsaCurves", "approval", "allowSha1Des3",
            "renewalSubjectMustMatch", "supersededGraceHours", "names");
        var defaults = new CertificateProfile { Name = name };

        X509KeyUsageFlags ku = defaults.KeyUsage;
        if (r.Strings(e, "keyUsage", at) is { } kus)
        {
            ku = X509KeyUsageFlags.None;
            foreach (string k in kus)
            {
                ku |= k switch
                {
                    "digitalSignature" => X509KeyUsageFlags.DigitalSignature,
                    "nonRepudiation" => X509KeyUsageFlags.NonRepudiation,
                    "keyEncipherment" => X509KeyUsageFlags.KeyEncipherment,
                    "dataEncipherment" => X509KeyUsageFlags.DataEncipherment,
                    "keyAgreement" => X509KeyUsageFlags.KeyAgreement,
                    _ => throw new CaSettingsException($"{r.Source}: {at}keyUsage '{k}': expected digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment or keyAgreement"),
                };
            }
        }

        var ekus = new List<string>();
        foreach (string k in r.Strings(e, "extendedKeyUsage", at) ?? ["serverAuth", "clientAuth", "ikeIntermediate"])
        {
            ekus.Add(k switch
            {
                "serverAuth" => Oids.ServerAuth,
                "clientAuth" => Oids.ClientAuth,
                "ikeIntermediate" => Oids.IkeIntermediate,
                "ipsecIke" => Oids.IpsecIke,
                _ when IsDottedOid(k) => k,
                _ => throw new CaSettingsException($"{r.Source}: {at}extendedKeyUsage '{k}': expected serverAuth, clientAuth, ikeIntermediate, ipsecIke or a dotted OID"),
            });
        }

        SanTypes sans = defaults.AllowedSans;
        if (r.Strings(e, "subjectAltNames", at) is { } sanNames)
        {
            sans = SanTypes.None;
            foreach (string s in sanNames)
            {
                sans |= s switch
                {
                    "dns" => SanTypes.Dns,
                    "ip" => SanTypes.Ip,
                    "email" => SanTypes.Email,
                    _ => throw new CaSettingsException($"{r.Source}: {at}subjectAltNames '{s}': expected dns, ip or email"),
                };
            }
        }

        IReadOnlyList<string> curves = r.Strings(e, "ecdsaCurves", at) ?? defaults.EcdsaCurves;
        foreach (string curve in curves)
        {
            if (curve is not ("p256" or "p384" or "p521"))
            {
                throw new CaSettingsException($"{r.Source}: {at}ecdsaCurves '{curve}': expected p256, p384 or p521");
            }
        }

        ApprovalMode approval = (r.String(e, "approval", at) ?? "challenge") switch
        {
            "challenge" => ApprovalMode.Challenge,
            "manual" => ApprovalMode.Manual,
            string other => throw new CaSettingsException($"{r.Source}: {at}approval '{other}': expected challenge or manual"),
        };

        return new CertificateProfile
        {
            Name = name,
            ValidityDays = r.Int(e, "validityDays", at, 1, 36500) ?? defaults.ValidityDays,
            KeyUsage = ku,
            ExtendedKeyUsages = ekus,
            AllowedSans = sans,
            RsaMinimumBits = r.Int(e, "rsaMinimumBits", at, 0, 16384) ?? defaults.RsaMinimumBits,
            EcdsaCurves = curves,
            Approval = approval,
            AllowSha1Des3 = r.Bool(e, "allowSha1Des3", at) ?? false,
            RenewalSubjectMustMatch = r.Bool(e, "renewalSubjectMustMatch", at) != false ? true
                : throw new CaSettingsException($"{r.Source}: {at}renewalSubjectMustMatch: false is no longer allowed: a renewal may ask only for the names its certificate has (issue #14); remove the setting or set it to true"),
            SupersededGrace = TimeSpan.FromHours(r.Int(e, "supersededGraceHours", at, 0, 24 * 366) ?? 24),
            Names = ReadNames(r, at, e),
        };
    }

    private static NamePolicy ReadNames(Reader r, string at, JsonElement profile)
    {
        if (!profile.TryGetProperty("names", out JsonElement n) || n.ValueKind == JsonValueKind.Null)
        {
            return NamePolicy.Default;
        }
        at += "names.";
        r.Expect(n, JsonValueKind.Object, at.TrimEnd('.'));
        r.Known(n, at, "subject", "dns", "ip", "email");
        var require = new Dictionary<string, string>(StringComparer.Ordinal);
        IReadOnlyList<DnsNamePattern> cn = [];
        if (n.TryGetProperty("subject", out JsonElement subject) && subject.ValueKind != JsonValueKind.Null)
        {
            r.Expect(subject, JsonValueKind.Object, at + "subject");
            r.Known(subject, at + "subject.", "require", "cn");
            if (subject.TryGetProperty("require", out JsonElement req) && req.ValueKind != JsonValueKind.Null)
            {
                r.Expect(req, JsonValueKind.Object, at + "subject.require");
                foreach (JsonProperty p in req.EnumerateObject())
                {
                    string attribute = p.Name.ToUpperInvariant();
                    if (!SubjectNames.RequirableAttributes.ContainsKey(attribute))
                    {
                        throw new CaSettingsException($"{r.Source}: {at}subject.require '{p.Name}': expected one of {string.Join(", ", SubjectNames.RequirableAttributes.Keys)}");
                    }
                    r.Expect(p.Value, JsonValueKind.String, $"{at}subject.require.{p.Name}");
                    string value = p.Value.GetString()!;
                    if (value.Length is 0 or > 256)
                    {
                        throw new CaSettingsException($"{r.Source}: {at}subject.require.{p.Name}: expected a value of 1 to 256 characters");
                    }
                    if (!require.TryAdd(attribute, value))
                    {
                        throw new CaSettingsException($"{r.Source}: {at}subject.require: {attribute} is given twice");
                    }
                }
            }
            cn = Patterns(r, subject, "cn", at + "subject.");
        }
        var ranges = new List<IpRange>();
        foreach (string text in r.Strings(n, "ip", at) ?? [])
        {
            ranges.Add(IpRange.TryParse(text, out string? problem) ?? throw new CaSettingsException($"{r.Source}: {at}ip '{text}': {problem}"));
        }
        return new NamePolicy
        {
            RequiredSubject = require,
            CommonNames = cn,
            DnsNames = Patterns(r, n, "dns", at),
            IpRanges = ranges,
            EmailDomains = Patterns(r, n, "email", at),
        };
    }

    private static List<DnsNamePattern> Patterns(Reader r, JsonElement e, string name, string at)
    {
        var list = new List<DnsNamePattern>();
        foreach (string text in r.Strings(e, name, at) ?? [])
        {
            list.Add(DnsNamePattern.TryParse(text, out string? problem) ?? throw new CaSettingsException($"{r.Source}: {at}{name} '{text}': {problem}"));
        }
        return list;
    }

    private static bool IsDottedOid(string s) =>
        s.Length > 2 && s.Split('.') is { Length: >= 2 } parts && parts.All(p => p.Length > 0 && p.All(char.IsAsciiDigit));

    internal sealed class Reader(string source)
    {
        public string Source => source;

        public void Expect(JsonElement e, JsonValueKind kind, string field)
        {
            if (e.ValueKind != kind)
            {
                throw new CaSettingsException($"{source}: {field}: expected {kind.ToString().ToLowerInvariant()}, found {e.ValueKind.ToString().ToLowerInvariant()}");
            }
        }

        public void Known(JsonElement e, string at, params string[] names)
        {
            foreach (JsonProperty p in e.EnumerateObject())
            {
                if (!names.Contains(p.Name))
                {
                    throw new CaSettingsException($"{source}: unknown setting '{at}{p.Name}' (known: {string.Join(", ", names)})");
                }
            }
        }

        public string? String(JsonElement e, string name, string at)
        {
            if (!e.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
            {
                return null;
            }
            Expect(v, JsonValueKind.String, at + name);
            return v.GetString();
        }

        public int? Int(JsonElement e, string name, string at, int min, int max)
        {
            if (!e.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
            {
                return null;
            }
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i) || i < min || i > max)
            {
                throw new CaSettingsException($"{source}: {at}{name}: expected an integer from {min} to {max}");
            }
            return i;
        }

        public bool? Bool(JsonElement e, string name, string at)
        {
            if (!e.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
            {
                return null;
            }
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new CaSettingsException($"{source}: {at}{name}: expected true or false"),
            };
        }

        public List<string>? Strings(JsonElement e, string name, string at)
        {
            if (!e.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
            {
                return null;
            }
            Expect(v, JsonValueKind.Array, at + name);
            var list = new List<string>();
            foreach (JsonElement item in v.EnumerateArray())
            {
                Expect(item, JsonValueKind.String, at + name + "[]");
                list.Add(item.GetString()!);
            }
            return list;
        }
    }
}
