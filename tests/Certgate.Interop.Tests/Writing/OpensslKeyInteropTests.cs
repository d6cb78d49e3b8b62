using Certgate.Interop.Tests.Tools;
using Certgate.Pki.Encoding;
using Certgate.Pki.Keys;
using Certgate.Pki.Store;

namespace Certgate.Interop.Tests.Writing;

/// <summary>Private keys both ways: openssl reads our PKCS#8; <see cref="KeyPair.Import"/> reads what openssl writes.</summary>
public sealed class OpensslKeyInteropTests(KeyCache keys) : IClassFixture<KeyCache>, IDisposable
{
    private const string Password = "k3y-Pass phrase";

    private readonly TempDirectory _dir = new("certgate-interop-keys-");

    public static TheoryData<KeyAlgorithm, int> AllKeys() => new()
    {
        { KeyAlgorithm.Rsa, 1024 },
        { KeyAlgorithm.Rsa, 2048 },
        { KeyAlgorithm.Rsa, 3072 },
        { KeyAlgorithm.Rsa, 4096 },
        { KeyAlgorithm.Ecdsa, 256 },
        { KeyAlgorithm.Ecdsa, 384 },
    };

    [Theory]
    [MemberData(nameof(AllKeys))]
    public void Openssl_reads_our_plain_pkcs8_and_derives_the_same_public_key(KeyAlgorithm algorithm, int size)
    {
        KeyPair key = keys.Get(algorithm, size);
        string file = Openssl.Write(_dir, "plain.pem", key.ExportPkcs8Pem());

        Assert.Equal(key.ExportSubjectPublicKeyInfo(), Openssl.PublicKeyOf(_dir, file));
        // openssl's own consistency check of the private key (RSA CRT values, EC point on curve and matching).
        ExternalTool.Result check = Openssl.Check("pkey", "-in", file, "-check", "-noout");
        Assert.Contains("valid", check.Combined, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [MemberData(nameof(AllKeys))]
    public void Openssl_reads_our_encrypted_pkcs8_with_the_password(KeyAlgorithm algorithm, int size)
    {
        KeyPair key = keys.Get(algorithm, size);
        string file = Openssl.Write(_dir, "enc.pem", key.ExportEncryptedPkcs8Pem(Password, iterations: 2048));
        Assert.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", File.ReadAllText(file));

        Assert.Equal(key.ExportSubjectPublicKeyInfo(), Openssl.PublicKeyOf(_dir, file, Password));

        // Wrong password: openssl must refuse (proves the key really is encrypted with ours).
        ExternalTool.Result wrong = Openssl.Run("pkey", "-in", file, "-passin", "pass:not-the-password", "-noout");
        Assert.NotEqual(0, wrong.ExitCode);
    }

    [Fact]
    public void Our_encrypted_pkcs8_uses_pbes2_aes256_and_hmac_sha256_as_documented()
    {
        KeyPair key = keys.Get(KeyAlgorithm.Ecdsa, 256);
        string file = Openssl.Write(_dir, "params.pem", key.ExportEncryptedPkcs8Pem(Password));
        string dump = Openssl.Check("asn1parse", "-in", file).StdOut;
        Assert.Contains(":PBES2", dump);
        Assert.Contains(":PBKDF2", dump);
        Assert.Contains(":aes-256-cbc", dump);
        Assert.Contains(":hmacWithSHA256", dump);
        // The iteration count (100 000 = 0x0186A0) as an INTEGER.
        Assert.Contains("INTEGER           :0186A0", dump);
    }

    [Fact]
    public void Openssl_reads_the_key_file_pki_store_writes_and_it_is_private()
    {
        KeyPair key = keys.Get(KeyAlgorithm.Rsa, 2048);
        var store = new PkiStore(_dir.File("state"));
        store.Apply(new PkiStoreChange().WriteKeyPair("gw-cert", key));
        string path = store.PathOf(PkiObjectType.KeyPair, "gw-cert");

        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), Openssl.PublicKeyOf(_dir, path));
    }

