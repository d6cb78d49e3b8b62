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
/// Issue #14 §2, the peer's certificate at the gateway (<see cref="PeerCertificatePolicy"/>): without remote-id it must
/// name the tunnel's remote-gateway as an iPAddress subjectAltName, whatever ID it sends; it must allow signing
/// (keyUsage digitalSignature) and, with an EKU, carry one IKE accepts. Each rule accepted and refused, alone and end
/// to end between two Certgate sides on loopback.
/// </summary>
public sealed class PeerCertificatePolicyTests : IDisposable
{
    private const string GwA = "192.0.2.10";
    private const string GwB = "192.0.2.11";

    private readonly TestCa _testCa = TestCa.CreateRoot("CN=Binding Test CA, O=Certgate Test, C=CH", now: DateTimeOffset.UtcNow);
    private readonly X509Certificate2 _ca;
    private readonly X509Certificate2 _gwA;
    private readonly X509Certificate2 _gwB;
    private byte _serial = 10;

    public PeerCertificatePolicyTests()
    {
        _ca = _testCa.Certificate;
        _gwA = Issue("gw-a", GwA);
        _gwB = Issue("gw-b", GwB);
    }

    public void Dispose()
    {
        _gwA.Dispose();
        _gwB.Dispose();
        _ca.Dispose();
        _testCa.Dispose();
    }

    /// <summary>
    /// "CN=name, O=Certgate Test, C=CH" with DNS name.example.net and, when given, the address as iPAddress SAN; no
    /// keyUsage extension when <paramref name="keyUsage"/> is null, no extendedKeyUsage when <paramref name="ekus"/> is empty.
    /// </summary>
    private X509Certificate2 Issue(string name, string? ip, X509KeyUsageFlags? keyUsage = X509KeyUsageFlags.DigitalSignature, params string[] ekus) =>
        _testCa.IssueWithKey($"CN={name}, O=Certgate Test, C=CH", new CertOptions
        {
            DnsNames = [$"{name}.example.net"],
            IpAddresses = ip is null ? [] : [IPAddress.Parse(ip)],
            KeyUsage = keyUsage,
            OmitKeyUsage = keyUsage is null,
            ExtendedKeyUsages = ekus,
            NotBefore = DateTimeOffset.UtcNow.AddDays(-1),
            NotAfter = DateTimeOffset.UtcNow.AddDays(10),
            Serial = [_serial++],
        });

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

