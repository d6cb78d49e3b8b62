using System.Runtime.InteropServices;

namespace Certgate.Pki.Store;

/// <summary>
/// fsync(2) of a directory, so that a rename or unlink in it survives a power loss or a crash of the machine (a file's
/// own fsync makes its contents durable, not its name). .NET opens no directory as a file, hence open(2) here.
/// </summary>
public static partial class DirectorySync
{
    private const int ReadOnly = 0; // O_RDONLY: a directory opens read-only; O_DIRECTORY differs between architectures
    private const int CloseOnExec = 0x80000; // O_CLOEXEC

    /// <summary>Makes the entries of <paramref name="directory"/> (renames, new and removed names) durable.</summary>
    /// <exception cref="IOException">The directory cannot be opened or synced.</exception>
    public static void Sync(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        int fd = Open(directory, ReadOnly | CloseOnExec);
        if (fd < 0)
        {
            throw new IOException($"{directory}: cannot open the directory to sync it (errno {Marshal.GetLastPInvokeError()})");
        }
        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"{directory}: fsync failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
