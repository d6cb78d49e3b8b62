using System.Diagnostics;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Certgate.Pki.Revocation;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Certgate's IKEv2 against a real strongSwan charon (issue 5), both roles: tunnels come up with the algorithms,
/// groups and AUTH methods of issue 5, both sides report the same child SA, and a ping crosses the tunnel both
/// ways; certificates Certgate must refuse are refused with the reason on the Certgate side while charon sees
/// AUTHENTICATION_FAILED.
/// </summary>
[Collection(StrongswanIkeTestBase.Collection)]
public sealed class StrongswanIkeTests(StrongswanFixture fixture) : StrongswanIkeTestBase(fixture)
{
    private const string PskCharon = "charon.test";
    private const string PskGate = "certgate.test";

    /// <summary>charon with AUTH method 2 and <paramref name="secret"/> between charon.test and certgate.test.</summary>
    private void ConfigurePsk(string secret) =>
        Configure("aes256gcm16-prfsha256-ecp256", "aes256gcm16", true, $$"""
                local {
                  auth = psk
                  id = {{PskCharon}}
                }
                remote {
                  auth = psk
                  id = {{PskGate}}
                }
            """, $$"""
            secrets {
              ike-cg {
                id-1 = {{PskCharon}}
                id-2 = {{PskGate}}
                secret = "{{secret}}"
              }
            }
            """);


