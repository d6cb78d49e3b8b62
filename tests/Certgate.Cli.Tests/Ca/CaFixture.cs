using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Cli;

namespace Certgate.Cli.Tests.Ca;

/// <summary>A temporary directory holding a CA directory (<see cref="Dir"/>) and work files, deleted on dispose;
/// runs <c>certgate</c> through <see cref="CertgateCli.Run"/>.</summary>
public sealed class CaFixture : IDisposable
{
    public CaFixture()
    {
        Root = Directory.CreateTempSubdirectory("certgate-cli-ca-").FullName;
        Dir = Path.Combine(Root, "ca");
    }

    public string Root { get; }

    public string Dir { get; }

    public string File(string name) => Path.Combine(Root, name);

    public (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CertgateCli.Run(["--state", Path.Combine(Root, "state"), .. args], new StringReader(""), o, e);
        return (code, o.ToString().ReplaceLineEndings("\n"), e.ToString().ReplaceLineEndings("\n"));
    }

    /// <summary>Runs and asserts exit code 0; returns stdout.</summary>
    public string Ok(params string[] args)
    {
        (int code, string output, string err) = Run(args);
        Assert.True(code == 0, $"certgate {string.Join(' ', args)} exited {code}: {err}{output}");
        return output;
    }

    /// <summary>Runs, asserts the exit code, and returns stderr (which must be one line).</summary>
    public string Fails(int expectedCode, params string[] args)
    {
        (int code, string output, string err) = Run(args);
        Assert.True(code == expectedCode, $"certgate {string.Join(' ', args)} exited {code}, expected {expectedCode}: {err}{output}");
        Assert.StartsWith("error: ", err);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
        return err;
    }

    /// <summary><c>ca init</c> with a fast P-256 key.</summary>
    public string InitCa(string subject = "CN=Test CA,O=Example") => Ok("ca", "init", "--dir", Dir, "--subject", subject, "--key", "ecdsa:p256");

    /// <summary>Writes a PEM PKCS#10 request for a new P-256 key and returns its path.</summary>
    public string WriteCsr(string name, string subject = "CN=gw1.example.net,O=Example", string? dns = "gw1.example.net", AsymmetricAlgorithm? key = null)
    {
        using AsymmetricAlgorithm k = key ?? ECDsa.Create(ECCurve.NamedCurves.nistP256);
        CertificateRequest req = k switch
        {
            RSA rsa => new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            ECDsa ec => new CertificateRequest(subject, ec, HashAlgorithmName.SHA256),
            _ => throw new ArgumentException("key"),
        };
        if (dns is not null)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName(dns);
            req.CertificateExtensions.Add(san.Build());
        }
        string path = File(name);
        System.IO.File.WriteAllText(path, req.CreateSigningRequestPem());
        return path;
    }

    public X509Certificate2 CaCertificate => X509Certificate2.CreateFromPem(System.IO.File.ReadAllText(Path.Combine(Dir, "ca.crt")));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // best effort; the OS cleans temp
        }
    }
}
