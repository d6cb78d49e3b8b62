using System.Net;
using Certgate.Ike.Auth;
using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sa;
using Certgate.Ike.Sa.Tasks;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec;
using Certgate.Pki.Identity;

namespace Certgate.Ike.Tests.Sa;

/// <summary>
/// The payload table (<see cref="PayloadRules"/>, issue #13 §3): every row refuses a message that lacks a required
/// payload or repeats a single one, with the row's notify; and the dispatcher applies it before any task, for every
/// exchange and direction, answering as the RFC says (RFC 7296 §2.21): the refusal of an IKE_SA_INIT request unprotected,
/// AUTHENTICATION_FAILED in IKE_AUTH (in the response, or from the initiator in an INFORMATIONAL), INVALID_SYNTAX to a
/// request of an established SA (which closes it), and nothing to a CREATE_CHILD_SA or INFORMATIONAL response. Messages
/// are built with Certgate's own encoder (<see cref="IkeMessage.Build"/>, <see cref="SkCipher.Seal"/>) between two
/// in-memory connections (A initiates from 10.0.0.1, B answers on 10.0.0.2), pre-shared key.
/// </summary>
public sealed class PayloadTableTests : IDisposable
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

    // ---- the table, row by row ----

    public static TheoryData<ExchangeType, bool> Rows => new()
    {
        { ExchangeType.IkeSaInit, false }, { ExchangeType.IkeSaInit, true },
        { ExchangeType.IkeAuth, false }, { ExchangeType.IkeAuth, true },
        { ExchangeType.CreateChildSa, false }, { ExchangeType.CreateChildSa, true },
        { ExchangeType.Informational, false }, { ExchangeType.Informational, true },
    };

    [Fact]
    public void TheTable_HasARowForEveryExchangeAndDirection_AndNoOther()
    {
        Assert.Equal(8, PayloadRules.Rows.Count());
        foreach (ExchangeType exchange in (ExchangeType[])[ExchangeType.IkeSaInit, ExchangeType.IkeAuth, ExchangeType.CreateChildSa, ExchangeType.Informational])
        {
            Assert.NotNull(PayloadRules.For(exchange, response: false));
            Assert.NotNull(PayloadRules.For(exchange, response: true));
        }
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void EveryRow_AMessageMissingARequiredPayload_IsRefusedWithTheRowsNotify(ExchangeType exchange, bool response)
    {
        PayloadRule rule = PayloadRules.For(exchange, response)!;
        Assert.Null(PayloadRules.Problem(exchange, response, Parse(exchange, response, Complete(rule))));
        if (rule.Required.Length == 0)
        {
            // INFORMATIONAL requires nothing (§1.4: an empty one is the liveness check); a payload it may not carry is refused.
            Assert.Null(PayloadRules.Problem(exchange, response, Parse(exchange, response, [])));
            IkeException notAllowed = PayloadRules.Problem(exchange, response, Parse(exchange, response, [(PayloadType.SecurityAssociation, Body)]))!;
            Assert.Equal($"the {PayloadRule.Name(exchange)} {(response ? "response" : "request")} may not carry a SecurityAssociation payload", notAllowed.Message);
            Assert.Equal(rule.Refusal, notAllowed.Notify);
            return;
        }
        foreach (PayloadType missing in rule.Required)
        {
            IkeException refused = PayloadRules.Problem(exchange, response, Parse(exchange, response, [.. Complete(rule).Where(p => p.Type != missing)]))!;
            Assert.Equal($"the {PayloadRule.Name(exchange)} {(response ? "response" : "request")} has no {missing} payload", refused.Message);
            Assert.Equal(rule.Refusal, refused.Notify);
            Assert.Throws<IkeException>(() => PayloadRules.Check(exchange, response, Parse(exchange, response, [.. Complete(rule).Where(p => p.Type != missing)])));
        }
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void EveryRow_ADuplicatedSinglePayload_IsRefusedWithTheRowsNotify(ExchangeType exchange, bool response)
    {
        PayloadRule rule = PayloadRules.For(exchange, response)!;
        Assert.NotEmpty(rule.Required.Concat(rule.AtMostOnce));
        foreach (PayloadType single in rule.Required.Concat(rule.AtMostOnce))
        {
            List<(PayloadType, ReadOnlyMemory<byte>)> twice = [.. Complete(rule).Where(p => p.Type != single), (single, Body), (single, Body)];
            IkeException refused = PayloadRules.Problem(exchange, response, Parse(exchange, response, twice))!;
            Assert.Equal($"the {PayloadRule.Name(exchange)} {(response ? "response" : "request")} has more than one {single} payload", refused.Message);
            Assert.Equal(rule.Refusal, refused.Notify);
        }
        foreach (PayloadType repeatable in rule.Repeatable)
        {
            Assert.Null(PayloadRules.Problem(exchange, response, Parse(exchange, response, [.. Complete(rule), (repeatable, Body), (repeatable, Body)])));
        }
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void AnUnknownPayload_IsSkipped_UnlessCritical_ThenARequestIsAnsweredUnsupportedCriticalPayloadWithItsType(ExchangeType exchange, bool response)
    {
        PayloadRule rule = PayloadRules.For(exchange, response)!;
        Assert.Null(PayloadRules.Problem(exchange, response, Parse(exchange, response, [.. Complete(rule), ((PayloadType)200, Body)])));
        IkeException refused = PayloadRules.Problem(exchange, response, Parse(exchange, response, [.. Complete(rule), ((PayloadType)200, Body)], critical: (PayloadType)200))!;
        Assert.Contains("unknown payload type 200 marked critical", refused.Message, StringComparison.Ordinal);
        Assert.Equal(response ? rule.Refusal : NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, refused.Notify);
        Assert.Equal(response ? Array.Empty<byte>() : new byte[] { 200 }, refused.NotifyData.ToArray());
    }

    [Theory]
    [InlineData(ExchangeType.IkeSaInit, NotifyType.NO_PROPOSAL_CHOSEN)]
    [InlineData(ExchangeType.IkeSaInit, NotifyType.COOKIE)]
    [InlineData(ExchangeType.IkeAuth, NotifyType.AUTHENTICATION_FAILED)]
    [InlineData(ExchangeType.CreateChildSa, NotifyType.TS_UNACCEPTABLE)]
    public void AResponseThatRefuses_NeedsNoneOfItsRequiredPayloads_ARequestStillDoes(ExchangeType exchange, NotifyType notify)
    {
        Assert.Null(PayloadRules.Problem(exchange, true, Parse(exchange, true, [MessagePayloads.Notify(notify)])));
        Assert.NotNull(PayloadRules.Problem(exchange, false, Parse(exchange, false, [MessagePayloads.Notify(notify)])));
    }

    // ---- the dispatcher applies it before any task, per exchange and direction ----

    [Theory]
    [InlineData("no KE")]
    [InlineData("two nonces")]
    public void IkeSaInitRequest_BreakingTheTable_IsRefusedUnprotectedWithInvalidSyntax(string fault)
    {
        List<(PayloadType, ReadOnlyMemory<byte>)> payloads = fault == "no KE"
            ? [(PayloadType.SecurityAssociation, Payloads.WriteSa(Negotiation.IkeOffer())), (PayloadType.Nonce, new byte[32])]
            : [(PayloadType.SecurityAssociation, Payloads.WriteSa(Negotiation.IkeOffer())), (PayloadType.KeyExchange, Payloads.WriteKe(19, new byte[64])),
                (PayloadType.Nonce, new byte[32]), (PayloadType.Nonce, new byte[32])];
        IkeMessage request = IkeMessage.Parse(IkeMessage.Build(new IkeHeader(0x1234, 0, PayloadType.None, ExchangeType.IkeSaInit, false, true, 0, 0), payloads));

        IkeException refused = Assert.Throws<IkeException>(() => IkeInit.Screen(request, _a.Endpoint, Config("10.2.0.0", "10.1.0.0", "b.test")));

        Assert.Contains(fault == "no KE" ? "the IKE_SA_INIT request has no KeyExchange payload" : "the IKE_SA_INIT request has more than one Nonce payload", refused.Message, StringComparison.Ordinal);
        IkeMessage answer = IkeMessage.Parse(IkeInit.Refusal(request.Header, refused));
        Assert.Equal((ExchangeType.IkeSaInit, true, 0x1234ul, 0ul), (answer.Header.Exchange, answer.Header.IsResponse, answer.Header.InitiatorSpi, answer.Header.ResponderSpi));
        Assert.Equal((ushort)NotifyType.INVALID_SYNTAX, Payloads.ReadNotify(Assert.Single(answer.Payloads).Body).Type);
    }

    [Fact]
    public void IkeSaInitResponse_MissingKe_FailsTheInitiator_WhichSendsNothing()
    {
        _a.Connection = IkeConnection.Initiate(Config("10.1.0.0", "10.2.0.0", "a.test"), _a.Plane, _a, Options(_a, _b), _a.Endpoint, _b.Endpoint, natTraversal: false, _time);
        IkeMessage init = IkeMessage.Parse(_a.Take());
        byte[] response = IkeMessage.Build(new IkeHeader(init.Header.InitiatorSpi, 0x5555, PayloadType.None, ExchangeType.IkeSaInit, true, false, 0, 0),
            [(PayloadType.SecurityAssociation, init.Payloads.First(p => p.Type == PayloadType.SecurityAssociation).Body), (PayloadType.Nonce, new byte[32])]);

        Assert.True(_a.Connection.Receive(response, _b.Endpoint, false));

        Assert.Equal("the IKE_SA_INIT response has no KeyExchange payload", _a.Connection.CloseReason);
        Assert.Contains(_a.Log, l => l.Contains("IKE_INIT failed: the IKE_SA_INIT response has no KeyExchange payload", StringComparison.Ordinal));
        Assert.Empty(_a.Outbox);
    }

    [Theory]
    [InlineData("no TSr")]
    [InlineData("two AUTHs")]
    public void IkeAuthRequest_BreakingTheTable_IsAnsweredAuthenticationFailed_AndTheResponderCloses(string fault)
    {
        StartBoth();
        Deliver(_b);
        IkeMessage real = IkeMessage.Parse(_a.Take());
        IkeSa a = _a.Connection.Current;
        List<(PayloadType, ReadOnlyMemory<byte>)> inner = [.. SkProtection.Open(_b.Connection.Current.In, null, real, null, "initiator")!.Select(p => (p.Type, p.Body))];
        inner = fault == "no TSr"
            ? [.. inner.Where(p => p.Item1 != PayloadType.TsResponder)]
            : [.. inner, inner.First(p => p.Item1 == PayloadType.Authentication)];
        byte[] forged = a.Out.Seal(new IkeHeader(a.SpiI, a.SpiR, PayloadType.None, ExchangeType.IkeAuth, false, true, 1, 0), inner);

        Assert.True(_b.Connection.Receive(forged, _a.Endpoint, false));

        string problem = fault == "no TSr" ? "the IKE_AUTH request has no TsResponder payload" : "the IKE_AUTH request has more than one Authentication payload";
        Assert.Equal(problem, _b.Connection.CloseReason);
        Assert.Contains(_b.Log, l => l.Contains($"IKE_AUTH request (message ID 1) refused: {problem}; answering AUTHENTICATION_FAILED", StringComparison.Ordinal));
        Assert.Equal([NotifyType.AUTHENTICATION_FAILED], Notifies(a.In, _b.Take(), ExchangeType.IkeAuth, response: true));
        Assert.Empty(_b.Plane.Sas);
    }

    [Theory]
    [InlineData("no SA")]
    [InlineData("two IDr")]
    public void IkeAuthResponse_BreakingTheTable_IsAnsweredWithAnInformationalAuthenticationFailed_AndTheInitiatorCloses(string fault)
    {
        StartBoth();
        Deliver(_b);
        Deliver(_a);
        IkeSa b = _b.Connection.Current;
        IkeMessage real = IkeMessage.Parse(_b.Take());
        List<(PayloadType, ReadOnlyMemory<byte>)> inner = [.. SkProtection.Open(_a.Connection.Current.In, null, real, null, "responder")!.Select(p => (p.Type, p.Body))];
        inner = fault == "no SA"
            ? [.. inner.Where(p => p.Item1 != PayloadType.SecurityAssociation)]
            : [inner.First(p => p.Item1 == PayloadType.IdResponder), .. inner];
        byte[] forged = b.Out.Seal(new IkeHeader(b.SpiI, b.SpiR, PayloadType.None, ExchangeType.IkeAuth, true, false, 1, 0), inner);

        Assert.True(_a.Connection.Receive(forged, _b.Endpoint, false));

        string problem = fault == "no SA" ? "the IKE_AUTH response has no SecurityAssociation payload" : "the IKE_AUTH response has more than one IdResponder payload";
        Assert.Equal(problem, _a.Connection.CloseReason);
        Assert.Equal([NotifyType.AUTHENTICATION_FAILED], Notifies(b.In, _a.Take(), ExchangeType.Informational, response: false));
        Assert.Empty(_a.Outbox);
        Assert.Empty(_a.Plane.Sas);
    }

    [Theory]
    [InlineData(ExchangeType.CreateChildSa, "no SA")]
    [InlineData(ExchangeType.CreateChildSa, "two nonces")]
    [InlineData(ExchangeType.Informational, "an SA")]
    [InlineData(ExchangeType.Informational, "two CPs")]
    public void EstablishedSaRequest_BreakingTheTable_IsAnsweredInvalidSyntax_AndClosesTheSa(ExchangeType exchange, string fault)
    {
        Establish();
        IkeSa a = _a.Connection.Current;
        byte[] sa = Payloads.WriteSa(Negotiation.EspOffer(new byte[] { 0, 0, 0x20, 0 }));
        List<(PayloadType, ReadOnlyMemory<byte>)> payloads = fault switch
        {
            "no SA" => [(PayloadType.Nonce, new byte[32])],
            "two nonces" => [(PayloadType.SecurityAssociation, sa), (PayloadType.Nonce, new byte[32]), (PayloadType.Nonce, new byte[32])],
            "an SA" => [(PayloadType.SecurityAssociation, sa)],
            _ => [(PayloadType.Configuration, new byte[4]), (PayloadType.Configuration, new byte[4])],
        };
        byte[] forged = a.Out.Seal(new IkeHeader(a.SpiI, a.SpiR, PayloadType.None, exchange, false, true, a.Tasks.NextRequestId, 0), payloads);

        Assert.True(_b.Connection.Receive(forged, _a.Endpoint, false));

        string problem = $"the {PayloadRule.Name(exchange)} request " + fault switch
        {
            "no SA" => "has no SecurityAssociation payload",
            "two nonces" => "has more than one Nonce payload",
            "an SA" => "may not carry a SecurityAssociation payload",
            _ => "has more than one Configuration payload",
        };
        Assert.Contains(_b.Log, l => l.Contains($"{PayloadRule.Name(exchange)} request (message ID 2) refused: {problem}; answering INVALID_SYNTAX and closing", StringComparison.Ordinal));
        Assert.Equal([NotifyType.INVALID_SYNTAX], Notifies(a.In, _b.Take(), exchange, response: true));
        Assert.True(_b.Connection.IsClosed);
        Assert.Empty(_b.Plane.Sas);
    }

    [Theory]
    [InlineData(ExchangeType.CreateChildSa, "no nonce")]
    [InlineData(ExchangeType.CreateChildSa, "two KEs")]
    [InlineData(ExchangeType.Informational, "an SA")]
    [InlineData(ExchangeType.Informational, "two CPs")]
    public void EstablishedSaResponse_BreakingTheTable_FailsTheTask_AndNothingIsSent(ExchangeType exchange, string fault)
    {
        Establish();
        if (exchange == ExchangeType.CreateChildSa)
        {
            _a.Connection.RekeyChild();
        }
        else
        {
            _a.Connection.Dpd();
        }
        IkeMessage request = IkeMessage.Parse(_a.Take());
        IkeSa b = _b.Connection.Current;
        byte[] sa = Payloads.WriteSa(Negotiation.EspOffer(new byte[] { 0, 0, 0x20, 0 }));
        List<(PayloadType, ReadOnlyMemory<byte>)> payloads = fault switch
        {
            "no nonce" => [(PayloadType.SecurityAssociation, sa), (PayloadType.TsInitiator, new byte[4]), (PayloadType.TsResponder, new byte[4])],
            "two KEs" => [(PayloadType.SecurityAssociation, sa), (PayloadType.Nonce, new byte[32]), (PayloadType.KeyExchange, new byte[4]), (PayloadType.KeyExchange, new byte[4])],
            "an SA" => [(PayloadType.SecurityAssociation, sa)],
            _ => [(PayloadType.Configuration, new byte[4]), (PayloadType.Configuration, new byte[4])],
        };
        byte[] forged = b.Out.Seal(new IkeHeader(b.SpiI, b.SpiR, PayloadType.None, exchange, true, false, request.Header.MessageId, 0), payloads);

        Assert.True(_a.Connection.Receive(forged, _b.Endpoint, false));

        string problem = $"the {PayloadRule.Name(exchange)} response " + fault switch
        {
            "no nonce" => "has no Nonce payload",
            "two KEs" => "has more than one KeyExchange payload",
            "an SA" => "may not carry a SecurityAssociation payload",
            _ => "has more than one Configuration payload",
        };
        Assert.Contains(_a.Log, l => l.Contains($"failed: {problem}", StringComparison.Ordinal));
        // §2.21: a response is not answered; CREATE_CHILD_SA and INFORMATIONAL have no exception to that.
        Assert.Empty(_a.Outbox);
    }

    // ---- fixture ----

    private static readonly ReadOnlyMemory<byte> Body = new byte[] { 1, 2, 3, 4 };

    /// <summary>A message with every payload of the row once.</summary>
    private static List<(PayloadType Type, ReadOnlyMemory<byte> Body)> Complete(PayloadRule rule) => [.. rule.Required.Concat(rule.AtMostOnce).Select(t => (t, Body))];

    /// <summary>The payloads as the receiver sees them: encoded with <see cref="IkeMessage.Build"/>, parsed back.</summary>
    private static IReadOnlyList<RawPayload> Parse(ExchangeType exchange, bool response, IReadOnlyList<(PayloadType, ReadOnlyMemory<byte>)> payloads, PayloadType? critical = null)
    {
        byte[] message = IkeMessage.Build(new IkeHeader(0x1111, response || exchange != ExchangeType.IkeSaInit ? 0x2222ul : 0, PayloadType.None, exchange, response, !response, 1, 0), payloads);
        IkeMessage parsed = IkeMessage.Parse(message);
        if (critical is { } type)
        {
            // The critical bit is the first bit after the Next Payload octet of the generic header (§3.2).
            message[parsed.Payloads.First(p => p.Type == type).Offset + 1] |= 0x80;
            parsed = IkeMessage.Parse(message);
        }
        return parsed.Payloads;
    }

    /// <summary>The notifies of a protected message, after checking its exchange and direction.</summary>
    private static List<NotifyType> Notifies(SkCipher open, byte[] datagram, ExchangeType exchange, bool response)
    {
        IkeMessage message = IkeMessage.Parse(datagram);
        Assert.Equal((exchange, response), (message.Header.Exchange, message.Header.IsResponse));
        return [.. SkProtection.Open(open, null, message, null, "peer")!.Select(p => (NotifyType)Payloads.ReadNotify(p.Body).Type)];
    }

    private sealed class Side(string name, IPAddress address) : IIkeSender
    {
        public string Name { get; } = name;

        public IPEndPoint Endpoint { get; } = new(address, 500);

        public MemoryDataPlane Plane { get; } = new();

        public List<byte[]> Outbox { get; } = [];

        public List<string> Log { get; } = [];

        public IkeConnection Connection { get; set; } = null!;

        public void Send(ReadOnlyMemory<byte> message, IPEndPoint to, bool encapsulated) => Outbox.Add(message.ToArray());

        public byte[] Take()
        {
            Assert.NotEmpty(Outbox);
            byte[] m = Outbox[0];
            Outbox.RemoveAt(0);
            return m;
        }
    }

    private static IkePeerConfig Config(string local, string remote, string fqdn) =>
        new(null, [], null, Ts(local), Ts(remote))
        {
            PreSharedKey = Psk,
            LocalId = IkeIdentity.FromFqdn(fqdn),
            RemoteIds = [RemoteIdentity.Any],
            Cookies = new IkeCookies(),
        };

    private static Payloads.TrafficSelector Ts(string net) =>
        new(0, 0, 65535, IPAddress.Parse(net), IPAddress.Parse(net.Replace(".0.0", ".255.255", StringComparison.Ordinal)));

    private static IkeSaOptions Options(Side self, Side peer) => new()
    {
        ReqId = 9,
        EspLocal = new IPEndPoint(self.Endpoint.Address, 4500),
        EspRemote = new IPEndPoint(peer.Endpoint.Address, 4500),
        Log = self.Log.Add,
        RetransmitTimeout = TimeSpan.FromSeconds(1),
        RetransmitTries = 2,
    };

    /// <summary>A sends IKE_SA_INIT; B is made from it (as the dispatcher does) and answers.</summary>
    private void StartBoth()
    {
        IkePeerConfig b = Config("10.2.0.0", "10.1.0.0", "b.test");
        _a.Connection = IkeConnection.Initiate(Config("10.1.0.0", "10.2.0.0", "a.test"), _a.Plane, _a, Options(_a, _b), _a.Endpoint, _b.Endpoint, natTraversal: false, _time);
        IkeMessage init = IkeMessage.Parse(_a.Take());
        IkeInit.Screen(init, _a.Endpoint, b);
        _b.Connection = IkeConnection.Respond(b, _b.Plane, _b, Options(_b, _a), init, _a.Endpoint, _b.Endpoint, natTraversal: false, _time);
    }

    /// <summary>IKE_SA_INIT and IKE_AUTH done: both established with their first CHILD_SA.</summary>
    private void Establish()
    {
        StartBoth();
        Deliver(_b);
        Deliver(_a);
        Deliver(_b);
        Assert.Equal(IkeSaState.Established, _a.Connection.IkeSa.State);
        Assert.Equal(IkeSaState.Established, _b.Connection.IkeSa.State);
        Assert.Empty(_a.Outbox);
        Assert.Empty(_b.Outbox);
    }

    private void Deliver(Side from)
    {
        Side to = from == _a ? _b : _a;
        Assert.True(to.Connection.Receive(from.Take(), from.Endpoint, false), $"{to.Name} did not take {from.Name}'s message");
    }
}