    [Theory]
    // Step 2/3: the original suite, both roles, RFC 7427 signatures.
    [InlineData(CharonInitiates, "aes256gcm16-prfsha256-ecp256", "aes256gcm16", "charon-rsa", "cg-rsa", true)]
    [InlineData(CertgateInitiates, "aes256gcm16-prfsha256-ecp256", "aes256gcm16", "charon-rsa", "cg-rsa", true)]
    // AES-CBC + HMAC-SHA-256-128 and MODP-2048; Certgate initiating guesses ECP-256 and must retry after INVALID_KE_PAYLOAD.
    [InlineData(CharonInitiates, "aes128-sha256-modp2048", "aes128-sha256", "charon-ec", "cg-rsa", true)]
    [InlineData(CertgateInitiates, "aes128-sha256-modp2048", "aes256-sha256", "charon-rsa", "cg-ec", true)]
    // No RFC 7427 on charon's side: classic AUTH methods RSA (1) and ECDSA (9/10/11). Certgate as responder prefers
    // ECP-256 and answers charon's ECP-384 KE with INVALID_KE_PAYLOAD.
    [InlineData(CharonInitiates, "aes256-sha256-ecp384-ecp256", "aes128gcm16", "charon-rsa", "cg-ec", false)]
    [InlineData(CertgateInitiates, "aes128gcm16-prfsha256-ecp384", "aes128gcm16", "charon-ec", "cg-rsa", false)]
    // ECDSA P-521 (AUTH method 11) from charon, P-256 (9) from Certgate, ECP-384 as the only group.
    [InlineData(CharonInitiates, "aes256gcm16-prfsha256-ecp384", "aes256-sha256", "charon-ec521", "cg-ec", false)]
    public void Tunnel_ComesUp_BothReportTheSameChildSa_AndPingsCross(string role, string ike, string esp, string charonCert, string gateCert, bool rfc7427)
    {
        Configure(ike, esp, charonCert, gateCert, rfc7427);
        int logStart = Charon.Log().Length;
        // Without RFC 7427 charon signs an RSA AUTH with SHA-1 (method 1), which the gateway accepts only when told
        // (issue #14 §2; LegacySha1AuthTests shows the refusal).
        string[] legacy = !rfc7427 && charonCert == "charon-rsa" ? ["allow-sha1-signatures"] : [];
        Process gate = StartGate(gateCert, role == CertgateInitiates, null, legacy);
        try
        {
            Charon.BringUp(f.Net, gate, role == CharonInitiates);
            string gateOut = f.Net.OutputOf(gate);
            NetNamespaces.Run("ip", "-n", f.NsGate, "addr", "add", StrongswanFixture.GateInner + "/32", "dev", "cg0");
            NetNamespaces.Run("ip", "-n", f.NsGate, "link", "set", "cg0", "up");
            NetNamespaces.Run("ip", "-n", f.NsGate, "route", "add", "10.77.1.0/24", "dev", "cg0", "src", StrongswanFixture.GateInner);

            string sas = Charon.Swanctl("--list-sas", "--ike", "cg");
            string log = Charon.Log()[logStart..];
            string why = $"\n--- swanctl --list-sas ---\n{sas}\n--- certgate ---\n{gateOut}\n{Charon.LogTail()}";
            Assert.True(sas.Contains("ESTABLISHED", StringComparison.Ordinal) && sas.Contains("INSTALLED", StringComparison.Ordinal), "charon has no established IKE SA with an installed child" + why);
            Match gateSpis = Regex.Match(gateOut, @"ESP SPI in 0x([0-9a-f]{8}) out 0x([0-9a-f]{8}), (\S+)");
            Match gateIke = Regex.Match(gateOut, @"IKE: (\S+?)(,|;)");
            Match swanSpis = Regex.Match(sas, @"\bin\s+([0-9a-f]{8}).*\n\s*out\s+([0-9a-f]{8})");
            Match swanEsp = Regex.Match(sas, @"ESP:(\S+)");
            Assert.True(gateSpis.Success && gateIke.Success && swanSpis.Success && swanEsp.Success, "an SPI or algorithm line is missing" + why);
            // Charon's inbound SPI is Certgate's outbound and the other way round; the algorithms are the same.
            Assert.Equal(swanSpis.Groups[1].Value, gateSpis.Groups[2].Value);
            Assert.Equal(swanSpis.Groups[2].Value, gateSpis.Groups[1].Value);
            Assert.Equal(swanEsp.Groups[1].Value, gateSpis.Groups[3].Value);
            Assert.Contains(gateIke.Groups[1].Value, sas, StringComparison.Ordinal);
            Assert.Contains("NAT-T (UDP 4500)", gateOut, StringComparison.Ordinal);

            // AUTH methods: RFC 7427 when charon announced it, else the classic method of each key.
            string expectedLocal = rfc7427 ? "14" : gateCert == "cg-rsa" ? "1" : "9";
            string expectedPeer = rfc7427 ? "14" : charonCert switch { "charon-rsa" => "1", "charon-ec" => "10", _ => "11" };
            Assert.Contains($"AUTH local {expectedLocal} ", gateOut, StringComparison.Ordinal);
            Assert.Contains($"peer {expectedPeer} ", gateOut, StringComparison.Ordinal);
            // Certgate sent a CERTREQ naming the CA.
            Assert.True(log.Contains("received cert request for", StringComparison.Ordinal), "charon saw no CERTREQ" + why);
            if (ike.Contains("modp2048", StringComparison.Ordinal) && role == CertgateInitiates || ike.StartsWith("aes256-sha256-ecp384", StringComparison.Ordinal))
            {
                Assert.True(log.Contains("N(INVAL_KE)", StringComparison.Ordinal), "no INVALID_KE_PAYLOAD round trip in charon's log" + why);
            }

            Assert.Contains("3 received", Charon.Ping(f.NsCharon, StrongswanFixture.CharonInner, StrongswanFixture.GateInner));
            Assert.Contains("3 received", Charon.Ping(f.NsGate, StrongswanFixture.GateInner, StrongswanFixture.CharonInner));
        }
        finally
        {
            StopGate(gate);
        }
        string final = f.Net.OutputOf(gate);
        Assert.Matches(@"tunnel stopped: sent [6-9]\d*, received [6-9]", final);
        Assert.Contains("AuthenticationFailed 0", final);
    }

