using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Auth;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Pki.Identity;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Ike.Tests;

/// <summary>
/// IKE identities end to end between two Certgate sides on loopback (issue 5, reference §3.6): every ID type is
/// sent as configured and accepted when the peer's certificate carries it and it matches the remote-id; an ID the
/// certificate does not carry, or that matches no remote-id, is refused with the check and the certificate named.
/// </summary>
public sealed class IdentityTests : IDisposable
{
    private readonly TestCa _testCa = TestCa.CreateRoot("CN=Identity Test CA, O=Certgate Test, C=CH", now: DateTimeOffset.UtcNow);
    private readonly X509Certificate2 _ca;
    private readonly X509Certificate2 _gwA;
    private readonly X509Certificate2 _gwB;

    public IdentityTests()
    {
        _ca = _testCa.Certificate;
        _gwA = Issue("gw-a", 1);
        _gwB = Issue("gw-b", 2);
    }

    public void Dispose()
    {
        _gwA.Dispose();
        _gwB.Dispose();
        _ca.Dispose();
        _testCa.Dispose();
    }

    /// <summary>"CN=gw-x, O=Certgate Test, C=CH" (encoded C first) with DNS, IPv4, IPv6 and e-mail subjectAltNames.</summary>
    private X509Certificate2 Issue(string name, byte serial) =>
        _testCa.IssueWithKey($"CN={name}, O=Certgate Test, C=CH", new CertOptions
        {
            DnsNames = [$"{name}.example.net"],
            IpAddresses = [Ip(name, v6: false), Ip(name, v6: true)],
            Emails = [$"{name}@example.net"],
            NotBefore = DateTimeOffset.UtcNow.AddDays(-1),
            NotAfter = DateTimeOffset.UtcNow.AddDays(10),
            Serial = [serial],
        });

    private static IPAddress Ip(string name, bool v6) =>
        IPAddress.Parse(v6 ? (name == "gw-a" ? "2001:db8::a" : "2001:db8::b") : (name == "gw-a" ? "192.0.2.10" : "192.0.2.11"));

    private static IkeIdentity Id(string type, string name) => type switch
    {
        "ipv4" => IkeIdentity.FromAddress(Ip(name, v6: false)),
        "ipv6" => IkeIdentity.FromAddress(Ip(name, v6: true)),
        "fqdn" => IkeIdentity.FromFqdn($"{name}.example.net"),
        "email" => IkeIdentity.FromEmail($"{name}@example.net"),
        _ => IkeIdentity.FromDistinguishedName(new X500DistinguishedName($"CN={name}, O=Certgate Test, C=CH")),
    };

    private static RemoteIdentity Remote(string type, string name) => type switch
    {
        "ipv4" => RemoteIdentity.Address(Ip(name, v6: false)),
        "ipv6" => RemoteIdentity.Address(Ip(name, v6: true)),
        "fqdn" => RemoteIdentity.Fqdn($"{name}.example.net"),
        "email" => RemoteIdentity.Email($"{name}@example.net"),
        _ => RemoteIdentity.DistinguishedName($"CN={name}, O=Certgate Test, C=CH", DistinguishedNameMatch.ExactMatch),
    };

    private IkePeerConfig Config(X509Certificate2 cert, string local, string remote) =>
        new(cert, [_ca], null, Ts(local), Ts(remote)) { RetransmitTimeout = TimeSpan.FromSeconds(1) };

    private static Payloads.TrafficSelector Ts(string net) =>
        new(0, 0, 65535, IPAddress.Parse(net), IPAddress.Parse(net.Replace(".0.0", ".255.255", StringComparison.Ordinal)));

