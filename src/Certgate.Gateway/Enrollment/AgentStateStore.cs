using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Certgate.Pki.Store;

namespace Certgate.Gateway.Enrollment;

/// <summary>
/// What the PKI agent reports about the automatic re-enrollment of one local certificate. Written by the daemon,
/// read by <c>show security pki local-certificate detail</c>. It holds no secret: no key, no challenge password.
/// </summary>
/// <param name="CertificateId">The local certificate.</param>
/// <param name="State">Waiting (before the trigger), Renewing (past it, retrying), Renewed, Failed or Unavailable.</param>
/// <param name="ForCertificate">SHA-256 fingerprint (hex) of the certificate the state applies to.</param>
/// <param name="NextTrigger">When renewal starts for that certificate.</param>
/// <param name="NextAttempt">When the agent tries again (after a failure or a PENDING answer), or null.</param>
/// <param name="Attempts">Attempts made since the trigger.</param>
/// <param name="LastAttempt">The last attempt, or null.</param>
/// <param name="LastError">Why the last attempt failed, or null when it did not.</param>
/// <param name="LastRenewal">When the certificate was last renewed by the agent, or null.</param>
/// <param name="TransactionId">The SCEP transaction of the current renewal, or null.</param>
public sealed record ReEnrollmentStatus(
    string CertificateId,
    string State,
    string? ForCertificate,
    DateTimeOffset? NextTrigger,
    DateTimeOffset? NextAttempt,
    int Attempts,
    DateTimeOffset? LastAttempt,
    string? LastError,
    DateTimeOffset? LastRenewal,
    string? TransactionId);

/// <summary>
/// A local-certificate enrollment the CA answered PENDING: the daemon polls it (CertPoll with the same transaction)
/// every <paramref name="Interval"/> until the CA answers or <paramref name="MaxAttempts"/> polls were made.
/// </summary>
public sealed record PendingEnrollment(
    string CertificateId,
    string CaProfile,
    string TransactionId,
    byte[] Subject,
    string Digest,
    string Cipher,
    int Attempts,
    int MaxAttempts,
    TimeSpan Interval,
    DateTimeOffset NextPoll,
    DateTimeOffset Started,
    string? LastError = null);

/// <summary>
/// The agent's own small state under <c>STATE/agent/</c> (0700, files 0600, each written to a temp file and renamed):
/// <c>re-enrollment/ID.json</c> and <c>pending/ID.json</c>. The PKI objects themselves stay in the PKI store; these
/// files only say what the agent is doing, so that a restart, or a <c>show</c> without a daemon, sees it too.
/// </summary>
public sealed class AgentStateStore
{
    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Opens the agent state of <paramref name="stateDirectory"/> (created on the first write).</summary>
    public AgentStateStore(string stateDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        Root = Path.Combine(Path.GetFullPath(stateDirectory), "agent");
    }

    /// <summary><c>STATE/agent</c>.</summary>
    public string Root { get; }

