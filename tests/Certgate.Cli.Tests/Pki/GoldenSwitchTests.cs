using Xunit.Sdk;

namespace Certgate.Cli.Tests.Pki;

/// <summary>The golden-file update switch can never make a run pass (issue 13).</summary>
public sealed class GoldenSwitchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("certgate-golden-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Here => Path.Combine(_dir, "SomeTests.cs");

    private string File(string name) => Path.Combine(_dir, "Golden", name);

    [Fact]
    public void Update_RewritesTheFile_ThenFails_SayingRunAgain()
    {
        var e = Assert.ThrowsAny<XunitException>(() => Golden.Assert("out.txt", "new\n", update: true, underCi: false, here: Here));
        Assert.Contains("rewritten; run again without CERTGATE_UPDATE_GOLDEN", e.Message);
        Assert.Equal("new\n", System.IO.File.ReadAllText(File("out.txt")));
        // Without the switch the rewritten file now matches.
        Golden.Assert("out.txt", "new\n", update: false, underCi: false, here: Here);
    }

    [Fact]
    public void Update_UnderCi_IsRefused_AndWritesNothing()
    {
        var e = Assert.ThrowsAny<XunitException>(() => Golden.Assert("out.txt", "new\n", update: true, underCi: true, here: Here));
        Assert.Contains("refused under CI", e.Message);
        Assert.False(System.IO.File.Exists(File("out.txt")));
    }

    [Fact]
    public void Missing_Fails_AndCreatesNothing()
    {
        var e = Assert.ThrowsAny<XunitException>(() => Golden.Assert("out.txt", "x", update: false, underCi: true, here: Here));
        Assert.Contains("is missing", e.Message);
        Assert.False(System.IO.File.Exists(File("out.txt")));
    }
}
