using System.Net;
using Certgate.Ike.Auth;
using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sa;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec;
using Certgate.Pki.Identity;

namespace Certgate.Ike.Tests.Sa;

/// <summary>
/// IKE_SA_INIT and IKE_AUTH as tasks of an <see cref="IkeConnection"/> that starts from nothing, stepped message by
/// message between two in-memory connections (A initiates from 10.0.0.1, B answers on 10.0.0.2), pre-shared key.
/// </summary>
public sealed class IkeEstablishTests : IDisposable
{
    private static readonly byte[] Psk = "a shared secret of some length"u8.ToArray();
    private readonly ManualTime _time = new();
    private readonly Side _a = new("A", IPAddress.Parse("10.0.0.1"));
    private readonly Side _b = new("B", IPAddress.Parse("10.0.0.2"));

    public void Dispose()
    {
        _a.Connection?.Dispose();
        _b.Connection?.Dispose();
    }

    private sealed class Side(string name, IPAddress address) : IIkeSender
    {
        public string Name { get; } = name;

        public IPEndPoint Endpoint { get; } = new(address, 500);

        public MemoryDataPlane Plane { get; } = new();

        public List<(byte[] Message, IPEndPoint To, bool Encapsulated)> Outbox { get; } = [];

        public List<string> Log { get; } = [];

        public IkeConnection Connection { get; set; } = null!;

        public void Send(ReadOnlyMemory<byte> message, IPEndPoint to, bool encapsulated) => Outbox.Add((message.ToArray(), to, encapsulated));

        public byte[] Take()
        {
            Assert.NotEmpty(Outbox);
            byte[] m = Outbox[0].Message;
            Outbox.RemoveAt(0);
            return m;
        }
    }

    private static IkePeerConfig Config(string local, string remote, string fqdn, int fragmentSize = 1280) =>
        new(null, [], null, Ts(local), Ts(remote))
        {
            PreSharedKey = Psk,
            LocalId = IkeIdentity.FromFqdn(fqdn),
            RemoteIds = [RemoteIdentity.Any],
            FragmentSize = fragmentSize,
            Cookies = new IkeCookies(),
        };

    private static Payloads.TrafficSelector Ts(string net) =>
        new(0, 0, 65535, IPAddress.Parse(net), IPAddress.Parse(net.Replace(".0.0", ".255.255", StringComparison.Ordinal)));

    private IkeSaOptions Options(Side self, Side peer, int fragmentSize = 1280, DhGroup pfs = DhGroup.NONE) => new()
    {
        ReqId = 9,
        EspLocal = new IPEndPoint(self.Endpoint.Address, 4500),
        EspRemote = new IPEndPoint(peer.Endpoint.Address, 4500),
        Log = self.Log.Add,
        RetransmitTimeout = TimeSpan.FromSeconds(1),
        RetransmitTries = 2,
        FragmentSize = fragmentSize,
        PfsGroup = pfs,
    };

    /// <summary>A sends IKE_SA_INIT; B is made from it (as the dispatcher does) and answers.</summary>
    private IkeMessage StartBoth(IkePeerConfig a, IkePeerConfig b, int fragmentSize = 1280, DhGroup pfs = DhGroup.NONE)
    {
        _a.Connection = IkeConnection.Initiate(a, _a.Plane, _a, Options(_a, _b, fragmentSize, pfs), _a.Endpoint, _b.Endpoint, natTraversal: false, _time);
        IkeMessage init = IkeMessage.Parse(_a.Take());
        Assert.Equal((ExchangeType.IkeSaInit, 0u, 0ul), (init.Header.Exchange, init.Header.MessageId, init.Header.ResponderSpi));
        Certgate.Ike.Sa.Tasks.IkeInit.Screen(init, _a.Endpoint, b);   // throws when it would refuse
        _b.Connection = IkeConnection.Respond(b, _b.Plane, _b, Options(_b, _a, fragmentSize, pfs), init, _a.Endpoint, _b.Endpoint, natTraversal: false, _time);
        return init;
    }

    private void Deliver(Side from)
    {
        Side to = from == _a ? _b : _a;
        Assert.True(to.Connection.Receive(from.Take(), from.Endpoint, false), $"{to.Name} did not take {from.Name}'s message");
    }

    private void Pump()
    {
        for (int n = 0; _a.Outbox.Count + _b.Outbox.Count > 0; n++)
        {
            Assert.True(n < 50, "the exchange does not settle");
            if (_a.Outbox.Count > 0)
            {
                Deliver(_a);
            }
            if (_b.Outbox.Count > 0)
            {
                Deliver(_b);
            }
        }
    }

