using System.Net;
using System.Security.Cryptography.X509Certificates;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Policy;

/// <summary>
/// strongSwan <c>pki --scep</c> against <c>certgate ca serve</c> with the name policy (issue #14 §1): the attack from
/// the issue, a profile's DNS pattern, a challenge bound to an address, and renewal with <c>--cert/--key</c> that asks
/// for a new name (refused) or the same names (issued).
/// </summary>
public sealed class StrongswanPkiNamePolicyTests
{
    private static Dictionary<string, string> Env(PolicyCa ca)
    {
        string conf = ca.Dir.File("pki.conf");
        File.WriteAllText(conf, "pki { load = random nonce openssl pem pkcs1 pkcs7 pkcs8 x509 pubkey curl }\n");
        return new Dictionary<string, string> { ["STRONGSWAN_CONF"] = conf };
    }

    private static string GenKey(PolicyCa ca, string name)
    {
        ExternalTool.Result key = ExternalTool.Run("pki", ["--gen", "--type", "rsa", "--size", "2048", "--outform", "pem"], ca.Dir.Path, environment: Env(ca));
        Assert.True(key.ExitCode == 0, $"pki --gen exited {key.ExitCode}:\n{key.StdErr}");
        File.WriteAllText(ca.Dir.File(name), key.StdOut);
        return ca.Dir.File(name);
    }

    /// <summary>pki --scep; <paramref name="extra"/> carries --dn, --san, --password or --cert/--key.</summary>
    private static ExternalTool.Result Scep(PolicyCa ca, string key, params string[] extra) =>
        ExternalTool.Run("pki", ["--scep", "--url", ca.Serve.ScepUrl.ToString(), "--in", key, .. extra,
            "--cacert-enc", ca.RaDer, "--cacert-sig", ca.RaDer, "--cacert", ca.CaDer, "--outform", "pem"], ca.Dir.Path, timeout: TimeSpan.FromSeconds(60), environment: Env(ca));

    private static X509Certificate2 Issued(PolicyCa ca, ExternalTool.Result r, string name)
    {
        Assert.True(r.ExitCode == 0, $"pki --scep exited {r.ExitCode}:\n{r.StdErr}\nserver log:\n{ca.Serve.Log}");
        File.WriteAllText(ca.Dir.File(name), r.StdOut);
        return X509Certificate2.CreateFromPem(r.StdOut);
    }

    private static void Refused(PolicyCa ca, ExternalTool.Result r, string reason)
    {
        Assert.True(r.ExitCode != 0, $"pki --scep was issued a certificate it must not get:\n{r.StdOut}");
        ca.WaitForLog("Failure BadRequest: " + reason);
    }

