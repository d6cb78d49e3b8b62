using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Certgate.Esp.Tests;

/// <summary>
/// Extended sequence numbers across 2^32 (RFC 4303 §2.2.1, Appendix A2.2), which IKE now negotiates between Certgates:
/// only the low 32 bits travel, the receiver infers the high half from its window, and the high half is authenticated.
/// Without ESN the sender stops at 2^32 − 1 (the SA must be rekeyed, §3.3.3).
/// </summary>
public sealed class EsnRolloverTests
{
    private static (EspSa Tx, EspSa Rx) Pair(EspCipher cipher, int bits, bool esn)
    {
        int length = cipher == EspCipher.AesGcm16 ? bits / 8 + 4 : bits / 8 + EspSa.IntegrityKeyLength(cipher);
        byte[] keymat = RandomNumberGenerator.GetBytes(length);
        return (new EspSa(EspSaParameters.FromKeymat(0xC0FFEE02, cipher, bits, keymat, esn)),
                new EspSa(EspSaParameters.FromKeymat(0xC0FFEE02, cipher, bits, keymat, esn)));
    }

    private static byte[] Send(EspSa tx, byte marker)
    {
        byte[] packet = new byte[tx.MaxPacketLength(40)];
        byte[] inner = new byte[40];
        inner[0] = marker;
        return packet[..tx.Encapsulate(inner, 4, packet)];
    }

    [Theory]
    [InlineData(EspCipher.AesGcm16, 256)]
    [InlineData(EspCipher.AesCbcHmacSha256, 128)]
    public void AcrossTwoToThe32_PacketsKeepDecrypting_InAnyOrderWithinTheWindow(EspCipher cipher, int bits)
    {
        (EspSa tx, EspSa rx) = Pair(cipher, bits, esn: true);
        using (tx)
        using (rx)
        {
            const ulong Start = (1UL << 32) - 3;
            tx.SkipSequenceTo(Start);
            List<byte[]> packets = [.. Enumerable.Range(0, 8).Select(i => Send(tx, (byte)i))];
            // On the wire: the low 32 bits only, wrapping to 0 at 2^32.
            Assert.Equal([0xFFFFFFFD, 0xFFFFFFFE, 0xFFFFFFFF, 0u, 1u, 2u, 3u, 4u], packets.Select(p => BinaryPrimitives.ReadUInt32BigEndian(p.AsSpan(4))));
            Assert.Equal(Start + 7, tx.SentSequence);
            byte[] output = new byte[200];
            // The first packet at 2^32 − 3 starts the window; then 2^32 + 1 before 2^32 − 1, 2^32 and the rest.
            foreach (int i in new[] { 0, 4, 2, 3, 1, 7, 5, 6 })
            {
                Assert.Equal(EspResult.Ok, rx.Decapsulate(packets[i], output, out int length, out _));
                Assert.Equal((byte)i, output[0]);
                Assert.Equal(40, length);
            }
            Assert.Equal(Start + 7, rx.Window.Highest);
            Assert.Equal(EspResult.Replayed, rx.Decapsulate(packets[3], output, out _, out _));
        }
    }

    [Fact]
    public void TheHighHalf_IsAuthenticated_APacketFromTheWrongEpochFails()
    {
        (EspSa tx, EspSa rx) = Pair(EspCipher.AesGcm16, 128, esn: true);
        using (tx)
        using (rx)
        {
            // Sent with Seqh = 1; a receiver whose window is still in epoch 0 near its start infers Seqh = 0.
            tx.SkipSequenceTo((1UL << 32) + 5);
            byte[] packet = Send(tx, 1);
            byte[] output = new byte[200];
            Assert.Equal(EspResult.AuthenticationFailed, rx.Decapsulate(packet, output, out _, out _));
            Assert.Equal(0UL, rx.Window.Highest);
        }
    }

    [Fact]
    public void WithoutEsn_TheSenderStopsAtTwoToThe32MinusOne()
    {
        (EspSa tx, EspSa rx) = Pair(EspCipher.AesGcm16, 128, esn: false);
        using (tx)
        using (rx)
        {
            tx.SkipSequenceTo(uint.MaxValue);
            byte[] last = Send(tx, 1);
            Assert.Equal(EspResult.Ok, rx.Decapsulate(last, new byte[200], out _, out _));
            Assert.Throws<EspSequenceExhaustedException>(() => Send(tx, 2));
        }
    }
}
