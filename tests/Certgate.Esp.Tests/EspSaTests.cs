using System.Security.Cryptography;

namespace Certgate.Esp.Tests;

/// <summary>ESP encapsulation against published vectors, round trips for every cipher, and hostile packets.</summary>
public sealed class EspSaTests
{
    private static byte[] H(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    private static EspSa Gcm(uint spi, string key, string salt, bool esn) =>
        new(new EspSaParameters { Spi = spi, Cipher = EspCipher.AesGcm16, EncryptionKey = H(key), Salt = H(salt), ExtendedSequenceNumbers = esn });

    // draft-mcgrew-gcm-test-01 vectors as listed in protocols.md §6.5 (recomputed there).
    [Fact]
    public void Gcm_CaseB_32BitSequence_DecryptsThePublishedVector()
    {
        using EspSa sa = Gcm(0x0000a5f8, "feffe9928665731c6d6a8f9467308308", "cafebabe", esn: false);
        byte[] plain = H("4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d001000001000000000000037369700963796265726369747902646b00000100010001");
        byte[] packet = [.. H("0000a5f8 0000000a facedbaddecaf888"),
            .. H("deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1"),
            .. H("83b70d3aa8bc6ee4c309e9d85a41ad4a")];
        byte[] output = new byte[packet.Length];
        EspResult r = sa.Decapsulate(packet, output, out int inner, out byte nh);
        Assert.Equal(EspResult.Ok, r);
        Assert.Equal(plain[..^2], output[..(inner + plain[^2])]);
        Assert.Equal(plain[^1], nh);
        Assert.Equal(EspResult.Replayed, sa.Decapsulate(packet, output, out _, out _));
    }

    [Fact]
    public void Gcm_CaseA_ExtendedSequenceNumbers_DecryptsThePublishedVector()
    {
        using EspSa sa = Gcm(0x00004321, "4c80cdefbb5d10da906ac73c3613a634", "2e443b68", esn: true);
        byte[] plain = H("45000048699a000080114db7c0a80102c0a801010a9bf15638d301000001000000000000045f736970045f756470037369700963796265726369747902646b000021000101020201");
        byte[] packet = [.. H("00004321 00000000 4956ed7e3b244cfe"),
            .. H("fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce61bc17d768fd9732"),
            .. H("459018148f6cbe722fd04796562dfdb4")];
        byte[] output = new byte[packet.Length];
        // The vector's ESN is 0x87654321_00000000: give the full number (the receiver would infer it from its window).
        EspResult r = sa.Open(packet, 0x8765432100000000, output, out int inner, out byte nh);
        Assert.Equal(EspResult.Ok, r);
        Assert.Equal(plain[^1], nh);
        Assert.Equal(plain[..inner], output[..inner]);
        // With the wrong high half the ICV fails: Seqh is authenticated though never sent.
        using EspSa again = Gcm(0x00004321, "4c80cdefbb5d10da906ac73c3613a634", "2e443b68", esn: true);
        Assert.Equal(EspResult.AuthenticationFailed, again.Open(packet, 0x8765432200000000, output, out _, out _));
    }

    public static TheoryData<EspCipher, int, bool> Ciphers => new()
    {
        { EspCipher.AesGcm16, 128, false }, { EspCipher.AesGcm16, 256, true },
        { EspCipher.AesCbcHmacSha256, 128, false }, { EspCipher.AesCbcHmacSha256, 256, true },
        { EspCipher.AesCbcHmacSha384, 192, false }, { EspCipher.AesCbcHmacSha512, 256, false },
    };

    private static (EspSa Out, EspSa In) Pair(EspCipher cipher, int bits, bool esn)
    {
        int length = cipher == EspCipher.AesGcm16 ? bits / 8 + 4 : bits / 8 + EspSa.IntegrityKeyLength(cipher);
        byte[] keymat = RandomNumberGenerator.GetBytes(length);
        return (new EspSa(EspSaParameters.FromKeymat(0xC0FFEE01, cipher, bits, keymat, esn)),
                new EspSa(EspSaParameters.FromKeymat(0xC0FFEE01, cipher, bits, keymat, esn)));
    }

    [Theory]
    [MemberData(nameof(Ciphers))]
    public void RoundTrip_AllSizes_AndTamperingIsDetected(EspCipher cipher, int bits, bool esn)
    {
        (EspSa tx, EspSa rx) = Pair(cipher, bits, esn);
        using (tx)
        using (rx)
        {
            byte[] packet = new byte[tx.MaxPacketLength(1500)];
            byte[] output = new byte[packet.Length];
            for (int size = 0; size <= 1500; size += 37)
            {
                byte[] inner = RandomNumberGenerator.GetBytes(size);
                int n = tx.Encapsulate(inner, 4, packet);
                Assert.Equal(0, (n - 8 - (cipher == EspCipher.AesGcm16 ? 8 : 16) - (cipher == EspCipher.AesGcm16 ? 16 : EspSa.IntegrityKeyLength(cipher) / 2)) % (cipher == EspCipher.AesGcm16 ? 4 : 16));
                Assert.Equal(EspResult.Ok, rx.Decapsulate(packet.AsSpan(0, n), output, out int got, out byte nh));
                Assert.Equal(4, nh);
                Assert.Equal(inner, output[..got]);

                // Every single-bit flip anywhere in the next packet is refused and does not move the window.
                n = tx.Encapsulate(inner, 4, packet);
                ulong top = rx.Window.Highest;
                int bit = RandomNumberGenerator.GetInt32(n * 8);
                packet[bit / 8] ^= (byte)(1 << (bit % 8));
                EspResult r = rx.Decapsulate(packet.AsSpan(0, n), output, out _, out _);
                Assert.NotEqual(EspResult.Ok, r);
                Assert.Equal(top, rx.Window.Highest);
                packet[bit / 8] ^= (byte)(1 << (bit % 8));
                Assert.Equal(EspResult.Ok, rx.Decapsulate(packet.AsSpan(0, n), output, out _, out _));
            }
        }
    }

    [Fact]
    public void ReorderedWithinTheWindow_IsAccepted_ReplayAndTooOldAreNot()
    {
        (EspSa tx, EspSa rx) = Pair(EspCipher.AesGcm16, 128, false);
        using (tx)
        using (rx)
        {
            var packets = new List<byte[]>();
            for (int i = 0; i < 2000; i++)
            {
                byte[] p = new byte[tx.MaxPacketLength(20)];
                int n = tx.Encapsulate(new byte[20], 4, p);
                packets.Add(p[..n]);
            }
            byte[] output = new byte[200];
            Assert.Equal(EspResult.Ok, rx.Decapsulate(packets[1999], output, out _, out _));
            Assert.Equal(EspResult.Ok, rx.Decapsulate(packets[1500], output, out _, out _));
            Assert.Equal(EspResult.Replayed, rx.Decapsulate(packets[1500], output, out _, out _));
            Assert.Equal(EspResult.TooOld, rx.Decapsulate(packets[10], output, out _, out _));
        }
    }

    [Fact]
    public void DummyPackets_AreAuthenticatedAndReportedAsDummy()
    {
        (EspSa tx, EspSa rx) = Pair(EspCipher.AesCbcHmacSha256, 128, false);
        using (tx)
        using (rx)
        {
            byte[] p = new byte[tx.MaxPacketLength(0)];
            int n = tx.Encapsulate([], 59, p);
            Assert.Equal(EspResult.Dummy, rx.Decapsulate(p.AsSpan(0, n), new byte[n], out int inner, out _));
            Assert.Equal(0, inner);
        }
    }

    [Fact]
    public void HostilePackets_NeverThrow()
    {
        (EspSa tx, EspSa rx) = Pair(EspCipher.AesCbcHmacSha256, 256, true);
        using (tx)
        using (rx)
        {
            byte[] good = new byte[tx.MaxPacketLength(64)];
            int n = tx.Encapsulate(new byte[64], 4, good);
            var rng = new Random(7);
            byte[] output = new byte[4096];
            for (int i = 0; i < 20_000; i++)
            {
                byte[] m = good[..Math.Min(n, rng.Next(n + 1))];
                if (m.Length > 0)
                {
                    m[rng.Next(m.Length)] = (byte)rng.Next(256);
                }
                EspResult r = rx.Decapsulate(m, output, out _, out _);
                Assert.True(r != EspResult.Ok || m.AsSpan().SequenceEqual(good.AsSpan(0, n)), $"mutant {i} accepted");
            }
        }
    }

    [Fact]
    public void CbcIvs_AreFreshForEveryPacket_AcrossThePoolRefill()
    {
        (EspSa tx, EspSa rx) = Pair(EspCipher.AesCbcHmacSha256, 128, false);
        using (tx)
        using (rx)
        {
            var ivs = new HashSet<string>();
            byte[] packet = new byte[tx.MaxPacketLength(40)];
            for (int i = 0; i < 1000; i++)
            {
                tx.Encapsulate(new byte[40], 4, packet);
                Assert.True(ivs.Add(Convert.ToHexString(packet, 8, 16)), $"IV of packet {i} repeated");
                Assert.False(packet.AsSpan(8, 16).SequenceEqual(new byte[16]), "an all-zero IV");
            }
        }
    }

    [Fact]
    public void SequenceExhaustion_RequiresRekey()
    {
        (EspSa tx, EspSa rx) = Pair(EspCipher.AesGcm16, 128, false);
        using (tx)
        using (rx)
        {
            typeof(EspSa).GetField("_sequence", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.SetValue(tx, (ulong)uint.MaxValue - 1);
            byte[] p = new byte[tx.MaxPacketLength(1)];
            tx.Encapsulate([1], 4, p);
            Assert.Throws<EspSequenceExhaustedException>(() => tx.Encapsulate([1], 4, p));
        }
    }

    [Fact]
    public void Keymat_WrongLength_IsRefusedWithTheExpectedLength()
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() => EspSaParameters.FromKeymat(0x1000, EspCipher.AesGcm16, 128, new byte[16]));
        Assert.Contains("20 octets", e.Message);
        Assert.Throws<ArgumentException>(() => new EspSa(new EspSaParameters { Spi = 7, Cipher = EspCipher.AesGcm16, EncryptionKey = new byte[16], Salt = new byte[4] }));
    }
}
