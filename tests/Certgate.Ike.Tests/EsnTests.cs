using System.Net;
using System.Net.Sockets;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sa;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec;
using Certgate.Pki.Identity;

namespace Certgate.Ike.Tests;

/// <summary>
/// Extended sequence numbers as a negotiated transform (RFC 7296 §3.3.2, RFC 4303 §2.2.1): every ESP proposal offers
/// ESN and no ESN, a responder takes ESN when it is offered, the choice reaches the data plane, and a rekey keeps the
/// CHILD_SA's choice.
/// </summary>
public sealed class EsnTests
{
    private static readonly byte[] Spi = [1, 2, 3, 4];

    private static Transform T(TransformType type, ushort id, int? bits = null) => new(type, id, bits);

    private static Proposal Esp(params ushort[] esn) =>
        new(1, Proposal.Esp, Spi, [T(TransformType.Encryption, 20, 256), .. esn.Select(e => T(TransformType.ExtendedSequenceNumbers, e))]);

    private static ushort[] EsnIds(Proposal p) => [.. p.Transforms.Where(t => t.Type == TransformType.ExtendedSequenceNumbers).Select(t => t.Id)];

    [Fact]
    public void EveryOfferedEspProposal_CarriesBothEsnTransforms_ThePreferredFirst()
    {
        IReadOnlyList<Proposal> defaults = Negotiation.EspOffer(Spi);
        Assert.Equal(2, defaults.Count);
        Assert.All(defaults, p => Assert.Equal([1, 0], EsnIds(p)));
        SaSuite cbc = new(EncryptionAlgorithm.ENCR_AES_CBC, 256, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128, DhGroup.NONE);
        Assert.All(Negotiation.EspOffer(Spi, [cbc], preferEsn: false), p => Assert.Equal([0, 1], EsnIds(p)));
        // CREATE_CHILD_SA with PFS: the group is added, both ESN transforms stay.
        IReadOnlyList<Proposal> pfs = Negotiation.EspOfferWithPfs(0x01020304, DhGroup.ECP_256, null, preferEsn: false);
        Assert.All(pfs, p => Assert.Equal([0, 1], EsnIds(p)));
        Assert.All(pfs, p => Assert.Contains(p.Transforms, t => t.Type == TransformType.DiffieHellman && t.Id == (ushort)DhGroup.ECP_256));
    }

    [Theory]
    // Offered ESN ids, what the responder prefers (a rekey passes the old CHILD_SA's choice), what it chooses.
    [InlineData(new ushort[] { 1, 0 }, true, true)]
    [InlineData(new ushort[] { 0, 1 }, true, true)] // strongSwan's "-noesn-esn" order: the responder still takes ESN
    [InlineData(new ushort[] { 0 }, true, false)] // charon without "-esn"
    [InlineData(new ushort[] { 1 }, true, true)] // charon with "-esn" only: 32-bit numbers are refused
    [InlineData(new ushort[] { 1, 0 }, false, false)] // a rekey of a CHILD_SA without ESN keeps it off
    [InlineData(new ushort[] { 1 }, false, true)] // ... unless the peer now offers only ESN
    public void Responder_TakesEsnWhenOffered_UnlessARekeyKeepsItOff(ushort[] offered, bool preferEsn, bool chosen)
    {
        (SaSuite suite, Proposal reply) = Negotiation.Choose([Esp(offered)], Proposal.Esp, null, preferEsn)!.Value;
        Assert.Equal(chosen, suite.Esn);
        // §3.3.6: exactly one transform of each type goes back.
        Assert.Equal([chosen ? (ushort)1 : (ushort)0], EsnIds(reply));
        Assert.Equal(chosen ? "AES_GCM_16-256/ESN" : "AES_GCM_16-256", suite.EspName);
        // The initiator reads the answer back as the suite the responder chose.
        Assert.Equal(chosen, Negotiation.Accept([reply], Proposal.Esp, "IKE_AUTH").Esn);
    }

    [Fact]
    public void ChooseEsp_WithPfs_ReturnsTheGroupAndTheEsnChoice()
    {
        Proposal offer = Negotiation.EspOfferWithPfs(0x01020304, DhGroup.ECP_256)[0];
        (SaSuite suite, Proposal reply, DhGroup group) = Negotiation.ChooseEsp([offer], (ushort)DhGroup.ECP_256)!.Value;
        Assert.True(suite.Esn);
        Assert.Equal(DhGroup.ECP_256, group);
        Assert.Equal([1], EsnIds(reply));
        Assert.True(Negotiation.AcceptEsp([reply], DhGroup.ECP_256).Esn);
        Assert.False(Negotiation.ChooseEsp([offer], (ushort)DhGroup.ECP_256, preferEsn: false)!.Value.Suite.Esn);
    }

    [Fact]
    public void Accept_RefusesAnAnswerWithBothEsnTransforms()
    {
        // §3.3.6: the responder "MUST select a single proposal ... and one transform of each type".
        IkeException e = Assert.Throws<IkeException>(() => Negotiation.Accept([Esp(1, 0)], Proposal.Esp, "IKE_AUTH"));
        Assert.Contains("not one Certgate offered", e.Message);
    }