    [Fact]
    public void FromNothing_IkeSaInitThenIkeAuth_BothEstablished_ChildSaInstalledMirrored()
    {
        ChildSa? raisedA = null;
        StartBoth(Config("10.1.0.0", "10.2.0.0", "a.test"), Config("10.2.0.0", "10.1.0.0", "b.test"));
        _a.Connection.Established += c => raisedA = c;
        Assert.Equal(IkeSaState.Connecting, _a.Connection.IkeSas.Single().State);
        Assert.Equal(IkeSaState.Connecting, _b.Connection.IkeSas.Single().State);

        // IKE_SA_INIT response: A derives the keys and sends IKE_AUTH (Message ID 1, SK).
        Deliver(_b);
        IkeMessage auth = IkeMessage.Parse(_a.Outbox[0].Message);
        Assert.Equal((ExchangeType.IkeAuth, 1u, PayloadType.Encrypted), (auth.Header.Exchange, auth.Header.MessageId, auth.Payloads[^1].Type));
        Assert.Empty(_a.Plane.Sas);
        Deliver(_a);
        // B answered IKE_AUTH: established on its side, the CHILD_SA in its data plane.
        Assert.Equal(IkeSaState.Established, _b.Connection.IkeSa.State);
        Assert.Equal(2, _b.Plane.Sas.Count);
        Deliver(_b);
        Assert.Equal(IkeSaState.Established, _a.Connection.IkeSa.State);
        Assert.NotNull(raisedA);

        ChildSa a = _a.Connection.FirstChild!, b = _b.Connection.FirstChild!;
        Assert.Same(a, raisedA);
        Assert.Equal((a.InboundSpi, a.OutboundSpi), (b.OutboundSpi, b.InboundSpi));
        Assert.Equal(a.InboundKeymat, b.OutboundKeymat);
        Assert.Equal("b.test", a.PeerIdentity);
        Assert.Equal("a.test", b.PeerIdentity);
        Assert.Equal(_a.Connection.IkeSa.InitiatorSpi, _b.Connection.IkeSa.InitiatorSpi);
        Assert.Equal(_a.Connection.IkeSa.ResponderSpi, _b.Connection.IkeSa.ResponderSpi);
        SaSpec aOut = _a.Plane.Sas.Single(s => s.Direction == SaDirection.Outbound);
        SaSpec bIn = _b.Plane.Sas.Single(s => s.Direction == SaDirection.Inbound);
        Assert.Equal(aOut.Spi, bIn.Spi);
        Assert.Equal(aOut.Keymat, bIn.Keymat);
        // No NAT seen: raw ESP.
        Assert.False(aOut.UdpEncapsulation);
        Assert.Single(_a.Plane.Policies);

        // The established SA runs its exchanges on Message IDs 2 and up.
        _a.Connection.RekeyChild();
        Assert.Equal(2u, IkeMessage.Parse(_a.Outbox[0].Message).Header.MessageId);
        Pump();
        Assert.Equal(2, _a.Plane.Sas.Count);
        Assert.NotEqual(a.InboundSpi, _a.Connection.Children.Single().InboundSpi);
    }

    [Fact]
    public void RetransmittedIkeSaInit_IsAnsweredWithTheSameResponse_RetransmittedIkeAuthToo()
    {
        IkeMessage init = StartBoth(Config("10.1.0.0", "10.2.0.0", "a.test"), Config("10.2.0.0", "10.1.0.0", "b.test"));
        byte[] first = _b.Outbox[0].Message;
        Assert.True(_b.Connection.Receive(init.Raw, _a.Endpoint, false));
        Assert.Equal(first, _b.Outbox[1].Message);
        _b.Outbox.RemoveAt(1);
        Deliver(_b);
        byte[] auth = _a.Outbox[0].Message;
        Deliver(_a);
        byte[] authResponse = _b.Outbox[0].Message;
        Assert.True(_b.Connection.Receive(auth, _a.Endpoint, false));
        Assert.Equal(authResponse, _b.Outbox[1].Message);
        // Once the SA is up, an old IKE_SA_INIT is not its message any more (a dispatcher may take it as a new SA's).
        Assert.False(_b.Connection.Receive(init.Raw, _a.Endpoint, false));
        Assert.Equal(2, _b.Outbox.Count);
    }

