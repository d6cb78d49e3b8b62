using Certgate.Cli;

namespace Certgate.Interop.Tests.Gateway;

/// <summary>
/// Our CA in manual-approval mode, the gateway daemon running: <c>local-certificate enroll</c> ends PENDING and
/// hands over, the daemon polls (CertPoll, same transaction) and <c>show security pki certificate-request</c> says so;
/// after <c>certgate ca approve</c> the daemon installs the certificate.
/// </summary>
public sealed class PendingEnrollmentTests
{
    [Fact]
    public async Task ManualApproval_DaemonPolls_ApprovedWithCaCli_CertificateInstalled()
    {
        await using GatewayTestCa ca = await GatewayTestCa.StartAsync(settingsEdit: t => t.Replace("\"approval\": \"challenge\"", "\"approval\": \"manual\"", StringComparison.Ordinal));
        await using var gw = new GatewayUnderTest();
        gw.PrepareCaAndKey(ca, "", retry: 30, retryInterval: 1);
        gw.StartDaemon();

        (int code, string output, string err) = gw.Cli("", "request", "security", "pki", "local-certificate", "enroll", "certificate-id", "gw1", "ca-profile", "ca1",
            "challenge-password", "unused-in-manual-mode", "subject", "CN=gw1.example.net,O=Certgate,C=CH", "domain-name", "gw1.example.net");
        Assert.True(code == 3, $"expected PENDING (3), got {code}: {err}{output}");
        Assert.Contains("pending approval at the CA", output);
        Assert.Contains("The gateway daemon polls it every 1 s", output);
        Assert.DoesNotContain("Enrollment pending at the CA; polling again", output);

        // The daemon polls: the attempts grow while nobody approves.
        bool polled = await GatewayUnderTest.WaitAsync(() => gw.Ok("show", "security", "pki", "certificate-request", "certificate-id", "gw1") is { } s
            && s.Contains("Enrollment: pending at ca-profile ca1", StringComparison.Ordinal) && !s.Contains("Polls: 0 of", StringComparison.Ordinal), TimeSpan.FromSeconds(15));
        string waiting = gw.Ok("show", "security", "pki", "certificate-request", "certificate-id", "gw1", "|", "display", "json");
        Assert.True(polled, $"the daemon did not poll; show:\n{waiting}\ndaemon log:\n{gw.Log}");
        Assert.Contains("\"transaction-id\"", waiting);
        Assert.Contains("\"next-poll\"", waiting);
        Assert.False(File.Exists(gw.LocalCertificatePath("gw1")));

        // The CA's operator lists and approves it with the CA's own commands.
        var caOut = new StringWriter();
        var caErr = new StringWriter();
        Assert.True(CertgateCli.Run(["ca", "pending", "--dir", ca.CaDir], new StringReader(""), caOut, caErr) == 0, caErr.ToString());
        IReadOnlyList<Certgate.Ca.Storage.RequestRecord> pending = await ca.Ca.ListPendingAsync();
        string id = Assert.Single(pending).TransactionId;
        Assert.Contains(id, caOut.ToString());
        Assert.True(CertgateCli.Run(["ca", "approve", "--dir", ca.CaDir, id], new StringReader(""), caOut, caErr) == 0, caErr.ToString());

        // Bounded wait for the daemon to pick it up.
        bool installed = await GatewayUnderTest.WaitAsync(() => gw.Cli("", "show", "security", "pki", "local-certificate", "certificate-id", "gw1").Code == 0, TimeSpan.FromSeconds(20));
        Assert.True(installed, $"the certificate was not installed within 20 s of the approval; daemon log:\n{gw.Log}");
        string show = gw.Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail");
        Assert.Contains("Public key verification status: Passed", show);
        Assert.Contains("gw1.example.net", show);
        Assert.Equal("", gw.Ok("show", "security", "pki", "certificate-request"));
        Assert.Contains("issued after", gw.Log);
        Assert.Empty(Directory.Exists(Path.Combine(gw.State, "agent", "pending")) ? Directory.GetFiles(Path.Combine(gw.State, "agent", "pending")) : []);
    }
}
