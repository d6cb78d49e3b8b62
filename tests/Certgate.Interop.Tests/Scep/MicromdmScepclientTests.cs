using System.Security.Cryptography.X509Certificates;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Scep;

/// <summary>micromdm <c>scepclient</c> (Debian package <c>scep</c>) against Certgate's SCEP server. Its PKCSReq is
/// SHA-1 with a single-DES envelope whatever GetCACaps says (peers.md); the reply comes back in 3DES.</summary>
public sealed class MicromdmScepclientTests
{
    [Fact]
    public async Task Scepclient_enrolls_with_a_one_time_challenge_and_the_certificate_verifies()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync();
        string challenge = await s.ChallengeAsync();
        ExternalTool.Result r = RunScepclient(s, challenge, "scepclient-1", "sc");
        Assert.True(r.ExitCode == 0, $"scepclient exited {r.ExitCode}:\n{r.Combined}\nserver log:\n{s.Log}");

        string certPath = s.Dir.File("sc.crt");
        X509Certificate2 cert = ScepCaServer.LoadCert(certPath);
        Assert.Contains("CN=scepclient-1", cert.Subject, StringComparison.Ordinal);
        Assert.Equal(s.Ca.Certificate.SubjectName.Name, cert.Issuer);
        Assert.Contains(": OK", s.OpensslVerify(certPath), StringComparison.Ordinal);
        Assert.NotNull(await s.Ca.GetCertificateAsync(cert.SerialNumber));
    }

    [Fact]
    public async Task Scepclient_with_a_reused_challenge_is_refused()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync();
        string challenge = await s.ChallengeAsync();
        ExternalTool.Result first = RunScepclient(s, challenge, "scepclient-a", "a");
        Assert.True(first.ExitCode == 0, $"first scepclient exited {first.ExitCode}:\n{first.Combined}\nserver log:\n{s.Log}");

        ExternalTool.Result second = RunScepclient(s, challenge, "scepclient-b", "b");
        Assert.True(second.ExitCode != 0, $"scepclient with a spent challenge exited 0:\n{second.Combined}\nserver log:\n{s.Log}");
        Assert.False(File.Exists(s.Dir.File("b.crt")) && new FileInfo(s.Dir.File("b.crt")).Length > 0, "a certificate was written for the spent challenge");
        Assert.Contains("Failure BadRequest", s.Log.ToString(), StringComparison.Ordinal);
    }

    /// <summary>Runs scepclient in its own directory: it keeps csr.pem/self.pem in the working directory and reuses
    /// them (same key, same transactionID) on the next run; csr.pem goes beside the key.</summary>
    private static ExternalTool.Result RunScepclient(ScepCaServer s, string challenge, string cn, string name)
    {
        string work = Directory.CreateDirectory(s.Dir.File("work-" + name)).FullName;
        return ExternalTool.Run("scepclient", ["-server-url", s.ScepUrl.ToString(), "-challenge", challenge,
            "-private-key", Path.Combine(work, name + ".key"), "-certificate", s.Dir.File(name + ".crt"),
            "-cn", cn, "-organization", "Test", "-country", "CH"], workingDirectory: work, timeout: TimeSpan.FromSeconds(60));
    }
}
