using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Config;
using Certgate.Config.Ipsec;
using Certgate.Config.Pki;
using Certgate.Config.Text;
using Certgate.Config.Tree;
using Certgate.Gateway.Tunnels;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sessions;
using Certgate.Pki.Keys;
using Certgate.Pki.Revocation;
using Certgate.Pki.Store;
using Certgate.ServiceSets;
using Certgate.ServiceSets.Plan;
using Certgate.Tests.Shared.TestPki;
using DhGroup = Certgate.Ipsec.Registry.DhGroup;
using EncryptionAlgorithm = Certgate.Ipsec.Registry.EncryptionAlgorithm;

namespace Certgate.Gateway.Tests.Tunnels;

/// <summary>The runtime's decisions that need no namespace: who initiates, what IKE gets from the store, empty plans.
/// Tunnels that come up are in the scenario tests (ServiceSetTunnelTests).</summary>
public sealed class TunnelRuntimeTests : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("certgate-rt-").FullName;
    private readonly List<string> _log = [];

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private sealed class RecordingLinks : ILinkConfigurator
    {
        public List<string> Calls { get; } = [];

        public void AddAddress(string device, string cidr) => Calls.Add($"addr {cidr} {device}");

        public void SetUp(string device) => Calls.Add($"up {device}");

        public void ReplaceRoute(string destination, string device) => Calls.Add($"route {destination} {device}");

        public bool DeleteLink(string device)
        {
            Calls.Add($"link del {device}");
            return true;
        }

        public bool DeleteRoute(string destination, string device)
        {
            Calls.Add($"del {destination} {device}");
            return true;
        }

        public void AddRule(PolicyRule rule) => Calls.Add(rule.ToString());

        public bool DeleteRule(PolicyRule rule)
        {
            Calls.Add($"del {rule}");
            return true;
        }

        public void ReplaceRoute(TableRoute route) => Calls.Add(route.ToString());

        public bool DeleteRoute(TableRoute route)
        {
            Calls.Add($"del {route}");
            return true;
        }

        public int DeleteRules(int first, int last)
        {
            Calls.Add($"flush rules {first}-{last}");
            return 0;
        }
    }

    private static string Config(string local, string remote) => $"""
        set security pki ca-profile test ca-identity test
        set services ipsec-vpn ike proposal p authentication-method rsa-signatures
        set services ipsec-vpn ike policy ip version 2
        set services ipsec-vpn ike policy ip proposals p
        set services ipsec-vpn ike policy ip local-certificate gw-cert
        set services ipsec-vpn rule r term t then remote-gateway {remote}
        set services ipsec-vpn rule r term t then dynamic ike-policy ip
        set services ipsec-vpn rule r match-direction input
        set interfaces ms-0/0/0 unit 1 family inet address 172.30.1.1/24
        set interfaces ms-0/0/0 unit 1 service-domain inside
        set interfaces ms-0/0/0 unit 2 family inet
        set interfaces ms-0/0/0 unit 2 service-domain outside
        set services service-set s next-hop-service inside-service-interface ms-0/0/0.1
        set services service-set s next-hop-service outside-service-interface ms-0/0/0.2
        set services service-set s ipsec-vpn-options local-gateway {local}
        set services service-set s ipsec-vpn-rules r
        """;

    private static ConfigNode Root(string local, string remote, string more = "")
    {
        ConfigNode root = ConfigText.ParseSet(GatewaySchema.Instance, Config(local, remote));
        ConfigText.ApplySet(root, more);
        return root;
    }

    private static TunnelPlan Plan(string local, string remote)
    {
        ConfigNode root = Root(local, remote);
        Assert.Empty(GatewaySchema.Instance.Check(root));
        return Assert.Single(ServiceSetCompiler.Compile(IpsecVpnConfiguration.From(root), PkiConfiguration.From(root)).Tunnels);
    }

    [Theory]
    [InlineData("10.0.0.9", "10.0.0.10", IkeRole.Initiator)]
    [InlineData("10.0.0.10", "10.0.0.9", IkeRole.Responder)]
    [InlineData("192.0.2.200", "198.51.100.1", IkeRole.Initiator)]
    public void LowerAddressInitiates_ComparedAsNumbersNotText(string local, string remote, IkeRole expected) =>
        Assert.Equal(expected, Tunnel.DefaultRole(Plan(local, remote)));

    [Fact]
    public void PeerConfig_LocalCertificateMissing_NamesTheCertificateId()
    {
        var runtime = new TunnelRuntime(_state, _log.Add, TimeProvider.System, new RecordingLinks());
        IOException e = Assert.Throws<IOException>(() => runtime.PeerConfig(Plan("10.0.0.1", "10.0.0.2")));
        Assert.Contains("local certificate gw-cert is not in the PKI store", e.Message);
        Assert.Contains("s/r/t", e.Message);
    }

    /// <summary>A CA, its CRL and a local certificate gw-cert with its key in the state directory.</summary>
    private X509Certificate2 StoreMaterial()
    {
        // The shared test CA on the real clock: the runtime checks validity against it.
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using TestCa authority = TestCa.CreateRoot("CN=Test CA", new CertOptions { NotBefore = now.AddDays(-1), NotAfter = now.AddDays(30) }, now);
        X509Certificate2 ca = X509CertificateLoader.LoadCertificate(authority.Certificate.RawData);
        using RSA key = RSA.Create(2048);
        using X509Certificate2 cert = authority.Issue("CN=gw.test", key, new CertOptions { NotBefore = now.AddDays(-1), NotAfter = now.AddDays(10), Serial = [7] });
        byte[] crl = authority.CrlBytes(thisUpdate: now.AddMinutes(-1), nextUpdate: now.AddDays(1), number: 1);
        using KeyPair pair = KeyPair.FromKey(key);
        new PkiStore(_state).Apply(new PkiStoreChange()
            .WriteCertificate(PkiObjectType.CaCertificate, "test", ca)
            .Write(PkiObjectType.Crl, "test", crl)
            .WriteKeyPair("gw-cert", pair)
            .WriteCertificate(PkiObjectType.LocalCertificate, "gw-cert", cert));
        return ca;
    }

    [Fact]
    public async Task PeerConfig_FromTheStore_CertificateWithKey_TrustedCa_CrlsUnlessRevocationCheckIsDisabled()
    {
        using X509Certificate2 ca = StoreMaterial();
        await using var runtime = new TunnelRuntime(_state, _log.Add, TimeProvider.System, new RecordingLinks());
        TunnelPlan plan = Plan("10.0.0.1", "10.0.0.2");
        await runtime.ApplyAsync(ConfigText.ParseSet(GatewaySchema.Instance, "set security pki ca-profile test ca-identity test\n"));
        IkePeerConfig config = runtime.PeerConfig(plan);
        using (config.Certificate)
        {
            Assert.True(config.Certificate!.HasPrivateKey);
            Assert.Equal("CN=gw.test", config.Certificate.Subject);
            Assert.Equal(ca.Thumbprint, Assert.Single(config.TrustAnchors).Thumbprint);
            Assert.NotNull(config.Crls);
            Assert.Equal(IPAddress.Parse("0.0.0.0"), Assert.Single(config.LocalTs).Start);
            // Issue #14 §2: without remote-id the peer's certificate must name the remote-gateway.
            Assert.Empty(config.RemoteIds);
            Assert.Equal(IPAddress.Parse("10.0.0.2"), config.RemoteGateway);
        }
        await runtime.ApplyAsync(ConfigText.ParseSet(GatewaySchema.Instance, "set security pki ca-profile test ca-identity test\nset security pki ca-profile test revocation-check disable\n"));
        IkePeerConfig noRevocation = runtime.PeerConfig(plan);
        using (noRevocation.Certificate)
        {
            Assert.Null(noRevocation.Crls);
        }
    }

    /// <summary>Issue 5, reference §3.6: local-id and every remote-id reach the IKE engine with their types.</summary>
    [Fact]
    public async Task PeerConfig_CarriesLocalIdAndRemoteIds()
    {
        using X509Certificate2 ca = StoreMaterial();
        await using var runtime = new TunnelRuntime(_state, _log.Add, TimeProvider.System, new RecordingLinks());
        ConfigNode root = Root("10.0.0.1", "10.0.0.2", """
            set services ipsec-vpn ike policy ip local-id distinguished-name
            set services ipsec-vpn ike policy ip remote-id fqdn gw2.example.net
            set services ipsec-vpn ike policy ip remote-id user-at-hostname gw2@example.net
            set services ipsec-vpn ike policy ip remote-id ipv6-addr 2001:db8::2
            set services ipsec-vpn ike policy ip remote-id distinguished-name wildcard "O=Example, C=CH"
            """);
        Assert.Empty(GatewaySchema.Instance.Check(root));
        TunnelPlan plan = Assert.Single(ServiceSetCompiler.Compile(IpsecVpnConfiguration.From(root), PkiConfiguration.From(root)).Tunnels);
        await runtime.ApplyAsync(ConfigText.ParseSet(GatewaySchema.Instance, "set security pki ca-profile test ca-identity test\n"));
        IkePeerConfig config = runtime.PeerConfig(plan);
        using (config.Certificate)
        {
            Assert.Equal("CN=gw.test (ID_DER_ASN1_DN)", Certgate.Ike.Auth.IkeIdentities.Describe(config.LocalId!));
            // The order of remote-ids does not matter (any match).
            Assert.Equal(new[] { "distinguished-name Wildcard \"O=Example, C=CH\"", "email gw2@example.net", "fqdn gw2.example.net", "ip 2001:db8::2" },
                config.RemoteIds.Select(r => r.ToString()).Order(StringComparer.Ordinal));
        }
    }

    /// <summary>A local-id the local certificate does not carry fails the tunnel's start with the certificate, the identity and its subjectAltNames.</summary>
    [Fact]
    public async Task PeerConfig_LocalIdNotInTheCertificate_FailsNamingCertificateIdentityAndSans()
    {
        using X509Certificate2 ca = StoreMaterial();
        await using var runtime = new TunnelRuntime(_state, _log.Add, TimeProvider.System, new RecordingLinks());
        ConfigNode root = Root("10.0.0.1", "10.0.0.2", "set services ipsec-vpn ike policy ip local-id user-at-hostname gw@example.net");
        TunnelPlan plan = Assert.Single(ServiceSetCompiler.Compile(IpsecVpnConfiguration.From(root), PkiConfiguration.From(root)).Tunnels);
        await runtime.ApplyAsync(ConfigText.ParseSet(GatewaySchema.Instance, "set security pki ca-profile test ca-identity test\n"));
        IOException e = Assert.Throws<IOException>(() => runtime.PeerConfig(plan));
        Assert.Equal("tunnel s/r/t: local-id gw@example.net (ID_RFC822_ADDR) is not carried by local certificate gw-cert (subject 'CN=gw.test', subjectAltName: none); "
            + "the peer would refuse it (RFC 4945 §3.1): set a local-id the certificate carries, or delete local-id to send its subject", e.Message);
    }

    /// <summary>Issue 5: the Junos proposals (IANA ids on both sides) and the PFS group reach the IKE engine.</summary>
    [Fact]
    public void PeerConfig_CarriesTheConfiguredProposals_AndThePfsGroup()
    {
        ConfigNode root = Root("10.0.0.1", "10.0.0.2", """
            set services ipsec-vpn ike proposal p encryption-algorithm aes-128-cbc
            set services ipsec-vpn ike proposal p authentication-algorithm sha-384
            set services ipsec-vpn ike proposal p dh-group group21
            set services ipsec-vpn ipsec proposal e protocol esp
            set services ipsec-vpn ipsec proposal e encryption-algorithm aes-256-cbc
            set services ipsec-vpn ipsec proposal e authentication-algorithm hmac-sha-512-256
            set services ipsec-vpn ipsec proposal g protocol esp
            set services ipsec-vpn ipsec proposal g encryption-algorithm aes-128-gcm
            set services ipsec-vpn ipsec policy ep proposals [ e g ]
            set services ipsec-vpn ipsec policy ep perfect-forward-secrecy keys group19
            set services ipsec-vpn rule r term t then dynamic ipsec-policy ep
            """);
        Assert.Empty(GatewaySchema.Instance.Check(root));
        TunnelPlan plan = Assert.Single(ServiceSetCompiler.Compile(IpsecVpnConfiguration.From(root), PkiConfiguration.From(root)).Tunnels);
        Assert.Equal([new SaSuite(EncryptionAlgorithm.ENCR_AES_CBC, 128, IntegrityAlgorithm.AUTH_HMAC_SHA2_384_192, DhGroup.ECP_521, PseudorandomFunction.PRF_HMAC_SHA2_384)], ProposalMapping.Ike(plan.Peer));
        Assert.Equal(
            [new SaSuite(EncryptionAlgorithm.ENCR_AES_CBC, 256, IntegrityAlgorithm.AUTH_HMAC_SHA2_512_256, DhGroup.NONE), new SaSuite(EncryptionAlgorithm.ENCR_AES_GCM_16, 128, IntegrityAlgorithm.NONE, DhGroup.NONE)],
            ProposalMapping.Esp(plan.Child));
        Assert.Equal(DhGroup.ECP_256, ProposalMapping.Pfs(plan.Child));
    }

    [Fact]
    public void Selectors_FromTheTermPrefixes()
    {
        Certgate.Ipsec.TrafficSelector ts = Tunnel.Selector(Certgate.Net.Addressing.IpPrefix.Parse("172.30.1.0/24"));
        Assert.Equal(IPAddress.Parse("172.30.1.0"), ts.Start);
        Assert.Equal(IPAddress.Parse("172.30.1.255"), ts.End);
    }

    [Fact]
    public async Task Apply_ConfigurationWithoutServiceSets_CreatesNothing_AndSaysThePlanIsUnchanged()
    {
        var links = new RecordingLinks();
        await using var runtime = new TunnelRuntime(_state, _log.Add, TimeProvider.System, links);
        await runtime.ApplyAsync(ConfigText.ParseSet(GatewaySchema.Instance, "set security pki ca-profile test ca-identity test\n"));
        Assert.Empty(links.Calls);
        Assert.Empty(runtime.Snapshot());
        Assert.Equal(0, runtime.Clear());
        Assert.Contains(_log, l => l.Contains("the plan is unchanged", StringComparison.Ordinal));
    }
}