    /// <summary>The initiator refuses the responder (whose IKE_AUTH response has gone out, RFC 7296 §2.21.2).</summary>
    private static async Task<IkeException> InitiatorRefusesAsync(IkePeerConfig initiator, IkePeerConfig responder)
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Task<ChildSa> r = IkeHandshake.RespondAsync(b, responder);
        IkeException i = await Assert.ThrowsAsync<IkeException>(() => IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, initiator));
        await r;
        return i;
    }

    // --- Rule 1: without remote-id the certificate names the remote-gateway ---

    [Fact]
    public void GatewayProblem_CertificateWithTheAddressAsIpSan_IsNone_IPv4MappedComparedAsIPv4()
    {
        Assert.Null(PeerCertificatePolicy.GatewayProblem(_gwA, IPAddress.Parse(GwA)));
        Assert.Null(PeerCertificatePolicy.GatewayProblem(_gwA, IPAddress.Parse(GwA).MapToIPv6()));
    }

    [Fact]
    public void GatewayProblem_CertificateOfAnotherGateway_NamesSubjectAddressAndRemedy()
    {
        string? why = PeerCertificatePolicy.GatewayProblem(_gwB, IPAddress.Parse(GwA));
        Assert.Equal($"the certificate of CN=gw-b, O=Certgate Test, C=CH does not name {GwA} (subjectAltName: DNS:gw-b.example.net, IP:{GwB}); "
            + "without remote-id the peer's certificate must carry the tunnel's remote-gateway as an iPAddress subjectAltName; configure remote-id to accept it", why);
    }

    [Fact]
    public void GatewayProblem_ArgumentErrorsNameTheParameter()
    {
        Assert.Equal("certificate", Assert.Throws<ArgumentNullException>(() => PeerCertificatePolicy.GatewayProblem(null!, IPAddress.Loopback)).ParamName);
        Assert.Equal("remoteGateway", Assert.Throws<ArgumentNullException>(() => PeerCertificatePolicy.GatewayProblem(_gwA, null!)).ParamName);
    }

    [Theory]
    [InlineData("dn")]
    [InlineData("fqdn")]
    [InlineData("ipv4")]
    public void CheckPeer_NoRemoteId_CertificateNamingTheRemoteGateway_IsAccepted_WhateverIdItSends(string type)
    {
        IkeIdentity id = type switch
        {
            "fqdn" => IkeIdentity.FromFqdn("gw-a.example.net"),
            "ipv4" => IkeIdentity.FromAddress(IPAddress.Parse(GwA)),
            _ => IkeIdentity.FromDistinguishedName(_gwA.SubjectName),
        };
        IkePeerConfig config = Config(_gwB, "10.2.0.0", "10.1.0.0") with { RemoteGateway = IPAddress.Parse(GwA) };
        IkeIdentities.CheckPeer(id, _gwA, config, IPAddress.Loopback, "initiator");
    }

    [Theory]
    [InlineData("dn")]
    [InlineData("fqdn")]
    public void CheckPeer_NoRemoteId_CertificateOfTheSameCaForAnotherGateway_IsRefusedWithTheReason(string type)
    {
        using X509Certificate2 gwC = Issue("gw-c", "192.0.2.12");
        IkeIdentity id = type == "fqdn" ? IkeIdentity.FromFqdn("gw-c.example.net") : IkeIdentity.FromDistinguishedName(gwC.SubjectName);
        IkePeerConfig config = Config(_gwB, "10.2.0.0", "10.1.0.0") with { RemoteGateway = IPAddress.Parse(GwA) };
        var e = Assert.Throws<IkeException>(() => IkeIdentities.CheckPeer(id, gwC, config, IPAddress.Loopback, "initiator"));
        Assert.StartsWith($"the initiator's gateway check failed: the certificate of CN=gw-c, O=Certgate Test, C=CH does not name {GwA} ", e.Message);
        Assert.EndsWith("configure remote-id to accept it", e.Message);
    }

    [Fact]
    public void CheckPeer_WithRemoteId_TheRemoteIdDecides_NotTheAddress()
    {
        using X509Certificate2 gwC = Issue("gw-c", null);
        IkePeerConfig config = Config(_gwB, "10.2.0.0", "10.1.0.0") with
        {
            RemoteGateway = IPAddress.Parse(GwA),
            RemoteIds = [RemoteIdentity.Fqdn("gw-c.example.net")],
        };
        IkeIdentities.CheckPeer(IkeIdentity.FromFqdn("gw-c.example.net"), gwC, config, IPAddress.Loopback, "initiator");
    }

    [Fact]
    public async Task EndToEnd_NoRemoteId_PeerNamingTheRemoteGateway_ComesUp_AnotherGatewaysCertificate_IsRefusedBothSidesTold()
    {
        IkePeerConfig ia = Config(_gwA, "10.1.0.0", "10.2.0.0") with { RemoteGateway = IPAddress.Parse(GwB) };
        IkePeerConfig rb = Config(_gwB, "10.2.0.0", "10.1.0.0") with { RemoteGateway = IPAddress.Parse(GwA) };
        (ChildSa i, ChildSa r) = await RunAsync(ia, rb);
        Assert.Equal(i.OutboundKeymat, r.InboundKeymat);

        // An impostor: a certificate of the same CA, for another gateway, initiating towards B's tunnel to A.
        using X509Certificate2 gwC = Issue("gw-c", "192.0.2.12");
        (IkeException initiator, IkeException responder) = await RefusedAsync(Config(gwC, "10.1.0.0", "10.2.0.0"), rb);
        Assert.Contains($"the initiator's gateway check failed: the certificate of CN=gw-c, O=Certgate Test, C=CH does not name {GwA}", responder.Message);
        Assert.Contains("AUTHENTICATION_FAILED", initiator.Message);

        // The same impostor as responder: A, initiating to its tunnel peer B, refuses it.
        IkeException a = await InitiatorRefusesAsync(ia, Config(gwC, "10.2.0.0", "10.1.0.0"));
        Assert.Contains($"the responder's gateway check failed: the certificate of CN=gw-c, O=Certgate Test, C=CH does not name {GwB}", a.Message);
    }

    // --- Rule 2: keyUsage and extendedKeyUsage ---

    public static TheoryData<X509KeyUsageFlags?, string[]> Usable => new()
    {
        { null, [] },
        { X509KeyUsageFlags.DigitalSignature, [] },
        { X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, [PeerCertificatePolicy.IpsecIke] },
        { X509KeyUsageFlags.DigitalSignature, [PeerCertificatePolicy.ServerAuth] },
        { X509KeyUsageFlags.DigitalSignature, [PeerCertificatePolicy.ClientAuth] },
        { X509KeyUsageFlags.DigitalSignature, [PeerCertificatePolicy.IkeIntermediate] },
        { X509KeyUsageFlags.DigitalSignature, [PeerCertificatePolicy.AnyExtendedKeyUsage] },
        { null, ["1.3.6.1.5.5.7.3.4", PeerCertificatePolicy.IpsecIke] },
    };

    [Theory]
    [MemberData(nameof(Usable))]
    public void UsageProblem_SigningCertificateWithAnIkeUsage_IsNone(X509KeyUsageFlags? keyUsage, string[] ekus)
    {
        using X509Certificate2 cert = Issue("gw-u", GwA, keyUsage, ekus);
        Assert.Null(PeerCertificatePolicy.UsageProblem(cert));
    }

    [Theory]
    [InlineData(X509KeyUsageFlags.NonRepudiation, "its keyUsage (nonRepudiation) lacks digitalSignature")]
    [InlineData(X509KeyUsageFlags.KeyEncipherment, "its keyUsage (keyEncipherment) lacks digitalSignature")]
    public void UsageProblem_KeyUsageWithoutDigitalSignature_IsRefused_NamingTheCertificateAndTheBits(X509KeyUsageFlags keyUsage, string why)
    {
        using X509Certificate2 cert = Issue("gw-u", GwA, keyUsage);
        string? problem = PeerCertificatePolicy.UsageProblem(cert);
        Assert.NotNull(problem);
        Assert.StartsWith($"certificate 'CN=gw-u, O=Certgate Test, C=CH' (serial {cert.SerialNumber}): {why}", problem);
    }

    [Fact]
    public void UsageProblem_OnlyEmailProtection_IsRefused_NamingWhatIsMissing()
    {
        using X509Certificate2 cert = Issue("gw-u", GwA, X509KeyUsageFlags.DigitalSignature, "1.3.6.1.5.5.7.3.4");
        Assert.Equal($"certificate 'CN=gw-u, O=Certgate Test, C=CH' (serial {cert.SerialNumber}): its extendedKeyUsage (emailProtection (1.3.6.1.5.5.7.3.4)) "
            + "has none of ipsecIKE (1.3.6.1.5.5.7.3.17), serverAuth, clientAuth, iKEIntermediate (1.3.6.1.5.5.8.2.2) or anyExtendedKeyUsage (RFC 4945 §5.1.3.12)",
            PeerCertificatePolicy.UsageProblem(cert));
    }

    [Fact]
    public void UsageProblem_BothWrong_NamesBoth()
    {
        using X509Certificate2 cert = Issue("gw-u", GwA, X509KeyUsageFlags.NonRepudiation, "1.3.6.1.5.5.7.3.3");
        string problem = PeerCertificatePolicy.UsageProblem(cert)!;
        Assert.Contains("lacks digitalSignature", problem);
        Assert.Contains("its extendedKeyUsage (codeSigning (1.3.6.1.5.5.7.3.3)) has none of ipsecIKE", problem);
        Assert.Equal("certificate", Assert.Throws<ArgumentNullException>(() => PeerCertificatePolicy.UsageProblem(null!)).ParamName);
    }

    [Theory]
    [InlineData("initiator")]
    [InlineData("responder")]
    public async Task EndToEnd_PeerCertificateWithoutDigitalSignatureOrWithOnlyEmailProtection_IsRefused_WithTheReason(string impostor)
    {
        using X509Certificate2 noSign = Issue("gw-a", GwA, X509KeyUsageFlags.NonRepudiation);
        using X509Certificate2 mailOnly = Issue("gw-a", GwA, X509KeyUsageFlags.DigitalSignature, "1.3.6.1.5.5.7.3.4");
        foreach ((X509Certificate2 cert, string why) in new[] { (noSign, "lacks digitalSignature"), (mailOnly, "has none of ipsecIKE") })
        {
            IkePeerConfig bad = Config(cert, "10.1.0.0", "10.2.0.0") with { RemoteGateway = IPAddress.Parse(GwB) };
            IkePeerConfig good = Config(_gwB, "10.2.0.0", "10.1.0.0") with { RemoteGateway = IPAddress.Parse(GwA) };
            if (impostor == "initiator")
            {
                (IkeException i, IkeException r) = await RefusedAsync(bad, good);
                Assert.Contains("the initiator's certificate is not accepted for IKE: certificate 'CN=gw-a, O=Certgate Test, C=CH'", r.Message);
                Assert.Contains(why, r.Message);
                Assert.Contains("AUTHENTICATION_FAILED", i.Message);
            }
            else
            {
                IkeException i = await InitiatorRefusesAsync(good with { LocalTs = bad.LocalTs, RemoteTs = bad.RemoteTs, RemoteGateway = IPAddress.Parse(GwA) },
                    bad with { LocalTs = good.LocalTs, RemoteTs = good.RemoteTs });
                Assert.Contains("the responder's certificate is not accepted for IKE: certificate 'CN=gw-a, O=Certgate Test, C=CH'", i.Message);
                Assert.Contains(why, i.Message);
            }
        }
    }
}