    private static async Task<(ChildSa Initiator, ChildSa Responder)> RunAsync(IkePeerConfig initiator, IkePeerConfig responder)
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Task<ChildSa> r = IkeHandshake.RespondAsync(b, responder);
        ChildSa i = await IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, initiator);
        return (i, await r);
    }

    private static async Task<(IkeException Initiator, IkeException Responder)> RefusedAsync(IkePeerConfig initiator, IkePeerConfig responder)
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Task<ChildSa> r = IkeHandshake.RespondAsync(b, responder);
        IkeException i = await Assert.ThrowsAsync<IkeException>(() => IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, initiator));
        return (i, await Assert.ThrowsAsync<IkeException>(() => r));
    }

    [Theory]
    [InlineData("ipv4", "ID_IPV4_ADDR", "192.0.2.10", "192.0.2.11")]
    [InlineData("ipv6", "ID_IPV6_ADDR", "2001:db8::a", "2001:db8::b")]
    [InlineData("fqdn", "ID_FQDN", "gw-a.example.net", "gw-b.example.net")]
    [InlineData("email", "ID_RFC822_ADDR", "gw-a@example.net", "gw-b@example.net")]
    [InlineData("dn", "ID_DER_ASN1_DN", "CN=gw-a, O=Certgate Test, C=CH", "CN=gw-b, O=Certgate Test, C=CH")]
    public async Task EveryIdType_BackedByTheCertificate_AndMatchingRemoteId_IsSentAndAccepted_BothRoles(string type, string iana, string a, string b)
    {
        IkePeerConfig ia = Config(_gwA, "10.1.0.0", "10.2.0.0") with { LocalId = Id(type, "gw-a"), RemoteIds = [Remote(type, "gw-b")] };
        IkePeerConfig rb = Config(_gwB, "10.2.0.0", "10.1.0.0") with { LocalId = Id(type, "gw-b"), RemoteIds = [Remote(type, "gw-a")] };
        (ChildSa i, ChildSa r) = await RunAsync(ia, rb);
        Assert.Equal($"{b} ({iana})", IkeIdentities.Describe(i.PeerId!));
        Assert.Equal($"{a} ({iana})", IkeIdentities.Describe(r.PeerId!));
        Assert.Equal($"{a} ({iana})", IkeIdentities.Describe(i.LocalId!));
        Assert.Equal(b, i.PeerIdentity);
        Assert.Equal(i.OutboundKeymat, r.InboundKeymat);
    }

    [Fact]
    public async Task NoLocalId_WithACertificate_SendsTheSubjectDn_AndNoRemoteId_AcceptsWhatTheCertificateProves()
    {
        (ChildSa i, ChildSa r) = await RunAsync(Config(_gwA, "10.1.0.0", "10.2.0.0") with { LocalId = IkeIdentity.FromFqdn("gw-a.example.net") },
            Config(_gwB, "10.2.0.0", "10.1.0.0"));
        Assert.Equal("CN=gw-b, O=Certgate Test, C=CH (ID_DER_ASN1_DN)", IkeIdentities.Describe(i.PeerId!));
        Assert.Equal("gw-a.example.net (ID_FQDN)", IkeIdentities.Describe(r.PeerId!));
    }

    [Fact]
    public async Task IdMatchingNoRemoteId_IsRefused_NamingTheCheckTheIdentityAndTheCertificate()
    {
        IkePeerConfig ia = Config(_gwA, "10.1.0.0", "10.2.0.0") with { LocalId = Id("email", "gw-a") };
        IkePeerConfig rb = Config(_gwB, "10.2.0.0", "10.1.0.0") with
        {
            RemoteIds = [RemoteIdentity.Fqdn("gw-a.example.net"), RemoteIdentity.Email("someone@example.net")],
        };
        (IkeException i, IkeException r) = await RefusedAsync(ia, rb);
        Assert.Contains("AUTHENTICATION_FAILED", i.Message);
        Assert.Contains("the initiator's remote-id check failed: it identifies as gw-a@example.net (ID_RFC822_ADDR), which matches no configured remote-id (fqdn gw-a.example.net; email someone@example.net)", r.Message);
        Assert.Contains("subject 'CN=gw-a, O=Certgate Test, C=CH', subjectAltName DNS:gw-a.example.net, IP:192.0.2.10, IP:2001:db8::a, email:gw-a@example.net", r.Message);
    }

    [Fact]
    public async Task ResponderIdMatchingNoRemoteId_IsRefusedByTheInitiator()
    {
        IkePeerConfig ia = Config(_gwA, "10.1.0.0", "10.2.0.0") with { RemoteIds = [RemoteIdentity.Address(IPAddress.Parse("192.0.2.99"))] };
        IkePeerConfig rb = Config(_gwB, "10.2.0.0", "10.1.0.0") with { LocalId = Id("ipv4", "gw-b") };
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        // The responder has sent its IKE_AUTH response when the initiator refuses it (RFC 7296 §2.21.2).
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, rb);
        IkeException i = await Assert.ThrowsAsync<IkeException>(() => IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, ia));
        await responder;
        Assert.Contains("the responder's remote-id check failed: it identifies as 192.0.2.11 (ID_IPV4_ADDR), which matches no configured remote-id (ip 192.0.2.99)", i.Message);
    }

    [Theory]
    [InlineData(DistinguishedNameMatch.Wildcard, "C=CH, O=Certgate Test", true)]
    [InlineData(DistinguishedNameMatch.Wildcard, "O=Certgate Test, CN=gw-a", true)]
    [InlineData(DistinguishedNameMatch.Wildcard, "O=Other, C=CH", false)]
    [InlineData(DistinguishedNameMatch.Container, "C=CH, O=Certgate Test", true)]
    [InlineData(DistinguishedNameMatch.Container, "CN=gw-a, C=CH", false)]
    [InlineData(DistinguishedNameMatch.ExactMatch, "C=CH, O=Certgate Test", false)]
    [InlineData(DistinguishedNameMatch.ExactMatch, "C=CH, O=Certgate Test, CN=gw-a", true)]
    public async Task DistinguishedNameRemoteIds_MatchAsJunosDoes(DistinguishedNameMatch mode, string pattern, bool accepted)
    {
        IkePeerConfig ia = Config(_gwA, "10.1.0.0", "10.2.0.0");
        IkePeerConfig rb = Config(_gwB, "10.2.0.0", "10.1.0.0") with { RemoteIds = [RemoteIdentity.DistinguishedName(pattern, mode)] };
        if (accepted)
        {
            (_, ChildSa r) = await RunAsync(ia, rb);
            Assert.Equal("CN=gw-a, O=Certgate Test, C=CH", r.PeerIdentity);
        }
        else
        {
            (_, IkeException r) = await RefusedAsync(ia, rb);
            Assert.Contains("remote-id check failed: it identifies as CN=gw-a, O=Certgate Test, C=CH (ID_DER_ASN1_DN)", r.Message);
        }
    }

    [Theory]
    [InlineData("fqdn", "gw-a.other.net", "DNS:gw-a.example.net")]
    [InlineData("email", "x@example.net", "email:gw-a@example.net")]
    [InlineData("ipv4", "192.0.2.99", "IP:192.0.2.10")]
    public void LocalIdTheCertificateDoesNotCarry_IsRefusedAtStart_NamingCertificateIdentityAndSans(string type, string value, string san)
    {
        IkeIdentity id = type switch
        {
            "fqdn" => IkeIdentity.FromFqdn(value),
            "email" => IkeIdentity.FromEmail(value),
            _ => IkeIdentity.FromAddress(IPAddress.Parse(value)),
        };
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        ArgumentException e = Assert.Throws<ArgumentException>(() =>
            IkeHandshake.InitiateAsync(a, new IPEndPoint(IPAddress.Loopback, 9), Config(_gwA, "10.1.0.0", "10.2.0.0") with { LocalId = id }).GetAwaiter().GetResult());
        Assert.Equal("config", e.ParamName);
        Assert.Contains($"local-id {value} (", e.Message);
        Assert.Contains("is not carried by local certificate 'CN=gw-a, O=Certgate Test, C=CH'", e.Message);
        Assert.Contains(san, e.Message);
    }

    [Fact]
    public void KeyIdWithACertificate_IsRefusedBothAsLocalIdAndFromThePeer()
    {
        IkePeerConfig config = Config(_gwA, "10.1.0.0", "10.2.0.0") with { LocalId = IkeIdentity.FromKeyId([1, 2, 3]) };
        Assert.Contains("cannot be bound to local certificate", IkeIdentities.LocalProblem(config));
        IkeException e = Assert.Throws<IkeException>(() =>
            IkeIdentities.CheckPeer(IkeIdentity.FromKeyId([1, 2, 3]), _gwB, Config(_gwA, "10.1.0.0", "10.2.0.0"), IPAddress.Loopback, "responder"));
        Assert.Contains("the responder's identity check against its certificate failed: 010203 (ID_KEY_ID) cannot be bound to a certificate", e.Message);
    }

    /// <summary>RFC 4945 §3.1 on the receiving side (a Certgate sender refuses such a local-id before it sends, so the check is called directly).</summary>
    [Theory]
    [InlineData("fqdn", "not in the certificate's subjectAltName")]
    [InlineData("email", "not in the certificate's subjectAltName")]
    [InlineData("ipv6", "not in the certificate's subjectAltName")]
    [InlineData("dn", "not the certificate's subject")]
    public void PeerIdTheCertificateDoesNotCarry_IsRefused(string type, string why)
    {
        // gw-a's identities, shown with gw-b's certificate.
        IkeException e = Assert.Throws<IkeException>(() =>
            IkeIdentities.CheckPeer(Id(type, "gw-a"), _gwB, Config(_gwA, "10.1.0.0", "10.2.0.0"), IPAddress.Loopback, "initiator"));
        Assert.Contains("the initiator's identity check against its certificate failed: ", e.Message);
        Assert.Contains(why, e.Message);
        Assert.Contains("its certificate: subject 'CN=gw-b, O=Certgate Test, C=CH', subjectAltName DNS:gw-b.example.net, IP:192.0.2.11, IP:2001:db8::b, email:gw-b@example.net", e.Message);
    }

    private static IkePeerConfig Psk(string local, string remote) =>
        new(null, [], null, Ts(local), Ts(remote)) { RetransmitTimeout = TimeSpan.FromSeconds(1), PreSharedKey = "a shared secret of some length"u8.ToArray() };

    [Fact]
    public async Task PreSharedKey_WithoutIds_SendsTheGatewayAddress_AndAcceptsOnlyThePeersAddress()
    {
        (ChildSa i, ChildSa r) = await RunAsync(Psk("10.1.0.0", "10.2.0.0"), Psk("10.2.0.0", "10.1.0.0"));
        Assert.Equal("127.0.0.1 (ID_IPV4_ADDR)", IkeIdentities.Describe(i.PeerId!));
        Assert.Equal("127.0.0.1 (ID_IPV4_ADDR)", IkeIdentities.Describe(r.LocalId!));

        (_, IkeException refused) = await RefusedAsync(Psk("10.1.0.0", "10.2.0.0") with { LocalId = IkeIdentity.FromFqdn("gw-a.example.net") }, Psk("10.2.0.0", "10.1.0.0"));
        Assert.Contains("the initiator's remote-id check failed: it identifies as gw-a.example.net (ID_FQDN); with a pre-shared key and no remote-id only its gateway address (127.0.0.1) is accepted", refused.Message);
    }

    [Fact]
    public async Task PreSharedKey_WithKeyIdAndEmail_MatchesRemoteIds()
    {
        (ChildSa i, ChildSa r) = await RunAsync(
            Psk("10.1.0.0", "10.2.0.0") with { LocalId = IkeIdentity.FromKeyId([0xca, 0xfe]), RemoteIds = [RemoteIdentity.Email("gw-b@example.net")] },
            Psk("10.2.0.0", "10.1.0.0") with { LocalId = IkeIdentity.FromEmail("gw-b@example.net"), RemoteIds = [RemoteIdentity.KeyId([0xca, 0xfe])] });
        Assert.Equal("gw-b@example.net (ID_RFC822_ADDR)", IkeIdentities.Describe(i.PeerId!));
        Assert.Equal("CAFE (ID_KEY_ID)", IkeIdentities.Describe(r.PeerId!));
    }

    [Fact]
    public void RequestedIdr_IsSentOnlyForOneConcreteRemoteId()
    {
        IkePeerConfig c = Config(_gwA, "10.1.0.0", "10.2.0.0");
        Assert.Equal(IkeIdentity.FromFqdn("gw-b.example.net"), IkeIdentities.Requested(c with { RemoteIds = [RemoteIdentity.Fqdn("gw-b.example.net")] }), IdentityComparer.Instance);
        Assert.Null(IkeIdentities.Requested(c));
        Assert.Null(IkeIdentities.Requested(c with { RemoteIds = [RemoteIdentity.Fqdn("a.example"), RemoteIdentity.Fqdn("b.example")] }));
        Assert.Null(IkeIdentities.Requested(c with { RemoteIds = [RemoteIdentity.DistinguishedName("O=Certgate Test", DistinguishedNameMatch.Wildcard)] }));
    }

    [Theory]
    [InlineData(new byte[] { 4, 0, 0, 0, 10, 0, 0, 0, 24 }, "ID type 4, which Certgate does not accept")]
    [InlineData(new byte[] { 1, 0, 0, 0, 10, 0, 0 }, "malformed ID_IPV4_ADDR identity (3 octets")]
    [InlineData(new byte[] { 2, 0, 0, 0, 0x67, 0x20, 0x77 }, "malformed ID_FQDN identity")]
    [InlineData(new byte[] { 9, 0, 0, 0, 0x30, 0x05 }, "malformed ID_DER_ASN1_DN identity")]
    public void MalformedOrUnsupportedIdPayloads_AreRefusedWithTheType(byte[] body, string message)
    {
        IkeException e = Assert.Throws<IkeException>(() => IkeIdentities.Decode(body, "initiator"));
        Assert.Contains(message, e.Message);
    }

    /// <summary>IkeIdentity is a record over ReadOnlyMemory, whose equality is by reference; compare type and octets.</summary>
    private sealed class IdentityComparer : IEqualityComparer<IkeIdentity?>
    {
        public static readonly IdentityComparer Instance = new();

        public bool Equals(IkeIdentity? x, IkeIdentity? y) => x is not null && y is not null && x.Kind == y.Kind && x.Data.Span.SequenceEqual(y.Data.Span);

        public int GetHashCode(IkeIdentity? obj) => obj is null ? 0 : (int)obj.Kind;
    }
}
