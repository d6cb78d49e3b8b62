namespace Certgate.Scenario.Tests;

/// <summary>
/// SHA-1 in IKE AUTH (issue #14 §2) against strongSwan charon without RFC 7427: charon signs its IKE_AUTH with
/// method 1, RSA over SHA-1. The gateway refuses it with the reason and the remedy, and charon logs
/// AUTHENTICATION_FAILED; after the operator commits <c>security pki allow-sha1-signatures</c> the same peer's
/// tunnel comes up.
/// </summary>
public sealed class LegacySha1AuthTests(LegacySha1AuthFixture f) : IClassFixture<LegacySha1AuthFixture>
{
    private Charon Charon => f.Charon;

    [Fact]
    public void Method1Sha1Auth_IsRefusedWithTheReason_ThenAcceptedWithTheLegacySwitch()
    {
        Charon.LoadConnection(LegacySha1AuthFixture.CharonOuter, LegacySha1AuthFixture.GateOuter, """
                local {
                  auth = pubkey
                  certs = charon-legacy.pem
                  id = "C=CH, O=Certgate Test, CN=gw-legacy.test"
                }
                remote {
                  auth = pubkey
                  id = "C=CH, O=Certgate Test, CN=cg-legacy.test"
                }
            """, "10.77.1.0/24", "10.77.2.0/24");

        int logStart = Charon.Log().Length;
        (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
        try
        {
            f.Net.WaitFor(f.Gate, "the AUTH is an RSA signature with SHA-1 (method 1, PKCS#1 v1.5) by CN=gw-legacy.test, O=Certgate Test, C=CH; "
                + "set security pki allow-sha1-signatures to accept it", 30);
        }
        catch (TimeoutException e)
        {
            Assert.Fail($"{e.Message}\n--- swanctl ---\n{output}\n{Charon.LogTail()}");
        }
        Assert.True(code != 0, $"swanctl --initiate with a SHA-1 AUTH succeeded:\n{output}\n--- certgate ---\n{f.Net.OutputOf(f.Gate)}");
        string log = Charon.Log()[logStart..];
        Assert.True(log.Contains("received AUTHENTICATION_FAILED notify error", StringComparison.Ordinal),
            $"charon did not log the AUTHENTICATION_FAILED answer\n--- swanctl ---\n{output}\n{Charon.LogTail()}");

        string setFile = Path.Combine(f.Dir, "sha1.set");
        File.WriteAllText(setFile, "set security pki allow-sha1-signatures\ncommit\n");
        f.Certgate("configure", "-f", setFile);
        // The daemon reads a commit on its next poll; the plan's tunnels stay, their next negotiation uses the switch.
        f.Net.WaitFor(f.Gate, "tunnels: committed configuration read; the plan is unchanged", 30);
        try
        {
            (code, output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
            Assert.True(code == 0, $"swanctl --initiate after allow-sha1-signatures exited {code}:\n{output}\n--- certgate ---\n{f.Net.OutputOf(f.Gate)}\n{Charon.LogTail()}");
            f.Net.WaitFor(f.Gate, "IKE SA up as responder with CN=gw-legacy.test, O=Certgate Test, C=CH", 30);
        }
        finally
        {
            Charon.TrySwanctl("--terminate", "--ike", "cg", "--force", "--timeout", "2");
        }
    }
}
