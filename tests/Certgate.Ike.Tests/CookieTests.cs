using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Pki.Identity;

namespace Certgate.Ike.Tests;

/// <summary>The responder's COOKIE defence (RFC 7296 §2.6): the stateless generator, and the real responder on the wire.</summary>
public sealed class CookieTests
{
    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = DateTimeOffset.UnixEpoch;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly byte[] Ni = [.. Enumerable.Range(0, 32).Select(i => (byte)i)];
    private static readonly IPAddress Ip = IPAddress.Parse("192.0.2.7");

    [Fact]
    public void Cookie_IsBoundToNonceAddressAndSpi()
    {
        var cookies = new IkeCookies();
        byte[] cookie = cookies.Generate(Ni, Ip, 0x1122334455667788);
        Assert.Equal(33, cookie.Length);
        Assert.True(cookies.Verify(cookie, Ni, Ip, 0x1122334455667788));
        // Stateless: the same inputs give the same cookie.
        Assert.Equal(cookie, cookies.Generate(Ni, Ip, 0x1122334455667788));
        byte[] otherNi = (byte[])Ni.Clone();
        otherNi[5] ^= 1;
        Assert.False(cookies.Verify(cookie, otherNi, Ip, 0x1122334455667788));
        Assert.False(cookies.Verify(cookie, Ni, IPAddress.Parse("192.0.2.8"), 0x1122334455667788));
        Assert.False(cookies.Verify(cookie, Ni, Ip, 0x1122334455667789));
        // The IPv4-mapped form of the same address is the same initiator.
        Assert.True(cookies.Verify(cookie, Ni, Ip.MapToIPv6(), 0x1122334455667788));
        byte[] flipped = (byte[])cookie.Clone();
        flipped[20] ^= 0x80;
        Assert.False(cookies.Verify(flipped, Ni, Ip, 0x1122334455667788));
        Assert.False(cookies.Verify(cookie[..32], Ni, Ip, 0x1122334455667788));
        // Another responder (another secret) does not accept it.
        Assert.False(new IkeCookies().Verify(cookie, Ni, Ip, 0x1122334455667788));
    }

    [Fact]
    public void Secret_Rotates_ThePreviousOneIsAcceptedForOneMoreLifetime()
    {
        var clock = new Clock();
        var cookies = new IkeCookies(secretLifetime: TimeSpan.FromSeconds(30), time: clock);
        byte[] first = cookies.Generate(Ni, Ip, 9);
        clock.Now += TimeSpan.FromSeconds(29);
        Assert.Equal(first, cookies.Generate(Ni, Ip, 9));
        clock.Now += TimeSpan.FromSeconds(2);
        byte[] second = cookies.Generate(Ni, Ip, 9);
        Assert.NotEqual(first, second);
        Assert.Equal(first[0] + 1, second[0]);
        Assert.True(cookies.Verify(first, Ni, Ip, 9));
        Assert.True(cookies.Verify(second, Ni, Ip, 9));
        clock.Now += TimeSpan.FromSeconds(30);
        Assert.False(cookies.Verify(first, Ni, Ip, 9));
        Assert.True(cookies.Verify(second, Ni, Ip, 9));
        // Long idle: both old secrets are gone.
        clock.Now += TimeSpan.FromMinutes(5);
        Assert.False(cookies.Verify(second, Ni, Ip, 9));
    }

    [Fact]
    public void HalfOpenCount_DecidesWhenCookiesAreRequired()
    {
        var cookies = new IkeCookies(threshold: 2);
        Assert.False(cookies.Required);
        IDisposable a = cookies.Enter();
        using (cookies.Enter())
        {
            Assert.Equal(2, cookies.HalfOpen);
            Assert.True(cookies.Required);
        }
        a.Dispose();
        a.Dispose();
        Assert.Equal(0, cookies.HalfOpen);
        Assert.True(new IkeCookies(threshold: 0).Required);
        Assert.Throws<ArgumentOutOfRangeException>(() => new IkeCookies(threshold: -1));
    }

