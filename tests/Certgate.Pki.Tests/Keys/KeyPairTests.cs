using System.Security.Cryptography;
using Certgate.Pki.Encoding;
using Certgate.Pki.Keys;
using Certgate.Pki.Tests.Certificates;

namespace Certgate.Pki.Tests.Keys;

public sealed class KeyPairTests
{
    [Theory]
    [InlineData(KeyAlgorithm.Rsa, 1024)]
    [InlineData(KeyAlgorithm.Rsa, 2048)]
    [InlineData(KeyAlgorithm.Ecdsa, 256)]
    [InlineData(KeyAlgorithm.Ecdsa, 384)]
    public void Generate_and_round_trip_every_format(KeyAlgorithm algorithm, int size)
    {
        using KeyPair key = KeyPair.Generate(algorithm, size);
        Assert.Equal(size, key.KeySize);
        byte[] spki = key.ExportSubjectPublicKeyInfo();

        using KeyPair a = KeyPair.Import(key.ExportPkcs8());
        using KeyPair b = KeyPair.Import(System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8Pem()));
        using KeyPair c = KeyPair.Import(key.ExportEncryptedPkcs8("pw1", 1000), "pw1");
        using KeyPair d = KeyPair.Import(System.Text.Encoding.ASCII.GetBytes(key.ExportEncryptedPkcs8Pem("pw1", 1000)), "pw1");
        string traditional = algorithm == KeyAlgorithm.Rsa ? key.Rsa!.ExportRSAPrivateKeyPem() : key.Ecdsa!.ExportECPrivateKeyPem();
        using KeyPair e = KeyPair.Import(System.Text.Encoding.ASCII.GetBytes(traditional));
        foreach (KeyPair k in new[] { a, b, c, d, e })
        {
            Assert.Equal(algorithm, k.Algorithm);
            Assert.Equal(size, k.KeySize);
            Assert.True(k.Matches(spki));
        }
    }

    [Fact]
    public void Unsupported_size_is_an_argument_error()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => KeyPair.Generate(KeyAlgorithm.Ecdsa, 2048));
        Assert.Equal("size", e.ParamName);
    }

    [Fact]
    public void Wrong_or_missing_password_is_reported_as_such()
    {
        using KeyPair key = KeyPair.Generate(KeyAlgorithm.Ecdsa, 256);
        byte[] enc = key.ExportEncryptedPkcs8("right", 1000);
        var wrong = Assert.Throws<PkiPasswordException>(() => KeyPair.Import(enc, "wrong"));
        Assert.Contains("wrong passphrase", wrong.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("right", wrong.Message, StringComparison.Ordinal);
        var missing = Assert.Throws<PkiPasswordException>(() => KeyPair.Import(enc));
        Assert.Contains("passphrase is needed", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Certificate_given_as_key_is_a_format_error()
    {
        using RSA rsa = RSA.Create(2048);
        using var ca = TestCertificates.CreateCa(rsa);
        Assert.Throws<PkiFormatException>(() => KeyPair.Import(ca.RawData));
        var e = Assert.Throws<PkiFormatException>(() => KeyPair.Import(System.Text.Encoding.ASCII.GetBytes(Pem.Write("CERTIFICATE", ca.RawData))));
        Assert.Contains("expected a private key", e.Message, StringComparison.Ordinal);
        Assert.Throws<PkiFormatException>(() => KeyPair.Import(RandomNumberGenerator.GetBytes(100)));
    }

    [Fact]
    public void Pkcs12_round_trip_with_chain_and_wrong_password()
    {
        using RSA caKey = RSA.Create(2048);
        using var ca = TestCertificates.CreateCa(caKey);
        using KeyPair key = KeyPair.Generate(KeyAlgorithm.Ecdsa, 256);
        using var leaf = TestCertificates.CreateLeaf(ca, caKey, new System.Security.Cryptography.X509Certificates.PublicKey(key.Ecdsa!), new("CN=leaf"));
        byte[] p12 = Pkcs12Archive.Export(key, leaf, [ca], "secret", 1000);

        Pkcs12Contents contents = Pkcs12Archive.Import(p12, "secret");
        using KeyPair imported = contents.Key!;
        Assert.True(imported.Matches(leaf));
        Assert.Equal(leaf.RawData, contents.Certificate!.RawData);
        Assert.Equal(ca.RawData, Assert.Single(contents.Chain).RawData);

        var e = Assert.Throws<PkiPasswordException>(() => Pkcs12Archive.Import(p12, "nope"));
        Assert.Contains("wrong passphrase", e.Message, StringComparison.Ordinal);
        Assert.Throws<PkiFormatException>(() => Pkcs12Archive.Import(ca.RawData, "secret"));
        Assert.Throws<ArgumentException>(() => Pkcs12Archive.Export(key, ca, null, "x", 1000));
    }
}
