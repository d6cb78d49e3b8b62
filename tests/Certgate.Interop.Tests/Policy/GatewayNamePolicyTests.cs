using System.Security.Cryptography.X509Certificates;
using Certgate.Cli;

namespace Certgate.Interop.Tests.Policy;

/// <summary>Certgate's own gateway (<c>request security pki local-certificate enroll</c>) against <c>certgate ca
/// serve</c> with the name policy (issue #14 §1): its address with an unbound challenge, or the CA's own name, is
/// refused and the gateway prints the CA's reason; with a challenge bound to its names it is issued.</summary>
public sealed class GatewayNamePolicyTests
{
    private static (int Code, string Out, string Err) Cli(string state, string stdin, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CertgateCli.Run(["--state", state, .. args], new StringReader(stdin), o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string Ok(string state, params string[] args)
    {
        (int code, string output, string err) = Cli(state, "", args);
        Assert.True(code == 0, $"certgate {string.Join(' ', args)} exited {code}: {err}{output}");
        return output;
    }

    private static string Prepare(PolicyCa ca)
    {
        string state = ca.Dir.File("gw1");
        (int code, string output, string err) = Cli(state, $"""
            set security pki ca-profile ca1 ca-identity policy-ca
            set security pki ca-profile ca1 enrollment url {ca.Serve.ScepUrl}
            commit
            """, "configure");
        Assert.True(code == 0, err + output);
        Ok(state, "--yes", "request", "security", "pki", "ca-certificate", "enroll", "ca-profile", "ca1");
        Ok(state, "request", "security", "pki", "generate-key-pair", "certificate-id", "gw1", "size", "2048");
        return state;
    }

    private static string[] Enroll(string challenge, string subject, params string[] names) =>
        ["request", "security", "pki", "local-certificate", "enroll", "certificate-id", "gw1", "ca-profile", "ca1",
            "challenge-password", challenge, "subject", subject, .. names];

    [Fact]
    public async Task Gateway_enroll_outside_the_policy_is_refused_with_the_reason_and_with_a_bound_challenge_is_issued()
    {
        await using PolicyCa ca = await PolicyCa.StartAsync();
        string state = Prepare(ca);
        const string subject = "CN=gw1.example.net,OU=VPN,O=Certgate,C=CH";

        (int code, string output, string err) = Cli(state, "", Enroll(ca.Challenge(), subject, "domain-name", "gw1.example.net", "ip-address", "10.99.0.1"));
        Assert.NotEqual(0, code);
        Assert.Contains("IP address 10.99.0.1 needs a challenge bound to it (certgate ca challenge --ip 10.99.0.1)", err + output, StringComparison.Ordinal);
        ca.WaitForLog("Failure BadRequest: IP address 10.99.0.1 needs a challenge bound to it");

        (code, output, err) = Cli(state, "", Enroll(ca.Challenge(), PolicyCa.Subject, "domain-name", "gw1.example.net"));
        Assert.NotEqual(0, code);
        Assert.Contains("is the CA's own subject", err + output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(state, "pki", "local", "gw1.pem")), "a certificate was installed for a refused request");

        string bound = ca.Challenge("--subject", subject, "--dns", "gw1.example.net", "--ip", "10.99.0.1");
        string enrolled = Ok(state, Enroll(bound, subject, "domain-name", "gw1.example.net", "ip-address", "10.99.0.1"));
        Assert.Contains("Local certificate gw1 loaded successfully", enrolled, StringComparison.Ordinal);
        X509Certificate2 cert = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(state, "pki", "local", "gw1.pem")));
        var san = cert.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["gw1.example.net"], san.EnumerateDnsNames());
        Assert.Equal("10.99.0.1", san.EnumerateIPAddresses().Single().ToString());
    }
}
