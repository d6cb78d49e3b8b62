using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Certgate.Gateway.Enrollment;
using Certgate.Pki.Certificates;
using Certgate.Pki.Names;
using Certgate.Pki.Requests;
using Certgate.Pki.Revocation;

namespace Certgate.Cli.Pki;

/// <summary>How much a <c>show security pki …</c> command prints.</summary>
internal enum Detail
{
    Brief,
    Detail,
}

/// <summary>
/// The text and JSON shapes of <c>show security pki …</c> (junos-reference §2.7). Text and JSON are built from
/// the same values so that <c>| display json</c> never says something the text does not.
/// </summary>
internal static class PkiView
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Junos' date: <c>MM-DD-YYYY HH:MM UTC</c>, day space-padded (<c>04- 3-2018 09:13 UTC</c>).</summary>
    public static string Date(DateTimeOffset when)
    {
        DateTimeOffset u = when.ToUniversalTime();
        return string.Create(CultureInfo.InvariantCulture, $"{u.Month:00}-{u.Day,2}-{u.Year:0000} {u.Hour:00}:{u.Minute:00} UTC");
    }

    /// <summary>ISO 8601 for JSON.</summary>
    public static string IsoDate(DateTimeOffset when) => when.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static void WriteJson(TextWriter output, string rootName, JsonArray items)
    {
        var root = new JsonObject { [rootName] = items };
        output.WriteLine(root.ToJsonString(Indented));
    }

    /// <summary>A certificate as <c>show security pki ca-certificate|local-certificate</c> prints it.</summary>
    public static void WriteCertificate(StringBuilder text, JsonObject json, string identifier, CertificateInfo info, Detail detail,
        string? keyStatus, string? caProfile, AutoReEnrollmentView? reEnrollment)
    {
        string alg = $"{info.PublicKey.Algorithm}({info.PublicKey.Bits} bits)";
        json["identifier"] = identifier;
        json["issued-to"] = IssuedName(info.Subject);
        json["issued-by"] = IssuedName(info.Issuer);
        json["not-before"] = IsoDate(info.NotBefore);
        json["not-after"] = IsoDate(info.NotAfter);
        json["public-key-algorithm"] = info.PublicKey.Algorithm;
        json["public-key-length"] = info.PublicKey.Bits;
        if (caProfile is not null)
        {
            json["ca-profile"] = caProfile;
        }
        if (keyStatus is not null)
        {
            json["public-key-verification-status"] = keyStatus;
        }

        text.Append("Certificate identifier: ").AppendLine(identifier);
        if (detail == Detail.Brief)
        {
            text.Append("  Issued to: ").Append(IssuedName(info.Subject)).Append(", Issued by: ").AppendLine(IssuedName(info.Issuer));
            AppendValidity(text, info);
            text.Append("  Public key algorithm: ").AppendLine(alg);
            if (keyStatus is not null)
            {
                text.Append("  Public key verification status: ").AppendLine(keyStatus);
            }
            if (caProfile is not null)
            {
                text.Append("  CA profile: ").AppendLine(caProfile);
            }
            return;
        }

        json["version"] = info.Version;
        json["serial-number"] = info.SerialNumberHex;
        json["issuer"] = JunosDistinguishedName.Format(info.Issuer);
        json["subject"] = JunosDistinguishedName.Format(info.Subject);
        json["alternate-subject"] = info.AlternativeNames.ToJunosString();
        json["public-key-contents"] = info.PublicKey.KeyHex;
        json["signature-algorithm"] = info.SignatureAlgorithm;
        json["distribution-crl"] = new JsonArray([.. info.CrlDistributionPoints.Select(u => (JsonNode?)u)]);
        json["ocsp"] = new JsonArray([.. info.OcspUris.Select(u => (JsonNode?)u)]);
        json["key-usage"] = new JsonArray([.. info.KeyUsage.Select(u => (JsonNode?)u)]);
        json["extended-key-usage"] = new JsonArray([.. info.ExtendedKeyUsage.Select(u => (JsonNode?)u)]);
        json["fingerprint-sha1"] = info.Fingerprints.Sha1;
        json["fingerprint-sha256"] = info.Fingerprints.Sha256;
        json["fingerprint-md5"] = info.Fingerprints.Md5;
        if (info.BasicConstraints is { } bc)
        {
            json["ca"] = bc.IsCa;
        }

        text.Append("  Certificate version: ").AppendLine(info.Version.ToString(CultureInfo.InvariantCulture));
        text.Append("  Serial number: ").AppendLine(info.SerialNumberHex);
        text.AppendLine("  Issuer:");
        text.Append("    ").AppendLine(JunosDistinguishedName.FormatFields(info.Issuer));
        text.AppendLine("  Subject:");
        text.Append("    ").AppendLine(JunosDistinguishedName.FormatFields(info.Subject));
        text.AppendLine("  Subject string:");
        text.Append("    ").AppendLine(JunosDistinguishedName.Format(info.Subject));
        text.Append("  Alternate subject: ").AppendLine(info.AlternativeNames.ToJunosString());
        AppendValidity(text, info);
        text.Append("  Public key algorithm: ").AppendLine(alg);
        AppendWrapped(text, info.PublicKey.KeyHex, "    ");
        if (keyStatus is not null)
        {
            text.Append("  Public key verification status: ").AppendLine(keyStatus);
        }
        text.Append("  Signature algorithm: ").AppendLine(info.SignatureAlgorithm);
        if (info.BasicConstraints is { IsCa: true } ca)
        {
            text.Append("  Basic constraints: CA").AppendLine(ca.PathLength is { } n ? $", path length {n}" : "");
        }
        AppendList(text, "Distribution CRL", info.CrlDistributionPoints);
        AppendList(text, "Authority Information Access OCSP", info.OcspUris);
        if (info.KeyUsage.Count > 0)
        {
            text.Append("  Key usage: ").AppendLine(string.Join(", ", info.KeyUsage));
        }
        if (info.ExtendedKeyUsage.Count > 0)
        {
            text.Append("  Extended key usage: ").AppendLine(string.Join(", ", info.ExtendedKeyUsage));
        }
        AppendList(text, "Certificate policies", info.CertificatePolicies);
        text.AppendLine("  Fingerprint:");
        text.Append("    ").Append(info.Fingerprints.Sha1).AppendLine(" (sha1)");
        text.Append("    ").Append(info.Fingerprints.Sha256).AppendLine(" (sha256)");
        text.Append("    ").Append(info.Fingerprints.Md5).AppendLine(" (md5)");
        if (caProfile is not null)
        {
            text.Append("  CA profile: ").AppendLine(caProfile);
        }
        if (reEnrollment is not null)
        {
            WriteReEnrollment(text, json, reEnrollment);
        }
    }

    /// <summary>The <c>Auto-re-enrollment:</c> block of a local certificate's detail view.</summary>
    private static void WriteReEnrollment(StringBuilder text, JsonObject json, AutoReEnrollmentView r)
    {
        json["auto-re-enrollment-status"] = r.Status;
        json["auto-re-enrollment-next-trigger"] = r.NextTriggerTime is { } nt ? IsoDate(nt) : r.NextTrigger;
        text.AppendLine("  Auto-re-enrollment:");
        text.Append("    Status: ").AppendLine(r.Status);
        text.Append("    Next trigger time: ").AppendLine(r.NextTriggerTime is { } t ? Date(t) : r.NextTrigger);
        if (!r.Enabled)
        {
            return;
        }
        json["auto-re-enrollment"] = new JsonObject
        {
            ["state"] = r.State,
            ["attempts"] = r.Attempts,
            ["next-attempt"] = r.NextAttempt is { } na ? IsoDate(na) : null,
            ["last-attempt"] = r.LastAttempt is { } la ? IsoDate(la) : null,
            ["last-error"] = r.LastError,
            ["last-renewal"] = r.LastRenewal is { } lr ? IsoDate(lr) : null,
            ["transaction-id"] = r.TransactionId,
        };
        if (r.NextAttempt is { } next)
        {
            text.Append("    Next attempt: ").AppendLine(Date(next));
        }
        text.Append("    Last attempt: ").AppendLine(r.LastAttempt is { } last
            ? $"{Date(last)} ({(r.LastError is null ? "succeeded" : "failed")}{(r.Attempts > 0 ? $", attempt {r.Attempts.ToString(CultureInfo.InvariantCulture)}" : "")})"
            : "none");
        if (r.LastError is not null)
        {
            text.Append("    Last error: ").AppendLine(r.LastError);
        }
        text.Append("    Last renewal: ").AppendLine(r.LastRenewal is { } renewal ? Date(renewal) : "none");
    }

    /// <summary>A pending PKCS#10 as <c>show security pki certificate-request</c> prints it.</summary>
    public static void WriteRequest(StringBuilder text, JsonObject json, string identifier, CertificateSigningRequest request, Detail detail)
    {
        string alg = $"{request.PublicKeyInfo.Algorithm}({request.PublicKeyInfo.Bits} bits)";
        json["identifier"] = identifier;
        json["issued-to"] = IssuedName(request.Subject);
        json["public-key-algorithm"] = request.PublicKeyInfo.Algorithm;
        json["public-key-length"] = request.PublicKeyInfo.Bits;
        text.Append("Certificate identifier: ").AppendLine(identifier);
        text.Append("  Issued to: ").AppendLine(IssuedName(request.Subject));
        text.Append("  Public key algorithm: ").AppendLine(alg);
        if (detail == Detail.Brief)
        {
            return;
        }
        json["subject"] = JunosDistinguishedName.Format(request.Subject);
        json["alternate-subject"] = request.AlternativeNames.ToJunosString();
        json["signature-algorithm"] = request.SignatureAlgorithm;
        json["public-key-contents"] = request.PublicKeyInfo.KeyHex;
        json["fingerprint-sha1"] = request.Fingerprints.Sha1;
        json["fingerprint-md5"] = request.Fingerprints.Md5;
        text.AppendLine("  Subject:");
        text.Append("    ").AppendLine(JunosDistinguishedName.FormatFields(request.Subject));
        text.AppendLine("  Subject string:");
        text.Append("    ").AppendLine(JunosDistinguishedName.Format(request.Subject));
        text.Append("  Alternate subject: ").AppendLine(request.AlternativeNames.ToJunosString());
        text.AppendLine("  Public key:");
        AppendWrapped(text, request.PublicKeyInfo.KeyHex, "    ");
        text.Append("  Signature algorithm: ").AppendLine(request.SignatureAlgorithm);
        text.AppendLine("  Fingerprint:");
        text.Append("    ").Append(request.Fingerprints.Sha1).AppendLine(" (sha1)");
        text.Append("    ").Append(request.Fingerprints.Md5).AppendLine(" (md5)");
    }

    /// <summary>The enrollment the daemon is polling for a request (after <c>local-certificate enroll</c> ended PENDING).</summary>
    public static void WritePending(StringBuilder text, JsonObject json, PendingEnrollment pending)
    {
        json["enrollment"] = new JsonObject
        {
            ["state"] = "pending",
            ["ca-profile"] = pending.CaProfile,
            ["transaction-id"] = pending.TransactionId,
            ["polls"] = pending.Attempts,
            ["max-polls"] = pending.MaxAttempts,
            ["next-poll"] = IsoDate(pending.NextPoll),
            ["last-error"] = pending.LastError,
        };
        text.Append("  Enrollment: pending at ca-profile ").Append(pending.CaProfile).Append(" (transaction ").Append(pending.TransactionId).AppendLine(")");
        text.Append("    Polls: ").Append(pending.Attempts.ToString(CultureInfo.InvariantCulture)).Append(" of ")
            .AppendLine(pending.MaxAttempts.ToString(CultureInfo.InvariantCulture));
        text.Append("    Next poll: ").AppendLine(Date(pending.NextPoll));
        if (pending.LastError is not null)
        {
            text.Append("    Last error: ").AppendLine(pending.LastError);
        }
    }

    /// <summary>A CRL as <c>show security pki crl</c> prints it; detail lists the revoked serials.</summary>
    public static void WriteCrl(StringBuilder text, JsonObject json, string caProfile, CertificateRevocationList crl, Detail detail, DateTimeOffset now)
    {
        string number = crl.CrlNumber is { } n ? n.ToString(CultureInfo.InvariantCulture) : "none";
        json["ca-profile"] = caProfile;
        json["crl-version"] = crl.Version;
        json["crl-number"] = number;
        json["crl-issuer"] = JunosDistinguishedName.Format(crl.Issuer);
        json["effective-date"] = IsoDate(crl.ThisUpdate);
        json["next-update"] = crl.NextUpdate is { } nu ? IsoDate(nu) : null;
        json["expired"] = crl.IsExpired(now);
        json["revoked-count"] = crl.Count;
        json["signature-algorithm"] = crl.SignatureAlgorithmName;

        text.Append("CA profile: ").AppendLine(caProfile);
        // Junos prints the encoded version field: V00000001 for a v2 CRL.
        text.Append("  CRL version: V").AppendLine((crl.Version - 1).ToString("00000000", CultureInfo.InvariantCulture));
        text.Append("  CRL number: ").AppendLine(number);
        text.Append("  CRL issuer: ").AppendLine(JunosDistinguishedName.Format(crl.Issuer));
        text.Append("  Effective date: ").AppendLine(Date(crl.ThisUpdate));
        text.Append("  Next update: ").Append(crl.NextUpdate is { } next ? Date(next) : "none").AppendLine(crl.IsExpired(now) ? " (expired)" : "");
        text.Append("  Revoked certificates: ").AppendLine(crl.Count.ToString(CultureInfo.InvariantCulture));
        if (detail == Detail.Brief)
        {
            return;
        }
        var list = new JsonArray();
        text.AppendLine("  Revocation List:");
        text.AppendLine("    Serial number                      Revocation date          Reason");
        foreach (RevokedEntry entry in crl)
        {
            string reason = entry.Reason is { } r ? ReasonName(r) : "";
            list.Add(new JsonObject
            {
                ["serial-number"] = entry.SerialNumberHex,
                ["revocation-date"] = IsoDate(entry.RevocationDate),
                ["reason"] = reason.Length == 0 ? null : reason,
            });
            text.Append("    ").Append(entry.SerialNumberHex.PadRight(34)).Append(' ').Append(Date(entry.RevocationDate).PadRight(24))
                .Append(' ').AppendLine(reason);
        }
        json["revocation-list"] = list;
    }

    /// <summary><c>keyCompromise</c> → <c>key-compromise</c>: the RFC 5280 name in Junos' lower-case style.</summary>
    public static string ReasonName(CrlReason reason)
    {
        string name = reason.ToString();
        var sb = new StringBuilder();
        foreach (char c in name)
        {
            if (char.IsUpper(c) && sb.Length > 0)
            {
                sb.Append('-');
            }
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    /// <summary>The common name when there is one, else the whole subject string (Junos' "Issued to/by").</summary>
    public static string IssuedName(X500DistinguishedName name) =>
        JunosDistinguishedName.CommonName(name) ?? JunosDistinguishedName.Format(name);

    private static void AppendValidity(StringBuilder text, CertificateInfo info)
    {
        text.AppendLine("  Validity:");
        text.Append("    Not before: ").AppendLine(Date(info.NotBefore));
        text.Append("    Not after: ").AppendLine(Date(info.NotAfter));
    }

    private static void AppendList(StringBuilder text, string label, IReadOnlyList<string> values)
    {
        if (values.Count == 0)
        {
            return;
        }
        text.Append("  ").Append(label).AppendLine(":");
        foreach (string v in values)
        {
            text.Append("    ").AppendLine(v);
        }
    }

    /// <summary>Colon hex wrapped at 16 bytes a line.</summary>
    private static void AppendWrapped(StringBuilder text, string colonHex, string indent)
    {
        const int perLine = 16 * 3;
        for (int i = 0; i < colonHex.Length; i += perLine)
        {
            text.Append(indent).AppendLine(colonHex.Substring(i, Math.Min(perLine, colonHex.Length - i)).TrimEnd(':'));
        }
    }
}

/// <summary>What the detail view says about automatic re-enrollment of a local certificate.</summary>
/// <param name="Status">The <c>Status:</c> line.</param>
/// <param name="NextTrigger">The <c>Next trigger time:</c> text when there is no time (<c>Timer not started</c>).</param>
/// <param name="Enabled">Configured: the agent's lines follow.</param>
internal sealed record AutoReEnrollmentView(string Status, string NextTrigger, bool Enabled = false)
{
    public DateTimeOffset? NextTriggerTime { get; init; }

    /// <summary>Waiting, Renewing, Unavailable, or "Not started" when no daemon has looked at it yet.</summary>
    public string State { get; init; } = "Not started";

    public int Attempts { get; init; }

    public DateTimeOffset? NextAttempt { get; init; }

    public DateTimeOffset? LastAttempt { get; init; }

    public string? LastError { get; init; }

    public DateTimeOffset? LastRenewal { get; init; }

    public string? TransactionId { get; init; }
}
