using System.Net;
using System.Security.Cryptography;
using Certgate.Esp.Dataplane;
using Certgate.Ipsec;
using Certgate.Ipsec.Registry;
using Certgate.Net.Addressing;

namespace Certgate.Esp.Tests;

/// <summary>
/// One packet path serving two devices (two service sets on one local-gateway address, #6) whose policies have the
/// same selectors, as two next-hop sets negotiating 0.0.0.0/0 both ways do: the device a packet is read from picks
/// the policy, and a decrypted packet names the device of its SA.
/// </summary>
public sealed class EspDeviceTests : IDisposable
{
    private static readonly IPEndPoint Local = new(IPAddress.Parse("192.0.2.1"), 4500);
    private static readonly IPEndPoint Peer1 = new(IPAddress.Parse("192.0.2.2"), 4500);
    private static readonly IPEndPoint Peer2 = new(IPAddress.Parse("198.51.100.3"), 4500);
    private static readonly TrafficSelector[] Any = [TrafficSelector.FromPrefix(IpPrefix.Parse("0.0.0.0/0"))];
    private readonly EspPacketPath _gw = new();
    private readonly EspPacketPath _peer1 = new();
    private readonly EspPacketPath _peer2 = new();

    public void Dispose()
    {
        _gw.Dispose();
        _peer1.Dispose();
        _peer2.Dispose();
    }

    private static byte[] Ping(string source, string destination)
    {
        byte[] p = new byte[84];
        p[0] = 0x45;
        p[3] = 84;
        p[9] = 1;
        IPAddress.Parse(source).GetAddressBytes().CopyTo(p, 12);
        IPAddress.Parse(destination).GetAddressBytes().CopyTo(p, 16);
        return p;
    }

    private static SaSpec Spec(uint spi, SaDirection d, IPEndPoint local, IPEndPoint remote, byte[] keys, uint reqId) => new()
    {
        Spi = spi, Direction = d, Local = local, Remote = remote, Encryption = EncryptionAlgorithm.ENCR_AES_GCM_16, KeyBits = 256,
        Keymat = keys, LocalSelectors = Any, RemoteSelectors = Any, ReqId = reqId, Lifetime = SaLifetime.None,
    };

    /// <summary>A CHILD_SA between the gateway (ReqId <paramref name="reqId"/>, bound to <paramref name="device"/>) and a peer.</summary>
    private void Child(EspPacketPath peer, IPEndPoint peerOuter, uint reqId, int device, uint spiOut, uint spiIn)
    {
        byte[] o = RandomNumberGenerator.GetBytes(36), i = RandomNumberGenerator.GetBytes(36);
        _gw.BindDevice(reqId, device);
        _gw.AddSa(Spec(spiIn, SaDirection.Inbound, Local, peerOuter, i, reqId));
        _gw.AddSa(Spec(spiOut, SaDirection.Outbound, Local, peerOuter, o, reqId));
        _gw.AddPolicy(new IpsecPolicy(reqId, Any, Any));
        peer.AddSa(Spec(spiOut, SaDirection.Inbound, peerOuter, Local, o, 1));
        peer.AddSa(Spec(spiIn, SaDirection.Outbound, peerOuter, Local, i, 1));
        peer.AddPolicy(new IpsecPolicy(1, Any, Any));
    }

    /// <summary>Protects a packet read from <paramref name="device"/>; returns the ESP packet, the peer it goes to and its SPI.</summary>
    private (byte[] Esp, IPEndPoint? Remote, uint Spi, EspDrop Drop) FromDevice(int device, byte[] inner)
    {
        byte[] packet = new byte[inner.Length + EspPacketPath.MaxOverhead];
        int n = _gw.Protect(inner, device, packet, out IPEndPoint? remote, out _, out EspDrop drop);
        return n == 0 ? ([], null, 0, drop) : (packet[..n], remote, (uint)IPAddress.NetworkToHostOrder(BitConverter.ToInt32(packet, 0)), drop);
    }

    [Fact]
    public void SameSelectors_EachDevicesPackets_GoToItsOwnSetsSa_AndItsPeer()
    {
        Child(_peer1, Peer1, reqId: 7, device: 0, spiOut: 0x1001, spiIn: 0x2001);
        Child(_peer2, Peer2, reqId: 8, device: 1, spiOut: 0x1002, spiIn: 0x2002);

        (byte[] esp1, IPEndPoint? r1, uint spi1, _) = FromDevice(0, Ping("172.30.1.1", "172.30.2.1"));
        (byte[] esp2, IPEndPoint? r2, uint spi2, _) = FromDevice(1, Ping("172.30.1.1", "172.30.2.1"));
        Assert.Equal((Peer1, 0x1001u), (r1, spi1));
        Assert.Equal((Peer2, 0x1002u), (r2, spi2));
        byte[] plain = new byte[esp1.Length];
        Assert.True(_peer1.Unprotect(esp1, plain, out _) > 0);
        Assert.True(_peer2.Unprotect(esp2, plain, out _) > 0);

        // A device with no policy bound to it protects nothing (and does not borrow another set's SA).
        (byte[] none, _, _, EspDrop drop) = FromDevice(2, Ping("172.30.1.1", "172.30.2.1"));
        Assert.Empty(none);
        Assert.Equal(EspDrop.NoPolicy, drop);
        Assert.Equal(1, _gw.Counters.Dropped(EspDrop.NoPolicy));
    }

    [Fact]
    public void DecryptedPackets_NameTheDeviceOfTheirSa()
    {
        Child(_peer1, Peer1, reqId: 7, device: 0, spiOut: 0x1001, spiIn: 0x2001);
        Child(_peer2, Peer2, reqId: 8, device: 3, spiOut: 0x1002, spiIn: 0x2002);
        foreach ((EspPacketPath peer, int device) in new[] { (_peer2, 3), (_peer1, 0), (_peer2, 3) })
        {
            byte[] inner = Ping("172.30.2.1", "172.30.1.1");
            byte[] esp = new byte[inner.Length + EspPacketPath.MaxOverhead];
            int n = peer.Protect(inner, esp, out _, out _);
            Assert.True(n > 0);
            byte[] plain = new byte[n];
            int m = _gw.Unprotect(esp.AsSpan(0, n), plain, udpEncapsulated: true, out int to, out EspDrop drop);
            Assert.True(m > 0, $"dropped: {drop}");
            Assert.Equal(inner, plain[..m]);
            Assert.Equal(device, to);
        }
    }

    [Fact]
    public void UnbindDevice_ForgetsItsReqIds_OthersStay()
    {
        Child(_peer1, Peer1, reqId: 7, device: 1, spiOut: 0x1001, spiIn: 0x2001);
        Child(_peer2, Peer2, reqId: 8, device: 2, spiOut: 0x1002, spiIn: 0x2002);
        Assert.Equal(1, _gw.UnbindDevice(1));
        Assert.Equal(0, _gw.DeviceOf(7));
        Assert.Equal(2, _gw.DeviceOf(8));
        Assert.Equal(0x1002u, FromDevice(2, Ping("172.30.1.1", "172.30.2.1")).Spi);
        Assert.Equal(EspDrop.NoPolicy, FromDevice(1, Ping("172.30.1.1", "172.30.2.1")).Drop);
        Assert.Throws<ArgumentOutOfRangeException>(() => _gw.BindDevice(9, -1));
    }
}
