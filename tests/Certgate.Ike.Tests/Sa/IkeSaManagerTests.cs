using System.Net;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sa;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec;
using Certgate.Pki.Identity;

namespace Certgate.Ike.Tests.Sa;

/// <summary>
/// The IKE dispatcher of one address: two in-memory dispatchers (A on 10.0.0.1, B on 10.0.0.2) exchange datagrams
/// through a captured "network"; several IKE SAs between the same two addresses are told apart by SPI, the
/// responder's configuration is chosen by the peer's address, then by identity and traffic selectors at IKE_AUTH.
/// </summary>
public sealed class IkeSaManagerTests : IDisposable
{
    private static readonly byte[] Psk = "a shared secret of some length"u8.ToArray();
    private readonly ManualTime _time = new();
    private readonly Node _a;
    private readonly Node _b;
    private readonly List<IkeProfile> _bProfiles = [];

    public IkeSaManagerTests()
    {
        _a = new Node(IPAddress.Parse("10.0.0.1"));
        _b = new Node(IPAddress.Parse("10.0.0.2"));
        _a.Manager = new IkeSaManager(_a.Endpoint, _a, _ => [], time: _time, log: _a.Log.Add);
        _b.Manager = new IkeSaManager(_b.Endpoint, _b, from => from.Address.Equals(_a.Endpoint.Address) ? _bProfiles : [], new IkeCookies(), _time, _b.Log.Add);
    }

    public void Dispose()
    {
        _a.Manager.Dispose();
        _b.Manager.Dispose();
    }

    private sealed class Node(IPAddress address) : IIkeSender
    {
        public IPEndPoint Endpoint { get; } = new(address, 500);

        public IkeSaManager Manager { get; set; } = null!;

        public List<(byte[] Message, IPEndPoint To, bool Encapsulated)> Outbox { get; } = [];

        public List<string> Log { get; } = [];

        public void Send(ReadOnlyMemory<byte> message, IPEndPoint to, bool encapsulated) => Outbox.Add((message.ToArray(), to, encapsulated));
    }

    private static Payloads.TrafficSelector Ts(string net) =>
        new(0, 0, 65535, IPAddress.Parse(net), IPAddress.Parse(net.Replace(".0.0", ".255.255", StringComparison.Ordinal)));

    private static IkePeerConfig Config(string local, string remote, string fqdn, string? remoteFqdn = null) =>
        new(null, [], null, Ts(local), Ts(remote))
        {
            PreSharedKey = Psk,
            LocalId = IkeIdentity.FromFqdn(fqdn),
            RemoteIds = remoteFqdn is null ? [RemoteIdentity.Any] : [RemoteIdentity.Fqdn(remoteFqdn)],
        };

    private static IkeProfile Profile(IkePeerConfig config, uint reqId, Node self, Node peer, string tag) =>
        new(config, new MemoryDataPlane(), new IkeSaOptions
        {
            ReqId = reqId,
            EspLocal = new IPEndPoint(self.Endpoint.Address, 4500),
            EspRemote = new IPEndPoint(peer.Endpoint.Address, 4500),
            RetransmitTimeout = TimeSpan.FromSeconds(1),
            RetransmitTries = 2,
        })
        { Tag = tag };

    /// <summary>Delivers what both nodes sent until they are quiet.</summary>
    private void Pump()
    {
        for (int n = 0; _a.Outbox.Count + _b.Outbox.Count > 0; n++)
        {
            Assert.True(n < 100, "the exchanges do not settle");
            foreach (Node from in new[] { _a, _b })
            {
                if (from.Outbox.Count == 0)
                {
                    continue;
                }
                (byte[] m, IPEndPoint to, bool encapsulated) = from.Outbox[0];
                from.Outbox.RemoveAt(0);
                Node dest = to.Address.Equals(_a.Endpoint.Address) ? _a : _b;
                dest.Manager.Receive(m, new IPEndPoint(from.Endpoint.Address, encapsulated ? 4500 : 500), encapsulated);
            }
        }
    }