    [Fact]
    public void WrongPreSharedKey_ResponderAnswersAuthenticationFailed_BothClose()
    {
        StartBoth(Config("10.1.0.0", "10.2.0.0", "a.test"), Config("10.2.0.0", "10.1.0.0", "b.test") with { PreSharedKey = "another shared secret"u8.ToArray() });
        Pump();
        Assert.Contains("shared-key AUTH does not verify", _b.Connection.CloseReason);
        Assert.Contains("AUTHENTICATION_FAILED", _a.Connection.CloseReason);
        Assert.Empty(_a.Plane.Sas);
        Assert.Empty(_b.Plane.Sas);
    }

    [Fact]
    public void NoAnswer_TheInitiatorRetransmitsTheSameOctets_ThenCloses()
    {
        _a.Connection = IkeConnection.Initiate(Config("10.1.0.0", "10.2.0.0", "a.test"), _a.Plane, _a, Options(_a, _b), _a.Endpoint, _b.Endpoint, false, _time);
        byte[] first = _a.Take();
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(first, _a.Take());
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(first, _a.Take());
        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.Contains("no answer from 10.0.0.2:500 to IKE_INIT after 3 tries", _a.Connection.CloseReason);
    }

    [Fact]
    public void HalfOpenResponder_WithoutIkeAuth_ClosesAfterTheTimeout_AndNoLongerCountsAsHalfOpen()
    {
        IkePeerConfig b = Config("10.2.0.0", "10.1.0.0", "b.test");
        StartBoth(Config("10.1.0.0", "10.2.0.0", "a.test"), b);
        Assert.Equal(1, b.Cookies.HalfOpen);
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Contains("no IKE_AUTH", _b.Connection.CloseReason);
        Assert.Equal(0, b.Cookies.HalfOpen);
    }

    /// <summary>
    /// An IKE_AUTH response that refuses the CHILD_SA (IDr, AUTH, N(TS_UNACCEPTABLE), as RFC 7296 §2.21.2 has it) but
    /// whose AUTH does not verify is an AUTH failure: the initiator answers AUTHENTICATION_FAILED and does not act on
    /// the unauthenticated notify (no Delete, no "the peer refused the CHILD_SA").
    /// </summary>
    [Fact]
    public void ChildSaErrorWithABadAuth_IsRefusedAsAnAuthFailure_NotActedOnAsTheChildError()
    {
        StartBoth(Config("10.1.0.0", "10.2.0.0", "a.test"), Config("10.2.0.0", "10.1.0.0", "b.test"));
        Deliver(_b);
        Deliver(_a);
        // B's real answer is dropped; in its place one sealed with B's keys (so it decrypts) whose AUTH is not B's MIC.
        _b.Take();
        IkeSa b = _b.Connection.Current;
        byte[] forged = b.Out.Seal(new IkeHeader(b.SpiI, b.SpiR, PayloadType.None, ExchangeType.IkeAuth, true, false, 1, 0),
        [
            (PayloadType.IdResponder, IkeIdentities.Encode(IkeIdentity.FromFqdn("b.test"))),
            (PayloadType.Authentication, Payloads.WriteTyped4((byte)AuthMethod.SHARED_KEY_MESSAGE_INTEGRITY_CODE, new byte[32])),
            MessagePayloads.Notify(NotifyType.TS_UNACCEPTABLE),
        ]);
        Assert.True(_a.Connection.Receive(forged, _b.Endpoint, false));

        Assert.Equal("the responder's shared-key AUTH does not verify (a different pre-shared key)", _a.Connection.CloseReason);
        Assert.Empty(_a.Plane.Sas);
        IkeMessage sent = IkeMessage.Parse(_a.Take());
        Assert.Equal(ExchangeType.Informational, sent.Header.Exchange);
        IReadOnlyList<RawPayload> inner = SkProtection.Open(b.In, null, sent, null, "initiator")!;
        Assert.Equal([PayloadType.Notify], inner.Select(p => p.Type));
        Assert.Equal((ushort)NotifyType.AUTHENTICATION_FAILED, Payloads.ReadNotify(inner[0].Body).Type);
        Assert.Empty(_a.Outbox);
    }