    [Fact]
    public async Task Attack_CaOwnDn_WithAnotherGatewaysFqdnAndAddress_UnboundChallenge_IsRefused()
    {
        await using PolicyCa ca = await PolicyCa.StartAsync();
        // gw2 enrolls legitimately, with a challenge the operator bound to its names.
        X509Certificate2 gw2 = Issued(ca, Scep(ca, GenKey(ca, "gw2.key"), "--dn", "C=CH, O=Certgate, CN=gw2.example.net", "--san", "gw2.example.net",
            "--san", "10.99.0.2", "--password", ca.Challenge("--subject", "C=CH,O=Certgate,CN=gw2.example.net", "--dns", "gw2.example.net", "--ip", "10.99.0.2")), "gw2.crt");
        Assert.Equal("10.99.0.2", gw2.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateIPAddresses().Single().ToString());

        // The attacker holds one valid, unbound challenge and asks for the CA's own DN with gw2's FQDN and address.
        string attacker = GenKey(ca, "attacker.key");
        string challenge = ca.Challenge();
        Refused(ca, Scep(ca, attacker, "--dn", "C=CH, O=Certgate, CN=Policy Test CA", "--san", "gw2.example.net", "--san", "10.99.0.2", "--password", challenge),
            "subject CN=Policy Test CA, O=Certgate, C=CH is the CA's own subject");
        Refused(ca, Scep(ca, attacker, "--dn", "C=CH, O=Certgate, CN=evil", "--san", "gw2.example.net", "--password", challenge),
            $"DNS name gw2.example.net is held by certificate serial 0x{gw2.SerialNumber} (CN=gw2.example.net, O=Certgate, C=CH)");
        Refused(ca, Scep(ca, attacker, "--dn", "C=CH, O=Certgate, CN=evil", "--san", "10.99.0.2", "--password", challenge),
            "IP address 10.99.0.2 needs a challenge bound to it (certgate ca challenge --ip 10.99.0.2)");
        // The same challenge still gets the attacker a certificate for its own name: nothing of gw2's.
        X509Certificate2 own = Issued(ca, Scep(ca, attacker, "--dn", "C=CH, O=Certgate, CN=gw3.example.net", "--san", "gw3.example.net", "--password", challenge), "gw3.crt");
        Assert.Equal(["gw3.example.net"], own.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
    }

    [Fact]
    public async Task Dns_name_outside_the_profiles_pattern_is_refused_and_inside_is_issued()
    {
        await using PolicyCa ca = await PolicyCa.StartAsync(text => text.Replace("\"dns\": []", "\"dns\": [\"*.vpn.example.net\"]", StringComparison.Ordinal));
        string key = GenKey(ca, "gw.key");
        Refused(ca, Scep(ca, key, "--dn", "C=CH, O=Certgate, CN=gw1", "--san", "evil.example.com", "--password", ca.Challenge()),
            "DNS name evil.example.com is outside the profile's allowed names *.vpn.example.net (profile 'default')");
        Refused(ca, Scep(ca, key, "--dn", "C=CH, O=Other, CN=gw1", "--san", "gw1.vpn.example.net", "--password", ca.Challenge()),
            "subject CN=gw1, O=Other, C=CH has O=Other; profile 'default' requires O=Certgate");
        X509Certificate2 ok = Issued(ca, Scep(ca, key, "--dn", "C=CH, O=Certgate, CN=gw1", "--san", "gw1.vpn.example.net", "--password", ca.Challenge()), "gw1.crt");
        Assert.Equal(["gw1.vpn.example.net"], ok.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
    }

    [Fact]
    public async Task Renewal_with_cert_and_key_asking_a_new_name_is_refused_and_with_the_same_names_is_issued()
    {
        await using PolicyCa ca = await PolicyCa.StartAsync();
        string oldKey = GenKey(ca, "old.key"), newKey = GenKey(ca, "new.key");
        const string dn = "C=CH, O=Certgate, CN=pki-renew.example.net";
        X509Certificate2 old = Issued(ca, Scep(ca, oldKey, "--dn", dn, "--san", "pki-renew.example.net", "--san", "10.99.0.7",
            "--password", ca.Challenge("--subject", "C=CH,O=Certgate,CN=pki-renew.example.net", "--dns", "pki-renew.example.net", "--ip", "10.99.0.7")), "old.crt");

        Refused(ca, Scep(ca, newKey, "--dn", dn, "--san", "pki-renew.example.net", "--san", "gw2.example.net", "--cert", ca.Dir.File("old.crt"), "--key", oldKey),
            $"renewal asks for DNS name gw2.example.net, which certificate serial 0x{old.SerialNumber} does not carry");
        Refused(ca, Scep(ca, newKey, "--dn", dn, "--san", "pki-renew.example.net", "--san", "10.99.0.8", "--cert", ca.Dir.File("old.crt"), "--key", oldKey),
            $"renewal asks for IP address 10.99.0.8, which certificate serial 0x{old.SerialNumber} does not carry");

        X509Certificate2 renewed = Issued(ca, Scep(ca, newKey, "--dn", dn, "--san", "pki-renew.example.net", "--san", "10.99.0.7",
            "--cert", ca.Dir.File("old.crt"), "--key", oldKey), "new.crt");
        Assert.NotEqual(old.SerialNumber, renewed.SerialNumber);
        Assert.Equal(old.Subject, renewed.Subject);
        Assert.Equal(IPAddress.Parse("10.99.0.7"), renewed.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateIPAddresses().Single());
        Assert.Contains("RenewalReq", ca.Serve.Log, StringComparison.Ordinal);

        // The old certificate has its successor now: a second renewal with it is refused.
        Refused(ca, Scep(ca, GenKey(ca, "third.key"), "--dn", dn, "--san", "pki-renew.example.net", "--cert", ca.Dir.File("old.crt"), "--key", oldKey),
            $"certificate serial 0x{old.SerialNumber} already has a successor (serial 0x{renewed.SerialNumber}); it cannot renew again");
    }
}
