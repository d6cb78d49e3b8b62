using System.Security.Cryptography;

namespace Certgate.Esp.Tests;

/// <summary>
/// Mutation fuzzing of the inbound ESP path (issue 6: "the ESP decoder survives at least 100,000 mutated packets").
/// Seeds are real packets from our own encapsulation of inner IPv4/IPv6 packets of several sizes; each mutant is a
/// truncation, an extension, bit flips, a rewritten header field or a splice of two packets. The decoder must never
/// throw, and must never deliver anything but an untouched original.
/// </summary>
public sealed class EspFuzzTests
{
    private const int MutantsPerCipher = 25_000;

    public static TheoryData<EspCipher, int, bool> Ciphers => new()
    {
        { EspCipher.AesGcm16, 128, false },
        { EspCipher.AesGcm16, 256, true },
        { EspCipher.AesCbcHmacSha256, 256, false },
        { EspCipher.AesCbcHmacSha512, 256, true },
    };

    [Theory]
    [MemberData(nameof(Ciphers))]
    public void MutatedPackets_NeverThrow_AndAreNeverDelivered(EspCipher cipher, int bits, bool esn)
    {
        int length = cipher == EspCipher.AesGcm16 ? bits / 8 + 4 : bits / 8 + EspSa.IntegrityKeyLength(cipher);
        byte[] keymat = RandomNumberGenerator.GetBytes(length);
        using var tx = new EspSa(EspSaParameters.FromKeymat(0x0BADCAFE, cipher, bits, keymat, esn));
        var rx = new EspSa(EspSaParameters.FromKeymat(0x0BADCAFE, cipher, bits, keymat, esn));
        var rng = new Random(4303 + (int)cipher * 10 + bits);

        List<byte[]> seeds = [];
        foreach (int size in new[] { 0, 1, 20, 40, 63, 64, 200, 1400 })
        {
            byte[] inner = new byte[size];
            rng.NextBytes(inner);
            if (size > 0)
            {
                inner[0] = (byte)(size % 2 == 0 ? 0x45 : 0x60);
            }
            byte[] packet = new byte[tx.MaxPacketLength(size)];
            int n = tx.Encapsulate(inner, size % 2 == 0 ? (byte)4 : (byte)41, packet);
            seeds.Add(packet[..n]);
        }

        byte[] output = new byte[70_000];
        var counts = new Dictionary<EspResult, int>();
        for (int i = 0; i < MutantsPerCipher; i++)
        {
            byte[] seed = seeds[rng.Next(seeds.Count)];
            byte[] mutant = Mutate(seed, seeds[rng.Next(seeds.Count)], rng);
            EspResult r = rx.Decapsulate(mutant, output, out int innerLength, out _);
            counts[r] = counts.GetValueOrDefault(r) + 1;
            if (r is EspResult.Ok or EspResult.Dummy)
            {
                Assert.True(seeds.Any(s => s.AsSpan().SequenceEqual(mutant)), $"mutant {i} ({Convert.ToHexString(mutant)}) was accepted");
                Assert.InRange(innerLength, 0, output.Length);
                // A fresh receiver, so that later mutants of this seed reach the ICV check instead of the
                // replay check (which rightly comes first).
                rx.Dispose();
                rx = new EspSa(EspSaParameters.FromKeymat(0x0BADCAFE, cipher, bits, keymat, esn));
            }
        }
        rx.Dispose();
        // Most mutants must be refused for a reason the counters can name; Malformed alone would mean the
        // fuzzer never reached the cryptographic checks.
        Assert.True(counts.GetValueOrDefault(EspResult.AuthenticationFailed) > MutantsPerCipher / 10,
            "too few mutants reached the ICV check: " + string.Join(", ", counts.Select(c => $"{c.Key} {c.Value}")));
    }

    private static byte[] Mutate(byte[] seed, byte[] other, Random rng)
    {
        switch (rng.Next(6))
        {
            case 0: // truncation
                return seed[..rng.Next(seed.Length + 1)];
            case 1: // extension with garbage
            {
                byte[] longer = new byte[seed.Length + 1 + rng.Next(64)];
                seed.CopyTo(longer, 0);
                rng.NextBytes(longer.AsSpan(seed.Length));
                return longer;
            }
            case 2: // a few bit flips anywhere
            {
                byte[] m = (byte[])seed.Clone();
                for (int k = 1 + rng.Next(4); k > 0; k--)
                {
                    int at = rng.Next(m.Length);
                    m[at] ^= (byte)(1 << rng.Next(8));
                }
                return m;
            }
            case 3: // header fields: SPI or sequence number rewritten
            {
                byte[] m = (byte[])seed.Clone();
                int at = rng.Next(8);
                m[at] = (byte)rng.Next(256);
                return m;
            }
            case 4: // the trailer region: pad length / next header / ICV
            {
                byte[] m = (byte[])seed.Clone();
                int at = m.Length - 1 - rng.Next(Math.Min(m.Length, 40));
                m[at] = (byte)rng.Next(256);
                return m;
            }
            default: // splice: header of one packet, body of another
            {
                int cut = rng.Next(Math.Min(seed.Length, other.Length) + 1);
                return [.. seed.AsSpan(0, cut), .. other.AsSpan(cut)];
            }
        }
    }
}
