using Certgate.Interop.Tests.Ca;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Policy;

/// <summary>
/// A CA made by <c>certgate ca init</c> (so with the default name policy it writes: the CA's O and C required, no IP
/// or e-mail address under an unbound challenge) and served by <c>certgate ca serve</c> as a child process on
/// loopback, for the name-policy interop tests (issue #14 §1). Challenges come from <c>certgate ca challenge</c>.
/// </summary>
internal sealed class PolicyCa : IAsyncDisposable
{
    public const string Subject = "CN=Policy Test CA,O=Certgate,C=CH";

    private PolicyCa(TempDirectory dir, CaServeProcess serve)
    {
        Dir = dir;
        Serve = serve;
    }

    public TempDirectory Dir { get; }

    public CaServeProcess Serve { get; }

    public string CaDir => Dir.File("ca");

    /// <summary>The CA certificate, PEM, in the temp directory.</summary>
    public string CaPem => Dir.File("ca.pem");

    /// <summary>The CA certificate, DER, in the temp directory.</summary>
    public string CaDer => Dir.File("ca.der");

    /// <summary>The RA certificate <c>ca init</c> made (requests are encrypted to it, CertReps signed by it), PEM.</summary>
    public string RaPem => Dir.File("ra.pem");

    /// <summary>The RA certificate, DER.</summary>
    public string RaDer => Dir.File("ra.der");

    /// <param name="editSettings">Edits the <c>ca.json</c> that <c>ca init</c> wrote before the server starts.</param>
    public static async Task<PolicyCa> StartAsync(Func<string, string>? editSettings = null)
    {
        var dir = new TempDirectory("certgate-policy-");
        try
        {
            string caDir = dir.File("ca");
            CaServeProcess.Cli("ca", "init", "--dir", caDir, "--subject", Subject);
            string settings = Path.Combine(caDir, "ca.json");
            if (editSettings is not null)
            {
                File.WriteAllText(settings, editSettings(File.ReadAllText(settings)));
            }
            var cert = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(Path.Combine(caDir, "ca.crt"));
            File.WriteAllText(dir.File("ca.pem"), cert.ExportCertificatePem() + "\n");
            File.WriteAllBytes(dir.File("ca.der"), cert.RawData);
            var ra = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(Path.Combine(caDir, "ra.crt"));
            File.WriteAllText(dir.File("ra.pem"), ra.ExportCertificatePem() + "\n");
            File.WriteAllBytes(dir.File("ra.der"), ra.RawData);
            return new PolicyCa(dir, await CaServeProcess.StartAsync(caDir));
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    /// <summary><c>certgate ca challenge --dir D [names]</c>: the one-time password it prints.</summary>
    public string Challenge(params string[] names) => CaServeProcess.Cli(["ca", "challenge", "--dir", CaDir, .. names]).Trim();

    /// <summary>Polls the server's log until <paramref name="text"/> appears (the log is written as requests end).</summary>
    public string WaitForLog(string text)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Serve.Log.Contains(text, StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
        }
        Assert.True(Serve.Log.Contains(text, StringComparison.Ordinal), $"the CA log does not say \"{text}\":\n{Serve.Log}");
        return Serve.Log;
    }

    public async ValueTask DisposeAsync()
    {
        await Serve.DisposeAsync();
        Dir.Dispose();
    }
}
