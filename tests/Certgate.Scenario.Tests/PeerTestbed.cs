using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Scenario.Tests;

/// <summary>
/// What every fixture with a real IKE peer (<see cref="StrongswanFixture"/>, <see cref="StrongswanIdentityFixture"/>,
/// <see cref="PeerBindingFixture"/>, <see cref="LibreswanFixture"/>) sets up alike (issue #13 §3); each fixture keeps
/// its own certificates, peer daemon and configuration.
/// <code>
///   ns P: the peer (charon or pluto)                       ns G: certgate
///   lo PeerInner/32   veth PeerOuter/24 ------------------ veth GateOuter/24
/// </code>
/// A temporary directory, one test CA on the real clock (the peers check validity against it), and certgate's state
/// directory with the CA profile <c>test</c> trusting that CA; helpers issue certificates of the CA and load them, with
/// their keys or as a CRL, into the gateway.
/// </summary>
internal sealed class PeerTestbed : IDisposable
{
    /// <summary>The CA profile the gateway's state gets, trusting <see cref="Ca"/>.</summary>
    public const string CaProfile = "test";

    /// <summary>Sets up the namespaces, the CA and the gateway's state; on failure removes what it made and throws.</summary>
    /// <param name="dirPrefix">The temporary directory's name prefix.</param>
    /// <param name="peerTag">The peer namespace's tag (<see cref="NetNamespaces.Create"/>).</param>
    /// <param name="peerOuter">The peer's veth address (a /24 shared with <paramref name="gateOuter"/>).</param>
    /// <param name="gateOuter">The gateway's veth address.</param>
    /// <param name="peerInner">An address on the peer's loopback: libipsec installs its route with a source address
    /// inside local_ts, and pluto's subnet needs one.</param>
    /// <param name="caName">The CA's common name.</param>
    public PeerTestbed(string dirPrefix, string peerTag, string peerOuter, string gateOuter, string peerInner, string caName)
    {
        Dir = Directory.CreateTempSubdirectory(dirPrefix).FullName;
        Net = new NetNamespaces();
        try
        {
            NsPeer = Net.Create(peerTag);
            NsGate = Net.Create("g");
            Net.Link(NsPeer, peerOuter + "/24", NsGate, gateOuter + "/24");
            NetNamespaces.Run("ip", "-n", NsPeer, "addr", "add", peerInner + "/32", "dev", "lo");
            Dll = NetNamespaces.CertgateDll();
            Ca = CreateCa(caName);

            State = Path.Combine(Dir, "gate");
            string setup = Path.Combine(Dir, "setup.set");
            File.WriteAllText(setup, $"set security pki ca-profile {CaProfile} ca-identity {CaProfile}\n");
            Certgate("configure", "load", "set", setup);
            File.WriteAllText(CaFile, Ca.Certificate.ExportCertificatePem());
            Certgate("request", "security", "pki", "ca-certificate", "load", "ca-profile", CaProfile, "filename", CaFile);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public NetNamespaces Net { get; }

    public string Dir { get; }

    /// <summary>The peer's namespace.</summary>
    public string NsPeer { get; } = "";

    /// <summary>The gateway's namespace.</summary>
    public string NsGate { get; } = "";

    /// <summary>The Release certgate.dll of this checkout.</summary>
    public string Dll { get; } = "";

    /// <summary>The gateway's state directory.</summary>
    public string State { get; } = "";

    /// <summary>The CA both sides trust.</summary>
    public TestCa Ca { get; } = null!;

    /// <summary><see cref="Ca"/>'s certificate as PEM.</summary>
    public string CaFile => Path.Combine(Dir, "ca.pem");

    /// <summary>A DN of the scenarios: encoded C, O, CN (the usual order); .NET's string form lists the RDNs the other way round.</summary>
    public static X500DistinguishedName Dn(string cn) => new($"CN={cn}, O=Certgate Test, C=CH");

    /// <summary>A DN as strongSwan and libreswan write it: RDNs in encoded order, comma and space.</summary>
    public static string PeerDn(X500DistinguishedName dn) =>
        string.Join(", ", dn.EnumerateRelativeDistinguishedNames(reversed: false).Select(r => $"{ShortName(r.GetSingleElementType().Value)}={r.GetSingleElementValue()}"));

    private static string ShortName(string? oid) => oid switch
    {
        "2.5.4.6" => "C",
        "2.5.4.10" => "O",
        "2.5.4.3" => "CN",
        _ => throw new ArgumentException($"unexpected attribute {oid}", nameof(oid)),
    };

    /// <summary>The gateway's next-hop service set to the peer 10.66.0.1 from 10.66.0.2 (10.77.2.0/24 ↔ 10.77.1.0/24), local
    /// certificate <c>cg</c>, trusted CA <c>test</c>, no remote-id; the gateway's address is the higher, so it responds.</summary>
    public const string NextHopTunnelToPeer = """
        set services ipsec-vpn ike proposal ike-cert authentication-method rsa-signatures
        set services ipsec-vpn ike proposal ike-cert dh-group group19
        set services ipsec-vpn ike proposal ike-cert authentication-algorithm sha-256
        set services ipsec-vpn ike proposal ike-cert encryption-algorithm aes-256-gcm
        set services ipsec-vpn ike policy ike-cert-pol version 2
        set services ipsec-vpn ike policy ike-cert-pol proposals ike-cert
        set services ipsec-vpn ike policy ike-cert-pol local-certificate cg
        set services ipsec-vpn ipsec proposal esp-gcm protocol esp
        set services ipsec-vpn ipsec proposal esp-gcm encryption-algorithm aes-256-gcm
        set services ipsec-vpn ipsec policy esp-pol proposals esp-gcm
        set services ipsec-vpn rule rule-ike term t1 from source-address 10.77.2.0/24
        set services ipsec-vpn rule rule-ike term t1 from destination-address 10.77.1.0/24
        set services ipsec-vpn rule rule-ike term t1 then remote-gateway 10.66.0.1
        set services ipsec-vpn rule rule-ike term t1 then dynamic ike-policy ike-cert-pol
        set services ipsec-vpn rule rule-ike term t1 then dynamic ipsec-policy esp-pol
        set services ipsec-vpn rule rule-ike match-direction input
        set interfaces ms-0/0/0 unit 1 family inet address 10.77.2.1/32
        set interfaces ms-0/0/0 unit 1 service-domain inside
        set interfaces ms-0/0/0 unit 2 family inet
        set interfaces ms-0/0/0 unit 2 service-domain outside
        set services service-set ipsec-1 next-hop-service inside-service-interface ms-0/0/0.1
        set services service-set ipsec-1 next-hop-service outside-service-interface ms-0/0/0.2
        set services service-set ipsec-1 ipsec-vpn-options local-gateway 10.66.0.2
        set services service-set ipsec-1 ipsec-vpn-options trusted-ca test
        set services service-set ipsec-1 ipsec-vpn-rules rule-ike
        set routing-options static route 10.77.1.0/24 next-hop ms-0/0/0.1
        commit

        """;

    /// <summary>An RSA root <see cref="Dn"/>(<paramref name="cn"/>) valid from two days ago for 60 days, without authorityKeyIdentifier.</summary>
    public static TestCa CreateCa(string cn)
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return TestCa.CreateRoot(Dn(cn).Name, new CertOptions
        {
            NotBefore = now.AddDays(-2),
            NotAfter = now.AddDays(60),
            OmitAuthorityKeyIdentifier = true,
        }, now);
    }

    /// <summary>An end-entity certificate of <see cref="Ca"/> (or of <paramref name="issuer"/>): see <see cref="IssueBy"/>.</summary>
    public X509Certificate2 Issue(string cn, AsymmetricAlgorithm key, byte serial, CertOptions? options = null, TestCa? issuer = null) =>
        IssueBy(issuer ?? Ca, cn, key, serial, options);

    /// <summary>
    /// An end-entity certificate <see cref="Dn"/>(<paramref name="cn"/>) for <paramref name="key"/>, serial
    /// <paramref name="serial"/>, signed by <paramref name="issuer"/>, valid from a day ago for 30 days unless
    /// <paramref name="options"/> says otherwise.
    /// </summary>
    public static X509Certificate2 IssueBy(TestCa issuer, string cn, AsymmetricAlgorithm key, byte serial, CertOptions? options = null)
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        options ??= new CertOptions();
        return issuer.Issue(Dn(cn).Name, key, options with
        {
            Serial = [serial],
            NotBefore = options.NotBefore ?? now.AddDays(-1),
            NotAfter = options.NotAfter ?? now.AddDays(30),
        });
    }

