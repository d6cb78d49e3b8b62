using System.Net;
using System.Net.Sockets;
using Certgate.Ike.Sa;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec;
using Certgate.Pki.Identity;

namespace Certgate.Ike.Tests.Sa;

/// <summary>
/// The state <see cref="IkeHandshake"/> hands over (<see cref="ChildSa.IkeSa"/>) after a real IKE_SA_INIT and IKE_AUTH on
/// loopback carries the exchanges that follow, in both roles: Message IDs, the I flag, SK_d and the SK keys agree.
/// </summary>
public sealed class HandoverTests
{
    private sealed class Capture : IIkeSender
    {
        public List<byte[]> Outbox { get; } = [];

        public void Send(ReadOnlyMemory<byte> message, IPEndPoint to, bool encapsulated) => Outbox.Add(message.ToArray());
    }

    private static IkePeerConfig Psk(string me, string peer, string local, string remote) =>
        new(null, [], null, Ts(local), Ts(remote))
        {
            RetransmitTimeout = TimeSpan.FromSeconds(1),
            PreSharedKey = System.Text.Encoding.UTF8.GetBytes("a shared secret of some length"),
            LocalId = IkeIdentity.FromFqdn(me),
            RemoteIds = [RemoteIdentity.Fqdn(peer)],
        };

    private static Payloads.TrafficSelector Ts(string net) =>
        new(0, 0, 65535, IPAddress.Parse(net), IPAddress.Parse(net.Replace(".0.0", ".255.255", StringComparison.Ordinal)));

    private static IkeSaOptions Options(uint reqId) => new()
    {
        ReqId = reqId,
        EspLocal = new IPEndPoint(IPAddress.Loopback, 4500),
        EspRemote = new IPEndPoint(IPAddress.Loopback, 4500),
    };

    [Fact]
    public async Task StateFromIkeHandshake_CarriesRekeysDpdAndDelete_InBothRoles()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Psk("gw-b.test", "gw-a.test", "10.2.0.0", "10.1.0.0"));
        ChildSa i = await IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Psk("gw-a.test", "gw-b.test", "10.1.0.0", "10.2.0.0"));
        ChildSa r = await responder;
        Assert.True(i.IkeSa!.IsOriginalInitiator);
        Assert.False(r.IkeSa!.IsOriginalInitiator);
        Assert.Equal((i.IkeSa.InitiatorSpi, i.IkeSa.ResponderSpi), (r.IkeSa.InitiatorSpi, r.IkeSa.ResponderSpi));
        Assert.Equal((2u, 0u), (i.IkeSa.NextRequestId, i.IkeSa.NextExpectedRequestId));
        Assert.Equal((0u, 2u), (r.IkeSa.NextRequestId, r.IkeSa.NextExpectedRequestId));
        Assert.Equal(1u, IkeMessage.Parse(r.IkeSa.LastResponse![0]).Header.MessageId);

        var planeI = new MemoryDataPlane();
        var planeR = new MemoryDataPlane();
        var outI = new Capture();
        var outR = new Capture();
        using var ci = new IkeConnection(i, planeI, outI, Options(1));
        using var cr = new IkeConnection(r, planeR, outR, Options(2));
        IPEndPoint fromI = i.IkeSa.Local, fromR = r.IkeSa.Local;
        void Pump()
        {
            for (int n = 0; outI.Outbox.Count + outR.Outbox.Count > 0; n++)
            {
                Assert.True(n < 20, "the exchange does not settle");
                foreach (byte[] m in outI.Outbox.ToList())
                {
                    outI.Outbox.Remove(m);
                    Assert.True(cr.Receive(m, fromI));
                }
                foreach (byte[] m in outR.Outbox.ToList())
                {
                    outR.Outbox.Remove(m);
                    Assert.True(ci.Receive(m, fromR));
                }
            }
        }
        void Agree()
        {
            ChildSaInfo x = Assert.Single(ci.Children);
            ChildSaInfo y = Assert.Single(cr.Children);
            Assert.Equal((x.InboundSpi, x.OutboundSpi), (y.OutboundSpi, y.InboundSpi));
            Assert.Equal(planeI.Sas.Single(s => s.Direction == SaDirection.Outbound).Keymat, planeR.Sas.Single(s => s.Direction == SaDirection.Inbound).Keymat);
            Assert.Equal(planeI.Sas.Single(s => s.Direction == SaDirection.Inbound).Keymat, planeR.Sas.Single(s => s.Direction == SaDirection.Outbound).Keymat);
        }
        Agree();
        Assert.Equal(i.InboundSpi, ci.Children[0].InboundSpi);

        cr.RekeyChild();                                       // the IKE responder's first request: Message ID 0
        Assert.Equal(0u, IkeMessage.Parse(outR.Outbox[0]).Header.MessageId);
        Pump();
        Agree();
        ci.RekeyChild();                                       // the IKE initiator's: Message ID 2
        Assert.Equal(2u, IkeMessage.Parse(outI.Outbox[0]).Header.MessageId);
        Pump();
        Agree();
        cr.RekeyIke();
        Pump();
        Assert.Equal(ci.IkeSa with { IsOriginalInitiator = false, EstablishedAt = default }, cr.IkeSa with { IsOriginalInitiator = false, EstablishedAt = default });
        Assert.NotEqual(i.IkeSa.InitiatorSpi, ci.IkeSa.InitiatorSpi);
        ci.RekeyChild();
        Pump();
        Agree();
        ci.Dpd();
        Pump();
        cr.Delete();
        Pump();
        Assert.True(ci.IsClosed && cr.IsClosed);
        Assert.Empty(planeI.Sas);
        Assert.Empty(planeR.Sas);
    }
}
