using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Interop.Tests.Tools;
using Certgate.Pki.Encoding;
using Certgate.Pki.Keys;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Interop.Tests.Writing;

/// <summary>PKCS#12 both ways: openssl reads what <see cref="Pkcs12Archive.Export"/> writes, and we read openssl's.</summary>
public sealed class OpensslPkcs12InteropTests(KeyCache keys) : IClassFixture<KeyCache>, IDisposable
{
    private const string Password = "p12-Export pass";

    private readonly TempDirectory _dir = new("certgate-interop-p12-");

    [Theory]
    [InlineData(KeyAlgorithm.Rsa, 2048)]
    [InlineData(KeyAlgorithm.Ecdsa, 256)]
    [InlineData(KeyAlgorithm.Ecdsa, 384)]
    public void Openssl_reads_our_pkcs12_and_extracts_the_matching_key_and_certificates(KeyAlgorithm algorithm, int size)
    {
        KeyPair key = keys.Get(algorithm, size);
        (X509Certificate2 leaf, X509Certificate2 ca) = IssueLeaf(key);
        using (leaf)
        using (ca)
        {
            string p12 = Openssl.Write(_dir, "ours.p12", Pkcs12Archive.Export(key, leaf, [ca], Password, iterations: 2048));

            string info = Openssl.Check("pkcs12", "-in", p12, "-info", "-nokeys", "-passin", "pass:" + Password).Combined;
            Assert.Contains("MAC: sha256", info);
            Assert.Contains("PBES2, PBKDF2, AES-256-CBC", info);
            Assert.Contains("subject=CN = p12 leaf", info);
            Assert.Contains("subject=CN = p12 CA", info);

            string keyFile = _dir.File("extracted-key.pem");
            Openssl.Check("pkcs12", "-in", p12, "-nodes", "-nocerts", "-passin", "pass:" + Password, "-out", keyFile);
            Assert.Equal(key.ExportSubjectPublicKeyInfo(), Openssl.PublicKeyOf(_dir, keyFile));
            using (KeyPair back = KeyPair.Import(File.ReadAllBytes(keyFile)))
            {
                Assert.True(back.Matches(leaf));
            }

            string leafFile = _dir.File("extracted-leaf.pem");
            Openssl.Check("pkcs12", "-in", p12, "-nokeys", "-clcerts", "-passin", "pass:" + Password, "-out", leafFile);
            Assert.Equal(leaf.RawData, Openssl.PemBody(leafFile, "CERTIFICATE"));
            string caFile = _dir.File("extracted-ca.pem");
            Openssl.Check("pkcs12", "-in", p12, "-nokeys", "-cacerts", "-passin", "pass:" + Password, "-out", caFile);
            Assert.Equal(ca.RawData, Openssl.PemBody(caFile, "CERTIFICATE"));

            // openssl's own key/certificate match check: the extracted key signs, the leaf's key verifies.
            string leafPub = _dir.File("leaf-pub.pem");
            Openssl.Check("x509", "-in", leafFile, "-noout", "-pubkey", "-out", leafPub);
            Openssl.AssertOpensslVerifiesSignature(_dir, key, leafPub);

            ExternalTool.Result wrong = Openssl.Run("pkcs12", "-in", p12, "-info", "-nokeys", "-passin", "pass:wrong-one");
            Assert.NotEqual(0, wrong.ExitCode);
            Assert.Contains("mac verify", wrong.Combined, StringComparison.OrdinalIgnoreCase);
        }
    }

    public static TheoryData<string, string, string[]> OpensslArchives() => new()
    {
        { "rsa-default-aes", "rsa:2048", [] },
        { "ec-default-aes", "ec", [] },
        { "rsa-legacy", "rsa:2048", ["-legacy"] },
        { "ec-legacy", "ec", ["-legacy"] },
        { "rsa-3des-sha1-mac", "rsa:2048", ["-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"] },
        { "ec-unencrypted-certs", "ec", ["-certpbe", "NONE"] },
    };