    /// <summary>The re-enrollment status of <paramref name="certificateId"/>, or null when the agent has written none
    /// (or the file is damaged: a status is advisory and is rewritten on the next pass).</summary>
    public ReEnrollmentStatus? LoadStatus(string certificateId)
    {
        JsonObject? o = ReadObject("re-enrollment", certificateId);
        if (o is null)
        {
            return null;
        }
        try
        {
            return new ReEnrollmentStatus(
                certificateId,
                (string?)o["state"] ?? "Unknown",
                (string?)o["for-certificate"],
                Date(o["next-trigger"]),
                Date(o["next-attempt"]),
                (int?)o["attempts"] ?? 0,
                Date(o["last-attempt"]),
                (string?)o["last-error"],
                Date(o["last-renewal"]),
                (string?)o["transaction-id"]);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Writes <paramref name="status"/>; false when it equals what is already there (nothing written).</summary>
    public bool SaveStatus(ReEnrollmentStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        var o = new JsonObject
        {
            ["certificate-id"] = status.CertificateId,
            ["state"] = status.State,
            ["for-certificate"] = status.ForCertificate,
            ["next-trigger"] = Iso(status.NextTrigger),
            ["next-attempt"] = Iso(status.NextAttempt),
            ["attempts"] = status.Attempts,
            ["last-attempt"] = Iso(status.LastAttempt),
            ["last-error"] = status.LastError,
            ["last-renewal"] = Iso(status.LastRenewal),
            ["transaction-id"] = status.TransactionId,
        };
        return Write("re-enrollment", status.CertificateId, o);
    }

    /// <summary>Removes the status of a certificate-id that is no longer configured for re-enrollment.</summary>
    public void DeleteStatus(string certificateId) => TryDelete(PathOf("re-enrollment", certificateId));

    /// <summary>The certificate-ids with a status file.</summary>
    public IReadOnlyList<string> ListStatuses() => List("re-enrollment");

    /// <summary>The pending enrollment of <paramref name="certificateId"/>, or null.</summary>
    public PendingEnrollment? LoadPending(string certificateId)
    {
        JsonObject? o = ReadObject("pending", certificateId);
        if (o is null)
        {
            return null;
        }
        try
        {
            return new PendingEnrollment(
                certificateId,
                Required<string>(o, "ca-profile"),
                Required<string>(o, "transaction-id"),
                Convert.FromBase64String(Required<string>(o, "subject")),
                Required<string>(o, "digest"),
                Required<string>(o, "cipher"),
                Required<int>(o, "attempts"),
                Required<int>(o, "max-attempts"),
                TimeSpan.FromSeconds(Required<double>(o, "interval-seconds")),
                Date(o["next-poll"]) ?? DateTimeOffset.MinValue,
                Date(o["started"]) ?? DateTimeOffset.MinValue,
                (string?)o["last-error"]);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Records (or updates) a pending enrollment.</summary>
    public void SavePending(PendingEnrollment pending)
    {
        ArgumentNullException.ThrowIfNull(pending);
        Write("pending", pending.CertificateId, new JsonObject
        {
            ["certificate-id"] = pending.CertificateId,
            ["ca-profile"] = pending.CaProfile,
            ["transaction-id"] = pending.TransactionId,
            ["subject"] = Convert.ToBase64String(pending.Subject),
            ["digest"] = pending.Digest,
            ["cipher"] = pending.Cipher,
            ["attempts"] = pending.Attempts,
            ["max-attempts"] = pending.MaxAttempts,
            ["interval-seconds"] = pending.Interval.TotalSeconds,
            ["next-poll"] = Iso(pending.NextPoll),
            ["started"] = Iso(pending.Started),
            ["last-error"] = pending.LastError,
        });
    }

    /// <summary>Forgets the pending enrollment of <paramref name="certificateId"/> (installed, refused or abandoned).</summary>
    public void DeletePending(string certificateId) => TryDelete(PathOf("pending", certificateId));

    /// <summary>The certificate-ids with a pending enrollment.</summary>
    public IReadOnlyList<string> ListPending() => List("pending");

    private string PathOf(string kind, string certificateId)
    {
        PkiNames.Validate(certificateId, "certificate-id");
        return Path.Combine(Root, kind, certificateId + ".json");
    }

    private IReadOnlyList<string> List(string kind)
    {
        string dir = Path.Combine(Root, kind);
        if (!Directory.Exists(dir))
        {
            return [];
        }
        return [.. Directory.EnumerateFiles(dir, "*.json").Select(f => Path.GetFileNameWithoutExtension(f)!)
            .Where(n => PkiNames.Problem(n) is null).Order(StringComparer.Ordinal)];
    }

    private JsonObject? ReadObject(string kind, string certificateId)
    {
        string path = PathOf(kind, certificateId);
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or JsonException)
        {
            return null;
        }
    }

    private bool Write(string kind, string certificateId, JsonObject o)
    {
        string path = PathOf(kind, certificateId);
        string text = o.ToJsonString(Indented) + "\n";
        try
        {
            if (File.ReadAllText(path) == text)
            {
                return false;
            }
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // First write.
        }
        string dir = Path.GetDirectoryName(path)!;
        foreach (string d in new[] { Root, dir })
        {
            if (!Directory.Exists(d))
            {
                Directory.CreateDirectory(d, DirectoryMode);
            }
        }
        string temp = Path.Combine(dir, "." + Path.GetFileName(path) + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        };
        using (var stream = new FileStream(temp, options))
        {
            // Flushed to disk before the rename (issue #14 §4): a crash never leaves a renamed but empty state file.
            stream.Write(System.Text.Encoding.UTF8.GetBytes(text));
            stream.Flush(flushToDisk: true);
        }
        TestCrashPoint.Reached("agent-state-staged");
        File.Move(temp, path, overwrite: true);
        DirectorySync.Sync(dir);
        return true;
    }

    /// <summary>Removes temporary files a crash left between writing a state file and renaming it (daemon start);
    /// one line per file removed, for the log.</summary>
    public IReadOnlyList<string> RemoveLeftovers()
    {
        var removed = new List<string>();
        if (!Directory.Exists(Root))
        {
            return removed;
        }
        foreach (string dir in Directory.EnumerateDirectories(Root))
        {
            foreach (string temp in Directory.EnumerateFiles(dir, ".*.tmp-*"))
            {
                File.Delete(temp);
                removed.Add($"agent state: removed the temporary file {temp} of an interrupted write");
            }
        }
        return removed;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (DirectoryNotFoundException)
        {
            // Nothing to forget.
        }
    }

    /// <summary>A member that must be there with a value of type <typeparamref name="T"/>.</summary>
    /// <exception cref="FormatException">Missing or of another type.</exception>
    private static T Required<T>(JsonObject o, string name) =>
        o[name] is JsonValue v && v.TryGetValue(out T? value) && value is not null ? value : throw new FormatException($"'{name}' is missing or not a {typeof(T).Name}");

    private static string? Iso(DateTimeOffset? when) =>
        when?.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static DateTimeOffset? Date(JsonNode? node) =>
        (string?)node is { } s ? DateTimeOffset.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal) : null;
}
