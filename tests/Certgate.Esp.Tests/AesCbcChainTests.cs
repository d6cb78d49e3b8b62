using System.Security.Cryptography;

namespace Certgate.Esp.Tests;

/// <summary>
/// CBC on one long-lived transform per direction gives exactly RFC 3602 AES-CBC under each packet's own IV, whatever
/// came before on that transform.
/// </summary>
public sealed class AesCbcChainTests
{
    private static byte[] H(string hex) => Convert.FromHexString(hex);

    // RFC 3602 §4, Case #1 and Case #2 (AES-128-CBC).
    private static readonly (string Key, string Iv, string Plain, string Cipher)[] Rfc3602 =
    [
        ("06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41", "53696e676c6520626c6f636b206d7367", "e353779c1079aeb82708942dbe77181a"),
        ("c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"),
    ];

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Rfc3602Vectors_EncryptAndDecrypt_AlsoAfterEarlierPackets(int index)
    {
        (string key, string iv, string plain, string cipher) = Rfc3602[index];
        using var aes = Aes.Create();
        aes.Key = H(key);
        using var cbc = new AesCbcChain(aes);
        // Three times: the second and third run on a transform whose chaining value is the previous packet's.
        for (int round = 0; round < 3; round++)
        {
            byte[] data = H(plain);
            cbc.Encrypt(H(iv), data);
            Assert.Equal(cipher, Convert.ToHexString(data).ToLowerInvariant());
            byte[] back = new byte[data.Length];
            cbc.Decrypt(H(iv), data, back);
            Assert.Equal(plain, Convert.ToHexString(back).ToLowerInvariant());
        }
    }

    [Fact]
    public void ManyPackets_MatchTheOneShotCbcOfEachPacket()
    {
        using var aes = Aes.Create();
        aes.Key = RandomNumberGenerator.GetBytes(32);
        using var reference = Aes.Create();
        reference.Key = aes.Key;
        using var cbc = new AesCbcChain(aes);
        var random = new Random(6);
        for (int i = 0; i < 200; i++)
        {
            byte[] iv = RandomNumberGenerator.GetBytes(16);
            byte[] plain = RandomNumberGenerator.GetBytes(16 * random.Next(1, 200));
            byte[] data = plain.ToArray();
            cbc.Encrypt(iv, data);
            Assert.Equal(reference.EncryptCbc(plain, iv, PaddingMode.None), data);
            byte[] back = new byte[data.Length];
            cbc.Decrypt(iv, data, back);
            Assert.Equal(plain, back);
        }
    }

    [Fact]
    public void PartialBlocks_AreRefused()
    {
        using var aes = Aes.Create();
        aes.Key = new byte[16];
        using var cbc = new AesCbcChain(aes);
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => cbc.Encrypt(new byte[16], new byte[17])).ParamName);
        Assert.Equal("cipher", Assert.Throws<ArgumentException>(() => cbc.Decrypt(new byte[16], new byte[15], new byte[15])).ParamName);
    }
}
