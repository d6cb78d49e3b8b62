using System.Security.Cryptography;
using Certgate.Cli;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Ca;

/// <summary>
/// The encrypted CA key that <c>certgate ca init --key-passphrase-file</c> writes is standard PKCS#8 PBES2: OpenSSL
/// opens it with the same passphrase file (<c>openssl pkcs8 -passin file:F</c>), sees AES-256-CBC with PBKDF2 over
/// HMAC-SHA256, finds the CA certificate's public key in it, and refuses a wrong passphrase.
/// </summary>
public sealed class CaKeyEncryptionOpensslTests : IDisposable
{
    private readonly TempDirectory _tmp = new("certgate-ca-keyenc-");

    public void Dispose() => _tmp.Dispose();

    [Theory]
    [InlineData("ecdsa:p256")]
    [InlineData("rsa:2048")]
    public void Openssl_reads_the_encrypted_CA_key_with_the_passphrase_file(string keySpec)
    {
        string pass = _tmp.File("pass");
        File.WriteAllText(pass, "interop passphrase\n");
        File.SetUnixFileMode(pass, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        string dir = _tmp.File("ca");
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CertgateCli.Run(["ca", "init", "--dir", dir, "--subject", "CN=Encrypted Interop CA", "--key", keySpec, "--key-passphrase-file", pass],
            new StringReader(""), o, e);
        Assert.True(code == 0, $"ca init exited {code}: {e}{o}");
        string key = Path.Combine(dir, "ca.key");
        Assert.StartsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----", File.ReadAllText(key));

        ExternalTool.Result asn1 = ExternalTool.Check("openssl", "asn1parse", "-in", key);
        Assert.Contains("PBES2", asn1.StdOut);
        Assert.Contains("PBKDF2", asn1.StdOut);
        Assert.Contains("hmacWithSHA256", asn1.StdOut);
        Assert.Contains("aes-256-cbc", asn1.StdOut);

        ExternalTool.Check("openssl", "pkcs8", "-in", key, "-passin", "file:" + pass, "-out", _tmp.File("plain.pem"));
        ExternalTool.Result keyPub = ExternalTool.Check("openssl", "pkey", "-in", _tmp.File("plain.pem"), "-pubout");
        ExternalTool.Result certPub = ExternalTool.Check("openssl", "x509", "-in", Path.Combine(dir, "ca.crt"), "-noout", "-pubkey");
        Assert.Equal(certPub.StdOut.Trim(), keyPub.StdOut.Trim());

        File.WriteAllText(_tmp.File("wrong"), "not it\n");
        ExternalTool.Result wrong = ExternalTool.Run("openssl", ["pkcs8", "-in", key, "-passin", "file:" + _tmp.File("wrong"), "-out", _tmp.File("x.pem")]);
        Assert.NotEqual(0, wrong.ExitCode);
    }
}