    /// <summary>
    /// The same refusal with B's real IDr and AUTH: the responder proved who it is, so the initiator acts on the
    /// CHILD_SA error — it deletes the IKE SA the responder kept (§1.2) and says who authenticated.
    /// </summary>
    [Fact]
    public void ChildSaErrorWithAGoodAuth_IsActedOn_TheIkeSaIsDeleted()
    {
        StartBoth(Config("10.1.0.0", "10.2.0.0", "a.test"), Config("10.2.0.0", "10.1.0.0", "b.test"));
        Deliver(_b);
        Deliver(_a);
        IkeSa b = _b.Connection.Current;
        IkeMessage real = IkeMessage.Parse(_b.Take());
        IReadOnlyList<RawPayload> payloads = SkProtection.Open(_a.Connection.Current.In, null, real, null, "responder")!;
        // B's IDr and AUTH kept, its SA, TSi and TSr replaced by N(TS_UNACCEPTABLE) (RFC 7296 §2.21.2's form).
        byte[] refusal = b.Out.Seal(new IkeHeader(b.SpiI, b.SpiR, PayloadType.None, ExchangeType.IkeAuth, true, false, 1, 0),
        [
            .. payloads.Where(p => p.Type is PayloadType.IdResponder or PayloadType.Authentication).Select(p => (p.Type, p.Body)),
            MessagePayloads.Notify(NotifyType.TS_UNACCEPTABLE),
        ]);
        Assert.True(_a.Connection.Receive(refusal, _b.Endpoint, false));

        Assert.Equal("the peer refused IKE_AUTH's CHILD_SA: TS_UNACCEPTABLE for the offered TSi 10.1.0.0/16, TSr 10.2.0.0/16 "
            + "(the responder authenticated as b.test (ID_FQDN) with AUTH method 2; its IKE SA deleted)", _a.Connection.CloseReason);
        IReadOnlyList<RawPayload> sent = SkProtection.Open(b.In, null, IkeMessage.Parse(_a.Take()), null, "initiator")!;
        Assert.Equal([PayloadType.Delete], sent.Select(p => p.Type));
        Assert.Empty(_a.Plane.Sas);
    }

    /// <summary>A refusal without AUTH fails the SA, but nobody vouches for it: the initiator sends nothing (no Delete).</summary>
    [Fact]
    public void ChildSaErrorWithoutAuth_FailsTheSa_WithoutActingOnIt()
    {
        StartBoth(Config("10.1.0.0", "10.2.0.0", "a.test"), Config("10.2.0.0", "10.1.0.0", "b.test"));
        Deliver(_b);
        Deliver(_a);
        _b.Take();
        IkeSa b = _b.Connection.Current;
        byte[] refusal = b.Out.Seal(new IkeHeader(b.SpiI, b.SpiR, PayloadType.None, ExchangeType.IkeAuth, true, false, 1, 0),
            [MessagePayloads.Notify(NotifyType.TS_UNACCEPTABLE)]);
        Assert.True(_a.Connection.Receive(refusal, _b.Endpoint, false));

        Assert.Equal("the peer refused IKE_AUTH's CHILD_SA: TS_UNACCEPTABLE for the offered TSi 10.1.0.0/16, TSr 10.2.0.0/16", _a.Connection.CloseReason);
        Assert.Empty(_a.Outbox);
        Assert.Empty(_a.Plane.Sas);
    }

    /// <summary>
    /// RFC 7383 in the task manager's send path: with a 512-octet fragment size, a CREATE_CHILD_SA with a MODP-2048
    /// KE (PFS) goes as several Encrypted Fragments, each within the size, and is reassembled by the peer.
    /// </summary>
    [Fact]
    public void CreateChildSaAboveTheFragmentSize_GoesAsFragments_AndIsReassembled()
    {
        StartBoth(Config("10.1.0.0", "10.2.0.0", "a.test", 512), Config("10.2.0.0", "10.1.0.0", "b.test", 512), 512, DhGroup.MODP_2048);
        Pump();
        uint before = _a.Connection.Children.Single().InboundSpi;
        _a.Connection.RekeyChild();
        Assert.True(_a.Outbox.Count >= 2, $"{_a.Outbox.Count} datagram(s)");
        foreach ((byte[] m, _, _) in _a.Outbox)
        {
            Assert.InRange(m.Length, 1, 512 - 28);
            IkeMessage fragment = IkeMessage.Parse(m);
            Assert.Equal((ExchangeType.CreateChildSa, PayloadType.EncryptedFragment), (fragment.Header.Exchange, fragment.Payloads[^1].Type));
        }
        Pump();
        ChildSaInfo now = _a.Connection.Children.Single();
        Assert.NotEqual(before, now.InboundSpi);
        Assert.True(now.Pfs);
        Assert.Equal(_b.Connection.Children.Single().OutboundSpi, now.InboundSpi);
    }
}
