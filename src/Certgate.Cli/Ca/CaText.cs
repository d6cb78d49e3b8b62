using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Certgate.Cli.Commands;

namespace Certgate.Cli.Ca;

/// <summary>Option parsing, formatting and file writing shared by the <c>certgate ca</c> commands.</summary>
internal static class CaText
{
    /// <summary>Parses a duration such as <c>90s</c>, <c>30m</c>, <c>1h</c>, <c>7d</c>, <c>2w</c> or <c>1h30m</c>.</summary>
    /// <exception cref="UserException">Not a duration (usage error naming <paramref name="option"/>).</exception>
    public static TimeSpan ParseDuration(Arguments args, string option, string text)
    {
        TimeSpan total = TimeSpan.Zero;
        int i = 0;
        bool any = false;
        while (i < text.Length)
        {
            int start = i;
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }
            if (i == start || i == text.Length || i - start > 6
                || !int.TryParse(text.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            {
                throw BadDuration(args, option, text);
            }
            total += text[i] switch
            {
                's' => TimeSpan.FromSeconds(n),
                'm' => TimeSpan.FromMinutes(n),
                'h' => TimeSpan.FromHours(n),
                'd' => TimeSpan.FromDays(n),
                'w' => TimeSpan.FromDays(7 * n),
                _ => throw BadDuration(args, option, text),
            };
            i++;
            any = true;
        }
        if (!any || total <= TimeSpan.Zero)
        {
            throw BadDuration(args, option, text);
        }
        return total;
    }

    private static UserException BadDuration(Arguments args, string option, string text) =>
        new($"{args.Command}: {option} '{text}': expected a duration such as 30m, 1h, 12h or 7d", 2);

    /// <summary>Parses a positive whole number for <paramref name="option"/> within [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static int ParseInt(Arguments args, string option, string text, int min, int max)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
        {
            throw new UserException($"{args.Command}: {option} '{text}': expected a whole number from {min} to {max}", 2);
        }
        return v;
    }

    /// <summary>
    /// The one positional word (e.g. the request ID of <c>ca approve --dir DIR ID</c>) after the options were taken.
    /// <see cref="Arguments"/> reads keyword/value pairs only and has no accessor for a bare word whose text is not
    /// known in advance, so this reads its unconsumed words (and marks the one taken as used through
    /// <see cref="Arguments.Flag"/>). Tests cover it; a public accessor on Arguments would replace this.
    /// </summary>
    /// <exception cref="UserException">No word left, or more than one.</exception>
    public static string Positional(Arguments args, string what)
    {
        const BindingFlags flags = BindingFlags.NonPublic | BindingFlags.Instance;
        var words = (List<string>)typeof(Arguments).GetField("_words", flags)!.GetValue(args)!;
        var used = (bool[])typeof(Arguments).GetField("_used", flags)!.GetValue(args)!;
        string[] left = [.. words.Where((_, i) => !used[i])];
        if (left.Length == 0)
        {
            throw new UserException($"{args.Command}: missing the {what}", 2);
        }
        if (left[0].StartsWith("--", StringComparison.Ordinal))
        {
            throw new UserException($"{args.Command}: unknown option '{left[0]}'", 2);
        }
        args.Flag(left[0]);
        return left[0];
    }

    /// <summary>UTC time as the CA commands print it.</summary>
    public static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    /// <summary>UTC time for JSON (ISO 8601).</summary>
    public static string IsoTime(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>SHA-256 fingerprint as colon-separated hex.</summary>
    public static string Fingerprint(byte[] der) => string.Join(':', SHA256.HashData(der).Select(b => b.ToString("X2", CultureInfo.InvariantCulture)));

    /// <summary>PEM text with a final newline.</summary>
    public static string Pem(string label, byte[] der) => new string(PemEncoding.Write(label, der)) + "\n";

    /// <summary>Reads a PEM (<paramref name="labels"/>) or DER file.</summary>
    /// <exception cref="UserException">Missing, unreadable, too large, or PEM of another kind.</exception>
    public static byte[] ReadPemOrDer(Arguments args, string option, string path, int maxBytes, params string[] labels)
    {
        byte[] data;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                throw new UserException($"{args.Command}: {option} '{path}': no such file", 2);
            }
            if (info.Length > maxBytes)
            {
                throw new UserException($"{args.Command}: {option} '{path}': {info.Length} bytes; expected at most {maxBytes}");
            }
            data = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserException($"{args.Command}: {option} '{path}': cannot read: {e.Message}", e);
        }
        if (data.Length > 0 && data[0] == 0x30)
        {
            return data; // DER SEQUENCE
        }
        string text = Encoding.ASCII.GetString(data);
        if (PemEncoding.TryFind(text, out PemFields f))
        {
            string label = text[f.Label];
            if (labels.Contains(label, StringComparer.Ordinal))
            {
                return Convert.FromBase64String(text[f.Base64Data]);
            }
            throw new UserException($"{args.Command}: {option} '{path}': PEM '{label}'; expected {string.Join(" or ", labels.Select(l => "'" + l + "'"))}");
        }
        throw new UserException($"{args.Command}: {option} '{path}': neither PEM ({string.Join(", ", labels)}) nor DER");
    }

    /// <summary>Writes a public file (certificate, CRL, CSR) atomically: temporary file in the same directory, fsync, rename.</summary>
    /// <exception cref="UserException">The file cannot be written.</exception>
    public static void WritePublicFile(Arguments args, string option, string path, byte[] content)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir))
        {
            throw new UserException($"{args.Command}: {option} '{path}': directory {dir} does not exist");
        }
        string temp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
            }
            using (var fs = new FileStream(temp, options))
            {
                fs.Write(content);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            File.Delete(temp);
            throw new UserException($"{args.Command}: {option} '{path}': cannot write: {e.Message}", e);
        }
    }
}
