using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Encoding;
using Certgate.Pki.Keys;
using Certgate.Pki.Tests.Certificates;

namespace Certgate.Pki.Tests.Keys;

/// <summary>
/// A key file names its own key-derivation iteration count; a crafted one with 2^31 iterations used to keep
/// <c>key-pair import</c> busy for hours. The counts are checked before any derivation.
/// </summary>
public sealed class PbeIterationLimitTests
{
    /// <summary>Rewrites every 3-octet INTEGER 65,536 (02 03 01 00 00) of a DER file to 8,388,607 (02 03 7F FF FF):
    /// the same length, so the structure stays valid and only the counts grow past the limit.</summary>
    internal static byte[] InflateIterations(byte[] der)
    {
        byte[] copy = (byte[])der.Clone();
        int patched = 0;
        for (int i = 0; i + 5 <= copy.Length; i++)
        {
            if (copy[i] == 0x02 && copy[i + 1] == 0x03 && copy[i + 2] == 0x01 && copy[i + 3] == 0x00 && copy[i + 4] == 0x00)
            {
                copy[i + 2] = 0x7F;
                copy[i + 3] = 0xFF;
                copy[i + 4] = 0xFF;
                patched++;
            }
        }
        Assert.True(patched > 0, "no iteration count 65536 found to inflate");
        return copy;
    }

    [Fact]
    public void EncryptedPkcs8_with_a_huge_count_is_refused_before_deriving_even_with_the_right_passphrase()
    {
        using KeyPair key = KeyPair.Generate(KeyAlgorithm.Ecdsa, 256);
        byte[] crafted = InflateIterations(key.ExportEncryptedPkcs8("right", 65_536));

        var e = Assert.Throws<PkiFormatException>(() => KeyPair.Import(crafted, "right"));
        Assert.Equal("the encrypted private key asks for 8,388,607 key-derivation iterations, above the limit of 2,000,000; re-export it with fewer iterations", e.Message);
    }

    [Fact]
    public void Pkcs12_with_a_huge_mac_or_encryption_count_is_refused_before_the_mac_is_checked()
    {
        using RSA caKey = RSA.Create(2048);
        using X509Certificate2 ca = TestCertificates.CreateCa(caKey);
        using KeyPair key = KeyPair.Generate(KeyAlgorithm.Ecdsa, 256);
        using X509Certificate2 leaf = TestCertificates.CreateLeaf(ca, caKey, new PublicKey(key.Ecdsa!), new("CN=leaf"));
        byte[] crafted = InflateIterations(Pkcs12Archive.Export(key, leaf, [ca], "secret", 65_536));

        var e = Assert.Throws<PkiFormatException>(() => Pkcs12Archive.Import(crafted, "secret"));
        Assert.Contains("key-derivation iterations, above the limit of 2,000,000; re-export it with fewer iterations", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Counts_tools_write_still_import()
    {
        // OWASP's 600,000 for PBKDF2-SHA-256 is well inside the limit.
        using KeyPair key = KeyPair.Generate(KeyAlgorithm.Ecdsa, 256);
        using KeyPair back = KeyPair.Import(key.ExportEncryptedPkcs8("pw", 600_000), "pw");
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), back.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void A_damaged_algorithm_identifier_is_a_format_error_not_a_crash()
    {
        using KeyPair key = KeyPair.Generate(KeyAlgorithm.Ecdsa, 256);
        byte[] der = key.ExportEncryptedPkcs8("pw", 65_536);
        for (int cut = 1; cut < 60; cut++)
        {
            byte[] truncated = der[..^cut];
            Exception? e = Record.Exception(() => PbeIterationLimit.CheckEncryptedPrivateKeyInfo(truncated));
            Assert.True(e is null or PkiFormatException, $"cut {cut}: {e}");
        }
    }
}
