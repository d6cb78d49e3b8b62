using System.Reflection;

namespace Certgate.Architecture.Tests;

/// <summary>
/// One place for each revocation concept (issue #13): the CRLReason codes, a revoked certificate, and how revocation
/// is checked each have exactly one type across the shipped assemblies. Junos configuration words that differ are
/// mapped at the edge (<c>Certgate.Gateway.Crl.RevocationModes</c>), not copied into a second enum.
/// </summary>
public sealed class OneTypePerConceptTests
{
    private static readonly string BinDirectory = AppContext.BaseDirectory;

    /// <summary>Every type of every shipped Certgate assembly (the <c>certgate</c> executable included).</summary>
    private static IReadOnlyList<Type> ShippedTypes()
    {
        var files = Directory.EnumerateFiles(BinDirectory, "*.dll")
            .Where(f =>
            {
                string name = Path.GetFileNameWithoutExtension(f);
                return name.StartsWith("Certgate.", StringComparison.OrdinalIgnoreCase) && !name.EndsWith(".Tests", StringComparison.Ordinal)
                    || name == "certgate";
            })
            .ToList();
        Assert.Contains(files, f => Path.GetFileName(f) == "Certgate.Pki.dll");
        Assert.Contains(files, f => Path.GetFileName(f) == "certgate.dll");
        var types = new List<Type>();
        foreach (string f in files)
        {
            Assembly assembly = Assembly.LoadFrom(f);
            try
            {
                types.AddRange(assembly.GetTypes());
            }
            catch (ReflectionTypeLoadException e)
            {
                types.AddRange(e.Types.OfType<Type>());
            }
        }
        return types;
    }

    private static string Names(IEnumerable<Type> types) => string.Join(", ", types.Select(t => t.FullName));

    [Fact]
    public void One_revocation_reason_enum()
    {
        List<Type> reasons = ShippedTypes()
            .Where(t => t.IsEnum)
            .Where(t =>
            {
                string[] members = Enum.GetNames(t);
                return members.Contains("keyCompromise", StringComparer.OrdinalIgnoreCase)
                    && members.Contains("cACompromise", StringComparer.OrdinalIgnoreCase);
            })
            .ToList();
        Assert.True(reasons.Count == 1, $"expected exactly one revocation-reason enum (Certgate.Pki.Revocation.CrlReason), found: {Names(reasons)}");
        Assert.Equal("Certgate.Pki.Revocation.CrlReason", reasons[0].FullName);
    }

    [Fact]
    public void One_revoked_entry_type()
    {
        List<Type> entries = ShippedTypes().Where(t => t.Name.StartsWith("RevokedEntr", StringComparison.Ordinal)).ToList();
        Assert.True(entries.Count == 1, $"expected exactly one revoked-entry type (Certgate.Pki.Revocation.RevokedEntry), found: {Names(entries)}");
        Assert.Equal("Certgate.Pki.Revocation.RevokedEntry", entries[0].FullName);
    }

    [Fact]
    public void One_revocation_mode_enum()
    {
        IReadOnlyList<Type> types = ShippedTypes();
        List<Type> named = types.Where(t => t.Name == "RevocationMode").ToList();
        Assert.True(named.Count == 1, $"expected exactly one RevocationMode (Certgate.Pki.Validation.RevocationMode), found: {Names(named)}");
        Type mode = named[0];
        Assert.Equal("Certgate.Pki.Validation.RevocationMode", mode.FullName);
        // A renamed copy: another enum that also names the validator's behaviours.
        string[] behaviours = Enum.GetNames(mode);
        List<Type> copies = types
            .Where(t => t.IsEnum && t != mode && behaviours.Count(b => Enum.GetNames(t).Contains(b, StringComparer.OrdinalIgnoreCase)) >= 2)
            .ToList();
        Assert.True(copies.Count == 0, $"these enums repeat RevocationMode's members ({string.Join(", ", behaviours)}): {Names(copies)}");
    }
}
