using Certgate.Interop.Tests.Tools;
using Certgate.Pki.Encoding;
using Certgate.Pki.Keys;

namespace Certgate.Interop.Tests.Writing;

/// <summary>
/// The attack: a key file whose PBKDF2 / PKCS#12 iteration count is enormous, handed to <c>key-pair import</c>, used
/// to keep it deriving for hours. openssl writes the files at 65,536 iterations; the count is then raised to
/// 8,388,607 in place (same DER length), as an attacker would, and the import must refuse at once, before any
/// derivation or MAC check, with one clear line.
/// </summary>
public sealed class OpensslKdfIterationAttackTests : IDisposable
{
    private const string Password = "kdf-Attack pass";

    private readonly TempDirectory _dir = new("certgate-interop-kdf-");

    public void Dispose() => _dir.Dispose();

    /// <summary>Every INTEGER 65,536 (02 03 01 00 00) becomes 8,388,607 (02 03 7F FF FF).</summary>
    private static byte[] Inflate(byte[] der)
    {
        byte[] copy = (byte[])der.Clone();
        int patched = 0;
        for (int i = 0; i + 5 <= copy.Length; i++)
        {
            if (copy.AsSpan(i, 5).SequenceEqual(new byte[] { 0x02, 0x03, 0x01, 0x00, 0x00 }))
            {
                copy[i + 2] = 0x7F;
                copy[i + 3] = 0xFF;
                copy[i + 4] = 0xFF;
                patched++;
            }
        }
        Assert.True(patched > 0, "openssl's file has no iteration count of 65536 to raise");
        return copy;
    }

    private string OpensslKey()
    {
        string key = _dir.File("key.pem");
        Openssl.Check("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key);
        return key;
    }

    [Fact]
    public void Openssl_encrypted_pkcs8_with_a_raised_count_is_refused_before_deriving()
    {
        string der = _dir.File("enc.der");
        Openssl.Check("pkcs8", "-topk8", "-in", OpensslKey(), "-v2", "aes-256-cbc", "-iter", "65536", "-outform", "DER",
            "-passout", "pass:" + Password, "-out", der);
        byte[] honest = File.ReadAllBytes(der);
        using (KeyPair ok = KeyPair.Import(honest, Password))
        {
            Assert.Equal(KeyAlgorithm.Ecdsa, ok.Algorithm);
        }

        var e = Assert.Throws<PkiFormatException>(() => KeyPair.Import(Inflate(honest), Password));
        Assert.Equal("the encrypted private key asks for 8,388,607 key-derivation iterations, above the limit of 2,000,000; re-export it with fewer iterations", e.Message);
    }

    [Theory]
    [InlineData("aes", new string[0])]
    [InlineData("legacy-3des", new[] { "-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1" })]
    public void Openssl_pkcs12_with_raised_counts_is_refused_before_the_mac_is_checked(string name, string[] exportOptions)
    {
        string key = OpensslKey();
        string cert = _dir.File(name + ".crt");
        Openssl.Check("req", "-x509", "-new", "-key", key, "-subj", "/CN=kdf " + name, "-days", "2", "-out", cert);
        string p12 = _dir.File(name + ".p12");
        Openssl.Check(["pkcs12", "-export", "-inkey", key, "-in", cert, "-iter", "65536", "-passout", "pass:" + Password, "-out", p12, .. exportOptions]);
        byte[] honest = File.ReadAllBytes(p12);
        Pkcs12Contents contents = Pkcs12Archive.Import(honest, Password);
        contents.Key!.Dispose();

        var e = Assert.Throws<PkiFormatException>(() => Pkcs12Archive.Import(Inflate(honest), Password));
        Assert.Contains("8,388,607 key-derivation iterations, above the limit of 2,000,000; re-export it with fewer iterations", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, e.Message, StringComparison.Ordinal);
    }
}
