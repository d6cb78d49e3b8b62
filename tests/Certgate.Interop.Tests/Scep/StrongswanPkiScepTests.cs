using System.Security.Cryptography.X509Certificates;
using Certgate.Interop.Tests.Tools;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Interop.Tests.Scep;

/// <summary>strongSwan <c>pki --scepca</c> / <c>pki --scep</c> (5.9.8) against Certgate's SCEP server.</summary>
public sealed class StrongswanPkiScepTests
{
    [Fact]
    public async Task Pki_fetches_the_CA_and_enrolls_with_AES_and_SHA256()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync();
        string conf = s.Dir.File("pki.conf");
        File.WriteAllText(conf, "pki { load = random nonce openssl pem pkcs1 pkcs7 pkcs8 x509 pubkey curl }\n");
        var env = new Dictionary<string, string> { ["STRONGSWAN_CONF"] = conf };
        string caDer = s.Dir.File("ca.der");

        string raDer = s.Dir.File("ra.der");
        // A CA made by `ca init` answers with its RA and itself (issue #14 §4): pki tells them apart and writes both.
        ExternalTool.Result ca = ExternalTool.Run("pki", ["--scepca", "--url", s.ScepUrl.ToString(), "--caout", caDer, "--raout", raDer, "--force"],
            s.Dir.Path, environment: env);
        Assert.True(ca.ExitCode == 0, $"pki --scepca exited {ca.ExitCode}:\n{ca.Combined}");
        Assert.Equal(s.Ca.Certificate.RawData, File.ReadAllBytes(caDer));
        Assert.Equal(s.Ca.RaCertificate!.RawData, File.ReadAllBytes(raDer));

        ExternalTool.Result key = ExternalTool.Run("pki", ["--gen", "--type", "rsa", "--size", "2048", "--outform", "pem"], s.Dir.Path, environment: env);
        Assert.True(key.ExitCode == 0, $"pki --gen exited {key.ExitCode}:\n{key.StdErr}");
        File.WriteAllText(s.Dir.File("pki.key"), key.StdOut);

