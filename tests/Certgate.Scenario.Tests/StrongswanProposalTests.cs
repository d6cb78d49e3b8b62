using System.Diagnostics;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Configured proposals against charon (issue 5): Certgate told to speak only a non-default suite (IKE AES-128-CBC,
/// HMAC-SHA-384 as PRF and integrity, ECP-384; ESP AES-256-CBC with HMAC-SHA-512-256; PFS ECP-256) agrees with a
/// charon configured the same way, keeps agreeing through rekeys by either side, and a ping crosses each time.
/// </summary>
[Collection(StrongswanIkeTestBase.Collection)]
public sealed class StrongswanProposalTests(StrongswanFixture fixture) : StrongswanIkeTestBase(fixture)
{
    [Fact]
    public void ConfiguredNonDefaultSuite_ComesUp_AndRekeysWithIt()
    {
        Configure("aes128-sha384-ecp384", "aes256-sha512-ecp256", "charon-rsa", "cg-rsa", true);
        Process gate = StartGate(["certificate-id", "cg-rsa"], false, null,
            "ike-proposal", "aes-128-cbc,sha-384,group20", "esp-proposal", "aes-256-cbc,hmac-sha-512-256", "pfs-group", "19", "control", ControlFile);
        try
        {
            Charon.BringUp(f.Net, gate, charonInitiates: true);
            string gateOut = f.Net.OutputOf(gate);
            Assert.Contains("AES_CBC-256/HMAC_SHA2_512_256", gateOut, StringComparison.Ordinal);
            Assert.Contains("AES_CBC-128/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/ECP_384", gateOut, StringComparison.Ordinal);
            string sas = Charon.Swanctl("--list-sas", "--ike", "cg");
            Assert.Contains("AES_CBC-128/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/ECP_384", sas, StringComparison.Ordinal);
            Assert.Contains("AES_CBC-256/HMAC_SHA2_512_256", sas, StringComparison.Ordinal);
            SetUpGateInside();
            (string In, string Out) child = AssertChildAgrees(gate, null);
            (string I, string R) ike = AssertIkeAgrees(gate, null);
            PingBothWays();

            // Certgate rekeys the CHILD_SA with PFS group 19, charon the IKE SA, Certgate the CHILD_SA on the new IKE SA.
            Control(gate, "rekey-child");
            child = AssertChildAgrees(gate, child);
            PingBothWays();
            Charon.Swanctl("--rekey", "--ike", "cg");
            AssertIkeAgrees(gate, ike);
            Control(gate, "rekey-child");
            AssertChildAgrees(gate, child);
            PingBothWays();
            Assert.Contains("installed (AES_CBC-256/HMAC_SHA2_512_256, PFS)", f.Net.OutputOf(gate), StringComparison.Ordinal);
            Assert.Contains("AES_CBC-128/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/ECP_384", Charon.Swanctl("--list-sas", "--ike", "cg"), StringComparison.Ordinal);
        }
        finally
        {
            StopGate(gate);
        }
    }
}
