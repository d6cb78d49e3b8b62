namespace Certgate.Config.Tests.Ipsec;

/// <summary>The sample configurations of docs/examples, copied beside the tests.</summary>
internal static class Examples
{
    public static string NextHop => Read("ipsec-next-hop.set");

    public static string Interface => Read("ipsec-interface.set");

    public static string Read(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Examples", name)).ReplaceLineEndings("\n");
}

/// <summary>Reference §1.7 B verbatim (next-hop set on MS-PIC in a VRF, PSK), with the policies it names (tests/Shared/Examples).</summary>
internal static class ReferenceExamples
{
    public static string B => Examples.Read("reference-1.7b.set");
}
