using System.Net;
using System.Security.Cryptography;
using Certgate.Esp.Dataplane;
using Certgate.Ipsec;
using Certgate.Ipsec.Registry;
using Certgate.Net.Addressing;

namespace Certgate.Esp.Tests;

/// <summary>
/// Two packet paths wired back to back in memory (gateway A protects, gateway B unprotects), driven through the
/// <see cref="IIpsecDataPlane"/> contract as IKE drives it.
/// </summary>
public sealed class EspPacketPathTests : IDisposable
{
    private static readonly IPEndPoint AOuter = new(IPAddress.Parse("192.0.2.1"), 4500);
    private static readonly IPEndPoint BOuter = new(IPAddress.Parse("192.0.2.2"), 4500);
    private static readonly TrafficSelector[] ANet = [TrafficSelector.FromPrefix(IpPrefix.Parse("10.1.0.0/24"))];
    private static readonly TrafficSelector[] BNet = [TrafficSelector.FromPrefix(IpPrefix.Parse("10.2.0.0/24"))];
    private readonly EspPacketPath _a = new();
    private readonly EspPacketPath _b = new();

    public void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
    }

    private static byte[] Ping(string source, string destination, int size = 84)
    {
        byte[] p = new byte[size];
        p[0] = 0x45;
        p[2] = (byte)(size >> 8);
        p[3] = (byte)size;
        p[9] = 1;
        IPAddress.Parse(source).GetAddressBytes().CopyTo(p, 12);
        IPAddress.Parse(destination).GetAddressBytes().CopyTo(p, 16);
        return p;
    }

    /// <summary>Installs one CHILD_SA (A→B with <paramref name="spiAb"/>, B→A with <paramref name="spiBa"/>) on both sides.</summary>
    private void Child(uint spiAb, uint spiBa, SaLifetime? lifetime = null, TrafficSelector[]? bSelectorsSeenByA = null)
    {
        byte[] ab = RandomNumberGenerator.GetBytes(36), ba = RandomNumberGenerator.GetBytes(36);
        SaSpec Spec(uint spi, SaDirection d, IPEndPoint local, IPEndPoint remote, byte[] keys, TrafficSelector[] l, TrafficSelector[] r) => new()
        {
            Spi = spi, Direction = d, Local = local, Remote = remote, Encryption = EncryptionAlgorithm.ENCR_AES_GCM_16, KeyBits = 256,
            Keymat = keys, LocalSelectors = l, RemoteSelectors = r, ReqId = 1, Lifetime = lifetime ?? SaLifetime.None,
        };
        TrafficSelector[] bForA = bSelectorsSeenByA ?? BNet;
        _a.AddSa(Spec(spiBa, SaDirection.Inbound, AOuter, BOuter, ba, ANet, bForA));
        _a.AddSa(Spec(spiAb, SaDirection.Outbound, AOuter, BOuter, ab, ANet, bForA));
        _b.AddSa(Spec(spiAb, SaDirection.Inbound, BOuter, AOuter, ab, BNet, ANet));
        _b.AddSa(Spec(spiBa, SaDirection.Outbound, BOuter, AOuter, ba, BNet, ANet));
        _a.AddPolicy(new IpsecPolicy(1, ANet, bForA));
        _b.AddPolicy(new IpsecPolicy(1, BNet, ANet));
    }

    private (int Length, EspDrop Drop) AToB(byte[] inner)
    {
        byte[] packet = new byte[inner.Length + EspPacketPath.MaxOverhead];
        int n = _a.Protect(inner, packet, out IPEndPoint? remote, out EspDrop outDrop);
        if (n == 0)
        {
            return (0, outDrop);
        }
        Assert.Equal(BOuter, remote);
        byte[] plain = new byte[n];
        int m = _b.Unprotect(packet.AsSpan(0, n), plain, out EspDrop inDrop);
        if (m > 0)
        {
            Assert.Equal(inner, plain[..m]);
        }
        return (m, inDrop);
    }

    [Fact]
    public void Packets_CrossInsideThePolicy_AndAreCounted()
    {
        Child(0x1001, 0x2002);
        Assert.Equal(84, AToB(Ping("10.1.0.5", "10.2.0.9")).Length);
        Assert.Equal(1, _a.Counters.Sent);
        Assert.Equal(1, _b.Counters.Received);
        Assert.Equal(84ul, _a.QuerySa(0x1001, SaDirection.Outbound)!.Bytes);
        Assert.Equal(1ul, _b.QuerySa(0x1001, SaDirection.Inbound)!.Packets);
    }

    [Fact]
    public void TrafficOutsideEveryPolicy_IsNotProtected()
    {
        Child(0x1001, 0x2002);
        Assert.Equal((0, EspDrop.NoPolicy), AToB(Ping("10.1.0.5", "10.3.0.9")));
        Assert.Equal((0, EspDrop.NotIp), AToB([0x00, 0x01]));
        Assert.Equal(1, _a.Counters.Dropped(EspDrop.NoPolicy));
    }

    [Fact]
    public void APolicyWithoutSa_DropsAndAsksIkeForOne()
    {
        using var acquired = new ManualResetEventSlim();
        _a.Acquire += a => { if (a.ReqId == 5) { acquired.Set(); } };
        _a.AddPolicy(new IpsecPolicy(5, ANet, BNet));
        Assert.Equal((0, EspDrop.NoSa), AToB(Ping("10.1.0.5", "10.2.0.9")));
        Assert.True(acquired.Wait(TimeSpan.FromSeconds(5)), "no acquire event");
    }

    [Fact]
    public void DecryptedPacketsOutsideTheSelectors_AreDropped()
    {
        // A believes B's side is 10.0.0.0/8 and sends 10.3.0.9 through the tunnel; B's SA only covers 10.2.0.0/24
        // towards itself, so RFC 4301 §5.2's check refuses it after decryption.
        Child(0x1001, 0x2002, bSelectorsSeenByA: [TrafficSelector.FromPrefix(IpPrefix.Parse("10.0.0.0/8"))]);
        Assert.Equal((0, EspDrop.PolicyMismatch), AToB(Ping("10.1.0.5", "10.3.0.9")));
        Assert.Equal(1, _b.Counters.Dropped(EspDrop.PolicyMismatch));
        Assert.Equal(84, AToB(Ping("10.1.0.5", "10.2.0.9")).Length);
    }

    [Fact]
    public void UnknownSpi_ReplayAndTampering_AreCountedNotThrown()
    {
        Child(0x1001, 0x2002);
        byte[] inner = Ping("10.1.0.5", "10.2.0.9");
        byte[] packet = new byte[inner.Length + EspPacketPath.MaxOverhead];
        int n = _a.Protect(inner, packet, out _, out _);
        byte[] plain = new byte[n];
        Assert.True(_b.Unprotect(packet.AsSpan(0, n), plain, out _) > 0);
        Assert.Equal(0, _b.Unprotect(packet.AsSpan(0, n), plain, out EspDrop replay));
        Assert.Equal(EspDrop.Replayed, replay);
        packet[20] ^= 1;
        packet[7]++;
        Assert.Equal(0, _b.Unprotect(packet.AsSpan(0, n), plain, out EspDrop tampered));
        Assert.Equal(EspDrop.AuthenticationFailed, tampered);
        packet[0] = 0x77;
        Assert.Equal(0, _b.Unprotect(packet.AsSpan(0, n), plain, out EspDrop unknown));
        Assert.Equal(EspDrop.UnknownSpi, unknown);
        Assert.Equal(0, _b.Unprotect([1, 2, 3], plain, out EspDrop shortPacket));
        Assert.Equal(EspDrop.Malformed, shortPacket);
    }

    [Fact]
    public void Rekey_UnderContinuousTraffic_LosesNothing()
    {
        Child(0x1001, 0x2002);
        int delivered = 0;
        for (int i = 0; i < 1000; i++)
        {
            if (i == 400)
            {
                // CREATE_CHILD_SA done: new SAs installed (inbound first, as IKE does), outbound moves at once.
                Child(0x3003, 0x4004);
            }
            if (i == 700)
            {
                // The old SAs are deleted after the exchange.
                Assert.True(_a.DeleteSa(0x1001, SaDirection.Outbound));
                Assert.True(_b.DeleteSa(0x1001, SaDirection.Inbound));
            }
            delivered += AToB(Ping("10.1.0.5", "10.2.0.9")).Length > 0 ? 1 : 0;
        }
        Assert.Equal(1000, delivered);
        Assert.Equal(600ul, _b.QuerySa(0x3003, SaDirection.Inbound)!.Packets);
        Assert.Null(_b.QuerySa(0x1001, SaDirection.Inbound));
    }

    [Fact]
    public void InFlightPacketsOfTheOldSa_StillDecryptAfterTheSwitch()
    {
        Child(0x1001, 0x2002);
        byte[] inner = Ping("10.1.0.5", "10.2.0.9");
        byte[] old = new byte[inner.Length + EspPacketPath.MaxOverhead];
        int n = _a.Protect(inner, old, out _, out _);
        Child(0x3003, 0x4004);
        Assert.Equal(84, AToB(inner).Length);
        Assert.Equal(0x3003ul, (ulong)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ProtectOnce(inner)));
        byte[] plain = new byte[n];
        Assert.Equal(84, _b.Unprotect(old.AsSpan(0, n), plain, out _));
    }

    private byte[] ProtectOnce(byte[] inner)
    {
        byte[] packet = new byte[inner.Length + EspPacketPath.MaxOverhead];
        int n = _a.Protect(inner, packet, out _, out _);
        return packet[..n];
    }

    [Fact]
    public void Lifetimes_SoftAsksForRekey_HardRemovesTheSa()
    {
        var events = new List<SaExpiry>();
        using var hard = new ManualResetEventSlim();
        _a.Expired += e => { lock (events) { events.Add(e); } if (e.Kind == ExpiryKind.Hard) { hard.Set(); } };
        Child(0x1001, 0x2002, new SaLifetime(SoftPackets: 5, HardPackets: 10));
        for (int i = 0; i < 10; i++)
        {
            Assert.True(AToB(Ping("10.1.0.5", "10.2.0.9")).Length > 0);
        }
        Assert.True(hard.Wait(TimeSpan.FromSeconds(5)), "no hard expiry");
        Assert.Equal((0, EspDrop.NoSa), AToB(Ping("10.1.0.5", "10.2.0.9")));
        lock (events)
        {
            Assert.Contains(events, e => e is { Kind: ExpiryKind.Soft, Spi: 0x1001, Direction: SaDirection.Outbound, ReqId: 1 });
            Assert.Contains(events, e => e is { Kind: ExpiryKind.Hard, Spi: 0x1001 });
            Assert.Single(events, e => e is { Kind: ExpiryKind.Soft, Spi: 0x1001 });
        }
        Assert.Null(_a.QuerySa(0x1001, SaDirection.Outbound));
    }

    [Fact]
    public void BadSaSpecs_AreRefusedWithTheReason()
    {
        SaSpec spec = new()
        {
            Spi = 0x5005, Direction = SaDirection.Inbound, Local = AOuter, Remote = BOuter, Encryption = EncryptionAlgorithm.ENCR_AES_GCM_16,
            Integrity = IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128, KeyBits = 128, Keymat = new byte[20], LocalSelectors = ANet, RemoteSelectors = BNet, ReqId = 1,
        };
        Assert.Contains("not supported", Assert.Throws<ArgumentException>(() => _a.AddSa(spec)).Message);
        Assert.Contains("20 octets", Assert.Throws<ArgumentException>(() => _a.AddSa(spec with { Integrity = IntegrityAlgorithm.NONE, Keymat = new byte[19] })).Message);
        Assert.Contains("replay window", Assert.Throws<ArgumentException>(() => _a.AddSa(spec with { Integrity = IntegrityAlgorithm.NONE, ReplayWindow = 8 })).Message);
        _a.AddSa(spec with { Integrity = IntegrityAlgorithm.NONE });
        Assert.Contains("installed already", Assert.Throws<ArgumentException>(() => _a.AddSa(spec with { Integrity = IntegrityAlgorithm.NONE })).Message);
    }

    [Fact]
    public void EncapsulationIsPartOfTheSa_RawEspForAUdpSaIsDropped_AndTheOtherWayRound()
    {
        Child(0x1001, 0x2002);
        byte[] packet = new byte[84 + EspPacketPath.MaxOverhead];
        int n = _a.Protect(Ping("10.1.0.5", "10.2.0.9"), packet, out _, out bool udp, out _);
        Assert.True(udp);
        byte[] plain = new byte[n];
        Assert.Equal(0, _b.Unprotect(packet.AsSpan(0, n), plain, udpEncapsulated: false, out EspDrop drop));
        Assert.Equal(EspDrop.WrongEncapsulation, drop);
        Assert.Equal(84, _b.Unprotect(packet.AsSpan(0, n), plain, udpEncapsulated: true, out _));

        SaSpec raw = new()
        {
            Spi = 0x3003, Direction = SaDirection.Outbound, Local = AOuter, Remote = BOuter, Encryption = EncryptionAlgorithm.ENCR_AES_GCM_16,
            KeyBits = 128, Keymat = RandomNumberGenerator.GetBytes(20), LocalSelectors = ANet, RemoteSelectors = BNet, ReqId = 2, UdpEncapsulation = false,
        };
        using var a = new EspPacketPath();
        using var b = new EspPacketPath();
        a.AddSa(raw);
        a.AddPolicy(new IpsecPolicy(2, ANet, BNet));
        b.AddSa(raw with { Direction = SaDirection.Inbound, Local = BOuter, Remote = AOuter, LocalSelectors = BNet, RemoteSelectors = ANet });
        n = a.Protect(Ping("10.1.0.5", "10.2.0.9"), packet, out _, out udp, out _);
        Assert.False(udp);
        Assert.Equal(0, b.Unprotect(packet.AsSpan(0, n), plain, udpEncapsulated: true, out drop));
        Assert.Equal(EspDrop.WrongEncapsulation, drop);
        Assert.Equal(84, b.Unprotect(packet.AsSpan(0, n), plain, udpEncapsulated: false, out _));
    }
}
