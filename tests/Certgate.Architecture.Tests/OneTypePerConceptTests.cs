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


    /// <summary>
    /// IkeSession was a grab-bag of statics (payload helpers, proposals, AUTH, SK protection) until #13 §3 gave each to
    /// its owner. Neither it nor another static class named *Session may come back: a session is state (one IKE SA,
    /// one configuration edit), and a class of statics under that name collects whatever has no home yet.
    /// </summary>
    [Fact]
    public void No_IkeSession_and_no_static_class_named_Session()
    {
        IReadOnlyList<Type> types = ShippedTypes();
        List<Type> ikeSession = types.Where(t => t.Name == "IkeSession").ToList();
        Assert.True(ikeSession.Count == 0, $"IkeSession was dissolved (#13 §3); put each member with the concept it belongs to: {Names(ikeSession)}");
        List<Type> staticSessions = types
            .Where(t => t.IsAbstract && t.IsSealed && t.IsClass && !t.Name.Contains('<', StringComparison.Ordinal))
            .Where(t => t.Name.EndsWith("Session", StringComparison.Ordinal) || t.Name.EndsWith("Sessions", StringComparison.Ordinal))
            .ToList();
        Assert.True(staticSessions.Count == 0, $"these static classes are named like a session but hold only statics: {Names(staticSessions)}");
    }

    /// <summary>
    /// One payload table for IKE (Certgate.Ike.Sessions.PayloadRules and its row type PayloadRule): which payloads each
    /// exchange and direction requires or allows is declared there and nowhere else, so that no task keeps a list of its
    /// own that the dispatcher does not check. A set of payload types is a field or property typed as a collection of
    /// PayloadType.
    /// </summary>
    [Fact]
    public void One_ike_payload_rule_table()
    {
        IReadOnlyList<Type> types = ShippedTypes();
        const string payloadType = "Certgate.Ipsec.Registry.PayloadType";
        Assert.Contains(types, t => t.FullName == payloadType);
        Assert.Contains(types, t => t.FullName == "Certgate.Ike.Sessions.PayloadRules");
        Assert.Contains(types, t => t.FullName == "Certgate.Ike.Sessions.PayloadRule");
        string[] table = ["Certgate.Ike.Sessions.PayloadRules", "Certgate.Ike.Sessions.PayloadRule"];
        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;
        var declarations = new List<string>();
        foreach (Type t in types.Where(t => t.Assembly.GetName().Name == "Certgate.Ike"))
        {
            // Lambdas' closures belong to the method that made them; the table's own nested types are the table's.
            Type outer = t;
            while (outer.DeclaringType is { } d)
            {
                outer = d;
            }
            if (table.Contains(outer.FullName) || t.Name.Contains('<', StringComparison.Ordinal))
            {
                continue;
            }
            foreach (FieldInfo f in t.GetFields(All).Where(f => !f.Name.Contains('<', StringComparison.Ordinal) && IsSetOf(f.FieldType, payloadType)))
            {
                declarations.Add($"{t.FullName}.{f.Name}");
            }
            foreach (PropertyInfo p in t.GetProperties(All).Where(p => IsSetOf(p.PropertyType, payloadType)))
            {
                declarations.Add($"{t.FullName}.{p.Name}");
            }
        }
        Assert.True(declarations.Count == 0, $"payload sets outside the payload table (Certgate.Ike.Sessions.PayloadRules): {string.Join(", ", declarations)}");
    }

    /// <summary>Whether <paramref name="type"/> is an array or a generic collection of <paramref name="element"/>.</summary>
    private static bool IsSetOf(Type type, string element) =>
        type.IsArray ? type.GetElementType()?.FullName == element
        : type.IsGenericType && type.GetGenericArguments() is [var arg] && arg.FullName == element && typeof(System.Collections.IEnumerable).IsAssignableFrom(type);
}
