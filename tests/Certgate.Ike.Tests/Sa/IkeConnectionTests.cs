using System.Net;
using System.Security.Cryptography;
using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sa;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec;

namespace Certgate.Ike.Tests.Sa;

/// <summary>
/// Exchanges of an established IKE SA stepped message by message between two in-memory connections: what each sends
/// is captured, then delivered, dropped, duplicated or reordered; states and data-plane SAs are asserted after.
/// A (10.0.0.1) is the original initiator, B (10.0.0.2) the responder. A's nonces sort below B's, so in a
/// collision the exchange A initiated holds the lowest nonce (A's Ni is drawn before its Nr).
/// </summary>
public sealed class IkeConnectionTests : IDisposable
{
    private static readonly SaSuite IkeSuite = new(EncryptionAlgorithm.ENCR_AES_GCM_16, 256, IntegrityAlgorithm.NONE, DhGroup.ECP_256);
    private static readonly SaSuite EspSuite = new(EncryptionAlgorithm.ENCR_AES_GCM_16, 256, IntegrityAlgorithm.NONE, DhGroup.NONE);
    private readonly ManualTime _time = new();
    private readonly Side _a;
    private readonly Side _b;
    private byte[] _skei = [];
    private byte[] _sker = [];

    public IkeConnectionTests() : this(DhGroup.NONE)
    {
    }

    private IkeConnectionTests(DhGroup pfs)
    {
        _a = new Side("A", IPAddress.Parse("10.0.0.1"), 0x10);
        _b = new Side("B", IPAddress.Parse("10.0.0.2"), 0x80);
        Connect(pfs);
    }

    public void Dispose()
    {
        _a.Connection?.Dispose();
        _b.Connection?.Dispose();
    }

    private sealed class Side(string name, IPAddress address, byte noncePrefix) : IIkeSender
    {
        private int _draws;

        public string Name { get; } = name;

        public IPEndPoint Endpoint { get; } = new(address, 500);

        public MemoryDataPlane Plane { get; } = new();

        public ExpiringPlane DataPlane => field ??= new ExpiringPlane(Plane);

        public List<byte[]> Outbox { get; } = [];

        public List<string> Log { get; } = [];

        public IkeConnection Connection { get; set; } = null!;

        /// <summary>Random octets whose first octet grows with each draw above this side's prefix.</summary>
        public byte[] Random(int n)
        {
            byte[] b = RandomNumberGenerator.GetBytes(n);
            b[0] = (byte)(noncePrefix + Math.Min(++_draws, 0x6f));
            return b;
        }

        public void Send(ReadOnlyMemory<byte> message, IPEndPoint to, bool encapsulated) => Outbox.Add(message.ToArray());

        public byte[] Take()
        {
            Assert.NotEmpty(Outbox);
            byte[] m = Outbox[0];
            Outbox.RemoveAt(0);
            return m;
        }
    }

    /// <summary>Connects A and B; <paramref name="shapeA"/> may change A's view of the first CHILD_SA (its negotiated or configured selectors).</summary>
    private void Connect(DhGroup pfs, TimeSpan? dpd = null, TimeSpan? grace = null, Func<ChildSa, ChildSa>? shapeA = null)
    {
        _a.Connection?.Dispose();
        _b.Connection?.Dispose();
        byte[] skd = RandomNumberGenerator.GetBytes(32), skei = RandomNumberGenerator.GetBytes(36), sker = RandomNumberGenerator.GetBytes(36);
        _skei = (byte[])skei.Clone();
        _sker = (byte[])sker.Clone();
        IkeSaKeys Keys() => new((byte[])skd.Clone(), [], [], (byte[])skei.Clone(), (byte[])sker.Clone(), new byte[32], new byte[32]);
        byte[] ni = RandomNumberGenerator.GetBytes(32), nr = RandomNumberGenerator.GetBytes(32);
        byte[] i2r = RandomNumberGenerator.GetBytes(36), r2i = RandomNumberGenerator.GetBytes(36);
        var tsA = new Payloads.TrafficSelector(0, 0, 65535, IPAddress.Parse("10.1.0.0"), IPAddress.Parse("10.1.255.255"));
        var tsB = new Payloads.TrafficSelector(0, 0, 65535, IPAddress.Parse("10.2.0.0"), IPAddress.Parse("10.2.255.255"));
        var a = new ChildSa(0x1000a, 0x1000b, r2i, i2r, null, EspSuite, IkeSuite)
        {
            IkeSa = new EstablishedIkeSa(0x1111, 0x2222, true, IkeSuite, Keys(), ni, nr, _a.Endpoint, _b.Endpoint, false, 2, 0, null, [tsA], [tsB]),
        };
        var b = new ChildSa(0x1000b, 0x1000a, i2r, r2i, null, EspSuite, IkeSuite)
        {
            IkeSa = new EstablishedIkeSa(0x1111, 0x2222, false, IkeSuite, Keys(), ni, nr, _b.Endpoint, _a.Endpoint, false, 0, 2, null, [tsB], [tsA]),
        };
        a = shapeA?.Invoke(a) ?? a;
        _a.Connection = new IkeConnection(a, _a.DataPlane, _a, Options(_a, _b, pfs, dpd) with { RekeyedGrace = grace ?? TimeSpan.FromSeconds(30) }, _time);
        _b.Connection = new IkeConnection(b, _b.DataPlane, _b, Options(_b, _a, pfs, dpd) with { RekeyedGrace = grace ?? TimeSpan.FromSeconds(30) }, _time);
    }

