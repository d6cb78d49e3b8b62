using System.Text.RegularExpressions;

namespace Certgate.Architecture.Tests;

/// <summary>
/// The layout of the tests themselves (issue #13 §3), read from the source under <c>tests/</c>: one test CA
/// (<c>tests/Shared/TestPki/TestCa.cs</c>) instead of one per project, and no test class spread as partial
/// declarations over files.
/// </summary>
public sealed partial class TestLayoutTests
{
    /// <summary>
    /// The calls that make a certificate or a CRL signed by a key the test holds: a self-signed certificate, a signature
    /// generator (issuing with <c>CertificateRequest.Create</c>), .NET's CRL builder. Spelled in two parts so that this
    /// file does not match itself.
    /// </summary>
    private static readonly string[] CaBuildingCalls =
    [
        "CreateSelf" + "Signed(",
        "X509Signature" + "Generator",
        "new CertificateRevocation" + "ListBuilder(",
    ];

    /// <summary>Where a test may build certificates itself (paths relative to <c>tests/</c>).</summary>
    private static readonly string[] AllowedToBuildCertificates =
    [
        // The one test CA.
        "Shared/TestPki/",
        // The golden PKI: its bytes are in the golden files (keys from files, fixed dates, serials, extension order).
        "Certgate.Cli.Tests/Pki/PkiFixture.cs",
    ];

    [GeneratedRegex(@"\bpartial\s+(?:class|record|struct|interface)\s+(\w+)")]
    private static partial Regex PartialType();

    [GeneratedRegex(@"^\s*namespace\s+([\w.]+)", RegexOptions.Multiline)]
    private static partial Regex Namespace();

    /// <summary>The repository's tests/ folder, found above the test binaries (next to Certgate.slnx).</summary>
    private static string TestsDirectory()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Certgate.slnx")))
        {
            dir = Path.GetDirectoryName(dir.TrimEnd('/'));
        }
        Assert.True(dir is not null, $"no Certgate.slnx above {AppContext.BaseDirectory}: the test reads the sources under tests/");
        return Path.Combine(dir!, "tests");
    }

    /// <summary>Every C# source under tests/ (not bin/ or obj/), as (path relative to tests/ with '/', text).</summary>
    private static List<(string Path, string Text)> TestSources()
    {
        string root = TestsDirectory();
        var sources = new List<(string, string)>();
        foreach (string file in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            if (relative.Split('/').Any(part => part is "bin" or "obj"))
            {
                continue;
            }
            sources.Add((relative, File.ReadAllText(file)));
        }
        Assert.True(sources.Count > 100, $"found only {sources.Count} C# files under {root}");
        return sources;
    }

    /// <summary>A line's code without a trailing // comment (and nothing for a comment line).</summary>
    private static string Code(string line)
    {
        string trimmed = line.TrimStart();
        if (trimmed.StartsWith("//", StringComparison.Ordinal) || trimmed.StartsWith('*'))
        {
            return "";
        }
        int comment = line.IndexOf("// ", StringComparison.Ordinal);
        return comment < 0 ? line : line[..comment];
    }

    [Fact]
    public void Only_the_shared_test_ca_builds_certificates()
    {
        var offenders = new List<string>();
        foreach ((string path, string text) in TestSources())
        {
            if (AllowedToBuildCertificates.Any(a => a.EndsWith('/') ? path.StartsWith(a, StringComparison.Ordinal) : path == a))
            {
                continue;
            }
            string[] lines = text.Split('\n');
            for (int i = 0; i < lines.Length; i++)
            {
                string code = Code(lines[i]);
                foreach (string call in CaBuildingCalls)
                {
                    if (code.Contains(call, StringComparison.Ordinal))
                    {
                        offenders.Add($"tests/{path}:{i + 1}: {call}");
                    }
                }
            }
        }
        Assert.True(offenders.Count == 0,
            "these tests build certificates or CRLs themselves; use the shared TestCa (tests/Shared/TestPki/TestCa.cs: CreateRoot, Issue, "
            + "SelfSigned, CrlBytes; extend it where a test needs more):\n" + string.Join('\n', offenders));
    }

    [Fact]
    public void No_test_type_is_partial_across_files()
    {
        var declarations = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach ((string path, string text) in TestSources())
        {
            string project = path.Split('/')[0];
            string ns = Namespace().Match(text) is { Success: true } m ? m.Groups[1].Value : "";
            foreach (Match p in PartialType().Matches(text))
            {
                string key = $"{project}: {ns}.{p.Groups[1].Value}";
                if (!declarations.TryGetValue(key, out List<string>? files))
                {
                    declarations[key] = files = [];
                }
                if (!files.Contains(path))
                {
                    files.Add(path);
                }
            }
        }
        Assert.True(declarations.Count > 0, "found no partial type at all: the search is broken");
        string[] spread = [.. declarations.Where(d => d.Value.Count > 1).Select(d => $"{d.Key} in {string.Join(", ", d.Value)}")];
        Assert.True(spread.Length == 0,
            "a test type is declared partial in more than one file; give each file its own class named for what it tests, sharing "
            + "set-up through an xUnit class or collection fixture or a base class:\n" + string.Join('\n', spread));
    }
}
