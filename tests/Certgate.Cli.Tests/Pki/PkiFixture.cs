using System.Numerics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Cli;
using Certgate.Pki.Revocation;

namespace Certgate.Cli.Tests.Pki;

/// <summary>
/// A state directory and a work directory for one test, the CLI entry point, and a deterministic PKI made
/// from the fixture keys (RSA PKCS#1 v1.5 signatures are deterministic, dates and serials are fixed), so
/// show outputs can be compared with golden files.
/// </summary>
/// <remarks>
/// The one CA of the tests besides the shared TestCa (tests/Shared/TestPki, issue #13): the golden files hold the bytes
/// of these certificates as certgate shows them (extensions in this order, a leaf without subjectKeyIdentifier, the
/// key files' keys), which TestCa does not reproduce.
/// </remarks>
public sealed class PkiFixture : IDisposable
{
    public static readonly DateTimeOffset NotBefore = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    public static readonly DateTimeOffset NotAfter = new(2045, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public PkiFixture()
    {
        Root = Directory.CreateTempSubdirectory("certgate-cli-pki-").FullName;
        State = Path.Combine(Root, "state");
        Work = Path.Combine(Root, "work");
        Directory.CreateDirectory(Work);
    }

    public string Root { get; }

    public string State { get; }

    public string Work { get; }

    public static string FixtureDirectory([CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(here)!, "Fixtures");

    public static string GoldenDirectory([CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(here)!, "Golden");

    public static RSA LoadKey(string name)
    {
        var rsa = RSA.Create();
        rsa.ImportFromPem(File.ReadAllText(Path.Combine(FixtureDirectory(), name)));
        return rsa;
    }

    public (int Code, string Out, string Err) Run(params string[] args) => RunWithInput("", args);

    public (int Code, string Out, string Err) RunWithInput(string stdin, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CertgateCli.Run(["--state", State, .. args], new StringReader(stdin), o, e);
        return (code, o.ToString().ReplaceLineEndings("\n"), e.ToString().ReplaceLineEndings("\n"));
    }

    /// <summary>Runs and asserts success, returning stdout.</summary>
    public string Ok(params string[] args)
    {
        (int code, string output, string err) = Run(args);
        Assert.True(code == 0, $"certgate {string.Join(' ', args)} exited {code}: {err}{output}");
        return output;
    }

    public void Configure(params string[] lines)
    {
        (int code, string output, string err) = RunWithInput(string.Join('\n', lines) + "\ncommit\n", "configure");
        Assert.True(code == 0, $"configure failed: {err}{output}");
    }

    public string WriteFile(string name, string text)
    {
        string path = Path.Combine(Work, name);
        File.WriteAllText(path, text);
        return path;
    }

    public string WriteFile(string name, byte[] data)
    {
        string path = Path.Combine(Work, name);
        File.WriteAllBytes(path, data);
        return path;
    }

    /// <summary>The fixed root CA "CN=Golden Root CA" made from ca-key.pem.</summary>
    public static X509Certificate2 CaCertificate(RSA caKey)
    {
        var request = new CertificateRequest("CN=Golden Root CA, O=Certgate Test, C=US", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using X509Certificate2 withKey = request.Create(request.SubjectName, X509SignatureGenerator.CreateForRSA(caKey, RSASignaturePadding.Pkcs1),
            NotBefore, NotAfter, [0x01]);
        return X509CertificateLoader.LoadCertificate(withKey.RawData);
    }

    /// <summary>An end-entity certificate for <paramref name="subjectKey"/> signed by the fixed CA.</summary>
    public static X509Certificate2 LocalCertificate(X509Certificate2 ca, RSA caKey, RSA subjectKey, byte[] serial,
        DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null)
    {
        var request = new CertificateRequest("CN=gw1.example.net, OU=VPN, O=Certgate Test, C=US", subjectKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("gw1.example.net");
        san.AddIpAddress(System.Net.IPAddress.Parse("192.0.2.1"));
        san.AddEmailAddress("vpn@example.net");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        return request.Create(ca.SubjectName, X509SignatureGenerator.CreateForRSA(caKey, RSASignaturePadding.Pkcs1),
            notBefore ?? NotBefore.AddDays(1), notAfter ?? NotAfter.AddDays(-1), serial);
    }

    /// <summary>
    /// The fixed CA's answer to <paramref name="csr"/> (a CSR certgate wrote): its subject and key, no cA, valid from a
    /// minute ago for 30 days (the real clock: certgate checks the certificate it loads against it).
    /// </summary>
    public static X509Certificate2 Fulfil(X509Certificate2 ca, RSA caKey, CertificateRequest csr, byte[] serial)
    {
        var issue = new CertificateRequest(csr.SubjectName, csr.PublicKey, HashAlgorithmName.SHA256);
        issue.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        return issue.Create(ca.SubjectName, X509SignatureGenerator.CreateForRSA(caKey, RSASignaturePadding.Pkcs1),
            DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(30), serial);
    }

    /// <summary>A CRL of the fixed CA revoking <paramref name="serials"/>.</summary>
    public static byte[] Crl(X509Certificate2 ca, RSA caKey, int number, DateTimeOffset? nextUpdate = null, params int[] serials) =>
        Crl(ca, caKey, number, nextUpdate, includeAuthorityKeyIdentifier: true, serials);

    /// <summary>As <see cref="Crl(X509Certificate2, RSA, int, DateTimeOffset?, int[])"/>, with or without the
    /// authorityKeyIdentifier extension (<c>openssl ca -gencrl</c> writes none unless asked).</summary>
    public static byte[] Crl(X509Certificate2 ca, RSA caKey, int number, DateTimeOffset? nextUpdate, bool includeAuthorityKeyIdentifier, int[] serials)
    {
        var builder = new CrlBuilder(ca)
        {
            ThisUpdate = NotBefore.AddDays(2),
            NextUpdate = nextUpdate ?? NotAfter,
            CrlNumber = number,
            IncludeAuthorityKeyIdentifier = includeAuthorityKeyIdentifier,
        };
        foreach (int s in serials)
        {
            builder.AddEntry(new BigInteger(s), NotBefore.AddDays(2), CrlReason.keyCompromise);
        }
        return builder.Sign(caKey, HashAlgorithmName.SHA256);
    }

    /// <summary>Every file under the state directory with its bytes and mode, to prove a command changed nothing.</summary>
    public string Snapshot()
    {
        if (!Directory.Exists(State))
        {
            return "(no state directory)";
        }
        var lines = new List<string>();
        foreach (string f in Directory.EnumerateFileSystemEntries(State, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string rel = Path.GetRelativePath(State, f);
            lines.Add(File.Exists(f)
                ? $"{rel} {File.GetUnixFileMode(f)} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))}"
                : $"{rel}/");
        }
        return string.Join('\n', lines);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A test that failed may leave a file open; the temp directory is cleaned by the OS.
        }
    }
}
