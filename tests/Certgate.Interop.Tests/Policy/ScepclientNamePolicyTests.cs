using System.Security.Cryptography.X509Certificates;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Policy;

/// <summary>micromdm <c>scepclient</c> against <c>certgate ca serve</c> with the default name policy <c>ca init</c>
/// writes (issue #14 §1). scepclient asks for a subject only (no subjectAltName option): the CA's own name and a
/// foreign organisation are refused, the CA's organisation is issued.</summary>
public sealed class ScepclientNamePolicyTests
{
    private static ExternalTool.Result Run(PolicyCa ca, string challenge, string cn, string organization, string name)
    {
        string work = Directory.CreateDirectory(ca.Dir.File("work-" + name)).FullName;
        return ExternalTool.Run("scepclient", ["-server-url", ca.Serve.ScepUrl.ToString(), "-challenge", challenge,
            "-private-key", Path.Combine(work, name + ".key"), "-certificate", ca.Dir.File(name + ".crt"),
            "-cn", cn, "-organization", organization, "-country", "CH"], workingDirectory: work, timeout: TimeSpan.FromSeconds(60));
    }

    private static bool Written(PolicyCa ca, string name) => File.Exists(ca.Dir.File(name + ".crt")) && new FileInfo(ca.Dir.File(name + ".crt")).Length > 0;

    [Fact]
    public async Task Scepclient_asking_for_the_CAs_name_or_another_organisation_is_refused_and_its_own_name_is_issued()
    {
        await using PolicyCa ca = await PolicyCa.StartAsync();
        string challenge = ca.Challenge();

        ExternalTool.Result own = Run(ca, challenge, "Policy Test CA", "Certgate", "ca-name");
        Assert.True(own.ExitCode != 0 && !Written(ca, "ca-name"), $"scepclient got a certificate with the CA's name:\n{own.Combined}");
        ca.WaitForLog("Failure BadRequest: subject ");
        ca.WaitForLog("Policy Test CA");
        Assert.Matches("Failure BadRequest: subject .*(is the CA's own subject|uses the CA's own common name Policy Test CA)", ca.Serve.Log);

        ExternalTool.Result foreign = Run(ca, challenge, "gw1.example.net", "Test", "foreign");
        Assert.True(foreign.ExitCode != 0 && !Written(ca, "foreign"), $"scepclient got a certificate for O=Test:\n{foreign.Combined}");
        ca.WaitForLog("has O=Test; profile 'default' requires O=Certgate");

        // The refusals did not spend the challenge.
        ExternalTool.Result ok = Run(ca, challenge, "gw1.example.net", "Certgate", "ok");
        Assert.True(ok.ExitCode == 0, $"scepclient exited {ok.ExitCode}:\n{ok.Combined}\nserver log:\n{ca.Serve.Log}");
        X509Certificate2 cert = X509Certificate2.CreateFromPem(File.ReadAllText(ca.Dir.File("ok.crt")));
        Assert.Contains("CN=gw1.example.net", cert.Subject, StringComparison.Ordinal);
        Assert.Contains("O=Certgate", cert.Subject, StringComparison.Ordinal);
    }
}
