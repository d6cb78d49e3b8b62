using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Certgate.Esp.Dataplane;
using Certgate.Ipsec;
using Certgate.Ipsec.Registry;

namespace Certgate.Bench.Esp;

/// <summary>
/// <c>esp</c>: the userspace ESP packet path without I/O, on one thread: policy lookup, sequence number, encrypt
/// (Protect) on one side and SPI lookup, replay check, ICV, decrypt, selector check (Unprotect) on the other, for
/// 64- and 1400-octet inner packets. Prints packets/s, Gbit/s of inner traffic and bytes allocated per packet:
/// the ceiling the TUN and UDP I/O can reach on one core.
/// </summary>
internal static class EspPathHarness
{
    public static int Run(string[] args)
    {
        int seconds = args.Length > 1 && args[0] == "--seconds" ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3;
        Console.WriteLine($"{"transform",-28} {"inner",6} {"packets/s",12} {"Gbit/s",8} {"alloc/pkt",10}");
        foreach ((string name, EncryptionAlgorithm enc, IntegrityAlgorithm integ, int bits, int keymat) in new[]
                 {
                     ("aes-128-gcm-16", EncryptionAlgorithm.ENCR_AES_GCM_16, IntegrityAlgorithm.NONE, 128, 20),
                     ("aes-256-gcm-16", EncryptionAlgorithm.ENCR_AES_GCM_16, IntegrityAlgorithm.NONE, 256, 36),
                     ("aes-256-cbc hmac-sha2-256", EncryptionAlgorithm.ENCR_AES_CBC, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128, 256, 64),
                 })
        {
            foreach (int size in new[] { 64, 1400 })
            {
                (double pps, double alloc) = Measure(enc, integ, bits, keymat, size, TimeSpan.FromSeconds(seconds));
                Console.WriteLine($"{name,-28} {size,6} {pps,12:N0} {pps * size * 8 / 1e9,8:F2} {alloc,10:F1}");
            }
        }
        return 0;
    }

    private static (double PacketsPerSecond, double AllocatedPerPacket) Measure(EncryptionAlgorithm enc, IntegrityAlgorithm integ, int bits, int keymatLength, int size, TimeSpan duration)
    {
        var a = new IPEndPoint(IPAddress.Parse("192.0.2.1"), 4500);
        var b = new IPEndPoint(IPAddress.Parse("192.0.2.2"), 4500);
        byte[] keymat = RandomNumberGenerator.GetBytes(keymatLength);
        TrafficSelector[] any = [TrafficSelector.AnyIPv4];
        using var tx = new EspPacketPath();
        using var rx = new EspPacketPath();
        SaSpec spec = new()
        {
            Spi = 0x1001, Direction = SaDirection.Outbound, Local = a, Remote = b, Encryption = enc, Integrity = integ, KeyBits = bits,
            Keymat = keymat, LocalSelectors = any, RemoteSelectors = any, ReqId = 1, ExtendedSequenceNumbers = true,
        };
        tx.AddSa(spec);
        tx.AddPolicy(new IpsecPolicy(1, any, any));
        rx.AddSa(spec with { Direction = SaDirection.Inbound, Local = b, Remote = a });
        byte[] inner = new byte[size];
        inner[0] = 0x45;
        inner[9] = 17;
        byte[] packet = new byte[size + EspPacketPath.MaxOverhead];
        byte[] plain = new byte[packet.Length];
        for (int i = 0; i < 10_000; i++)
        {
            int n = tx.Protect(inner, packet, out _, out _);
            rx.Unprotect(packet.AsSpan(0, n), plain, out _);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        long count = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            for (int i = 0; i < 1000; i++)
            {
                int n = tx.Protect(inner, packet, out _, out _);
                if (rx.Unprotect(packet.AsSpan(0, n), plain, out EspDrop drop) != size)
                {
                    throw new InvalidOperationException($"the packet path dropped a packet: {drop}");
                }
            }
            count += 1000;
        }
        double elapsed = clock.Elapsed.TotalSeconds;
        return (count / elapsed, (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)count);
    }
}
