namespace Certgate.Scenario.Tests;

/// <summary>
/// Peer binding at the gateway (issue #14 §2) against strongSwan charon as the peer, and as the impostor: the
/// gateway's tunnel to 10.66.0.1 has no remote-id, so only a certificate naming 10.66.0.1 as an iPAddress
/// subjectAltName, that may sign and carries no EKU foreign to IKE, is accepted. A certificate of the same CA for
/// another gateway, one without digitalSignature and one with only emailProtection are each refused with the reason
/// in the gateway's output and AUTHENTICATION_FAILED in charon's log; the legitimate peer's tunnel comes up.
/// </summary>
public sealed class PeerBindingTests(PeerBindingFixture f) : IClassFixture<PeerBindingFixture>
{
    private Charon Charon => f.Charon;

    /// <summary>charon's connection to the gateway with <paramref name="cert"/> (its subject as its ID).</summary>
    private void Configure(string cert) =>
        Charon.LoadConnection(PeerBindingFixture.CharonOuter, PeerBindingFixture.GateOuter, $$"""
                local {
                  auth = pubkey
                  certs = {{cert}}.pem
                  id = "{{f.Subjects[cert]}}"
                }
                remote {
                  auth = pubkey
                  id = "C=CH, O=Certgate Test, CN=cg-bind.test"
                }
            """, "10.77.1.0/24", "10.77.2.0/24");

    /// <summary>charon initiates with <paramref name="cert"/>: refused, the gateway says <paramref name="reason"/>, charon logs the AUTH failure.</summary>
    private void Refused(string cert, string reason)
    {
        Configure(cert);
        int logStart = Charon.Log().Length;
        (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
        try
        {
            f.Net.WaitFor(f.Gate, reason, 30);
        }
        catch (TimeoutException e)
        {
            Assert.Fail($"{e.Message}\n--- swanctl ---\n{output}\n{Charon.LogTail()}");
        }
        Assert.True(code != 0, $"swanctl --initiate with {cert} succeeded:\n{output}\n--- certgate ---\n{f.Net.OutputOf(f.Gate)}");
        string log = Charon.Log()[logStart..];
        Assert.True(log.Contains("received AUTHENTICATION_FAILED notify error", StringComparison.Ordinal),
            $"charon did not log the AUTHENTICATION_FAILED answer\n--- swanctl ---\n{output}\n{Charon.LogTail()}");
    }

    [Fact]
    public void SameCaCertificateForAnotherGateway_NoIpSanOfTheRemoteGateway_IsRefusedWithTheReason()
    {
        Refused("charon-other", "the initiator's gateway check failed: the certificate of CN=gw-c.test, O=Certgate Test, C=CH does not name 10.66.0.1 "
            + "(subjectAltName: IP:10.66.0.3); without remote-id the peer's certificate must carry the tunnel's remote-gateway as an iPAddress subjectAltName; "
            + "configure remote-id to accept it");
    }

    [Fact]
    public void CertificateWithoutDigitalSignature_IsRefusedWithTheReason()
    {
        Refused("charon-nosign", "the initiator's certificate is not accepted for IKE: certificate 'CN=gw-a-nosign.test, O=Certgate Test, C=CH' (serial 43): "
            + "its keyUsage (nonRepudiation) lacks digitalSignature");
    }

    [Fact]
    public void CertificateWithOnlyEmailProtectionEku_IsRefusedWithTheReason()
    {
        Refused("charon-mail", "the initiator's certificate is not accepted for IKE: certificate 'CN=gw-a-mail.test, O=Certgate Test, C=CH' (serial 44): "
            + "its extendedKeyUsage (emailProtection (1.3.6.1.5.5.7.3.4)) has none of ipsecIKE");
    }

    [Fact]
    public void CertificateSignedWithSha1_IsRefusedWithTheReason()
    {
        // Issue #14 §2: SHA-1 signatures on the peer's chain are refused unless security pki allow-sha1-signatures.
        Refused("charon-sha1", "the initiator's certificate (CN=gw-a-sha1.test, O=Certgate Test, C=CH) is not accepted: the certificate of "
            + "CN=gw-a-sha1.test, O=Certgate Test, C=CH is signed with SHA-1 (sha1WithRSAEncryption); set security pki allow-sha1-signatures to accept it");
    }

    [Fact]
    public void LegitimatePeer_CertificateNamingTheRemoteGateway_TunnelComesUp()
    {
        Configure("charon-legit");
        try
        {
            (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
            Assert.True(code == 0, $"swanctl --initiate exited {code}:\n{output}\n--- certgate ---\n{f.Net.OutputOf(f.Gate)}\n{Charon.LogTail()}");
            f.Net.WaitFor(f.Gate, "IKE SA up as responder with CN=gw-a.test, O=Certgate Test, C=CH", 30);
            string detail = f.Certgate("show", "services", "ipsec-vpn", "ike", "security-associations", "detail");
            Assert.Contains("Remote identity: CN=gw-a.test, O=Certgate Test, C=CH (ID_DER_ASN1_DN)", detail);
        }
        finally
        {
            Charon.TrySwanctl("--terminate", "--ike", "cg", "--force", "--timeout", "2");
        }
    }
}