    /// <summary>A CRL of <paramref name="ca"/> (number 1, valid for a day) that lists <paramref name="revokedSerials"/>.</summary>
    public static byte[] Crl(TestCa ca, params byte[] revokedSerials)
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return ca.CrlBytes(thisUpdate: now.AddMinutes(-5), nextUpdate: now.AddDays(1), number: 1,
            serials: revokedSerials.Select(s => new[] { s }), revokedAt: now.AddMinutes(-5));
    }

    /// <summary>Loads <paramref name="cert"/> and <paramref name="key"/> into the gateway as local certificate <paramref name="id"/>.</summary>
    public void LoadLocalCertificate(string id, X509Certificate2 cert, AsymmetricAlgorithm key)
    {
        string certFile = Path.Combine(Dir, id + ".pem");
        string keyFile = Path.Combine(Dir, id + ".key");
        File.WriteAllText(certFile, cert.ExportCertificatePem());
        WriteKey(keyFile, key);
        Certgate("request", "security", "pki", "local-certificate", "load", "certificate-id", id, "filename", certFile, "key", keyFile);
    }

    /// <summary>
    /// Loads a CRL of <see cref="Ca"/> (number 1, valid for a day) that lists <paramref name="revokedSerials"/>:
    /// certgate checks revocation (the Junos default) and needs a CRL for each CA.
    /// </summary>
    public void LoadCrl(params byte[] revokedSerials)
    {
        string crlFile = Path.Combine(Dir, "ca.crl");
        File.WriteAllBytes(crlFile, Crl(Ca, revokedSerials));
        Certgate("request", "security", "pki", "crl", "load", "ca-profile", CaProfile, "filename", crlFile);
    }

    /// <summary>Writes <paramref name="key"/> as PKCS#8 PEM, mode 0600.</summary>
    public static void WriteKey(string path, AsymmetricAlgorithm key)
    {
        File.WriteAllText(path, key.ExportPkcs8PrivateKeyPem());
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>Runs a certgate command on the gateway's state directory (outside the namespaces: files only).</summary>
    public string Certgate(params string[] args) => NetNamespaces.Run("dotnet", [Dll, "--state", State, "--yes", .. args]);

    public void Dispose()
    {
        Net.Dispose();
        Ca?.Dispose();
        Directory.Delete(Dir, recursive: true);
    }
}
