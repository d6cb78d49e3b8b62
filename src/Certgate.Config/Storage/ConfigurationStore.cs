using System.Globalization;
using System.Text;
using Certgate.Config.Schema;
using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Config.Storage;

/// <summary>One saved configuration: rollback 0 is the active one.</summary>
public sealed record RollbackInfo(int Number, DateTimeOffset? Time, string? User, string? Comment);

/// <summary>
/// The gateway configuration on disk, under <c>STATE/config/</c>:
/// <list type="bullet">
/// <item><c>juniper.conf</c> — the active configuration (= rollback 0), curly-brace text with a
/// <c>## Last commit: … by USER</c> and <c>## Comment: …</c> header.</item>
/// <item><c>rollback/N.conf</c> — older commits, N = 1..49; older ones are dropped.</item>
/// <item><c>candidate.conf</c> — the candidate while it has uncommitted changes. It survives across
/// <c>certgate configure</c> invocations, like one shared Junos edit session stored in the state directory
/// (not <c>configure private</c>): a later session continues where the last stopped, until <c>commit</c> or
/// <c>rollback 0</c>.</item>
/// </list>
/// Every file is written atomically (temp file in the same directory, mode 0600 because it holds secrets, fsync,
/// rename), so a reader such as the daemon sees either the old or the new active configuration.
/// </summary>
public sealed class ConfigurationStore
{
    /// <summary>Rollback 0 (active) plus 49 older configurations, as Junos keeps.</summary>
    public const int MaxRollback = 49;

    private readonly TimeProvider _time;

    /// <param name="stateDirectory">The gateway state directory.</param>
    /// <param name="schema">The schema; <see cref="GatewaySchema.Instance"/> when null.</param>
    /// <param name="time">Clock for commit times; <see cref="TimeProvider.System"/> when null.</param>
    /// <exception cref="ArgumentException"><paramref name="stateDirectory"/> is empty.</exception>
    public ConfigurationStore(string stateDirectory, ConfigSchema? schema = null, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(stateDirectory);
        Directory = Path.Combine(Path.GetFullPath(stateDirectory), "config");
        Schema = schema ?? GatewaySchema.Instance;
        _time = time ?? TimeProvider.System;
    }

    /// <summary><c>STATE/config</c>.</summary>
    public string Directory { get; }

    public ConfigSchema Schema { get; }

    public string ActivePath => Path.Combine(Directory, "juniper.conf");

    public string CandidatePath => Path.Combine(Directory, "candidate.conf");

    private string RollbackDirectory => Path.Combine(Directory, "rollback");

    /// <summary>Whether a candidate with uncommitted changes is stored.</summary>
    public bool HasCandidate => File.Exists(CandidatePath);

    /// <summary>The active configuration (empty when nothing was ever committed).</summary>
    /// <exception cref="ConfigException">The file is damaged; the message names it.</exception>
    public ConfigNode LoadActive() => Load(ActivePath) ?? ConfigNode.CreateRoot(Schema);

    /// <summary>The stored candidate, or a copy of the active configuration when none is stored.</summary>
    /// <exception cref="ConfigException">A file is damaged; the message names it.</exception>
    public ConfigNode LoadCandidate() => Load(CandidatePath) ?? LoadActive();

    /// <summary>Stores <paramref name="candidate"/>; when it equals the active configuration the stored candidate is removed.</summary>
    public void SaveCandidate(ConfigNode candidate) => SaveCandidate(candidate, LoadActive());

