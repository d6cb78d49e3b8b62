using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Ike.Tests;

/// <summary>RFC 7296 §2.9 in IKE_AUTH between two Certgate endpoints on loopback: narrowing, and TS_UNACCEPTABLE.</summary>
public sealed class TrafficSelectorSessionTests : IDisposable
{
    private readonly TestCa _testCa = TestCa.CreateRoot("CN=TS Test CA", new CertOptions { KeyType = TestKeyType.EcdsaP256 }, now: DateTimeOffset.UtcNow);
    private readonly X509Certificate2 _ca;

    public TrafficSelectorSessionTests()
    {
        _ca = _testCa.Certificate;
    }

    public void Dispose()
    {
        _ca.Dispose();
        _testCa.Dispose();
    }

    private X509Certificate2 Issue(string cn, byte serial)
    {
        // ECDSA P-256 throughout: key generation in milliseconds, where RSA-2048 takes seconds on a busy machine.
        return _testCa.IssueWithKey($"CN={cn}", new CertOptions
        {
            KeyType = TestKeyType.EcdsaP256,
            NotBefore = DateTimeOffset.UtcNow.AddDays(-1),
            NotAfter = DateTimeOffset.UtcNow.AddDays(10),
            Serial = [serial],
        });
    }

    private static Payloads.TrafficSelector Ts(string first, string last) => new(0, 0, 65535, IPAddress.Parse(first), IPAddress.Parse(last));

    private static readonly Payloads.TrafficSelector NetA = Ts("10.1.0.0", "10.1.255.255");
    private static readonly Payloads.TrafficSelector NetB = Ts("10.2.0.0", "10.2.255.255");

    private IkePeerConfig Config(string cn, byte serial, IReadOnlyList<Payloads.TrafficSelector> local, IReadOnlyList<Payloads.TrafficSelector> remote) =>
        new(Issue(cn, serial), [_ca], null, local, remote) { RetransmitTimeout = TimeSpan.FromSeconds(1) };

    [Fact]
    public async Task InitiatorOffersWider_ResponderNarrows_BothChildSasCarryTheNarrowedSelectors()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Config("gw-b", 2, [NetB], [NetA]));
        // A offers 10.0.0.0/8 and, second, an IPv6 range B has nothing for: B answers with 10.1.0.0/16 alone.
        ChildSa initiator = await IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!,
            Config("gw-a", 1, [Ts("10.0.0.0", "10.255.255.255"), Ts("2001:db8::", "2001:db8::ffff")], [NetB]));
        ChildSa r = await responder;
        Assert.Equal([NetA], initiator.LocalTs);
        Assert.Equal([NetB], initiator.RemoteTs);
        Assert.Equal([NetA], r.RemoteTs);
        Assert.Equal([NetB], r.LocalTs);
        // The configured selectors stay with the IKE SA (new CHILD_SAs are offered and narrowed with them).
        Assert.Equal(2, initiator.IkeSa!.LocalTs.Count);
    }

    [Fact]
    public async Task DisjointSelectors_ResponderAnswersTsUnacceptable_BothSidesSayWhy()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Config("gw-b", 2, [NetB], [NetA]));
        IkeException initiatorError = await Assert.ThrowsAsync<IkeException>(() =>
            IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Config("gw-a", 1, [Ts("10.9.0.0", "10.9.255.255")], [NetB])));
        Assert.Equal("the peer refused IKE_AUTH's CHILD_SA: TS_UNACCEPTABLE for the offered TSi 10.9.0.0/16, TSr 10.2.0.0/16", initiatorError.Message);
        IkeException responderError = await Assert.ThrowsAsync<IkeException>(() => responder);
        Assert.Equal("TS_UNACCEPTABLE: the initiator offered TSi 10.9.0.0/16, TSr 10.2.0.0/16; configured here: remote 10.1.0.0/16, local 10.2.0.0/16 (IKE_AUTH CHILD_SA)", responderError.Message);
    }

    [Fact]
    public async Task ConfigWithoutSelectors_OrAReversedRange_IsACallersMistake()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        IkePeerConfig empty = Config("gw-a", 1, [], [NetB]);
        ArgumentException e = await Assert.ThrowsAsync<ArgumentException>(() => IkeHandshake.InitiateAsync(a, new IPEndPoint(IPAddress.Loopback, 9), empty));
        Assert.Equal("config", e.ParamName);
        IkePeerConfig reversed = Config("gw-a", 1, [Ts("10.1.0.9", "10.1.0.1")], [NetB]);
        e = await Assert.ThrowsAsync<ArgumentException>(() => IkeHandshake.InitiateAsync(a, new IPEndPoint(IPAddress.Loopback, 9), reversed));
        Assert.Contains("the address range is reversed", e.Message, StringComparison.Ordinal);
    }
}
