using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Sqlite;
using Certgate.Ca.Storage;
using Certgate.Interop.Tests.Ca;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Scep;

/// <summary>
/// certmonger's SCEP helper (Debian package <c>certmonger</c> 0.79) enrolling against <c>certgate ca serve</c> on
/// loopback. Its requests are SHA-256 with an AES-256-CBC envelope; it checks the CertRep signature with OpenSSL's
/// PKCS7_verify, so the CA certificate needs digitalSignature and a FAILURE reply needs an (empty) eContent.
/// </summary>
public sealed class CertmongerTests : IDisposable
{
    private readonly TempDirectory _dir = new("certgate-certmonger-");

    public void Dispose() => _dir.Dispose();

    private string CaDir => _dir.File("ca");

    private string InitCa()
    {
        CaServeProcess.Cli("ca", "init", "--dir", CaDir, "--subject", "CN=Certmonger Test CA,O=Certgate,C=CH");
        string caPem = _dir.File("ca.pem");
        File.WriteAllText(caPem, X509CertificateLoader.LoadCertificateFromFile(Path.Combine(CaDir, "ca.crt")).ExportCertificatePem());
        // `ca init` gives the CA an RA (issue #14 §4): certmonger encrypts to it and checks CertReps against it.
        File.WriteAllText(_dir.File("ra.pem"), X509CertificateLoader.LoadCertificateFromFile(Path.Combine(CaDir, "ra.crt")).ExportCertificatePem());
        return caPem;
    }

    private string Challenge() => CaServeProcess.Cli("ca", "challenge", "--dir", CaDir).Trim();

    private static void AddCa(CertmongerDaemon cm, CaServeProcess serve, string caPem)
    {
        // -R: the CA certificate; -r: the RA certificate, which requests are encrypted to and CertReps signed by.
        ExternalTool.Result add = cm.Getcert("add-scep-ca", "-c", "Certgate", "-u", serve.ScepUrl.ToString(), "-R", caPem,
            "-r", Path.Combine(Path.GetDirectoryName(caPem)!, "ra.pem"));
        Assert.True(add.ExitCode == 0, $"getcert add-scep-ca exited {add.ExitCode}:\n{add.Combined}");
    }

    private ExternalTool.Result Request(CertmongerDaemon cm, string id, string cn, string challenge) =>
        cm.Getcert("request", "-c", "Certgate", "-k", _dir.File(id + ".key"), "-f", _dir.File(id + ".crt"),
            "-N", $"CN={cn},O=Certgate,C=CH", "-D", cn + ".test", "-L", challenge, "-I", id, "-w", "--wait-timeout", "30");

    [Fact]
    public async Task Certmonger_enrolls_with_a_one_time_challenge_and_the_certificate_verifies()
    {
        string caPem = InitCa();
        await using CaServeProcess serve = await CaServeProcess.StartAsync(CaDir);
        using CertmongerDaemon cm = CertmongerDaemon.Start(Directory.CreateDirectory(_dir.File("cm")).FullName);
        AddCa(cm, serve, caPem);

        ExternalTool.Result r = Request(cm, "cm1", "certmonger-1", Challenge());
        string list = cm.Getcert("list", "-i", "cm1").Combined;
        Assert.True(r.ExitCode == 0, $"getcert request exited {r.ExitCode}:\n{r.Combined}\n{list}\nserver log:\n{serve.Log}\ncertmonger log:\n{cm.Log}");
        Assert.Contains("status: MONITORING", list, StringComparison.Ordinal);

        string certPath = _dir.File("cm1.crt");
        X509Certificate2 cert = X509Certificate2.CreateFromPem(File.ReadAllText(certPath));
        // -N is an LDAP-order string: certmonger encodes C first.
        Assert.Equal("C=CH, O=Certgate, CN=certmonger-1", cert.Subject);
        Assert.Contains("certmonger-1.test", cert.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
        ExternalTool.Result verify = ExternalTool.Run("openssl", ["verify", "-CAfile", caPem, certPath]);
        Assert.True(verify.ExitCode == 0, $"openssl verify: {verify.Combined}");
        Assert.Contains($"{certPath}: OK", verify.StdOut, StringComparison.Ordinal);
        Assert.Equal("-rw-------", ExternalTool.Check("stat", "-c", "%A", _dir.File("cm1.key")).StdOut.Trim());
        // certmonger's request: AES-256-CBC and SHA-256 (peers.md), answered in kind.
        Assert.Contains("PkcsReq", serve.Log, StringComparison.Ordinal);
        Assert.Contains("cipher Aes256Cbc digest 2.16.840.1.101.3.4.2.1: Success", serve.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Certmonger_with_a_spent_challenge_is_rejected_and_the_refusal_is_audited()
    {
        string caPem = InitCa();
        await using CaServeProcess serve = await CaServeProcess.StartAsync(CaDir);
        using CertmongerDaemon cm = CertmongerDaemon.Start(Directory.CreateDirectory(_dir.File("cm")).FullName);
        AddCa(cm, serve, caPem);
        string challenge = Challenge();
        ExternalTool.Result first = Request(cm, "first", "certmonger-a", challenge);
        Assert.True(first.ExitCode == 0, $"first getcert request exited {first.ExitCode}:\n{first.Combined}\nserver log:\n{serve.Log}");

        ExternalTool.Result second = Request(cm, "second", "certmonger-b", challenge);
        string list = cm.Getcert("list", "-i", "second").Combined;
        Assert.True(second.ExitCode != 0, $"getcert request with a spent challenge exited 0:\n{list}");
        // CA_REJECTED (a FAILURE it could read), not CA_UNREACHABLE (a reply it could not verify, retried forever).
        Assert.Contains("status: CA_REJECTED", list, StringComparison.Ordinal);
        Assert.Contains("ca-error:", list, StringComparison.Ordinal);
        Assert.False(File.Exists(_dir.File("second.crt")), "a certificate was written for the spent challenge");
        Assert.Contains("Failure BadRequest: the challenge password was already used", serve.Log, StringComparison.Ordinal);

        await using SqliteCaStore store = await SqliteCaStore.OpenAsync(Path.Combine(CaDir, "ca.db"));
        IReadOnlyList<AuditRecord> audit = await store.ReadAuditAsync(0, 1000);
        AuditRecord refused = Assert.Single(audit, a => a.Entry.Event == "challenge-refused");
        Assert.Equal("refused", refused.Entry.Outcome);
        Assert.Equal("C=CH, O=Certgate, CN=certmonger-b", refused.Entry.Subject);
        Assert.Contains("already used", refused.Entry.Detail, StringComparison.Ordinal);
        Assert.Single(await store.ListCertificatesAsync(0, 10));
    }
}