    [Fact]
    public void TwoIkeSasBetweenTheSameAddresses_EachGetsItsOwnConfiguration_ByTrafficSelectors()
    {
        // B has two configurations for A's address, told apart only by their selectors (same identities).
        _bProfiles.Add(Profile(Config("10.2.0.0", "10.1.0.0", "b.test"), 11, _b, _a, "first"));
        _bProfiles.Add(Profile(Config("10.4.0.0", "10.3.0.0", "b.test"), 12, _b, _a, "second"));
        var accepted = new List<IkeConnection>();
        _b.Manager.Accepted += accepted.Add;
        // A starts the second tunnel first, so B's first candidate is not simply the first SA.
        IkeConnection second = _a.Manager.Initiate(Profile(Config("10.3.0.0", "10.4.0.0", "a.test"), 2, _a, _b, "second"), _b.Endpoint, natTraversal: false);
        IkeConnection first = _a.Manager.Initiate(Profile(Config("10.1.0.0", "10.2.0.0", "a.test"), 1, _a, _b, "first"), _b.Endpoint, natTraversal: false);
        Pump();

        Assert.Equal(IkeSaState.Established, first.IkeSa.State);
        Assert.Equal(IkeSaState.Established, second.IkeSa.State);
        Assert.NotEqual(first.IkeSa.InitiatorSpi, second.IkeSa.InitiatorSpi);
        Assert.Equal(2, accepted.Count);
        foreach (IkeConnection mine in new[] { first, second })
        {
            IkeConnection theirs = Assert.Single(accepted, c => c.IkeSa.InitiatorSpi == mine.IkeSa.InitiatorSpi);
            Assert.Equal(IkeSaState.Established, theirs.IkeSa.State);
            // B chose the configuration whose selectors hold A's TSi/TSr, and installed into that one's plane and policy.
            Assert.Equal(mine.Profile!.Tag, theirs.Profile!.Tag);
            var plane = (MemoryDataPlane)theirs.Profile.Plane!;
            Assert.Equal(theirs.Profile.Options.ReqId, Assert.Single(plane.Policies).ReqId);
            Assert.Equal(mine.FirstChild!.OutboundSpi, Assert.Single(plane.Sas, s => s.Direction == SaDirection.Inbound).Spi);
        }
        // Traffic of the established SAs keeps finding its SA: a CHILD_SA rekey on each.
        first.RekeyChild();
        second.RekeyChild();
        Pump();
        Assert.All(accepted, c => Assert.Single(c.Children));
        Assert.Equal(0, _a.Manager.Dropped + _b.Manager.Dropped);
        Assert.Equal(0, _b.Manager.Cookies.HalfOpen);
    }

    [Fact]
    public void TwoConfigurationsForOnePeer_SameSelectors_TheIdentityDecides()
    {
        _bProfiles.Add(Profile(Config("10.2.0.0", "10.1.0.0", "b.test", remoteFqdn: "other.test"), 11, _b, _a, "other"));
        _bProfiles.Add(Profile(Config("10.2.0.0", "10.1.0.0", "b.test", remoteFqdn: "a.test"), 12, _b, _a, "a"));
        IkeConnection? theirs = null;
        _b.Manager.Accepted += c => theirs = c;
        IkeConnection mine = _a.Manager.Initiate(Profile(Config("10.1.0.0", "10.2.0.0", "a.test"), 1, _a, _b, "a"), _b.Endpoint, false);
        Pump();
        Assert.Equal(IkeSaState.Established, mine.IkeSa.State);
        Assert.Equal("a", theirs!.Profile!.Tag);
        Assert.Empty(((MemoryDataPlane)_bProfiles[0].Plane!).Sas);
        Assert.Equal(2, ((MemoryDataPlane)_bProfiles[1].Plane!).Sas.Count);
    }

    [Fact]
    public void NoConfigurationAcceptsTheIdentity_AuthenticationFailed_BothClose()
    {
        _bProfiles.Add(Profile(Config("10.2.0.0", "10.1.0.0", "b.test", remoteFqdn: "other.test"), 11, _b, _a, "other"));
        IkeConnection? theirs = null;
        _b.Manager.Accepted += c => theirs = c;
        IkeConnection mine = _a.Manager.Initiate(Profile(Config("10.1.0.0", "10.2.0.0", "a.test"), 1, _a, _b, "a"), _b.Endpoint, false);
        Pump();
        Assert.Contains("AUTHENTICATION_FAILED", mine.CloseReason);
        Assert.Contains("matches no configured remote-id", theirs!.CloseReason);
        Assert.Empty(_b.Manager.Connections);
        Assert.Equal(0, _b.Manager.Cookies.HalfOpen);
    }

    [Fact]
    public void NoConfigurationForThePeerAddress_NotAnswered_TheRetransmissionFindsOneAddedMeanwhile()
    {
        IkeConnection mine = _a.Manager.Initiate(Profile(Config("10.1.0.0", "10.2.0.0", "a.test"), 1, _a, _b, "a"), _b.Endpoint, false);
        Pump();
        Assert.Empty(_b.Manager.Connections);
        Assert.Equal(1, _b.Manager.Dropped);
        Assert.Equal(IkeSaState.Connecting, mine.IkeSa.State);
        // The tunnel on B is configured now (a gateway starting up); A's retransmission gets in.
        _bProfiles.Add(Profile(Config("10.2.0.0", "10.1.0.0", "b.test"), 11, _b, _a, "b"));
        _time.Advance(TimeSpan.FromSeconds(1));
        Pump();
        Assert.Equal(IkeSaState.Established, mine.IkeSa.State);
    }