        string challenge = await s.ChallengeAsync();
        ExternalTool.Result enroll = ExternalTool.Run("pki", ["--scep", "--url", s.ScepUrl.ToString(), "--in", s.Dir.File("pki.key"),
            "--dn", "C=CH, O=Test, CN=pki-1", "--san", "pki-1.test", "--password", challenge,
            "--cacert-enc", raDer, "--cacert-sig", raDer, "--cacert", caDer, "--outform", "pem"], s.Dir.Path, timeout: TimeSpan.FromSeconds(60), environment: env);
        Assert.True(enroll.ExitCode == 0, $"pki --scep exited {enroll.ExitCode}:\n{enroll.StdErr}\nserver log:\n{s.Log}");
        string certPath = s.Dir.File("pki.crt");
        File.WriteAllText(certPath, enroll.StdOut);
        X509Certificate2 cert = ScepCaServer.LoadCert(certPath);
        Assert.Equal("CN=pki-1, O=Test, C=CH", cert.Subject);
        Assert.Contains("pki-1.test", cert.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
        Assert.Contains(": OK", s.OpensslVerify(certPath), StringComparison.Ordinal);
        // 5.9.8 picks AES and SHA-256 only because SHA-384 is advertised (its capability check bug).
        Assert.Contains("PkcsReq", s.Log.ToString(), StringComparison.Ordinal);
        Assert.Contains("cipher Aes", s.Log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pki_renews_with_its_current_certificate_without_a_challenge()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync();
        string conf = s.Dir.File("pki.conf");
        File.WriteAllText(conf, "pki { load = random nonce openssl pem pkcs1 pkcs7 pkcs8 x509 pubkey curl }\n");
        var env = new Dictionary<string, string> { ["STRONGSWAN_CONF"] = conf };
        string caDer = s.Dir.File("ca.der"), raDer = s.Dir.File("ra.der");
        File.WriteAllBytes(caDer, s.Ca.Certificate.RawData);
        File.WriteAllBytes(raDer, s.Ca.RaCertificate!.RawData);
        string oldKey = GenKey(s, env, "old.key"), newKey = GenKey(s, env, "new.key");

        ExternalTool.Result first = ExternalTool.Run("pki", ["--scep", "--url", s.ScepUrl.ToString(), "--in", oldKey,
            "--dn", "C=CH, O=Test, CN=pki-renew", "--password", await s.ChallengeAsync(),
            "--cacert-enc", raDer, "--cacert-sig", raDer, "--cacert", caDer, "--outform", "pem"], s.Dir.Path, timeout: TimeSpan.FromSeconds(60), environment: env);
        Assert.True(first.ExitCode == 0, $"pki --scep exited {first.ExitCode}:\n{first.StdErr}\nserver log:\n{s.Log}");
        File.WriteAllText(s.Dir.File("old.crt"), first.StdOut);

        ExternalTool.Result renew = ExternalTool.Run("pki", ["--scep", "--url", s.ScepUrl.ToString(), "--in", newKey,
            "--dn", "C=CH, O=Test, CN=pki-renew", "--cert", s.Dir.File("old.crt"), "--key", oldKey,
            "--cacert-enc", raDer, "--cacert-sig", raDer, "--cacert", caDer, "--outform", "pem"], s.Dir.Path, timeout: TimeSpan.FromSeconds(60), environment: env);
        Assert.True(renew.ExitCode == 0, $"pki --scep renewal exited {renew.ExitCode}:\n{renew.StdErr}\nserver log:\n{s.Log}");
        File.WriteAllText(s.Dir.File("new.crt"), renew.StdOut);
        X509Certificate2 oldCert = ScepCaServer.LoadCert(s.Dir.File("old.crt")), newCert = ScepCaServer.LoadCert(s.Dir.File("new.crt"));
        Assert.NotEqual(oldCert.SerialNumber, newCert.SerialNumber);
        Assert.Equal(oldCert.Subject, newCert.Subject);
        Assert.Contains(": OK", s.OpensslVerify(s.Dir.File("new.crt")), StringComparison.Ordinal);
        Assert.Contains("RenewalReq", s.Log.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("wrong.der")]
    [InlineData("ca.der")]
    public async Task Pki_encrypting_to_a_wrong_CA_certificate_gets_the_uniform_badMessageCheck(string encryptTo)
    {
        // The real-tool case of the uniform undecryptable-envelope answer (docs/security.md): pki encrypts its
        // request to another CA's certificate, or to this CA's own certificate (whose key, with an RA, never
        // decrypts: issue #14 §4); the server answers badMessageCheck with the one fixed text.
        await using ScepCaServer s = await ScepCaServer.StartAsync();
        string conf = s.Dir.File("pki.conf");
        File.WriteAllText(conf, "pki { load = random nonce openssl pem pkcs1 pkcs7 pkcs8 x509 pubkey curl }\n");
        var env = new Dictionary<string, string> { ["STRONGSWAN_CONF"] = conf };
        string caDer = s.Dir.File("ca.der"), raDer = s.Dir.File("ra.der");
        File.WriteAllBytes(caDer, s.Ca.Certificate.RawData);
        File.WriteAllBytes(raDer, s.Ca.RaCertificate!.RawData);
        using (TestCa wrong = TestCa.CreateRoot("CN=Wrong CA", now: DateTimeOffset.UtcNow))
        {
            File.WriteAllBytes(s.Dir.File("wrong.der"), wrong.Certificate.RawData);
        }
        string key = GenKey(s, env, "pki.key");
        ExternalTool.Result enroll = ExternalTool.Run("pki", ["--scep", "--url", s.ScepUrl.ToString(), "--in", key,
            "--dn", "C=CH, O=Test, CN=pki-wrong", "--password", await s.ChallengeAsync(),
            "--cacert-enc", s.Dir.File(encryptTo), "--cacert-sig", raDer, "--cacert", caDer, "--outform", "pem"], s.Dir.Path, timeout: TimeSpan.FromSeconds(60), environment: env);
        Assert.True(enroll.ExitCode != 0, $"pki --scep to a wrong encryption certificate succeeded:\n{enroll.Combined}");
        string log = s.Log.ToString();
        Assert.Contains("PkcsReq txid ", log, StringComparison.Ordinal);
        Assert.Contains(": Failure BadMessageCheck: pkcsPKIEnvelope cannot be decrypted (detail: ", log, StringComparison.Ordinal);
    }

    private static string GenKey(ScepCaServer s, Dictionary<string, string> env, string name)
    {
        ExternalTool.Result key = ExternalTool.Run("pki", ["--gen", "--type", "rsa", "--size", "2048", "--outform", "pem"], s.Dir.Path, environment: env);
        Assert.True(key.ExitCode == 0, $"pki --gen exited {key.ExitCode}:\n{key.StdErr}");
        File.WriteAllText(s.Dir.File(name), key.StdOut);
        return s.Dir.File(name);
    }
}
