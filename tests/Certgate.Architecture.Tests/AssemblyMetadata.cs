using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace Certgate.Architecture.Tests;

/// <summary>What a built assembly of the test's output directory uses from other assemblies, read from its metadata.</summary>
internal static class AssemblyMetadata
{
    /// <summary>(declaring type, member name) of every member the assembly references in another assembly.</summary>
    public static HashSet<(string Type, string Member)> MemberReferences(string assembly)
    {
        using var pe = Open(assembly);
        MetadataReader md = pe.GetMetadataReader();
        var result = new HashSet<(string, string)>();
        foreach (MemberReferenceHandle h in md.MemberReferences)
        {
            MemberReference m = md.GetMemberReference(h);
            if (m.Parent.Kind == HandleKind.TypeReference)
            {
                result.Add((FullName(md, (TypeReferenceHandle)m.Parent), md.GetString(m.Name)));
            }
        }
        return result;
    }

    /// <summary>The full name of every type the assembly references in another assembly.</summary>
    public static HashSet<string> TypeReferences(string assembly)
    {
        using var pe = Open(assembly);
        MetadataReader md = pe.GetMetadataReader();
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (TypeReferenceHandle h in md.TypeReferences)
        {
            result.Add(FullName(md, h));
        }
        return result;
    }

    /// <summary>Every string literal (the #US heap) of the assembly.</summary>
    public static HashSet<string> UserStrings(string assembly)
    {
        using var pe = Open(assembly);
        MetadataReader md = pe.GetMetadataReader();
        var result = new HashSet<string>(StringComparer.Ordinal);
        for (UserStringHandle h = md.GetNextHandle(default(UserStringHandle)); !h.IsNil; h = md.GetNextHandle(h))
        {
            result.Add(md.GetUserString(h));
        }
        return result;
    }

    private static PEReader Open(string assembly) => new(File.OpenRead(Path.Combine(AppContext.BaseDirectory, assembly + ".dll")));

    private static string FullName(MetadataReader md, TypeReferenceHandle h)
    {
        TypeReference t = md.GetTypeReference(h);
        return $"{md.GetString(t.Namespace)}.{md.GetString(t.Name)}";
    }
}