    [Fact]
    public void RetransmittedIkeSaInit_ReachesTheSameHalfOpenSa_UnknownSpisAreDropped()
    {
        _bProfiles.Add(Profile(Config("10.2.0.0", "10.1.0.0", "b.test"), 11, _b, _a, "b"));
        _a.Manager.Initiate(Profile(Config("10.1.0.0", "10.2.0.0", "a.test"), 1, _a, _b, "a"), _b.Endpoint, false);
        byte[] init = _a.Outbox[0].Message;
        _b.Manager.Receive(init, _a.Endpoint, false);
        _b.Manager.Receive(init, _a.Endpoint, false);
        Assert.Single(_b.Manager.Connections);
        Assert.Equal(1, _b.Manager.Cookies.HalfOpen);
        Assert.Equal(2, _b.Outbox.Count);
        Assert.Equal(_b.Outbox[0].Message, _b.Outbox[1].Message);
        // From another port of the same address (a NAT rebinding) it is still that SA's retransmission.
        _b.Manager.Receive(init, new IPEndPoint(_a.Endpoint.Address, 1500), false);
        Assert.Single(_b.Manager.Connections);
        Assert.Equal(3, _b.Outbox.Count);
        IkeMessage forged = IkeMessage.Parse(init);
        _b.Manager.Receive(IkeMessage.Build(forged.Header with { InitiatorSpi = 0x5555, ResponderSpi = 0x6666, Exchange = ExchangeType.Informational, MessageId = 3 }, []), _a.Endpoint, false);
        Assert.Equal(1, _b.Manager.Dropped);
    }

    [Fact]
    public void UnderHalfOpenLoad_TheDispatcherAsksForACookie_TheInitiatorRetriesWithIt_AndGetsIn()
    {
        _b.Manager.Dispose();
        _b.Manager = new IkeSaManager(_b.Endpoint, _b, _ => _bProfiles, new IkeCookies(threshold: 0), _time, _b.Log.Add);
        _bProfiles.Add(Profile(Config("10.2.0.0", "10.1.0.0", "b.test"), 11, _b, _a, "b"));
        var counters = new IkeCounters();
        IkeConnection mine = _a.Manager.Initiate(Profile(Config("10.1.0.0", "10.2.0.0", "a.test") with { Counters = counters }, 1, _a, _b, "a"), _b.Endpoint, false);
        Pump();
        Assert.Equal(IkeSaState.Established, mine.IkeSa.State);
        Assert.Equal(1, counters.CookiesRetried);
        Assert.Single(_b.Manager.Connections);
        Assert.Equal(0, _b.Manager.Cookies.HalfOpen);
    }

    [Fact]
    public void AFloodOfBrokenIkeSaInitRequests_IsLoggedWithinABudget_EachStillAnswered_AndCountedLater()
    {
        // Anyone may send IKE_SA_INIT from any source address: 1,000 without a KE payload from 1,000 addresses.
        _bProfiles.Add(Profile(Config("10.2.0.0", "10.1.0.0", "b.test"), 11, _b, _a, "only"));
        int before = _b.Log.Count;
        for (int i = 0; i < 1000; i++)
        {
            byte[] broken = IkeMessage.Build(new IkeHeader((ulong)(0x1000 + i), 0, PayloadType.None, ExchangeType.IkeSaInit, false, true, 0, 0),
                [(PayloadType.SecurityAssociation, Payloads.WriteSa(Negotiation.IkeOffer())), (PayloadType.Nonce, new byte[32])]);
            // From A's address (which has a configuration) and from strangers (which have none).
            IPAddress source = i % 2 == 0 ? _a.Endpoint.Address : new IPAddress([198, 18, (byte)(i >> 8), (byte)i]);
            _b.Manager.Receive(broken, new IPEndPoint(source, 500), false);
        }

        // Every request from A's address was answered (INVALID_SYNTAX); the log kept the first lines of the interval.
        Assert.Equal(500, _b.Outbox.Count);
        List<string> flood = _b.Log.Skip(before).ToList();
        Assert.Equal(IkeSaManager.RefusalLogLines, flood.Count);
        Assert.Contains(flood, l => l.Contains("has no KeyExchange payload; answering INVALID_SYNTAX", StringComparison.Ordinal));
        Assert.Contains(flood, l => l.Contains("no configuration for this peer; not answered", StringComparison.Ordinal));

        // The next refusal after the interval is logged with the count of those not logged one by one.
        _time.Advance(IkeSaManager.RefusalLogInterval);
        _b.Manager.Receive(IkeMessage.Build(new IkeHeader(0x9999, 0, PayloadType.None, ExchangeType.IkeSaInit, false, true, 0, 0),
            [(PayloadType.Nonce, new byte[32])]), new IPEndPoint(_a.Endpoint.Address, 500), false);
        List<string> after = _b.Log.Skip(before + flood.Count).ToList();
        Assert.Equal(2, after.Count);
        Assert.Equal($"IKE_SA_INIT: {1000 - IkeSaManager.RefusalLogLines} further refused or unanswered request(s) not logged one by one (at most 20 lines per 10 s)", after[0]);
        Assert.Contains("IKE_SA_INIT from 10.0.0.1:500:", after[1], StringComparison.Ordinal);
    }
}
