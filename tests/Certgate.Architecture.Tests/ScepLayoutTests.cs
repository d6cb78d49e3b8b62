using System.Reflection;

namespace Certgate.Architecture.Tests;

/// <summary>
/// Where SCEP code lives (DESIGN.md "The SCEP service kept apart from its HTTP transport"; issue #13):
/// the server's SCEP service is in Certgate.Ca, not in the Kestrel project; and the command line and the gateway
/// daemon both enroll through the one <c>ScepEnrollmentFlow</c> of Certgate.Scep, with no GetCACaps handling,
/// request building or reply checking of their own. Read from the built assemblies' metadata (member references and
/// string literals), so a copy of the flow in either caller fails here.
/// </summary>
public sealed class ScepLayoutTests
{
    private const string FlowType = "Certgate.Scep.ScepEnrollmentFlow";

    /// <summary>The two callers of the flow: the <c>certgate</c> executable (CLI) and the gateway daemon's library.</summary>
    public static TheoryData<string> FlowCallers => new() { "certgate", "Certgate.Gateway" };

    /// <summary>Calls that would mean a caller parses GetCACaps, builds requests or checks replies itself.</summary>
    private static readonly (string Type, string Member)[] BypassingCalls =
    [
        ("Certgate.Scep.ScepCapabilities", "Parse"),
        ("Certgate.Scep.ScepClient", "GetCapabilitiesAsync"),
        ("Certgate.Scep.ScepClient", "EnrollAsync"),
        ("Certgate.Scep.ScepClient", "PollAsync"),
        ("Certgate.Scep.ScepClientMessages", "Enrollment"),
        ("Certgate.Scep.ScepClientMessages", "CertPoll"),
        ("Certgate.Scep.ScepCertRep", "Read"),
    ];

    /// <summary>GetCACaps keywords as RFC 8894 §3.5.2 spells them: a caller comparing capabilities would hold them as literals.</summary>
    private static readonly string[] CapabilityKeywords = ["AES", "DES3", "SHA-1", "SHA-256", "SHA-512", "Renewal", "POSTPKIOperation", "SCEPStandard", "GetCACaps"];

    [Fact]
    public void No_ScepService_type_lives_in_Ca_Http()
    {
        Type[] http = Load("Certgate.Ca.Http").GetTypes();
        Assert.Contains(http, t => t.Name == "ScepEndpoints"); // the transport is still there: the check below is not about an empty assembly
        Assert.DoesNotContain(http, t => t.Name.Contains("ScepService", StringComparison.Ordinal));
        Assert.Contains(Load("Certgate.Ca").GetTypes(), t => t.FullName == "Certgate.Ca.Scep.ScepService" && t.IsPublic);
    }

    [Theory]
    [MemberData(nameof(FlowCallers))]
    public void Caller_enrolls_through_the_one_flow(string assembly)
    {
        HashSet<(string Type, string Member)> calls = AssemblyMetadata.MemberReferences(assembly);
        Assert.Contains((FlowType, "GetCapabilitiesAsync"), calls);
        Assert.Contains((FlowType, "EnrollAsync"), calls);
        Assert.Contains((FlowType, "PollAsync"), calls);
    }

    [Theory]
    [MemberData(nameof(FlowCallers))]
    public void Caller_has_no_SCEP_client_logic_of_its_own(string assembly)
    {
        HashSet<(string Type, string Member)> calls = AssemblyMetadata.MemberReferences(assembly);
        foreach ((string type, string member) in BypassingCalls)
        {
            Assert.False(calls.Contains((type, member)), $"{assembly} calls {type}.{member}: enroll through {FlowType} instead");
        }
        HashSet<string> literals = AssemblyMetadata.UserStrings(assembly);
        Assert.NotEmpty(literals);
        foreach (string keyword in CapabilityKeywords)
        {
            Assert.False(literals.Contains(keyword), $"{assembly} holds the GetCACaps keyword \"{keyword}\": capabilities are read by Certgate.Scep.ScepCapabilities");
        }
    }

    private static Assembly Load(string name) => Assembly.LoadFrom(Path.Combine(AppContext.BaseDirectory, name + ".dll"));
}