    private static IkeSaOptions Options(Side self, Side peer, DhGroup pfs, TimeSpan? dpd) => new()
    {
        ReqId = 7,
        EspLocal = new IPEndPoint(self.Endpoint.Address, 4500),
        EspRemote = new IPEndPoint(peer.Endpoint.Address, 4500),
        PfsGroup = pfs,
        DpdDelay = dpd,
        Random = self.Random,
        Log = self.Log.Add,
        RetransmitTimeout = TimeSpan.FromSeconds(1),
        RetransmitTries = 3,
    };

    private Side Other(Side s) => s == _a ? _b : _a;

    /// <summary>Delivers the oldest message of <paramref name="from"/> to its peer.</summary>
    private void Deliver(Side from) => Assert.True(Other(from).Connection.Receive(from.Take(), from.Endpoint), $"{Other(from).Name} did not take {from.Name}'s message");

    /// <summary>Delivers everything both sides send until they are quiet; returns how many messages crossed.</summary>
    private int Pump()
    {
        int n = 0;
        while (_a.Outbox.Count + _b.Outbox.Count > 0)
        {
            Assert.True(n < 50, "the exchange does not settle");
            if (_a.Outbox.Count > 0)
            {
                Deliver(_a);
                n++;
            }
            if (_b.Outbox.Count > 0)
            {
                Deliver(_b);
                n++;
            }
        }
        return n;
    }

    /// <summary>Both sides have one CHILD_SA, mirror images of each other, and exactly its two SAs in their data planes with matching keys.</summary>
    private (uint AInbound, uint BInbound) AssertOneAgreedChild()
    {
        ChildSaInfo a = Assert.Single(_a.Connection.Children);
        ChildSaInfo b = Assert.Single(_b.Connection.Children);
        Assert.Equal(ChildSaState.Installed, a.State);
        Assert.Equal(ChildSaState.Installed, b.State);
        Assert.Equal(a.InboundSpi, b.OutboundSpi);
        Assert.Equal(a.OutboundSpi, b.InboundSpi);
        Assert.Equal(2, _a.Plane.Sas.Count);
        Assert.Equal(2, _b.Plane.Sas.Count);
        SaSpec aIn = _a.Plane.Sas.Single(s => s.Direction == SaDirection.Inbound);
        SaSpec bOut = _b.Plane.Sas.Single(s => s.Direction == SaDirection.Outbound);
        SaSpec aOut = _a.Plane.Sas.Single(s => s.Direction == SaDirection.Outbound);
        SaSpec bIn = _b.Plane.Sas.Single(s => s.Direction == SaDirection.Inbound);
        Assert.Equal((a.InboundSpi, a.InboundSpi), (aIn.Spi, bOut.Spi));
        Assert.Equal(aIn.Keymat, bOut.Keymat);
        Assert.Equal(aOut.Keymat, bIn.Keymat);
        Assert.NotEqual(aIn.Keymat, aOut.Keymat);
        Assert.All(_a.Plane.Sas.Concat(_b.Plane.Sas), s => Assert.Equal(7u, s.ReqId));
        return (a.InboundSpi, b.InboundSpi);
    }

    private void AssertOneAgreedIkeSa()
    {
        IkeSaInfo a = Assert.Single(_a.Connection.IkeSas);
        IkeSaInfo b = Assert.Single(_b.Connection.IkeSas);
        Assert.Equal((a.InitiatorSpi, a.ResponderSpi), (b.InitiatorSpi, b.ResponderSpi));
        Assert.NotEqual(a.IsOriginalInitiator, b.IsOriginalInitiator);
        Assert.Equal(IkeSaState.Established, a.State);
        Assert.Equal(IkeSaState.Established, b.State);
    }

    [Theory]
    [InlineData(true, DhGroup.NONE)]
    [InlineData(false, DhGroup.NONE)]
    [InlineData(true, DhGroup.ECP_256)]
    [InlineData(false, DhGroup.MODP_2048)]
    public void ChildRekey_ReplacesTheSaOnBothSides(bool originalInitiatorRekeys, DhGroup pfs)
    {
        Connect(pfs);
        Side i = originalInitiatorRekeys ? _a : _b;
        i.Connection.RekeyChild();
        Deliver(i);                                            // CREATE_CHILD_SA request
        Assert.Equal(3, Other(i).Plane.Sas.Count);             // the responder installed the new inbound SA beside the old two
        Assert.Equal(ChildSaState.Rekeyed, Other(i).Connection.Children[0].State);
        Deliver(Other(i));                                     // response: the initiator installs, then deletes the old
        Assert.Equal(4, i.Plane.Sas.Count);
        Assert.Equal(2, Pump());                               // DELETE request and response (and nothing else)
        (uint aIn, uint bIn) = AssertOneAgreedChild();
        Assert.NotEqual(0x1000au, aIn);
        Assert.NotEqual(0x1000bu, bIn);
        Assert.Equal(pfs != DhGroup.NONE, _a.Connection.Children[0].Pfs);
        Assert.False(_a.Connection.IsClosed || _b.Connection.IsClosed);
    }