    [Theory]
    [InlineData(CharonInitiates, "charon-revoked", null, "revoked")]
    [InlineData(CertgateInitiates, "charon-revoked", null, "revoked")]
    [InlineData(CharonInitiates, "charon-untrusted", null, "is neither a trusted CA nor a known intermediate")]
    [InlineData(CertgateInitiates, "charon-untrusted", null, "is neither a trusted CA nor a known intermediate")]
    [InlineData(CharonInitiates, "charon-expired", null, "expired")]
    [InlineData(CertgateInitiates, "charon-expired", null, "expired")]
    // RFC 5280 §6.1.3 (a)(2) from the other end: notBefore one day ahead. Certgate's ChainValidator says "is not valid before".
    [InlineData(CharonInitiates, "charon-not-yet-valid", null, "is not valid before")]
    [InlineData(CertgateInitiates, "charon-not-yet-valid", null, "is not valid before")]
    [InlineData(CharonInitiates, "charon-rsa", "CN=someone-else.test, O=Certgate Test, C=CH", "remote-id check failed")]
    [InlineData(CertgateInitiates, "charon-rsa", "CN=someone-else.test, O=Certgate Test, C=CH", "remote-id check failed")]
    public void RefusedPeer_CertgateSaysWhy_CharonSeesAuthenticationFailed(string role, string charonCert, string? remoteIdentity, string reason)
    {
        Configure("aes256gcm16-prfsha256-ecp256", "aes256gcm16", charonCert, "cg-rsa", rfc7427: true);
        int logStart = Charon.Log().Length;
        Process gate = StartGate("cg-rsa", initiate: role == CertgateInitiates, remoteIdentity);
        try
        {
            if (role == CharonInitiates)
            {
                (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
                Assert.True(code != 0, $"charon's initiate succeeded although Certgate must refuse {charonCert}:\n{output}");
            }
            Assert.True(gate.WaitForExit(20_000), $"certgate did not give up\n{f.Net.OutputOf(gate)}");
        }
        finally
        {
            StopGate(gate);
        }
        string gateOut = f.Net.OutputOf(gate);
        Assert.NotEqual(0, gate.ExitCode);
        Assert.Contains(reason, gateOut, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("tunnel up", gateOut, StringComparison.Ordinal);
        // charon as initiator: "parsed IKE_AUTH response 1 [ N(AUTH_FAILED) ]"; as responder it gets the INFORMATIONAL
        // Certgate sends (RFC 7296 §2.21.2): "parsed INFORMATIONAL request 2 [ N(AUTH_FAILED) ]"; either way no SA remains.
        string expected = role == CharonInitiates ? "parsed IKE_AUTH response 1 [ N(AUTH_FAILED) ]" : "parsed INFORMATIONAL request 2 [ N(AUTH_FAILED) ]";
        string log = "";
        string sas = "";
        for (int i = 0; i < 40; i++)
        {
            log = Charon.Log()[logStart..];
            sas = Charon.Swanctl("--list-sas", "--ike", "cg");
            if (log.Contains(expected, StringComparison.Ordinal) && !sas.Contains("ESTABLISHED", StringComparison.Ordinal))
            {
                break;
            }
            Thread.Sleep(50);
        }
        Assert.True(log.Contains(expected, StringComparison.Ordinal), $"charon did not log '{expected}'\n--- certgate ---\n{gateOut}\n{Charon.LogTail()}");
        Assert.DoesNotContain("ESTABLISHED", sas, StringComparison.Ordinal);
    }

    /// <summary>
    /// A bad AUTH signature from Certgate (<c>corrupt-auth</c> flips a bit after signing): charon's signature check
    /// fails and it refuses with AUTHENTICATION_FAILED, which Certgate reports as the peer's refusal. As responder
    /// charon answers IKE_AUTH with N(AUTH_FAILED); as initiator it tells Certgate in an INFORMATIONAL (RFC 7296 §2.21.2).
    /// </summary>
    [Theory]
    [InlineData(CharonInitiates)]
    [InlineData(CertgateInitiates)]
    public void CorruptedAuthFromCertgate_CharonsSignatureCheckFails_CertgateReportsAuthenticationFailed(string role)
    {
        Configure("aes256gcm16-prfsha256-ecp256", "aes256gcm16", "charon-rsa", "cg-rsa", rfc7427: true);
        int logStart = Charon.Log().Length;
        Process gate = StartGate("cg-rsa", initiate: role == CertgateInitiates, null, "corrupt-auth");
        try
        {
            if (role == CharonInitiates)
            {
                (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
                Assert.True(code != 0, $"charon's initiate succeeded although Certgate's AUTH was corrupted:\n{output}");
            }
            Assert.True(gate.WaitForExit(20_000), $"certgate did not give up\n{f.Net.OutputOf(gate)}\n{Charon.LogTail()}");
        }
        finally
        {
            StopGate(gate);
        }
        string gateOut = f.Net.OutputOf(gate);
        string expected = role == CharonInitiates ? "generating INFORMATIONAL request 2 [ N(AUTH_FAILED) ]" : "generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]";
        string log = "";
        string sas = "";
        for (int i = 0; i < 40; i++)
        {
            log = Charon.Log()[logStart..];
            sas = Charon.Swanctl("--list-sas", "--ike", "cg");
            if (log.Contains(expected, StringComparison.Ordinal) && !sas.Contains("ESTABLISHED", StringComparison.Ordinal))
            {
                break;
            }
            Thread.Sleep(50);
        }
        string why = $"\n--- certgate ---\n{gateOut}\n{Charon.LogTail()}";
        // strongSwan's pubkey_authenticator: the certificate's key does not verify the AUTH data.
        Assert.True(log.Contains("signature validation failed", StringComparison.Ordinal), "charon did not log a failed signature check" + why);
        Assert.True(log.Contains(expected, StringComparison.Ordinal), $"charon did not log '{expected}'" + why);
        Assert.DoesNotContain("ESTABLISHED", sas, StringComparison.Ordinal);
        Assert.Contains("AUTHENTICATION_FAILED", gateOut, StringComparison.Ordinal);
    }

    private string PskFile(string secret)
    {
        string path = Path.Combine(f.Dir, "psk-" + Guid.NewGuid().ToString("N")[..6]);
        File.WriteAllText(path, secret + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    [Theory]
    [InlineData(CharonInitiates)]
    [InlineData(CertgateInitiates)]
    public void PreSharedKey_TunnelComesUp_WithAuthMethod2_AndPingsCross(string role)
    {
        const string Secret = "interop-psk-0123456789abcdef";
        ConfigurePsk(Secret);
        Process gate = StartGate(["pre-shared-key-file", PskFile(Secret), "local-identity", PskGate], role == CertgateInitiates, PskCharon);
        try
        {
            Charon.BringUp(f.Net, gate, role == CharonInitiates);
            string gateOut = f.Net.OutputOf(gate);
            NetNamespaces.Run("ip", "-n", f.NsGate, "addr", "add", StrongswanFixture.GateInner + "/32", "dev", "cg0");
            NetNamespaces.Run("ip", "-n", f.NsGate, "link", "set", "cg0", "up");
            NetNamespaces.Run("ip", "-n", f.NsGate, "route", "add", "10.77.1.0/24", "dev", "cg0", "src", StrongswanFixture.GateInner);
            string sas = Charon.Swanctl("--list-sas", "--ike", "cg");
            Assert.Contains($"remote '{PskGate}'", sas, StringComparison.Ordinal);
            Assert.Contains($"IKE: SA established with {PskCharon} (pre-shared key)", gateOut, StringComparison.Ordinal);
            Assert.Contains("AUTH local 2 (SharedKey), peer 2 (SharedKey)", gateOut, StringComparison.Ordinal);
            Match gateSpis = Regex.Match(gateOut, @"ESP SPI in 0x([0-9a-f]{8}) out 0x([0-9a-f]{8})");
            Match swanSpis = Regex.Match(sas, @"\bin\s+([0-9a-f]{8}).*\n\s*out\s+([0-9a-f]{8})");
            Assert.True(gateSpis.Success && swanSpis.Success, $"SPIs missing\n{sas}\n{gateOut}");
            Assert.Equal(swanSpis.Groups[1].Value, gateSpis.Groups[2].Value);
            Assert.Equal(swanSpis.Groups[2].Value, gateSpis.Groups[1].Value);
            Assert.Contains("3 received", Charon.Ping(f.NsCharon, StrongswanFixture.CharonInner, StrongswanFixture.GateInner));
            Assert.Contains("3 received", Charon.Ping(f.NsGate, StrongswanFixture.GateInner, StrongswanFixture.CharonInner));
        }
        finally
        {
            StopGate(gate);
        }
    }

    [Fact]
    public void WrongPreSharedKey_CertgateSaysWhy_CharonSeesAuthenticationFailed()
    {
        ConfigurePsk("charon-has-this-key-0123456789");
        int logStart = Charon.Log().Length;
        Process gate = StartGate(["pre-shared-key-file", PskFile("certgate-has-another-0123456789"), "local-identity", PskGate], false, null);
        try
        {
            (int code, string output) = Charon.TrySwanctl("--initiate", "--child", "net", "--ike", "cg", "--timeout", "15");
            Assert.True(code != 0, $"charon's initiate succeeded with a different pre-shared key:\n{output}");
            Assert.True(gate.WaitForExit(20_000), $"certgate did not give up\n{f.Net.OutputOf(gate)}");
        }
        finally
        {
            StopGate(gate);
        }
        string gateOut = f.Net.OutputOf(gate);
        Assert.Contains("shared-key AUTH does not verify", gateOut, StringComparison.Ordinal);
        Assert.Contains("parsed IKE_AUTH response 1 [ N(AUTH_FAILED) ]", Charon.Log()[logStart..], StringComparison.Ordinal);
    }

    /// <summary>
    /// RFC 7383 both ways: charon's <c>fragment_size</c> and Certgate's at 576 octets, so each side's IKE_AUTH
    /// (~1.3 kB with an RSA-2048 certificate) must go as three or more Encrypted Fragments; the SA comes up and a ping
    /// crosses. charon's log and Certgate's counters show that fragments were sent and reassembled on both sides.
    /// </summary>
    [Theory]
    [InlineData(CharonInitiates)]
    [InlineData(CertgateInitiates)]
    public void Fragmentation_IkeAuthIsFragmentedBothWays_TunnelComesUp_AndPingsCross(string role)
    {
        Configure("aes256-sha256-ecp256", "aes256gcm16", "charon-rsa", "cg-rsa", rfc7427: true, charonSettings: "fragment_size = 576");
        int logStart = Charon.Log().Length;
        Process gate = StartGate("cg-rsa", initiate: role == CertgateInitiates, null, "fragment-size", "576");
        try
        {
            Charon.BringUp(f.Net, gate, role == CharonInitiates);
            string gateOut = f.Net.OutputOf(gate);
            string log = Charon.Log()[logStart..];
            string why = $"\n--- certgate ---\n{gateOut}\n{Charon.LogTail(120)}";
            // charon split its IKE_AUTH and reassembled ours.
            Match split = Regex.Match(log, @"splitting IKE message \((\d+) bytes\) into (\d+) fragments");
            Match reassembled = Regex.Match(log, @"received fragment #(\d+) of (\d+), reassembled fragmented IKE message \((\d+) bytes\)");
            Assert.True(split.Success && int.Parse(split.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) >= 3, "charon did not split its IKE_AUTH into 3+ fragments" + why);
            Assert.True(reassembled.Success && int.Parse(reassembled.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) >= 3, "charon did not reassemble Certgate's fragments" + why);
            // Certgate's side of the same: one message sent as fragments, one reassembled, nothing dropped.
            Match counters = Regex.Match(gateOut, @"IKE: fragments sent (\d+) \((\d+) messages\), received (\d+) \((\d+) reassembled, (\d+) dropped\)");
            Assert.True(counters.Success, "Certgate printed no fragment counters" + why);
            int Group(Match m, int g) => int.Parse(m.Groups[g].Value, System.Globalization.CultureInfo.InvariantCulture);
            // Sent: charon's Total Fragments, times the tries (a retransmission on a loaded machine resends them all).
            Assert.True(Group(counters, 1) % Group(reassembled, 2) == 0, "Certgate's fragment count is not what charon reassembled" + why);
            Assert.Equal(1, Group(counters, 2));
            Assert.True(Group(counters, 3) >= Group(split, 2), "Certgate received fewer fragments than charon split its message into" + why);
            Assert.Equal(1, Group(counters, 4));

            NetNamespaces.Run("ip", "-n", f.NsGate, "addr", "add", StrongswanFixture.GateInner + "/32", "dev", "cg0");
            NetNamespaces.Run("ip", "-n", f.NsGate, "link", "set", "cg0", "up");
            NetNamespaces.Run("ip", "-n", f.NsGate, "route", "add", "10.77.1.0/24", "dev", "cg0", "src", StrongswanFixture.GateInner);
            string sas = Charon.Swanctl("--list-sas", "--ike", "cg");
            Assert.True(sas.Contains("ESTABLISHED", StringComparison.Ordinal) && sas.Contains("INSTALLED", StringComparison.Ordinal), "charon has no established IKE SA with an installed child" + why);
            Assert.Contains("3 received", Charon.Ping(f.NsCharon, StrongswanFixture.CharonInner, StrongswanFixture.GateInner));
            Assert.Contains("3 received", Charon.Ping(f.NsGate, StrongswanFixture.GateInner, StrongswanFixture.CharonInner));
        }
        finally
        {
            StopGate(gate);
        }
    }

    /// <summary>
    /// RFC 7296 §2.6 with charon as the initiator: Certgate's responder at cookie-threshold 0 answers the first
    /// IKE_SA_INIT with N(COOKIE); charon repeats it with the cookie and the SA comes up. With charon's ECP-384 guess
    /// against Certgate's ECP-256 preference the cookie is followed by INVALID_KE_PAYLOAD, and charon's third request
    /// must still carry the cookie.
    /// </summary>
    [Theory]
    [InlineData("aes256gcm16-prfsha256-ecp256", false)]
    [InlineData("aes256-sha256-ecp384-ecp256", true)]
    public void Cookie_CharonInitiatesToAResponderAtThresholdZero_RepeatsWithTheCookie_AndTheTunnelComesUp(string ike, bool invalidKe)
    {
        Configure(ike, "aes256gcm16", "charon-rsa", "cg-rsa", rfc7427: true);
        int logStart = Charon.Log().Length;
        Process gate = StartGate("cg-rsa", initiate: false, null, "cookie-threshold", "0");
        try
        {
            Charon.BringUp(f.Net, gate, charonInitiates: true);
            string gateOut = f.Net.OutputOf(gate);
            string log = Charon.Log()[logStart..];
            string why = $"\n--- certgate ---\n{gateOut}\n{Charon.LogTail(120)}";
            Assert.True(log.Contains("parsed IKE_SA_INIT response 0 [ N(COOKIE) ]", StringComparison.Ordinal), "charon got no COOKIE" + why);
            // Every request after the cookie carries it first: "generating IKE_SA_INIT request 0 [ N(COOKIE) SA KE No ...".
            int repeats = Regex.Matches(log, @"generating IKE_SA_INIT request 0 \[ N\(COOKIE\) SA KE No").Count;
            Assert.True(repeats == (invalidKe ? 2 : 1), $"charon repeated IKE_SA_INIT with the cookie {repeats} times" + why);
            Assert.Equal(invalidKe, log.Contains("N(INVAL_KE)", StringComparison.Ordinal));
            Assert.Contains("cookies sent 1,", gateOut, StringComparison.Ordinal);

            NetNamespaces.Run("ip", "-n", f.NsGate, "addr", "add", StrongswanFixture.GateInner + "/32", "dev", "cg0");
            NetNamespaces.Run("ip", "-n", f.NsGate, "link", "set", "cg0", "up");
            NetNamespaces.Run("ip", "-n", f.NsGate, "route", "add", "10.77.1.0/24", "dev", "cg0", "src", StrongswanFixture.GateInner);
            string sas = Charon.Swanctl("--list-sas", "--ike", "cg");
            Assert.True(sas.Contains("ESTABLISHED", StringComparison.Ordinal) && sas.Contains("INSTALLED", StringComparison.Ordinal), "charon has no established IKE SA with an installed child" + why);
            Assert.Contains("3 received", Charon.Ping(f.NsCharon, StrongswanFixture.CharonInner, StrongswanFixture.GateInner));
        }
        finally
        {
            StopGate(gate);
        }
    }
}
