using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Pki.Revocation;
using Certgate.Pki.Validation;
using Certgate.Pki.Identity;
using Certgate.Ipsec.Registry;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Ike.Tests;

/// <summary>Two IKEv2 endpoints on loopback authenticate each other with certificates from one CA.</summary>
public sealed class SessionTests : IDisposable
{
    private readonly TestCa _testCa = TestCa.CreateRoot("CN=IKE Test CA", now: DateTimeOffset.UtcNow);
    private readonly X509Certificate2 _ca;

    public SessionTests()
    {
        _ca = _testCa.Certificate;
    }

    public void Dispose()
    {
        _ca.Dispose();
        _testCa.Dispose();
    }

    private X509Certificate2 Issue(string cn, byte serial, bool ecdsa = false) =>
        _testCa.IssueWithKey($"CN={cn}", new CertOptions
        {
            KeyType = ecdsa ? TestKeyType.EcdsaP256 : TestKeyType.Rsa2048,
            NotBefore = DateTimeOffset.UtcNow.AddDays(-1),
            NotAfter = DateTimeOffset.UtcNow.AddDays(10),
            Serial = [serial],
        });

    private IkePeerConfig Config(X509Certificate2 cert, ICrlSource? crls = null, string local = "10.1.0.0", string remote = "10.2.0.0") =>
        new(cert, [_ca], crls, Ts(local), Ts(remote)) { RetransmitTimeout = TimeSpan.FromSeconds(1) };