    private static Payloads.TrafficSelector Ts(string net) =>
        new(0, 0, 65535, IPAddress.Parse(net), IPAddress.Parse(net.Replace(".0.0", ".255.255", StringComparison.Ordinal)));

    private static IkePeerConfig Psk(string me, string local, string remote) =>
        new(null, [], null, Ts(local), Ts(remote))
        {
            RetransmitTimeout = TimeSpan.FromSeconds(1),
            PreSharedKey = "a shared secret for the ESN tests"u8.ToArray(),
            LocalId = IkeIdentity.FromFqdn(me),
            RemoteIds = [RemoteIdentity.Any],
        };

    /// <summary>
    /// Two Certgates over loopback agree on ESN in IKE_AUTH and install it in the data plane; in memory, CHILD_SA
    /// rekeys by either side keep ESN, and a CHILD_SA without ESN (as with a peer that offered none) stays without it
    /// through rekeys although both sides would take ESN for a new CHILD_SA.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Certgates_NegotiateEsn_AndARekeyKeepsTheChildSasChoice(bool esn)
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Task<ChildSa> responderTask = IkeHandshake.RespondAsync(b, Psk("gw-b.test", "10.2.0.0", "10.1.0.0"));
        ChildSa i = await IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Psk("gw-a.test", "10.1.0.0", "10.2.0.0"));
        ChildSa r = await responderTask;
        Assert.True(i.Esp.Esn && r.Esp.Esn, "two Certgates did not agree on ESN");
        if (!esn)
        {
            // The first CHILD_SA as a peer that offers no ESN would have left it (the keys do not depend on ESN).
            i = i with { Esp = i.Esp with { Esn = false } };
            r = r with { Esp = r.Esp with { Esn = false } };
        }
        var pa = new Peer();
        var pb = new Peer();
        using IkeConnection ca = new(i, pa.Plane, pa, Options(i, pa.Log), TimeProvider.System);
        using IkeConnection cb = new(r, pb.Plane, pb, Options(r, pb.Log), TimeProvider.System);
        AssertInstalled(pa, pb, i.InboundSpi, esn);
        void Pump()
        {
            for (int n = 0; pa.Outbox.Count + pb.Outbox.Count > 0; n++)
            {
                Assert.True(n < 20, "the exchange does not settle");
                if (pa.Outbox.Count > 0)
                {
                    Assert.True(cb.Receive(pa.Take(), i.IkeSa!.Local), "B did not take A's message: " + string.Join(" | ", pb.Log));
                }
                if (pb.Outbox.Count > 0)
                {
                    Assert.True(ca.Receive(pb.Take(), r.IkeSa!.Local), "A did not take B's message: " + string.Join(" | ", pa.Log));
                }
            }
        }

        ca.RekeyChild();
        Pump();
        ChildSaInfo child = Assert.Single(ca.Children);
        Assert.NotEqual(i.InboundSpi, child.InboundSpi);
        Assert.Equal(esn, child.Esp.Esn);
        AssertInstalled(pa, pb, child.InboundSpi, esn);
        Assert.Contains(pa.Log, l => l.Contains(esn ? "installed (AES_GCM_16-256/ESN)" : "installed (AES_GCM_16-256)", StringComparison.Ordinal));

        cb.RekeyChild();
        Pump();
        ChildSaInfo second = Assert.Single(cb.Children);
        Assert.Equal(esn, second.Esp.Esn);
        AssertInstalled(pb, pa, second.InboundSpi, esn);
        Assert.False(ca.IsClosed || cb.IsClosed, string.Join(" | ", pa.Log.Concat(pb.Log)));
    }

    private static void AssertInstalled(Peer receiver, Peer sender, uint spi, bool esn)
    {
        SaSpec inbound = receiver.Plane.Sas.Single(s => s.Spi == spi && s.Direction == SaDirection.Inbound);
        SaSpec outbound = sender.Plane.Sas.Single(s => s.Spi == spi && s.Direction == SaDirection.Outbound);
        Assert.Equal(inbound.Keymat, outbound.Keymat);
        Assert.Equal((esn, esn), (inbound.ExtendedSequenceNumbers, outbound.ExtendedSequenceNumbers));
    }

    private static IkeSaOptions Options(ChildSa c, List<string> log) => new()
    {
        ReqId = 7,
        EspLocal = new IPEndPoint(c.IkeSa!.Local.Address, 4500),
        EspRemote = new IPEndPoint(c.IkeSa.Remote.Address, 4500),
        Log = log.Add,
    };

    private sealed class Peer : IIkeSender
    {
        public MemoryDataPlane Plane { get; } = new();

        public List<byte[]> Outbox { get; } = [];

        public List<string> Log { get; } = [];

        public void Send(ReadOnlyMemory<byte> message, IPEndPoint to, bool encapsulated) => Outbox.Add(message.ToArray());

        public byte[] Take()
        {
            byte[] m = Outbox[0];
            Outbox.RemoveAt(0);
            return m;
        }
    }
}