    internal void SaveCandidate(ConfigNode candidate, ConfigNode active)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        if (candidate.StructurallyEquals(active))
        {
            DiscardCandidate();
            return;
        }
        WriteAtomic(CandidatePath, ConfigText.WriteCurly(candidate));
    }

    /// <summary>Forgets uncommitted changes. Nothing to do when none are stored, even when the state directory has no
    /// <c>config</c> directory yet (a state directory that was never configured).</summary>
    public void DiscardCandidate()
    {
        try
        {
            File.Delete(CandidatePath);
        }
        catch (DirectoryNotFoundException)
        {
            // No config directory: there is no candidate to forget.
        }
    }

    /// <summary>Runs every commit check on <paramref name="candidate"/>.</summary>
    public IReadOnlyList<CommitError> Check(ConfigNode candidate) => Schema.Check(candidate);

    /// <summary>
    /// Checks <paramref name="candidate"/> and makes it active: the old active becomes rollback 1, older ones shift,
    /// rollback 49 is dropped, and the stored candidate is removed.
    /// </summary>
    /// <exception cref="CommitCheckException">A check failed; nothing on disk changed.</exception>
    public void Commit(ConfigNode candidate, string? comment = null, string? user = null)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        IReadOnlyList<CommitError> errors = Check(candidate);
        if (errors.Count > 0)
        {
            throw new CommitCheckException(errors);
        }
        CreatePrivateDirectory(RollbackDirectory);
        using FileStream _ = new(Path.Combine(Directory, ".commit.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);

        File.Delete(RollbackFile(MaxRollback));
        for (int n = MaxRollback - 1; n >= 1; n--)
        {
            if (File.Exists(RollbackFile(n)))
            {
                File.Move(RollbackFile(n), RollbackFile(n + 1), overwrite: true);
            }
        }
        if (File.Exists(ActivePath))
        {
            WriteAtomic(RollbackFile(1), File.ReadAllText(ActivePath));
        }

        var sb = new StringBuilder();
        sb.Append("## Last commit: ")
          .Append(_time.GetUtcNow().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture))
          .Append(" by ").Append(OneLine(user ?? "root")).Append('\n');
        if (!string.IsNullOrEmpty(comment))
        {
            sb.Append("## Comment: ").Append(OneLine(comment)).Append('\n');
        }
        sb.Append(ConfigText.WriteCurly(candidate));
        WriteAtomic(ActivePath, sb.ToString());
        DiscardCandidate();
    }

    /// <summary>The configuration of rollback <paramref name="number"/> (0 = active).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="number"/> is outside 0..49.</exception>
    /// <exception cref="ConfigException">That rollback does not exist or is damaged.</exception>
    public ConfigNode LoadRollback(int number)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(number);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(number, MaxRollback);
        if (number == 0)
        {
            return LoadActive();
        }
        return Load(RollbackFile(number)) ?? throw new ConfigException($"error: rollback {number} does not exist");
    }

    /// <summary>Every stored configuration, newest first (rollback 0 = active).</summary>
    public IReadOnlyList<RollbackInfo> ListRollbacks()
    {
        var list = new List<RollbackInfo>();
        for (int n = 0; n <= MaxRollback; n++)
        {
            string path = n == 0 ? ActivePath : RollbackFile(n);
            if (File.Exists(path))
            {
                list.Add(ReadHeader(n, path));
            }
        }
        return list;
    }

    private string RollbackFile(int n) => Path.Combine(RollbackDirectory, n.ToString(CultureInfo.InvariantCulture) + ".conf");

    private ConfigNode? Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        try
        {
            return ConfigText.ParseCurly(Schema, text);
        }
        catch (ConfigException e)
        {
            throw new ConfigException($"error: {path} is damaged: {e.Message}", e);
        }
    }

    private static RollbackInfo ReadHeader(int n, string path)
    {
        DateTimeOffset? time = null;
        string? user = null;
        string? comment = null;
        foreach (string line in File.ReadLines(path).TakeWhile(l => l.StartsWith("##", StringComparison.Ordinal)))
        {
            if (line.StartsWith("## Last commit: ", StringComparison.Ordinal))
            {
                string rest = line["## Last commit: ".Length..];
                int by = rest.IndexOf(" by ", StringComparison.Ordinal);
                if (by > 0 && DateTimeOffset.TryParseExact(rest[..by], "yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset t))
                {
                    time = t;
                    user = rest[(by + 4)..];
                }
            }
            else if (line.StartsWith("## Comment: ", StringComparison.Ordinal))
            {
                comment = line["## Comment: ".Length..];
            }
        }
        return new RollbackInfo(n, time, user, comment);
    }

    private static string OneLine(string s) => s.Replace('\r', ' ').Replace('\n', ' ');

    /// <summary>Creates a directory and its missing parents (the state directory among them) as 0700: the state holds private keys.</summary>
    private static void CreatePrivateDirectory(string dir)
    {
        if (OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(dir);
            return;
        }
        // CreateDirectory(path, mode) gives the mode to the last directory only; the parents it makes get the umask's.
        var missing = new Stack<string>();
        for (string? d = Path.GetFullPath(dir); d is not null && !System.IO.Directory.Exists(d); d = Path.GetDirectoryName(d))
        {
            missing.Push(d);
        }
        while (missing.TryPop(out string? d))
        {
            System.IO.Directory.CreateDirectory(d, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    /// <summary>Temp file in the same directory (0600), fsync, rename over <paramref name="path"/>.</summary>
    internal static void WriteAtomic(string path, string content)
    {
        string dir = Path.GetDirectoryName(path)!;
        CreatePrivateDirectory(dir);
        string temp = Path.Combine(dir, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        try
        {
            using (var fs = new FileStream(temp, options))
            {
                byte[] bytes = Encoding.UTF8.GetBytes(content);
                fs.Write(bytes);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
