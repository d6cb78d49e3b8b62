using System.Runtime.CompilerServices;

namespace Certgate.Cli.Tests.Pki;

/// <summary>
/// Golden-file comparison for show outputs. Set <c>CERTGATE_UPDATE_GOLDEN=1</c> to rewrite the files after an
/// intended change, then review the diff; a missing golden file is a failure, never silently created.
/// </summary>
internal static class Golden
{
    public static void Assert(string name, string actual, [CallerFilePath] string here = "")
    {
        string path = Path.Combine(Path.GetDirectoryName(here)!, "Golden", name);
        if (Environment.GetEnvironmentVariable("CERTGATE_UPDATE_GOLDEN") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, actual);
            return;
        }
        Xunit.Assert.True(File.Exists(path), $"golden file {path} is missing; run with CERTGATE_UPDATE_GOLDEN=1 to create it");
        Xunit.Assert.Equal(File.ReadAllText(path).ReplaceLineEndings("\n"), actual);
    }
}
