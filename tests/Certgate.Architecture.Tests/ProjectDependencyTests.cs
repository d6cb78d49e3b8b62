using System.Reflection;

namespace Certgate.Architecture.Tests;

/// <summary>
/// Dependencies point inward (DESIGN.md, "Projects"). This reads each shipped assembly's references and fails
/// on a forbidden edge. New projects add their rules here when they are created.
/// </summary>
public sealed class ProjectDependencyTests
{
    private static readonly string BinDirectory = AppContext.BaseDirectory;

    /// <summary>Project → the Certgate projects it may reference.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Certgate.Net"] = [],
        ["Certgate.Pki"] = ["Certgate.Net"],
        ["Certgate.Config"] = ["Certgate.Net"],
        ["Certgate.Scep"] = ["Certgate.Pki", "Certgate.Net"],
        ["Certgate.Ca"] = ["Certgate.Pki", "Certgate.Scep", "Certgate.Net"],
        ["Certgate.Ca.Sqlite"] = ["Certgate.Ca", "Certgate.Pki", "Certgate.Scep", "Certgate.Net"],
        ["Certgate.Ca.Postgres"] = ["Certgate.Ca", "Certgate.Pki", "Certgate.Scep", "Certgate.Net"],
        ["Certgate.Ca.Http"] = ["Certgate.Ca", "Certgate.Pki", "Certgate.Scep", "Certgate.Net"],
        ["Certgate.Ipsec"] = ["Certgate.Net"],
        ["Certgate.Ike"] = ["Certgate.Pki", "Certgate.Ipsec", "Certgate.Net"],
        ["Certgate.Esp"] = ["Certgate.Ipsec", "Certgate.Net"],
        ["Certgate.ServiceSets"] = ["Certgate.Config", "Certgate.Ike", "Certgate.Ipsec", "Certgate.Pki", "Certgate.Net"],
        ["Certgate.Gateway"] = ["Certgate.Pki", "Certgate.Config", "Certgate.Scep", "Certgate.ServiceSets", "Certgate.Ike", "Certgate.Ipsec", "Certgate.Esp", "Certgate.Net"],
    };

    /// <summary>Third-party assemblies that only edge projects may touch.</summary>
    private static readonly (string Prefix, string[] Owners)[] Restricted =
    [
        ("Microsoft.Data.Sqlite", ["Certgate.Ca.Sqlite"]),
        ("Npgsql", ["Certgate.Ca.Postgres"]),
        ("Microsoft.AspNetCore", ["Certgate.Ca.Http", "certgate"]),
        ("System.DirectoryServices.Protocols", ["Certgate.Ca.Http"]),
    ];

    public static TheoryData<string> Assemblies()
    {
        var data = new TheoryData<string>();
        foreach (string file in Directory.EnumerateFiles(BinDirectory, "Certgate.*.dll").Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileNameWithoutExtension(file);
            if (!name.EndsWith(".Tests", StringComparison.Ordinal))
            {
                data.Add(name);
            }
        }
        data.Add("certgate");
        return data;
    }

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void References_only_allowed_projects(string assemblyName)
    {
        AssemblyName[] references = Load(assemblyName).GetReferencedAssemblies();
        if (Allowed.TryGetValue(assemblyName, out string[]? allowed))
        {
            var forbidden = references.Select(r => r.Name!)
                .Where(n => n.StartsWith("Certgate.", StringComparison.Ordinal) && !allowed.Contains(n))
                .ToList();
            Assert.True(forbidden.Count == 0, $"{assemblyName} must not reference {string.Join(", ", forbidden)}");
        }

        foreach ((string prefix, string[] owners) in Restricted)
        {
            bool uses = references.Any(r => r.Name!.StartsWith(prefix, StringComparison.Ordinal));
            Assert.False(uses && !owners.Contains(assemblyName), $"{assemblyName} must not reference {prefix} (only {string.Join(", ", owners)})");
        }
    }

    [Fact]
    public void Every_shipped_project_has_a_rule()
    {
        var names = Directory.EnumerateFiles(BinDirectory, "Certgate.*.dll")
            .Select(Path.GetFileNameWithoutExtension)
            .Where(n => !n!.EndsWith(".Tests", StringComparison.Ordinal))
            .ToList();
        Assert.NotEmpty(names);
        Assert.All(names, n => Assert.True(Allowed.ContainsKey(n!), $"{n} has no dependency rule in {nameof(ProjectDependencyTests)}"));
    }

    [Fact]
    public void Ike_and_Esp_never_reference_each_other_or_Config()
    {
        Assert.False(Allowed["Certgate.Ike"].Contains("Certgate.Esp"));
        Assert.False(Allowed["Certgate.Esp"].Contains("Certgate.Ike"));
        Assert.False(Allowed["Certgate.Ike"].Contains("Certgate.Config"));
    }

    private static Assembly Load(string name) => Assembly.LoadFrom(Path.Combine(BinDirectory, name + ".dll"));
}