    /// <summary>
    /// The responder of a CHILD_SA rekey keeps sending on the old SA until the initiator deletes it: the initiator
    /// can decrypt the new SA only once it has read the response, so sending on it at once would lose packets.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ChildRekey_TheResponderSwitchesOutbound_OnlyWhenThePeerDeletesTheOldSa(bool originalInitiatorRekeys)
    {
        Connect(DhGroup.NONE);
        Side i = originalInitiatorRekeys ? _a : _b;
        Side r = Other(i);
        uint[] Outbound(Side s) => [.. s.Plane.Sas.Where(sa => sa.Direction == SaDirection.Outbound).Select(sa => sa.Spi)];
        uint oldOut = Assert.Single(Outbound(r));
        i.Connection.RekeyChild();
        Deliver(i);                                            // CREATE_CHILD_SA request
        Assert.Equal([oldOut], Outbound(r));                   // the responder still sends on the old SA
        Assert.Equal(2, r.Plane.Sas.Count(sa => sa.Direction == SaDirection.Inbound));
        uint newOut = r.Connection.Children.Single(c => c.State == ChildSaState.Installed).OutboundSpi;
        Deliver(r);                                            // response: the initiator installs both directions
        Assert.Contains(newOut, i.Plane.Sas.Where(sa => sa.Direction == SaDirection.Inbound).Select(sa => sa.Spi));
        Assert.Equal([oldOut], Outbound(r));
        Deliver(i);                                            // the initiator's DELETE of the old SA
        Assert.Equal([newOut], Outbound(r));                   // the new outbound SA went in as the old left
        Assert.Equal(1, Pump());                               // the DELETE response
        AssertOneAgreedChild();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void IkeRekey_NewSpis_ChildrenSurvive_AndTheNewSaWorks(bool originalInitiatorRekeys)
    {
        Side i = originalInitiatorRekeys ? _a : _b;
        i.Connection.RekeyIke();
        Pump();
        AssertOneAgreedIkeSa();
        IkeSaInfo now = _a.Connection.IkeSa;
        Assert.NotEqual(0x1111ul, now.InitiatorSpi);
        Assert.NotEqual(0x2222ul, now.ResponderSpi);
        // §2.18: the rekey initiator is the new SA's original initiator.
        Assert.Equal(originalInitiatorRekeys, now.IsOriginalInitiator);
        (uint aIn, uint bIn) = AssertOneAgreedChild();
        Assert.Equal((0x1000au, 0x1000bu), (aIn, bIn));
        // The new SK_d agrees: a CHILD_SA rekey on the new SA gives matching keys; Message IDs restart at 0.
        Other(i).Connection.RekeyChild();
        Assert.Equal(0u, IkeMessage.Parse(Other(i).Outbox[0]).Header.MessageId);
        Pump();
        AssertOneAgreedChild();
        // A message for the old SPIs is no longer anyone's.
        Assert.False(_b.Connection.Owns(0x1111, 0x2222));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void DeleteChild_RemovesBothDirectionsOnBothSides(bool originalInitiatorDeletes)
    {
        Side i = originalInitiatorDeletes ? _a : _b;
        i.Connection.DeleteChild();
        Deliver(i);
        Assert.Empty(Other(i).Plane.Sas);
        IkeMessage response = IkeMessage.Parse(Other(i).Outbox[0]);
        Assert.True(response.Header.IsResponse);
        Deliver(Other(i));
        Assert.Empty(i.Plane.Sas);
        Assert.Empty(_a.Connection.Children);
        Assert.Empty(_b.Connection.Children);
        Assert.False(i.Connection.IsClosed);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void DeleteIke_ClosesBothSides_AndEmptiesTheDataPlanes(bool originalInitiatorDeletes)
    {
        Side i = originalInitiatorDeletes ? _a : _b;
        string? closed = null;
        Other(i).Connection.Closed += r => closed = r;
        i.Connection.Delete();
        Assert.Equal(2, Pump());
        Assert.True(_a.Connection.IsClosed);
        Assert.True(_b.Connection.IsClosed);
        Assert.Equal("deleted by the peer", closed);
        Assert.Empty(_a.Plane.Sas);
        Assert.Empty(_b.Plane.Sas);
        Assert.Empty(_a.Plane.Policies);
    }

    [Fact]
    public void Dpd_IsAnswered_AndKeepsTheSa()
    {
        _b.Connection.Dpd();
        IkeMessage request = IkeMessage.Parse(_b.Outbox[0]);
        Assert.Equal(ExchangeType.Informational, request.Header.Exchange);
        Assert.Equal(0u, request.Header.MessageId);
        Assert.Equal(2, Pump());
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(_b.Outbox);                               // answered: no retransmit
        Assert.False(_b.Connection.IsClosed);
    }

    [Fact]
    public void DpdTimer_WithoutAnswers_ClosesTheSa_AfterRetransmitsWithBackoff()
    {
        Connect(DhGroup.NONE, dpd: TimeSpan.FromSeconds(10));
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Single(_a.Outbox);                              // DPD: nothing heard for 10 s
        byte[] first = _a.Outbox[0];
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, _a.Outbox.Count);                      // retransmit after 1 s …
        Assert.Equal(first, _a.Outbox[1]);                     // … the same octets (§2.1)
        _time.Advance(TimeSpan.FromSeconds(1.7));
        Assert.Equal(2, _a.Outbox.Count);                      // … then after 1.8 s, not before
        _time.Advance(TimeSpan.FromSeconds(0.2));
        Assert.Equal(3, _a.Outbox.Count);
        Assert.False(_a.Connection.IsClosed);
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(4, _a.Outbox.Count);                      // 3 retransmits, then the peer is dead
        Assert.True(_a.Connection.IsClosed);
        Assert.Contains("did not answer IKE_DPD", _a.Connection.CloseReason, StringComparison.Ordinal);
        Assert.Empty(_a.Plane.Sas);
    }

    [Fact]
    public void DataPlaneSoftExpiry_Rekeys_HardExpiry_Deletes_OtherPoliciesIgnored()
    {
        _a.DataPlane.Raise(new SaExpiry(0x1000a, SaDirection.Inbound, 7, ExpiryKind.Soft, "soft limit reached after 1000 bytes, 1 packets"));
        Pump();
        (uint aIn, _) = AssertOneAgreedChild();
        Assert.NotEqual(0x1000au, aIn);
        _a.DataPlane.Raise(new SaExpiry(aIn, SaDirection.Inbound, 8, ExpiryKind.Hard, "another tunnel's policy"));
        Assert.Empty(_a.Outbox);
        _a.DataPlane.Raise(new SaExpiry(aIn, SaDirection.Inbound, 7, ExpiryKind.Hard, "its sequence numbers are used up"));
        Pump();
        Assert.Empty(_a.Connection.Children);
        Assert.Empty(_b.Connection.Children);
        Assert.Empty(_a.Plane.Sas);
    }

    /// <summary>The in-memory data plane with expiry events the test raises (the IKE-installed SAs carry no traffic limits).</summary>
    private sealed class ExpiringPlane(MemoryDataPlane inner) : IIpsecDataPlane
    {
        public event Action<SaExpiry>? Expired;

        public event Action<SaAcquire>? Acquire
        {
            add => inner.Acquire += value;
            remove => inner.Acquire -= value;
        }

        public void Raise(SaExpiry expiry) => Expired?.Invoke(expiry);

        public uint AllocateSpi() => inner.AllocateSpi();

        public void AddSa(SaSpec sa) => inner.AddSa(sa);

        public bool DeleteSa(uint spi, SaDirection direction) => inner.DeleteSa(spi, direction);

        public SaUsage? QuerySa(uint spi, SaDirection direction) => inner.QuerySa(spi, direction);

        public void AddPolicy(IpsecPolicy policy) => inner.AddPolicy(policy);

        public bool DeletePolicy(uint reqId) => inner.DeletePolicy(reqId);
    }

    [Fact]
    public void LostRequest_IsRetransmitted_AndAnsweredOnce()
    {
        _a.Connection.RekeyChild();
        _a.Take();                                             // lost
        _time.Advance(TimeSpan.FromSeconds(1));
        Deliver(_a);                                           // the retransmit
        Assert.Equal(3, _b.Plane.Sas.Count);                   // the new inbound SA (outbound when the old is deleted)
        Deliver(_b);
        Pump();
        AssertOneAgreedChild();
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(_a.Outbox);
    }

    [Fact]
    public void RetransmittedRequest_GetsTheCachedResponse_AndIsNotProcessedTwice()
    {
        _a.Connection.RekeyChild();
        byte[] request = _a.Outbox[0];
        Deliver(_a);
        byte[] response = _b.Take();                           // the response is lost
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(request, _a.Outbox[0]);
        Deliver(_a);
        Assert.Equal(response, _b.Outbox[0]);                  // resent verbatim
        Assert.Equal(3, _b.Plane.Sas.Count);                   // and no third CHILD_SA
        Deliver(_b);
        Assert.True(_b.Connection.Receive(request, _a.Endpoint));   // a late duplicate: the same answer again
        Assert.Equal(response, _b.Take());
        Pump();
        AssertOneAgreedChild();
    }

    [Fact]
    public void ReorderedAndForgedMessages_AreDropped()
    {
        _a.Connection.Dpd();
        byte[] dpd = _a.Take();
        byte[] forged = (byte[])dpd.Clone();
        forged[^1] ^= 1;
        Assert.True(_b.Connection.Receive(forged, _a.Endpoint));
        Assert.Empty(_b.Outbox);                               // ICV fails: not answered (§3.14)
        Assert.True(_b.Connection.Receive(dpd, _a.Endpoint));
        Assert.Single(_b.Outbox);
        Assert.False(_b.Connection.Receive(new byte[10], _a.Endpoint));
    }

    [Theory]
    [InlineData("no nonce")]
    [InlineData("a CERT")]
    [InlineData("two SAs")]
    public void RequestBreakingThePayloadTable_IsAnsweredInvalidSyntax_BeforeAnyTaskRuns_AndClosesTheSa(string fault)
    {
        // A CREATE_CHILD_SA request as A would seal it (SK_ei), with one rule of the table broken.
        byte[] sa = Payloads.WriteSa(Negotiation.EspOffer(new byte[] { 0, 0, 0x20, 0 }));
        List<(PayloadType, ReadOnlyMemory<byte>)> payloads = fault switch
        {
            "no nonce" => [(PayloadType.SecurityAssociation, sa)],
            "a CERT" => [(PayloadType.SecurityAssociation, sa), (PayloadType.Nonce, new byte[32]), (PayloadType.Certificate, new byte[] { 4, 1, 2 })],
            _ => [(PayloadType.SecurityAssociation, sa), (PayloadType.SecurityAssociation, sa), (PayloadType.Nonce, new byte[32])],
        };
        using SkCipher cipher = SkCipher.Gcm(_skei);
        byte[] request = cipher.Seal(new IkeHeader(0x1111, 0x2222, PayloadType.None, ExchangeType.CreateChildSa, false, true, 2, 0), payloads);
        Assert.True(_b.Connection.Receive(request, _a.Endpoint));
        IkeMessage response = IkeMessage.Parse(Assert.Single(_b.Outbox));
        Assert.True(response.Header.IsResponse);
        Assert.Equal(2u, response.Header.MessageId);
        Assert.True(_b.Connection.IsClosed);
        Assert.Empty(_b.Plane.Sas);
        Assert.Contains(_b.Log, l => l.Contains("INVALID_SYNTAX", StringComparison.Ordinal));
    }

    [Fact]
    public void AuthenticationFailedFromTheInitiator_ClosesTheSa()
    {
        // §2.21.2: the initiator rejected the responder's AUTH after IKE_AUTH and says so in INFORMATIONAL (Message ID 2).
        using SkCipher cipher = SkCipher.Gcm(_skei);
        byte[] notify = Payloads.WriteNotify(new Payloads.Notify(0, (ushort)NotifyType.AUTHENTICATION_FAILED, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty));
        byte[] request = cipher.Seal(new IkeHeader(0x1111, 0x2222, PayloadType.None, ExchangeType.Informational, false, true, 2, 0), [(PayloadType.Notify, notify)]);
        Assert.True(_b.Connection.Receive(request, _a.Endpoint));
        Assert.Single(_b.Outbox);
        Assert.True(_b.Connection.IsClosed);
        Assert.Contains("AUTHENTICATION_FAILED", _b.Connection.CloseReason, StringComparison.Ordinal);
        Assert.Empty(_b.Plane.Sas);
    }

    [Fact]
    public void PeerReplacesAChild_ButItsDeleteIsLost_TheOldSaGoesAfterTheGrace()
    {
        Connect(DhGroup.NONE, grace: TimeSpan.FromSeconds(2));
        _a.Connection.RekeyChild();
        Deliver(_a);
        Deliver(_b);
        _a.Take();                                             // A's DELETE of the old SA is lost …
        _time.Advance(TimeSpan.FromSeconds(1.5));
        _a.Take();                                             // … and so is its first retransmit
        Assert.Equal(3, _b.Plane.Sas.Count);                   // B still sends on the old SA
        _time.Advance(TimeSpan.FromSeconds(0.6));              // B's grace runs out: B deletes the old SA itself
        Assert.Contains(_b.Log, l => l.Contains("did not delete it", StringComparison.Ordinal));
        Deliver(_b);                                           // A is deleting it too: answers without a Delete (§1.4.1)
        using (SkCipher fromA = SkCipher.Gcm(_skei))
        {
            IkeMessage answer = IkeMessage.Parse(_a.Outbox[0]);
            Assert.True(answer.Header.IsResponse);
            Assert.DoesNotContain(fromA.Open(answer), p => p.Type == PayloadType.Delete);
        }
        Pump();
        _time.Advance(TimeSpan.FromSeconds(1));                // A's next retransmit: B no longer has the SA
        Pump();
        AssertOneAgreedChild();
        Assert.False(_a.Connection.IsClosed || _b.Connection.IsClosed);
    }

    [Fact]
    public void SimultaneousChildRekey_LeavesOneSa_TheOneWithoutTheLowestNonce()
    {
        _a.Connection.RekeyChild();
        _b.Connection.RekeyChild();
        Deliver(_a);                                           // the requests cross
        Deliver(_b);
        uint survivor = _a.Plane.Sas.Single(s => s.Direction == SaDirection.Inbound && s.Spi != 0x1000a).Spi;
        Deliver(_a);                                           // the responses
        Deliver(_b);
        Pump();
        (uint aIn, _) = AssertOneAgreedChild();
        // A's exchange held the lowest nonce (A's Ni): A deleted its own new SA; B's rekey survives, B deleted the old.
        Assert.Equal(survivor, aIn);
        Assert.Contains(_a.Log, l => l.Contains("simultaneous rekey lost", StringComparison.Ordinal));
        Assert.Contains(_b.Log, l => l.Contains("simultaneous rekey won", StringComparison.Ordinal));
    }

    [Fact]
    public void SimultaneousIkeRekey_LeavesOneIkeSa_TheOneWithoutTheLowestNonce()
    {
        _a.Connection.RekeyIke();
        _b.Connection.RekeyIke();
        Deliver(_a);
        Deliver(_b);
        Deliver(_a);
        Deliver(_b);
        Pump();
        AssertOneAgreedIkeSa();
        // B's rekey survives: B is the new SA's original initiator.
        Assert.False(_a.Connection.IkeSa.IsOriginalInitiator);
        AssertOneAgreedChild();
        _a.Connection.Dpd();
        Assert.Equal(2, Pump());
        _a.Connection.RekeyChild();
        Pump();
        AssertOneAgreedChild();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SimultaneousIkeRekey_ThePeerFinishesFirst_ItsSaStands_WhateverOrderItsAnswersCome(bool deleteBeforeRefusal)
    {
        _a.Connection.RekeyIke();
        _b.Connection.RekeyIke();
        Deliver(_a);                                           // A's request reaches B, whose own rekey is out: B answers
        byte[] bRequest = _b.Take();
        Deliver(_b);                                           // B's answer reaches A first: A's rekey is done, A deletes the old SA
        Assert.True(_a.Connection.Receive(bRequest, _b.Endpoint));   // B's late request on the old SA: TEMPORARY_FAILURE (§2.8.2)
        Assert.Equal(2, _a.Outbox.Count);
        if (deleteBeforeRefusal)
        {
            Deliver(_a);                                       // the DELETE of the old SA overtakes the refusal: B adopts A's SA
            Assert.False(_b.Connection.Receive(_a.Take(), _a.Endpoint));   // the refusal is for an SA B no longer has
        }
        else
        {
            (_a.Outbox[0], _a.Outbox[1]) = (_a.Outbox[1], _a.Outbox[0]);
            Deliver(_a);
            Deliver(_a);
        }
        Pump();
        AssertOneAgreedIkeSa();
        Assert.True(_a.Connection.IkeSa.IsOriginalInitiator);  // A's rekey stands
        AssertOneAgreedChild();
        _b.Connection.RekeyChild();
        Pump();
        AssertOneAgreedChild();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SimultaneousChildRekey_ThePeerFinishesFirst_ItsSaStands_WhateverOrderItsAnswersCome(bool deleteBeforeRefusal)
    {
        _a.Connection.RekeyChild();
        _b.Connection.RekeyChild();
        Deliver(_a);                                           // A's request reaches B, whose own rekey is out: B answers
        byte[] bRequest = _b.Take();
        Deliver(_b);                                           // B's answer reaches A first: A's rekey is done, A deletes the old SA
        Assert.True(_a.Connection.Receive(bRequest, _b.Endpoint));   // B's late rekey of the replaced SA: TEMPORARY_FAILURE (§2.25)
        Assert.Equal(2, _a.Outbox.Count);
        if (!deleteBeforeRefusal)
        {
            (_a.Outbox[0], _a.Outbox[1]) = (_a.Outbox[1], _a.Outbox[0]);
        }
        Pump();
        AssertOneAgreedChild();
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(_a.Outbox.Concat(_b.Outbox));             // nothing left to retry or delete
        AssertOneAgreedChild();
    }

    [Fact]
    public void RekeyOfAChildBeingDeleted_IsAnsweredTemporaryFailure_AndNotRetried()
    {
        _a.Connection.RekeyChild();
        _b.Connection.DeleteChild();
        Deliver(_b);                                           // B's delete reaches A: A answers with its SPI, drops the child
        Deliver(_a);                                           // A's rekey reaches B while B's delete is out: TEMPORARY_FAILURE (§2.25)
        Deliver(_a);
        Deliver(_b);
        Assert.Contains(_a.Log, l => l.Contains("refused with TEMPORARY_FAILURE", StringComparison.Ordinal));
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(_a.Outbox);                               // the child is gone: nothing to retry
        Assert.Empty(_a.Connection.Children);
        Assert.Empty(_b.Connection.Children);
        Assert.Empty(_a.Plane.Sas);
        Assert.Empty(_b.Plane.Sas);
        Assert.False(_a.Connection.IsClosed || _b.Connection.IsClosed);
    }

    [Fact]
    public void ReorderedRekeyOfADeletedChild_IsAnsweredChildSaNotFound_AndIgnored()
    {
        _a.Connection.RekeyChild();
        _b.Connection.DeleteChild();
        Deliver(_b);                                           // B's delete reaches A
        byte[] rekey = _a.Take();
        Deliver(_a);                                           // A's delete response overtakes its rekey request
        Assert.Empty(_b.Connection.Children);
        Assert.True(_b.Connection.Receive(rekey, _a.Endpoint));   // B no longer has the SA: CHILD_SA_NOT_FOUND
        Deliver(_b);
        Assert.Contains(_a.Log, l => l.Contains("refused with CHILD_SA_NOT_FOUND", StringComparison.Ordinal));
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(_a.Outbox);
        Assert.Empty(_a.Plane.Sas);
        Assert.Empty(_b.Plane.Sas);
        Assert.False(_a.Connection.IsClosed || _b.Connection.IsClosed);
    }

    [Fact]
    public void ChildRekeyDuringIkeRekey_IsRefusedWithTemporaryFailure_ThenRetried()
    {
        _a.Connection.RekeyIke();
        _b.Connection.RekeyChild();
        Deliver(_b);                                           // A is rekeying the IKE SA: TEMPORARY_FAILURE (§2.25)
        Deliver(_a);                                           // A's IKE rekey request reaches B, whose child rekey is out: TEMPORARY_FAILURE
        Deliver(_a);
        Deliver(_b);
        Assert.Contains(_b.Log, l => l.Contains("TEMPORARY_FAILURE", StringComparison.Ordinal));
        Assert.Contains(_a.Log, l => l.Contains("TEMPORARY_FAILURE", StringComparison.Ordinal));
        Elapse(TimeSpan.FromSeconds(10));
        AssertOneAgreedIkeSa();
        (uint aIn, _) = AssertOneAgreedChild();
        Assert.NotEqual(0x1000au, aIn);
        Assert.NotEqual(0x1111ul, _a.Connection.IkeSa.InitiatorSpi);
    }

    [Fact]
    public void Lifetimes_RekeyBeforeTheHardLimit_WithJitter()
    {
        _a.Connection.Dispose();
        _b.Connection.Dispose();
        ConnectWithLifetimes(TimeSpan.FromSeconds(100), TimeSpan.FromSeconds(1000));
        _time.Advance(TimeSpan.FromSeconds(79));
        Assert.Empty(_a.Outbox);                               // soft lifetime: not before 80 % …
        Assert.Empty(_b.Outbox);
        Elapse(TimeSpan.FromSeconds(11));                      // … and by 90 %
        (uint aIn, _) = AssertOneAgreedChild();
        Assert.NotEqual(0x1000au, aIn);
        Elapse(TimeSpan.FromSeconds(900));
        AssertOneAgreedIkeSa();
        Assert.NotEqual(0x1111ul, _a.Connection.IkeSa.InitiatorSpi);
        AssertOneAgreedChild();
        Assert.False(_a.Connection.IsClosed || _b.Connection.IsClosed);
        Assert.DoesNotContain(_a.Log.Concat(_b.Log), l => l.Contains("hard lifetime", StringComparison.Ordinal));
    }

    /// <summary>Lets time pass in half-second steps, delivering everything sent in between.</summary>
    private void Elapse(TimeSpan total)
    {
        for (TimeSpan t = TimeSpan.Zero; t < total; t += TimeSpan.FromSeconds(0.5))
        {
            _time.Advance(TimeSpan.FromSeconds(0.5));
            Pump();
        }
    }

    private void ConnectWithLifetimes(TimeSpan child, TimeSpan ike)
    {
        byte[] skd = RandomNumberGenerator.GetBytes(32), skei = RandomNumberGenerator.GetBytes(36), sker = RandomNumberGenerator.GetBytes(36);
        IkeSaKeys Keys() => new((byte[])skd.Clone(), [], [], (byte[])skei.Clone(), (byte[])sker.Clone(), new byte[32], new byte[32]);
        byte[] i2r = RandomNumberGenerator.GetBytes(36), r2i = RandomNumberGenerator.GetBytes(36);
        var tsA = new Payloads.TrafficSelector(0, 0, 65535, IPAddress.Parse("10.1.0.0"), IPAddress.Parse("10.1.255.255"));
        var tsB = new Payloads.TrafficSelector(0, 0, 65535, IPAddress.Parse("10.2.0.0"), IPAddress.Parse("10.2.255.255"));
        var a = new ChildSa(0x1000a, 0x1000b, r2i, i2r, null, EspSuite, IkeSuite)
        {
            IkeSa = new EstablishedIkeSa(0x1111, 0x2222, true, IkeSuite, Keys(), new byte[32], new byte[32], _a.Endpoint, _b.Endpoint, false, 2, 0, null, [tsA], [tsB]),
        };
        var b = new ChildSa(0x1000b, 0x1000a, i2r, r2i, null, EspSuite, IkeSuite)
        {
            IkeSa = new EstablishedIkeSa(0x1111, 0x2222, false, IkeSuite, Keys(), new byte[32], new byte[32], _b.Endpoint, _a.Endpoint, false, 0, 2, null, [tsB], [tsA]),
        };
        _a.Connection = new IkeConnection(a, _a.Plane, _a, Options(_a, _b, DhGroup.NONE, null) with { ChildLifetime = child, IkeLifetime = ike }, _time);
        _b.Connection = new IkeConnection(b, _b.Plane, _b, Options(_b, _a, DhGroup.NONE, null) with { ChildLifetime = child, IkeLifetime = ike }, _time);
    }

    private static Payloads.TrafficSelector Ts(string first, string last) => new(0, 0, 65535, IPAddress.Parse(first), IPAddress.Parse(last));

    /// <summary>
    /// RFC 7296 §2.9 in a rekey: A's view of the CHILD_SA names traffic B's does not have (10.9.0.0/16 instead of
    /// 10.1.0.0/16), so its rekey offers selectors outside the rekeyed SA's: B answers TS_UNACCEPTABLE and says why,
    /// A keeps the old SA, and nothing new is installed on either side.
    /// </summary>
    [Fact]
    public void ChildRekey_WithSelectorsOutsideTheRekeyedSa_IsRefusedWithTsUnacceptable_AndTheOldSaStays()
    {
        Connect(DhGroup.NONE, shapeA: c => c with { LocalTs = [Ts("10.9.0.0", "10.9.255.255")], RemoteTs = [Ts("10.2.0.0", "10.2.255.255")] });
        _a.Connection.RekeyChild();
        Deliver(_a);
        Assert.Equal(2, _b.Plane.Sas.Count);                   // nothing installed for the refused request
        Assert.Contains(_b.Log, l => l.Contains("CHILD_REKEY of CHILD_SA 0001000b_i 0001000a_o: TS_UNACCEPTABLE: the initiator offered TSi 10.9.0.0/16, TSr 10.2.0.0/16; "
            + "configured here: remote 10.1.0.0/16, local 10.2.0.0/16 (the rekeyed SA's selectors)", StringComparison.Ordinal));
        Deliver(_b);
        Assert.Contains(_a.Log, l => l.Contains("refused with TS_UNACCEPTABLE", StringComparison.Ordinal));
        Assert.Equal(0, Pump());
        Assert.Equal(ChildSaState.Installed, Assert.Single(_a.Connection.Children).State);
        Assert.Equal((0x1000au, 0x1000bu), (_a.Connection.Children[0].InboundSpi, _b.Connection.Children[0].InboundSpi));
        Assert.Equal(2, _a.Plane.Sas.Count);
    }

    /// <summary>
    /// A rekey offering more than the rekeyed SA carries (A's view: 10.0.0.0/8) is narrowed by B to that SA's own
    /// selectors (10.1.0.0/16); A accepts the subset and installs the narrowed selectors in its SAs and its policy.
    /// </summary>
    [Fact]
    public void ChildRekey_WiderThanTheRekeyedSa_IsNarrowedToIt_AndTheInitiatorInstallsTheNarrowedSelectors()
    {
        Connect(DhGroup.NONE, shapeA: c => c with { LocalTs = [Ts("10.0.0.0", "10.255.255.255")], RemoteTs = [Ts("10.2.0.0", "10.2.255.255")] });
        Assert.Equal("10.0.0.0-10.255.255.255", Assert.Single(_a.Plane.Policies).LocalSelectors[0].ToString());
        _a.Connection.RekeyChild();
        Pump();
        (uint aIn, _) = AssertOneAgreedChild();
        Assert.NotEqual(0x1000au, aIn);
        ChildSaInfo a = _a.Connection.Children[0];
        Assert.Equal([Ts("10.1.0.0", "10.1.255.255")], a.LocalTs);
        Assert.Equal([Ts("10.2.0.0", "10.2.255.255")], a.RemoteTs);
        Assert.All(_a.Plane.Sas, sa => Assert.Equal("10.1.0.0-10.1.255.255", Assert.Single(sa.LocalSelectors).ToString()));
        Assert.Equal("10.1.0.0-10.1.255.255", Assert.Single(_a.Plane.Policies).LocalSelectors[0].ToString());
        Assert.Equal(_b.Connection.Children[0].RemoteTs, a.LocalTs);
    }

    /// <summary>
    /// A new CHILD_SA (no REKEY_SA) from the peer for other traffic than the running one is refused with
    /// NO_ADDITIONAL_SAS (one policy per IKE SA); one for the same traffic is accepted beside it.
    /// </summary>
    [Fact]
    public void NewChildFromThePeer_OtherSelectorsGetNoAdditionalSas_TheSameSelectorsAreAccepted()
    {
        // A's configuration names one /24 of the /16 the running CHILD_SA carries: B narrows A's new request to it.
        Connect(DhGroup.NONE, shapeA: c => c with { IkeSa = c.IkeSa! with { LocalTs = [Ts("10.1.5.0", "10.1.5.255")] } });
        _a.Connection.Run(() => _a.Connection.Current.Tasks.Queue(new Certgate.Ike.Sa.Tasks.ChildCreate(_a.Connection, null, DhGroup.NONE)));
        Pump();
        Assert.Contains(_b.Log, l => l.Contains("CHILD_CREATE: NO_ADDITIONAL_SAS: the peer asks for a CHILD_SA 10.2.0.0/16 === 10.1.5.0/24 beside", StringComparison.Ordinal));
        Assert.Contains(_a.Log, l => l.Contains("CHILD_CREATE refused with NO_ADDITIONAL_SAS", StringComparison.Ordinal));
        AssertOneAgreedChild();

        Connect(DhGroup.NONE);
        _a.Connection.Run(() => _a.Connection.Current.Tasks.Queue(new Certgate.Ike.Sa.Tasks.ChildCreate(_a.Connection, null, DhGroup.NONE)));
        Pump();
        Assert.Equal(2, _a.Connection.Children.Count);
        Assert.Equal(2, _b.Connection.Children.Count);
        Assert.All(_b.Connection.Children, c => Assert.Equal([Ts("10.1.0.0", "10.1.255.255")], c.RemoteTs));
    }

    /// <summary>
    /// §2.9 from the initiator's side: a responder that answers a rekey with a TSi wider than offered (B's response,
    /// re-sealed with TSi 10.0.0.0/8) is refused: A installs nothing, deletes the CHILD_SA B created by its SPIs, says
    /// why, and keeps the old SA.
    /// </summary>
    [Fact]
    public void ChildRekey_ResponderWidensTheSelectors_InitiatorRefusesAndDeletesTheNewSa_TheOldSaStays()
    {
        _a.Connection.RekeyChild();
        Deliver(_a);
        IkeMessage response = IkeMessage.Parse(_b.Take());
        using SkCipher fromB = SkCipher.Gcm(_sker);
        List<(PayloadType, ReadOnlyMemory<byte>)> widened = [.. fromB.Open(response).Select(p => p.Type == PayloadType.TsInitiator
            ? (p.Type, (ReadOnlyMemory<byte>)Payloads.WriteTs([Ts("10.0.0.0", "10.255.255.255")]))
            : (p.Type, p.Body))];
        Assert.True(_a.Connection.Receive(fromB.Seal(response.Header, widened), _b.Endpoint));
        Assert.Contains(_a.Log, l => l.Contains("refused, deleting it: the responder's TSi 10.0.0.0/8 is not a subset of the 10.1.0.0/16 offered", StringComparison.Ordinal));
        Assert.Equal(2, _a.Plane.Sas.Count);                   // nothing of the refused SA was installed
        Assert.Equal(2, Pump());                               // A's DELETE of B's new SA, and B's answer
        (uint aIn, uint bIn) = AssertOneAgreedChild();
        Assert.Equal((0x1000au, 0x1000bu), (aIn, bIn));
    }
}