    public static TheoryData<string, string[]> OpensslKeys() => new()
    {
        { "rsa2048-pkcs8", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"] },
        { "rsa3072-pkcs8", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"] },
        { "p256-pkcs8", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"] },
        { "p384-pkcs8", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"] },
        { "p521-pkcs8", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"] },
    };

    [Theory]
    [MemberData(nameof(OpensslKeys))]
    public void Import_reads_openssl_keys_in_every_common_form(string name, string[] genpkey)
    {
        string original = _dir.File(name + ".pem");
        Openssl.Check([.. genpkey, "-out", original]);
        byte[] spki = Openssl.PublicKeyOf(_dir, original);
        string pub = _dir.File(name + ".pub.pem");
        Openssl.Check("pkey", "-in", original, "-pubout", "-out", pub);
        bool rsa = name.StartsWith("rsa", StringComparison.Ordinal);

        var forms = new List<(string Form, string File, string? Password)>
        {
            ("PKCS#8 PEM", original, null),
        };
        string der = _dir.File(name + ".p8.der");
        Openssl.Check("pkey", "-in", original, "-outform", "DER", "-out", der);
        forms.Add(("PKCS#8 DER", der, null));

        string encAes = _dir.File(name + ".enc-aes.pem");
        Openssl.Check("pkey", "-in", original, "-aes-256-cbc", "-passout", "pass:" + Password, "-out", encAes);
        forms.Add(("encrypted PKCS#8 (pkey -aes-256-cbc)", encAes, Password));

        string encAes128 = _dir.File(name + ".enc-aes128-sha1.pem");
        Openssl.Check("pkcs8", "-topk8", "-in", original, "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1", "-passout", "pass:" + Password, "-out", encAes128);
        forms.Add(("encrypted PKCS#8 (PBES2 AES-128, PRF hmacWithSHA1)", encAes128, Password));

        string enc3des = _dir.File(name + ".enc-3des.der");
        Openssl.Check("pkcs8", "-topk8", "-in", original, "-v1", "PBE-SHA1-3DES", "-passout", "pass:" + Password, "-outform", "DER", "-out", enc3des);
        forms.Add(("encrypted PKCS#8 DER (PBES1 SHA1-3DES)", enc3des, Password));

        string traditional = _dir.File(name + ".trad.pem");
        Openssl.Check(rsa ? "rsa" : "ec", "-in", original, "-out", traditional, rsa ? "-traditional" : "-no_public");
        Assert.Contains(rsa ? "BEGIN RSA PRIVATE KEY" : "BEGIN EC PRIVATE KEY", File.ReadAllText(traditional));
        forms.Add((rsa ? "PKCS#1 PEM" : "SEC1 PEM", traditional, null));

        string traditionalDer = _dir.File(name + ".trad.der");
        Openssl.Check(rsa ? "rsa" : "ec", "-in", original, "-outform", "DER", "-out", traditionalDer, rsa ? "-traditional" : "-no_public");
        forms.Add((rsa ? "PKCS#1 DER" : "SEC1 DER", traditionalDer, null));

        foreach ((string form, string file, string? password) in forms)
        {
            using KeyPair imported = KeyPair.Import(File.ReadAllBytes(file), password);
            Assert.True(spki.AsSpan().SequenceEqual(imported.ExportSubjectPublicKeyInfo()), $"{name} {form}: public key differs");
            Assert.Equal(rsa ? KeyAlgorithm.Rsa : KeyAlgorithm.Ecdsa, imported.Algorithm);
            // The private half works: openssl verifies what the imported key signs.
            Openssl.AssertOpensslVerifiesSignature(_dir, imported, pub);
        }
    }

    [Fact]
    public void Import_reads_ecparam_genkey_output_with_a_leading_parameters_block()
    {
        string file = _dir.File("ecparam.pem");
        Openssl.Check("ecparam", "-genkey", "-name", "prime256v1", "-out", file);
        Assert.Contains("BEGIN EC PARAMETERS", File.ReadAllText(file));
        using KeyPair imported = KeyPair.Import(File.ReadAllBytes(file));
        Assert.Equal(256, imported.KeySize);
        Assert.Equal(Openssl.PublicKeyOf(_dir, file), imported.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void Encrypted_openssl_key_with_wrong_or_missing_password_is_a_password_error()
    {
        string file = _dir.File("wrong.pem");
        Openssl.Check("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes-256-cbc", "-pass", "pass:" + Password, "-out", file);
        byte[] data = File.ReadAllBytes(file);

        var wrong = Assert.Throws<PkiPasswordException>(() => KeyPair.Import(data, "Wrong-Secret-99"));
        Assert.Matches("pass(word|phrase)", wrong.Message);
        Assert.DoesNotContain("Wrong-Secret-99", wrong.Message);
        Assert.DoesNotContain(Password, wrong.Message);

        var missing = Assert.Throws<PkiPasswordException>(() => KeyPair.Import(data));
        Assert.Matches("pass(word|phrase)", missing.Message);

        // And with the right one it is the key openssl made.
        using KeyPair right = KeyPair.Import(data, Password);
        Assert.Equal(Openssl.PublicKeyOf(_dir, file, Password), right.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void Legacy_encrypted_traditional_pem_is_refused_with_a_conversion_hint()
    {
        // Proc-Type/DEK-Info PEM encryption (OpenSSL's MD5-based EVP_BytesToKey) is deliberately unsupported.
        string file = _dir.File("legacy-enc.pem");
        Openssl.Check("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", _dir.File("legacy-src.pem"));
        Openssl.Check("rsa", "-in", _dir.File("legacy-src.pem"), "-traditional", "-aes256", "-passout", "pass:" + Password, "-out", file);
        Assert.Contains("Proc-Type: 4,ENCRYPTED", File.ReadAllText(file));

        var e = Assert.Throws<PkiFormatException>(() => KeyPair.Import(File.ReadAllBytes(file), Password));
        Assert.Contains("openssl pkcs8 -topk8", e.Message);
        Assert.DoesNotContain(Password, e.Message);
    }

    [Fact]
    public void Import_refuses_an_openssl_curve_we_do_not_support()
    {
        string file = _dir.File("secp256k1.pem");
        Openssl.Check("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1", "-out", file);
        var e = Assert.ThrowsAny<PkiFormatException>(() => KeyPair.Import(File.ReadAllBytes(file)));
        Assert.Contains("curve", e.Message);

        // RFC 5480 §2.1.1: specifiedCurve (explicit parameters) MUST NOT be used, even for the P-256 curve itself.
        string p256 = _dir.File("p256-named.pem");
        string explicitFile = _dir.File("p256-explicit.pem");
        Openssl.Check("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p256);
        Openssl.Check("ec", "-in", p256, "-param_enc", "explicit", "-out", explicitFile);
        var ex = Assert.ThrowsAny<PkiFormatException>(() => KeyPair.Import(File.ReadAllBytes(explicitFile)));
        Assert.Contains("curve", ex.Message);
    }

    public void Dispose() => _dir.Dispose();
}