    private static Payloads.TrafficSelector Ts(string net) =>
        new(0, 0, 65535, IPAddress.Parse(net), IPAddress.Parse(net.Replace(".0.0", ".255.255", StringComparison.Ordinal)));

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task BothSidesAuthenticate_AndAgreeOnChildKeys(bool initiatorEcdsa, bool responderEcdsa)
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        X509Certificate2 ca = Issue("gw-a", 1, initiatorEcdsa);
        X509Certificate2 cb = Issue("gw-b", 2, responderEcdsa);
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Config(cb, null, "10.2.0.0", "10.1.0.0"));
        ChildSa initiator = await IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Config(ca));
        ChildSa r = await responder;
        Assert.Equal(initiator.OutboundSpi, r.InboundSpi);
        Assert.Equal(initiator.InboundSpi, r.OutboundSpi);
        Assert.Equal(initiator.OutboundKeymat, r.InboundKeymat);
        Assert.Equal(initiator.InboundKeymat, r.OutboundKeymat);
        Assert.NotEqual(initiator.InboundKeymat, initiator.OutboundKeymat);
        Assert.Equal("CN=gw-b", initiator.PeerCertificate!.Subject);
        Assert.Equal("CN=gw-a", r.PeerCertificate!.Subject);
    }

    [Fact]
    public async Task RevokedInitiator_IsRefusedWithAuthenticationFailed()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        CertificateRevocationList crl = _testCa.Crl(serials: [[7]], thisUpdate: DateTimeOffset.UtcNow.AddMinutes(-1),
            nextUpdate: DateTimeOffset.UtcNow.AddDays(1), number: 1, reason: CrlReason.keyCompromise, revokedAt: DateTimeOffset.UtcNow.AddMinutes(-1));
        var crls = new CrlCollection([crl]);
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Config(Issue("gw-b", 2), crls));
        IkeException initiatorError = await Assert.ThrowsAsync<IkeException>(() => IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Config(Issue("gw-a", 7))));
        Assert.Contains("AUTHENTICATION_FAILED", initiatorError.Message);
        IkeException responderError = await Assert.ThrowsAsync<IkeException>(() => responder);
        Assert.Contains("revoked", responderError.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task CertificateFromAnotherCa_IsRefused()
    {
        using TestCa other = TestCa.CreateRoot("CN=Other CA", now: DateTimeOffset.UtcNow);
        using X509Certificate2 otherCa = other.Certificate;
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Config(Issue("gw-b", 2)) with { TrustAnchors = [otherCa] });
        await Assert.ThrowsAsync<IkeException>(() => IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Config(Issue("gw-a", 3))));
        IkeException e = await Assert.ThrowsAsync<IkeException>(() => responder);
        Assert.Contains("not accepted", e.Message);
    }

    [Fact]
    public async Task UnexpectedRemoteIdentity_IsRefusedWithTheConfiguredName()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Config(Issue("gw-b", 2)) with { RemoteIds = [RemoteIdentity.DistinguishedName("CN=gw-c", DistinguishedNameMatch.ExactMatch)] });
        IkeException initiatorError = await Assert.ThrowsAsync<IkeException>(() => IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Config(Issue("gw-a", 3))));
        Assert.Contains("AUTHENTICATION_FAILED", initiatorError.Message);
        IkeException e = await Assert.ThrowsAsync<IkeException>(() => responder);
        Assert.Contains("remote-id check failed: it identifies as CN=gw-a (ID_DER_ASN1_DN), which matches no configured remote-id (distinguished-name ", e.Message);
        Assert.Contains("CN=gw-c", e.Message);
    }

    /// <summary>
    /// A bad AUTH signature (the test hook flips a bit after signing) is refused with the reason naming the AUTH:
    /// from the initiator, the responder refuses and answers AUTHENTICATION_FAILED; from the responder, the
    /// initiator refuses it (RFC 7296 §2.15: the signature is checked with the key of the peer's certificate).
    /// </summary>
    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(false, true)]
    public async Task CorruptedAuthSignature_IsRefused_WithTheReasonNamingTheAuth(bool initiatorCorrupts, bool ecdsa)
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        IkePeerConfig ia = Config(Issue("gw-a", 3, ecdsa)) with { TestHookCorruptAuth = initiatorCorrupts };
        IkePeerConfig rb = Config(Issue("gw-b", 2, ecdsa), null, "10.2.0.0", "10.1.0.0") with { TestHookCorruptAuth = !initiatorCorrupts };
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, rb);
        IkeException initiatorError = await Assert.ThrowsAsync<IkeException>(() => IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, ia));
        // Both sides announce RFC 7427, so the reason names the AlgorithmIdentifier's signature (e.g. sha256WithRSAEncryption).
        const string signature = "signature does not verify with the peer certificate's key";
        if (initiatorCorrupts)
        {
            Assert.Contains("AUTHENTICATION_FAILED", initiatorError.Message);
            IkeException responderError = await Assert.ThrowsAsync<IkeException>(() => responder);
            Assert.Contains("the initiator's AUTH does not verify", responderError.Message);
            Assert.Contains(signature, responderError.Message);
        }
        else
        {
            Assert.Contains("the responder's AUTH does not verify", initiatorError.Message);
            Assert.Contains(signature, initiatorError.Message);
        }
    }

    private static IkePeerConfig Psk(string secret, string me, string? peer, string local, string remote) =>
        new(null, [], null, Ts(local), Ts(remote))
        {
            RetransmitTimeout = TimeSpan.FromSeconds(1),
            PreSharedKey = System.Text.Encoding.UTF8.GetBytes(secret),
            LocalId = IkeIdentity.FromFqdn(me),
            RemoteIds = peer is null ? [RemoteIdentity.Any] : [RemoteIdentity.Fqdn(peer)],
        };

    [Fact]
    public async Task PreSharedKey_BothSidesUseAuthMethod2_AndAgree()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Psk("a shared secret of some length", "gw-b.test", "gw-a.test", "10.2.0.0", "10.1.0.0"));
        ChildSa i = await IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Psk("a shared secret of some length", "gw-a.test", "gw-b.test", "10.1.0.0", "10.2.0.0"));
        ChildSa r = await responder;
        Assert.Equal(i.OutboundKeymat, r.InboundKeymat);
        Assert.Equal(Certgate.Ipsec.Registry.AuthMethod.SHARED_KEY_MESSAGE_INTEGRITY_CODE, i.PeerAuthMethod);
        Assert.Equal("gw-b.test", i.PeerIdentity);
        Assert.Equal("gw-a.test", r.PeerIdentity);
        Assert.Null(r.PeerCertificate);
    }

    [Fact]
    public async Task PreSharedKey_Mismatch_IsRefused()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Psk("the responder's secret key", "gw-b.test", null, "10.2.0.0", "10.1.0.0"));
        IkeException initiatorError = await Assert.ThrowsAsync<IkeException>(() =>
            IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Psk("the initiator's other key", "gw-a.test", null, "10.1.0.0", "10.2.0.0")));
        Assert.Contains("AUTHENTICATION_FAILED", initiatorError.Message);
        Assert.Contains("shared-key AUTH does not verify", (await Assert.ThrowsAsync<IkeException>(() => responder)).Message);
    }

    [Fact]
    public async Task ConfigWithoutCertificateOrKey_IsACallerError()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        ArgumentException e = await Assert.ThrowsAsync<ArgumentException>(() => IkeHandshake.RespondAsync(a, new IkePeerConfig(null, [], null, Ts("10.1.0.0"), Ts("10.2.0.0"))));
        Assert.Equal("config", e.ParamName);
    }

    [Fact]
    public async Task IncompleteIkeSaInit_GetsInvalidSyntax_AndTheResponderStillServesTheRealInitiator()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var junk = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Config(Issue("gw-b", 2), null, "10.2.0.0", "10.1.0.0"));
        byte[] noKe = IkeMessage.Build(new IkeHeader(0x1234, 0, PayloadType.None, ExchangeType.IkeSaInit, false, true, 0, 0),
            [(PayloadType.Nonce, new byte[32])]);
        await junk.SendAsync(noKe, (IPEndPoint)b.Client.LocalEndPoint!);
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        IkeMessage answer = IkeMessage.Parse((await junk.ReceiveAsync(wait.Token)).Buffer);
        Payloads.Notify n = Payloads.ReadNotify(Assert.Single(answer.Payloads).Body);
        Assert.Equal((ushort)Certgate.Ipsec.Registry.NotifyType.INVALID_SYNTAX, n.Type);
        ChildSa initiator = await IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Config(Issue("gw-a", 1)));
        Assert.Equal(initiator.OutboundSpi, (await responder).InboundSpi);
    }

    private IkePeerConfig Fragmenting(X509Certificate2 cert, IkeCounters counters, string local, string remote, bool fragmentation = true) =>
        Config(cert, null, local, remote) with { FragmentSize = 576, Fragmentation = fragmentation, Counters = counters };

    [Fact]
    public async Task BothAnnounceFragmentation_IkeAuthGoesAsFragmentsBothWays_AndTheSaIsTheSame()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var ci = new IkeCounters();
        var cr = new IkeCounters();
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Fragmenting(Issue("gw-b", 2), cr, "10.2.0.0", "10.1.0.0"));
        ChildSa i = await IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Fragmenting(Issue("gw-a", 1), ci, "10.1.0.0", "10.2.0.0"));
        ChildSa r = await responder;
        Assert.Equal(i.OutboundKeymat, r.InboundKeymat);
        Assert.Equal("CN=gw-a", r.PeerCertificate!.Subject);
        // An RSA-2048 IKE_AUTH is ~1.3 kB: three or more fragments of at most 576 - 28 octets each way.
        Assert.Equal(1, ci.MessagesFragmented);
        Assert.Equal(1, cr.MessagesFragmented);
        Assert.True(ci.FragmentsSent >= 3 && cr.FragmentsSent >= 3, $"initiator: {ci}; responder: {cr}");
        // (A retransmission on a slow machine may add copies the responder never reads, so at least, not equal.)
        Assert.InRange(cr.FragmentsReceived, 3, ci.FragmentsSent);
        Assert.Equal(cr.FragmentsSent, ci.FragmentsReceived);
        Assert.Equal(1, ci.MessagesReassembled);
        Assert.Equal(1, cr.MessagesReassembled);
    }

    [Fact]
    public async Task OneSideWithoutFragmentation_NoFragmentsAreSent()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var ci = new IkeCounters();
        var cr = new IkeCounters();
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Fragmenting(Issue("gw-b", 2), cr, "10.2.0.0", "10.1.0.0", fragmentation: false));
        ChildSa i = await IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Fragmenting(Issue("gw-a", 1), ci, "10.1.0.0", "10.2.0.0"));
        Assert.Equal(i.OutboundSpi, (await responder).InboundSpi);
        Assert.Equal(0, ci.FragmentsSent + cr.FragmentsSent + ci.FragmentsReceived + cr.FragmentsReceived);
    }

    [Fact]
    public async Task LostFragment_TheInitiatorResendsAllFragments_AndTheSaComesUp()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var relay = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var ci = new IkeCounters();
        var cr = new IkeCounters();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var initiatorEnd = (IPEndPoint)a.Client.LocalEndPoint!;
        var responderEnd = (IPEndPoint)b.Client.LocalEndPoint!;
        int lost = 0;
        int tries = 0;
        int total = 0;
        // A relay between the two that loses the first copy of IKE_AUTH request fragment 2.
        Task relaying = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    UdpReceiveResult d = await relay.ReceiveAsync(stop.Token);
                    bool toResponder = d.RemoteEndPoint.Equals(initiatorEnd);
                    byte[] m = d.Buffer;
                    bool request = m.Length > 36 && m[16] == (byte)PayloadType.EncryptedFragment && (m[19] & 0x20) == 0;
                    bool fragment2 = request && m[32] == 0 && m[33] == 2;
                    if (toResponder && request && m[32] == 0 && m[33] == 1)
                    {
                        Interlocked.Increment(ref tries);
                        total = m[35];
                    }
                    if (toResponder && fragment2 && Interlocked.Exchange(ref lost, 1) == 0)
                    {
                        continue;
                    }
                    await relay.SendAsync(m, toResponder ? responderEnd : initiatorEnd, stop.Token);
                }
            }
            catch (OperationCanceledException)
            {
                // The test is over.
            }
        });
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Fragmenting(Issue("gw-b", 2), cr, "10.2.0.0", "10.1.0.0"));
        ChildSa i = await IkeHandshake.InitiateAsync(a, (IPEndPoint)relay.Client.LocalEndPoint!, Fragmenting(Issue("gw-a", 1), ci, "10.1.0.0", "10.2.0.0"));
        ChildSa r = await responder;
        await stop.CancelAsync();
        await relaying;
        Assert.Equal(1, lost);
        Assert.Equal(i.OutboundKeymat, r.InboundKeymat);
        // RFC 7383 §2.6.1: the retransmission is all fragments again; the responder drops the copies it holds.
        Assert.Equal(1, ci.MessagesFragmented);
        Assert.True(tries >= 2 && total >= 3, $"tries {tries}, fragments {total}");
        Assert.Equal(tries * total, ci.FragmentsSent);
        // The responder has all once the resent fragment 2 is in (after a duplicate fragment 1, dropped); it stops
        // reading there, so what follows in the retransmission is not counted.
        Assert.InRange(cr.FragmentsReceived, total + 1, tries * total - 1);
        Assert.True(cr.FragmentsDropped >= 1, $"responder: {cr}");
        Assert.Equal(1, cr.MessagesReassembled);
    }

    /// <summary>IKE_AUTH request fragments as the initiator sent them, copied by a relay on their way.</summary>
    private static async Task<List<byte[]>> RelayCopyingRequestFragments(UdpClient relay, IPEndPoint initiatorEnd, IPEndPoint responderEnd, CancellationToken stop)
    {
        var copies = new List<byte[]>();
        try
        {
            while (true)
            {
                UdpReceiveResult d = await relay.ReceiveAsync(stop);
                bool toResponder = d.RemoteEndPoint.Equals(initiatorEnd);
                if (toResponder && d.Buffer.Length > 36 && d.Buffer[16] == (byte)PayloadType.EncryptedFragment)
                {
                    copies.Add(d.Buffer);
                }
                await relay.SendAsync(d.Buffer, toResponder ? responderEnd : initiatorEnd, stop);
            }
        }
        catch (OperationCanceledException)
        {
            return copies;
        }
    }

    private sealed class CaptureSender : Certgate.Ike.Sa.IIkeSender
    {
        public List<byte[]> Outbox { get; } = [];

        public void Send(ReadOnlyMemory<byte> message, IPEndPoint to, bool encapsulated) => Outbox.Add(message.ToArray());
    }

    [Fact]
    public async Task RetransmittedFragmentedIkeAuth_OnTheEstablishedSa_GetsEveryResponseFragmentAgain_AndAForgedOneNothing()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var relay = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Task<List<byte[]>> relaying = RelayCopyingRequestFragments(relay, (IPEndPoint)a.Client.LocalEndPoint!, (IPEndPoint)b.Client.LocalEndPoint!, stop.Token);
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Fragmenting(Issue("gw-b", 2), new IkeCounters(), "10.2.0.0", "10.1.0.0"));
        ChildSa i = await IkeHandshake.InitiateAsync(a, (IPEndPoint)relay.Client.LocalEndPoint!, Fragmenting(Issue("gw-a", 1), new IkeCounters(), "10.1.0.0", "10.2.0.0"));
        ChildSa r = await responder;
        await stop.CancelAsync();
        List<byte[]> requestFragments = await relaying;
        Assert.True(requestFragments.Count >= 3 && requestFragments[0][33] == 1, $"{requestFragments.Count} request fragments");
        IReadOnlyList<byte[]> response = r.IkeSa!.LastResponse!;
        Assert.True(response.Count >= 3, $"the IKE_AUTH response went as {response.Count} datagram(s)");

        var sender = new CaptureSender();
        var options = new Certgate.Ike.Sa.IkeSaOptions
        {
            ReqId = 1,
            EspLocal = new IPEndPoint(IPAddress.Loopback, 4500),
            EspRemote = new IPEndPoint(IPAddress.Loopback, 4500),
        };
        using var connection = new Certgate.Ike.Sa.IkeConnection(r, new Certgate.Ipsec.MemoryDataPlane(), sender, options);
        byte[] first = requestFragments[0];
        byte[] forged = (byte[])first.Clone();
        forged[^1] ^= 0x01;
        connection.Receive(forged, i.IkeSa!.Local);
        Assert.Empty(sender.Outbox);
        // RFC 7296 §2.1 and RFC 7383 §2.6.1: the retransmitted request (all its fragments) is answered with the
        // same response, every fragment of it, once, on its first fragment.
        // (Fragment Number and Total Fragments follow the header and the SKF generic header; a slow machine may
        // have retransmitted, so only the first copy of the request is replayed.)
        int total = (requestFragments[0][34] << 8) | requestFragments[0][35];
        foreach (byte[] fragment in requestFragments.Take(total))
        {
            connection.Receive(fragment, i.IkeSa.Local);
        }
        Assert.Equal(response, sender.Outbox);
    }

    [Fact]
    public async Task ResponderDemandsACookie_TheInitiatorRepeatsWithIt_AndTheSaComesUp()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var ci = new IkeCounters();
        var cr = new IkeCounters();
        var cookies = new IkeCookies(threshold: 0);
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Config(Issue("gw-b", 2), null, "10.2.0.0", "10.1.0.0") with { Cookies = cookies, Counters = cr });
        ChildSa i = await IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Config(Issue("gw-a", 1)) with { Counters = ci });
        ChildSa r = await responder;
        Assert.Equal(i.OutboundKeymat, r.InboundKeymat);
        Assert.Equal(1, cr.CookiesSent);
        Assert.Equal(1, ci.CookiesRetried);
        Assert.Equal(0, cookies.HalfOpen);
    }
}