    private static IkePeerConfig Responder(IkeCookies cookies) =>
        new(null, [], null, Payloads.TrafficSelector.Any4, Payloads.TrafficSelector.Any4)
        {
            PreSharedKey = "a shared secret of some length"u8.ToArray(),
            LocalId = IkeIdentity.FromFqdn("gw-b.test"),
            RemoteIds = [RemoteIdentity.Any],
            Cookies = cookies,
            RetransmitTimeout = TimeSpan.FromSeconds(1),
        };

    private static byte[] InitRequest(ulong spiI, byte[]? cookie, ushort group, byte[] ke)
    {
        List<(PayloadType, ReadOnlyMemory<byte>)> payloads =
        [
            (PayloadType.SecurityAssociation, Payloads.WriteSa(Negotiation.IkeOffer())),
            (PayloadType.KeyExchange, Payloads.WriteKe(group, ke)),
            (PayloadType.Nonce, Ni),
        ];
        if (cookie is not null)
        {
            payloads.Insert(0, (PayloadType.Notify, Payloads.WriteNotify(new Payloads.Notify(0, (ushort)NotifyType.COOKIE, default, cookie))));
        }
        return IkeMessage.Build(new IkeHeader(spiI, 0, PayloadType.None, ExchangeType.IkeSaInit, false, true, 0, 0), payloads);
    }

    private static async Task<IkeMessage> Exchange(UdpClient client, IPEndPoint to, byte[] request)
    {
        await client.SendAsync(request, to);
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        return IkeMessage.Parse((await client.ReceiveAsync(wait.Token)).Buffer);
    }

    private static Payloads.Notify OnlyNotify(IkeMessage m)
    {
        Assert.Equal(0ul, m.Header.ResponderSpi);
        return Payloads.ReadNotify(Assert.Single(m.Payloads).Body);
    }

    /// <summary>
    /// At threshold 0 the real responder answers a bare IKE_SA_INIT with N(COOKIE) and nothing else, a wrong cookie
    /// with a fresh one, a right cookie with a wrong KE group with INVALID_KE_PAYLOAD (so the cookie passed), and the
    /// right cookie with the right group with its IKE_SA_INIT response — only then is an IKE SA half-open.
    /// </summary>
    [Fact]
    public async Task ResponderAtThresholdZero_CreatesStateOnlyForAValidCookie_AlsoAcrossInvalidKe()
    {
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var to = (IPEndPoint)b.Client.LocalEndPoint!;
        var cookies = new IkeCookies(threshold: 0);
        var counters = new IkeCounters();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Responder(cookies) with { Counters = counters }, stop.Token);
        const ulong SpiI = 0x0A0B0C0D01020304;

        Payloads.Notify first = OnlyNotify(await Exchange(client, to, InitRequest(SpiI, null, 14, new byte[256])));
        Assert.Equal((ushort)NotifyType.COOKIE, first.Type);
        byte[] cookie = first.Data.ToArray();
        Assert.Equal(0, cookies.HalfOpen);

        byte[] wrong = (byte[])cookie.Clone();
        wrong[^1] ^= 1;
        Assert.Equal((ushort)NotifyType.COOKIE, OnlyNotify(await Exchange(client, to, InitRequest(SpiI, wrong, 14, new byte[256]))).Type);

        Payloads.Notify invalidKe = OnlyNotify(await Exchange(client, to, InitRequest(SpiI, cookie, 14, new byte[256])));
        Assert.Equal((ushort)NotifyType.INVALID_KE_PAYLOAD, invalidKe.Type);
        Assert.Equal((ushort)DhGroup.ECP_256, BinaryPrimitives.ReadUInt16BigEndian(invalidKe.Data.Span));
        Assert.Equal(0, cookies.HalfOpen);

        using KeyExchange dh = KeyExchange.Create(DhGroup.ECP_256);
        IkeMessage answer = await Exchange(client, to, InitRequest(SpiI, cookie, 19, dh.PublicValue));
        Assert.NotEqual(0ul, answer.Header.ResponderSpi);
        Assert.Contains(answer.Payloads, p => p.Type == PayloadType.KeyExchange);
        Assert.Equal(1, cookies.HalfOpen);
        Assert.Equal(2, counters.CookiesSent);

        // No IKE_AUTH follows: stopped, the responder no longer counts the half-open SA.
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => responder);
        Assert.Equal(0, cookies.HalfOpen);
    }
}