    [Theory]
    [MemberData(nameof(OpensslArchives))]
    public void Import_reads_openssl_pkcs12(string name, string keySpec, string[] exportOptions)
    {
        (string keyFile, string certFile, string caFile) = OpensslLeaf(name, keySpec);
        string p12 = _dir.File(name + ".p12");
        Openssl.Check(["pkcs12", "-export", "-inkey", keyFile, "-in", certFile, "-certfile", caFile, "-name", name,
            "-passout", "pass:" + Password, "-out", p12, .. exportOptions]);
        if (exportOptions.Contains("-legacy"))
        {
            // Make sure the archive really is the legacy kind (RC2-40 certificates, 3DES key).
            string info = Openssl.Check("pkcs12", "-in", p12, "-info", "-nokeys", "-legacy", "-passin", "pass:" + Password).Combined;
            Assert.Contains("pbeWithSHA1And40BitRC2-CBC", info);
        }

        Pkcs12Contents contents = Pkcs12Archive.Import(File.ReadAllBytes(p12), Password);
        using KeyPair? key = contents.Key;
        using X509Certificate2? cert = contents.Certificate;
        Assert.NotNull(key);
        Assert.NotNull(cert);
        Assert.Equal(Openssl.PublicKeyOf(_dir, keyFile), key.ExportSubjectPublicKeyInfo());
        Assert.Equal(Openssl.PemBody(certFile, "CERTIFICATE"), cert.RawData);
        Assert.True(key.Matches(cert));
        X509Certificate2 chainCa = Assert.Single(contents.Chain);
        Assert.Equal(Openssl.PemBody(caFile, "CERTIFICATE"), chainCa.RawData);
        chainCa.Dispose();

        string pub = _dir.File(name + ".pub.pem");
        Openssl.Check("pkey", "-in", keyFile, "-pubout", "-out", pub);
        Openssl.AssertOpensslVerifiesSignature(_dir, key, pub);
    }

    [Theory]
    [InlineData("wrongpw-aes", new string[0])]
    [InlineData("wrongpw-legacy", new[] { "-legacy" })]
    public void Wrong_password_on_openssl_pkcs12_is_a_clear_password_error(string name, string[] exportOptions)
    {
        (string keyFile, string certFile, _) = OpensslLeaf(name, "ec");
        string p12 = _dir.File(name + ".p12");
        Openssl.Check(["pkcs12", "-export", "-inkey", keyFile, "-in", certFile, "-passout", "pass:" + Password, "-out", p12, .. exportOptions]);
        byte[] data = File.ReadAllBytes(p12);

        const string wrong = "Definitely-Wrong-77";
        var e = Assert.Throws<PkiPasswordException>(() => Pkcs12Archive.Import(data, wrong));
        Assert.Matches("pass(word|phrase)", e.Message);
        Assert.DoesNotContain(wrong, e.Message);
        Assert.DoesNotContain(Password, e.Message);
    }

    [Fact]
    public void Wrong_password_on_our_pkcs12_is_a_clear_password_error()
    {
        KeyPair key = keys.Get(KeyAlgorithm.Ecdsa, 256);
        (X509Certificate2 leaf, X509Certificate2 ca) = IssueLeaf(key);
        using (leaf)
        using (ca)
        {
            byte[] data = Pkcs12Archive.Export(key, leaf, [ca], Password, iterations: 2048);
            var e = Assert.Throws<PkiPasswordException>(() => Pkcs12Archive.Import(data, "Nope-Nope-1"));
            Assert.Matches("pass(word|phrase)", e.Message);
            Assert.DoesNotContain("Nope-Nope-1", e.Message);

            Pkcs12Contents ok = Pkcs12Archive.Import(data, Password);
            using KeyPair? k = ok.Key;
            using X509Certificate2? c = ok.Certificate;
            Assert.Equal(key.ExportSubjectPublicKeyInfo(), k!.ExportSubjectPublicKeyInfo());
            Assert.Equal(leaf.RawData, c!.RawData);
        }
    }

    /// <summary>A CA and a leaf for <paramref name="key"/>, made with .NET (the subject under test is the archive).</summary>
    private static (X509Certificate2 Leaf, X509Certificate2 Ca) IssueLeaf(KeyPair key)
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using TestCa ca = TestCa.CreateRoot("CN=p12 CA", new CertOptions { KeyType = TestKeyType.EcdsaP256, NotBefore = now.AddMinutes(-5), NotAfter = now.AddDays(30) }, now);
        X509Certificate2 leaf = ca.Issue("CN=p12 leaf", key.Rsa is { } rsa ? rsa : (AsymmetricAlgorithm)key.Ecdsa!, new CertOptions { NotBefore = now.AddMinutes(-5), NotAfter = now.AddDays(10), Serial = [1, 2, 3, 4] });
        return (leaf, X509CertificateLoader.LoadCertificate(ca.Certificate.RawData));
    }

    /// <summary>An openssl-made CA and leaf (key, certificate, CA certificate files).</summary>
    private (string Key, string Cert, string Ca) OpensslLeaf(string name, string keySpec)
    {
        string caKey = _dir.File(name + "-ca.key");
        string caCert = _dir.File(name + "-ca.pem");
        Openssl.Check("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", caKey,
            "-out", caCert, "-subj", "/CN=" + name + " CA", "-days", "30");
        string key = _dir.File(name + ".key");
        string csr = _dir.File(name + ".csr");
        string cert = _dir.File(name + ".pem");
        var newKey = keySpec == "ec"
            ? new[] { "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256" }
            : new[] { "-newkey", keySpec };
        Openssl.Check(["req", "-new", .. newKey, "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + name]);
        Openssl.Check("x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "10");
        return (key, cert, caCert);
    }

    public void Dispose() => _dir.Dispose();
}
