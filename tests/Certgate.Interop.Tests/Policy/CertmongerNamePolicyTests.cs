using System.Security.Cryptography.X509Certificates;
using Certgate.Interop.Tests.Scep;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Policy;

/// <summary>certmonger's SCEP helper against <c>certgate ca serve</c> with the name policy (issue #14 §1): a request
/// outside the CA's organisation, or for an IP address with an unbound challenge, ends CA_REJECTED with the reason in
/// the CA's log; the same tool with the CA's organisation, or a challenge bound to the address, is issued.</summary>
public sealed class CertmongerNamePolicyTests
{
    private static ExternalTool.Result Request(CertmongerDaemon cm, PolicyCa ca, string id, string subject, string challenge, params string[] names) =>
        cm.Getcert(["request", "-c", "Certgate", "-k", ca.Dir.File(id + ".key"), "-f", ca.Dir.File(id + ".crt"),
            "-N", subject, .. names, "-L", challenge, "-I", id, "-w", "--wait-timeout", "30"]);

    private static CertmongerDaemon Start(PolicyCa ca)
    {
        CertmongerDaemon cm = CertmongerDaemon.Start(Directory.CreateDirectory(ca.Dir.File("cm")).FullName);
        ExternalTool.Result add = cm.Getcert("add-scep-ca", "-c", "Certgate", "-u", ca.Serve.ScepUrl.ToString(), "-R", ca.CaPem, "-r", ca.RaPem);
        Assert.True(add.ExitCode == 0, $"getcert add-scep-ca exited {add.ExitCode}:\n{add.Combined}");
        return cm;
    }

    private static void Rejected(CertmongerDaemon cm, PolicyCa ca, ExternalTool.Result r, string id, string reason)
    {
        string list = cm.Getcert("list", "-i", id).Combined;
        Assert.True(r.ExitCode != 0, $"getcert request {id} was issued:\n{list}");
        Assert.Contains("status: CA_REJECTED", list, StringComparison.Ordinal);
        Assert.False(File.Exists(ca.Dir.File(id + ".crt")), $"a certificate was written for {id}");
        ca.WaitForLog("Failure BadRequest: " + reason);
    }

    private static X509Certificate2 Issued(CertmongerDaemon cm, PolicyCa ca, ExternalTool.Result r, string id)
    {
        string list = cm.Getcert("list", "-i", id).Combined;
        Assert.True(r.ExitCode == 0, $"getcert request {id} exited {r.ExitCode}:\n{r.Combined}\n{list}\nserver log:\n{ca.Serve.Log}\ncertmonger log:\n{cm.Log}");
        Assert.Contains("status: MONITORING", list, StringComparison.Ordinal);
        return X509Certificate2.CreateFromPem(File.ReadAllText(ca.Dir.File(id + ".crt")));
    }

    [Fact]
    public async Task Certmonger_outside_the_policy_is_rejected_with_the_reason_and_inside_is_issued()
    {
        await using PolicyCa ca = await PolicyCa.StartAsync();
        using CertmongerDaemon cm = Start(ca);

        Rejected(cm, ca, Request(cm, ca, "foreign", "CN=cm-foreign.example.net,O=Test,C=CH", ca.Challenge(), "-D", "cm-foreign.example.net"), "foreign",
            "subject C=CH, O=Test, CN=cm-foreign.example.net has O=Test; profile 'default' requires O=Certgate");
        Rejected(cm, ca, Request(cm, ca, "addr", "CN=cm-addr.example.net,O=Certgate,C=CH", ca.Challenge(), "-A", "10.99.0.5"), "addr",
            "IP address 10.99.0.5 needs a challenge bound to it (certgate ca challenge --ip 10.99.0.5)");

        X509Certificate2 dns = Issued(cm, ca, Request(cm, ca, "ok", "CN=cm-ok.example.net,O=Certgate,C=CH", ca.Challenge(), "-D", "cm-ok.example.net"), "ok");
        Assert.Equal("C=CH, O=Certgate, CN=cm-ok.example.net", dns.Subject);
        X509Certificate2 addr = Issued(cm, ca, Request(cm, ca, "bound", "CN=cm-bound.example.net,O=Certgate,C=CH",
            ca.Challenge("--subject", "CN=cm-bound.example.net,O=Certgate,C=CH", "--ip", "10.99.0.5"), "-A", "10.99.0.5"), "bound");
        Assert.Equal("10.99.0.5", addr.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateIPAddresses().Single().ToString());
    }
}
