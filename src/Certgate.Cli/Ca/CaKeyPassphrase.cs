using System.Security.Cryptography;
using System.Text;
using Certgate.Cli.Commands;

namespace Certgate.Cli.Ca;

/// <summary>
/// Where a <c>certgate ca …</c> command finds the passphrase of an encrypted CA key: <c>--key-passphrase-file F</c>, or,
/// when that is absent, the systemd credential <c>certgate-ca-key</c> (<c>LoadCredential=certgate-ca-key:PATH</c> puts
/// it in <c>$CREDENTIALS_DIRECTORY</c>, readable only by the service). The passphrase is the file's first line; it is
/// never echoed.
/// </summary>
internal static class CaKeyPassphrase
{
    /// <summary>The systemd credential name (<c>LoadCredential=</c>).</summary>
    public const string CredentialName = "certgate-ca-key";

    /// <summary>The option that names the passphrase file.</summary>
    public const string Option = "--key-passphrase-file";

    /// <summary>Longest passphrase file read.</summary>
    public const int MaxFileBytes = 4096;

    /// <summary>The one line that says both ways to give the passphrase.</summary>
    public static string HowToGive => $"give its passphrase with {Option} F, or as the systemd credential {CredentialName} ($CREDENTIALS_DIRECTORY/{CredentialName}, LoadCredential=)";

    /// <summary>Reads the passphrase from <paramref name="file"/>, or from the systemd credential when
    /// <paramref name="useCredential"/> and no file is named; null when there is none. The caller zeroes the array.</summary>
    /// <exception cref="UserException">The file is missing, readable by others, empty, too long or not UTF-8.</exception>
    public static char[]? Read(Arguments args, string? file, bool useCredential, out string source)
    {
        if (file is not null)
        {
            source = file;
            if (!File.Exists(file))
            {
                throw new UserException($"{args.Command}: {Option} '{file}': no such file", 2);
            }
            if (!OperatingSystem.IsWindows())
            {
                UnixFileMode mode = File.GetUnixFileMode(file);
                const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                    | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
                if ((mode & others) != 0)
                {
                    throw new UserException($"{args.Command}: {Option} '{file}': group or others may read it (mode {Convert.ToString((int)mode, 8).PadLeft(4, '0')}); run: chmod 600 {file}", 2);
                }
            }
            return ReadFile(args, file, Option + " '" + file + "'");
        }
        string? dir = Environment.GetEnvironmentVariable("CREDENTIALS_DIRECTORY");
        string credential = dir is { Length: > 0 } ? Path.Combine(dir, CredentialName) : "";
        source = "$CREDENTIALS_DIRECTORY/" + CredentialName;
        // systemd makes the credential readable by the service alone, so no mode check here.
        return useCredential && credential.Length > 0 && File.Exists(credential) ? ReadFile(args, credential, source) : null;
    }

    private static char[] ReadFile(Arguments args, string path, string what)
    {
        byte[] data;
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read);
            if (fs.Length > MaxFileBytes)
            {
                throw new UserException($"{args.Command}: {what}: longer than {MaxFileBytes} octets; expected one line holding the passphrase", 2);
            }
            data = new byte[fs.Length];
            fs.ReadExactly(data);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserException($"{args.Command}: {what}: cannot read: {e.Message}", e);
        }
        try
        {
            int end = Array.IndexOf(data, (byte)'\n');
            int length = end < 0 ? data.Length : end;
            if (length > 0 && data[length - 1] == '\r')
            {
                length--;
            }
            if (length == 0)
            {
                throw new UserException($"{args.Command}: {what}: empty; expected the passphrase on its first line", 2);
            }
            try
            {
                return new UTF8Encoding(false, true).GetChars(data, 0, length);
            }
            catch (DecoderFallbackException)
            {
                throw new UserException($"{args.Command}: {what}: not UTF-8 text", 2);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(data);
        }
    }
}

/// <summary>A CA directory named on the command line (<c>--dir</c>) with the key passphrase file (if any).</summary>
/// <param name="Path">The directory.</param>
/// <param name="PassphraseFile"><c>--key-passphrase-file</c>, or null.</param>
internal sealed record CaDir(string Path, string? PassphraseFile)
{
    public static implicit operator string(CaDir dir) => dir.Path;

    public static implicit operator CaDir(string path) => new(path, null);

    public override string ToString() => Path;
}
