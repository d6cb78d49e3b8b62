using System.Runtime.CompilerServices;

namespace Certgate.Cli.Tests.Pki;

/// <summary>
/// Golden-file comparison for show outputs. Set <c>CERTGATE_UPDATE_GOLDEN=1</c> to rewrite the files after an
/// intended change, then review the diff and run again without it: a run with the switch never passes (each rewritten
/// comparison fails), and under CI (the <c>CI</c> variable set) the switch is refused. A missing golden file is a
/// failure, never silently created.
/// </summary>
internal static class Golden
{
    public const string UpdateVariable = "CERTGATE_UPDATE_GOLDEN";

    public static void Assert(string name, string actual, [CallerFilePath] string here = "") =>
        Assert(name, actual, Environment.GetEnvironmentVariable(UpdateVariable) == "1", !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI")), here);

    /// <summary>The comparison with the switches given (tests of the switches themselves call this).</summary>
    internal static void Assert(string name, string actual, bool update, bool underCi, [CallerFilePath] string here = "")
    {
        string path = Path.Combine(Path.GetDirectoryName(here)!, "Golden", name);
        if (update)
        {
            Xunit.Assert.False(underCi, $"{UpdateVariable}=1 is refused under CI (the CI variable is set): golden files are rewritten by hand, then reviewed");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, actual);
            Xunit.Assert.Fail($"golden file {path} rewritten; run again without {UpdateVariable}");
        }
        Xunit.Assert.True(File.Exists(path), $"golden file {path} is missing; run with {UpdateVariable}=1 to create it");
        Xunit.Assert.Equal(File.ReadAllText(path).ReplaceLineEndings("\n"), actual);
    }
}
