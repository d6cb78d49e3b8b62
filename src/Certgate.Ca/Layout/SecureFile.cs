namespace Certgate.Ca.Layout;

/// <summary>Atomic file writes: a temporary file in the same directory, fsync, rename over the target.</summary>
internal static class SecureFile
{
    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/> atomically; <paramref name="secret"/> → mode 0600
    /// from creation on (never briefly readable by others), else 0644.</summary>
    public static void WriteAtomic(string path, ReadOnlySpan<byte> content, bool secret)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string temp = Path.Combine(dir, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = secret
                ? UnixFileMode.UserRead | UnixFileMode.UserWrite
                : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        }
        try
        {
            using (var fs = new FileStream(temp, options))
            {
                fs.Write(content);
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
