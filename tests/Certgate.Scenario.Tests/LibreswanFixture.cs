using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Revocation;

namespace Certgate.Scenario.Tests;

/// <summary>
/// libreswan 4.10's pluto as an IKEv2 peer: a pair of namespaces, one test CA that issues pluto's certificate (in an
/// NSS database) and Certgate's (in its state directory), and pluto started per test with its own ipsec.conf, NSS
/// database, run and ipsec.d directories.
/// <code>
///   ns L: pluto --nofork (ctl socket DIR/run/pluto.ctl)       ns G: certgate debug ike-tunnel
///   lo 10.78.1.1/32   veth 10.68.0.1/24 ---------------------- veth 10.68.0.2/24   (TUN lg0)
///   conn cg: 10.78.1.0/24 &lt;=&gt; 10.78.2.0/24, authby=rsasig (RSASSA-PSS once RFC 7427 is announced), IKEv2 only
/// </code>
/// pluto is not installed (Debian's libreswan conflicts with strongSwan's packages): <c>./build.sh deps</c> unpacks the
/// .deb into <c>artifacts/peers/libreswan</c>, and pluto runs from there. It runs <c>addconn</c> from its compiled-in
/// <c>/usr/libexec/ipsec</c>, so the unpacked <c>usr/libexec</c> is bind-mounted over <c>/usr/libexec</c> inside the
/// private mount namespace that <c>ip netns exec</c> gives each command. This kernel has no ESP, so pluto's CHILD_SA
/// install fails after IKE_AUTH; IKE_SA_INIT and IKE_AUTH are what these tests check.
/// </summary>
public sealed class LibreswanFixture : IDisposable
{
    public const string PlutoOuter = "10.68.0.1";
    public const string GateOuter = "10.68.0.2";
    public const string PlutoInner = "10.78.1.1";
    public const string PlutoNet = "10.78.1.0/24";
    public const string GateNet = "10.78.2.0/24";

    private readonly RSA _caKey = RSA.Create(2048);

    public LibreswanFixture()
    {
        Root = RepositoryRoot();
        Libreswan = Path.Combine(Root, "artifacts", "peers", "libreswan");
        RequireInstalled(Libreswan);
        Dir = Directory.CreateTempSubdirectory("certgate-lsw-").FullName;
        Net = new NetNamespaces();
        try
        {
            NsPluto = Net.Create("l");
            NsGate = Net.Create("g");
            Net.Link(NsPluto, PlutoOuter + "/24", NsGate, GateOuter + "/24");
            NetNamespaces.Run("ip", "-n", NsPluto, "addr", "add", PlutoInner + "/32", "dev", "lo");
            Dll = NetNamespaces.CertgateDll();
            DateTimeOffset now = DateTimeOffset.UtcNow;
            Ca = MakeCa();

            // pluto's NSS database: the CA trusted for peers (CT), pluto's certificate and key from a PKCS#12.
            Directory.CreateDirectory(NssDir);
            Directory.CreateDirectory(Path.Combine(Dir, "run"));
            Directory.CreateDirectory(Path.Combine(Dir, "ipsec.d"));
            File.WriteAllText(Secrets, "");
            string caFile = Path.Combine(Dir, "ca.pem");
            File.WriteAllText(caFile, Ca.ExportCertificatePem());
            using (RSA plutoKey = RSA.Create(2048))
            using (X509Certificate2 pluto = Issue("pluto", plutoKey, 0x31, now))
            {
                PlutoSubject = pluto.SubjectName;
                // openssl writes the PKCS#12 so that it carries the friendly name "pluto", the NSS nickname leftcert names.
                string plutoCert = Path.Combine(Dir, "pluto.pem");
                string plutoKeyFile = Path.Combine(Dir, "pluto.key");
                string p12 = Path.Combine(Dir, "pluto.p12");
                File.WriteAllText(plutoCert, pluto.ExportCertificatePem());
                File.WriteAllText(plutoKeyFile, plutoKey.ExportPkcs8PrivateKeyPem());
                File.SetUnixFileMode(plutoKeyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                NetNamespaces.Run("openssl", "pkcs12", "-export", "-in", plutoCert, "-inkey", plutoKeyFile, "-name", "pluto", "-out", p12, "-passout", "pass:" + Pkcs12Password);
                File.SetUnixFileMode(p12, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                NetNamespaces.Run("certutil", "-N", "-d", "sql:" + NssDir, "--empty-password");
                NetNamespaces.Run("pk12util", "-i", p12, "-d", "sql:" + NssDir, "-W", Pkcs12Password);
                NetNamespaces.Run("certutil", "-A", "-d", "sql:" + NssDir, "-n", "ca", "-t", "CT,,", "-i", caFile);
                File.Delete(p12);
                File.Delete(plutoKeyFile);
            }

            // Certgate's state: the same CA, its own RSA certificate.
            State = Path.Combine(Dir, "gate");
            string setup = Path.Combine(Dir, "setup.set");
            File.WriteAllText(setup, "set security pki ca-profile test ca-identity test\n");
            Certgate("configure", "load", "set", setup);
            Certgate("request", "security", "pki", "ca-certificate", "load", "ca-profile", "test", "filename", caFile);
            // Certgate checks revocation (the Junos default): an empty CRL from the CA.
            var crl = new CrlBuilder(Ca) { ThisUpdate = now.AddMinutes(-5), NextUpdate = now.AddDays(1), CrlNumber = 1 };
            string crlFile = Path.Combine(Dir, "ca.crl");
            File.WriteAllBytes(crlFile, crl.Sign(_caKey, HashAlgorithmName.SHA256));
            Certgate("request", "security", "pki", "crl", "load", "ca-profile", "test", "filename", crlFile);
            using (RSA gateKey = RSA.Create(2048))
            using (X509Certificate2 gate = Issue("cg", gateKey, 0x32, now))
            {
                GateSubject = gate.SubjectName;
                string certFile = Path.Combine(Dir, "cg.pem");
                string keyFile = Path.Combine(Dir, "cg.key");
                File.WriteAllText(certFile, gate.ExportCertificatePem());
                File.WriteAllText(keyFile, gateKey.ExportPkcs8PrivateKeyPem());
                File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                Certgate("request", "security", "pki", "local-certificate", "load", "certificate-id", "cg", "filename", certFile, "key", keyFile);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public NetNamespaces Net { get; }

    public string Dir { get; }

    public string Root { get; }

    /// <summary>The unpacked libreswan package (usr/libexec/ipsec/pluto, whack, addconn).</summary>
    public string Libreswan { get; }

    public string NsPluto { get; } = "";

    public string NsGate { get; } = "";

    public string Dll { get; } = "";

    public string State { get; } = "";

    public X509Certificate2 Ca { get; } = null!;

    public X500DistinguishedName PlutoSubject { get; } = null!;

    public X500DistinguishedName GateSubject { get; } = null!;

    private const string Pkcs12Password = "pluto-nss-import";

    private string NssDir => Path.Combine(Dir, "nss");

    private string Secrets => Path.Combine(Dir, "ipsec.secrets");

    private string Config => Path.Combine(Dir, "ipsec.conf");

    private string CtlSocket => Path.Combine(Dir, "run", "pluto.ctl");

    private string Tool(string name) => Path.Combine(Libreswan, "usr", "libexec", "ipsec", name);

    /// <summary>Fails the test, saying how build.sh provides it, when the unpacked pluto or NSS's tools are missing.</summary>
    public static void RequireInstalled(string libreswan)
    {
        string pluto = Path.Combine(libreswan, "usr", "libexec", "ipsec", "pluto");
        Assert.True(File.Exists(pluto),
            $"libreswan's pluto is missing ({pluto}): Debian's libreswan conflicts with strongSwan, so './build.sh deps' (as root) " +
            "downloads the libreswan .deb with apt-get download and unpacks it there with dpkg -x");
        Assert.True(File.Exists("/usr/bin/certutil") && File.Exists("/usr/bin/pk12util"),
            "NSS's certutil and pk12util are missing: install the Debian package libnss3-tools (./build.sh deps does, as root)");
    }

    /// <summary>
    /// Writes ipsec.conf with the connection <c>cg</c> (this side the left) and starts pluto in its namespace; returns
    /// once pluto has loaded the connection and listens. <paramref name="more"/> are further <c>conn</c> lines.
    /// </summary>
    public Process StartPluto(string more = "")
    {
        File.WriteAllText(Config, $"""
            config setup
                uniqueids=no
            conn cg
                ikev2=insist
                authby=rsasig
                left={PlutoOuter}
                leftid="{LibreswanDn(PlutoSubject)}"
                leftcert=pluto
                leftsubnet={PlutoNet}
                right={GateOuter}
                rightid="{LibreswanDn(GateSubject)}"
                rightsubnet={GateNet}
                retransmit-timeout=10s
                auto=add
            {more}
            """);
        File.Delete(CtlSocket);
        string pluto = $"{Tool("pluto")} --nofork --stderrlog --config {Config} --nssdir {NssDir} --rundir {Path.Combine(Dir, "run")} " +
            $"--ipsecdir {Path.Combine(Dir, "ipsec.d")} --secretsfile {Secrets} --no-dnssec";
        Process p = Net.Start(NsPluto, "sh", "-c", $"mount --bind {Path.Combine(Libreswan, "usr", "libexec")} /usr/libexec && exec {pluto}");
        try
        {
            Net.WaitFor(p, "\"cg\": added IKEv2 connection", 30);
            Net.WaitFor(p, $"adding UDP interface", 30);
            for (int i = 0; i < 200 && !File.Exists(CtlSocket); i++)
            {
                Thread.Sleep(50);
            }
            Assert.True(File.Exists(CtlSocket), $"pluto made no control socket {CtlSocket}\n--- pluto ---\n{Net.OutputOf(p)}");
        }
        catch (TimeoutException e)
        {
            StopPluto(p);
            Assert.Fail($"pluto did not start with the connection cg: {e.Message}");
        }
        return p;
    }

    /// <summary>Asks pluto to initiate <c>cg</c> (whack returns at once; the log tells the outcome).</summary>
    public string Initiate() => NetNamespaces.Run("ip", "netns", "exec", NsPluto, Tool("whack"), "--ctlsocket", CtlSocket, "--initiate", "--name", "cg", "--asynchronous");

    public void StopPluto(Process p)
    {
        if (!p.HasExited)
        {
            NetNamespaces.Stop(p);
        }
    }

    /// <summary>A DN as libreswan writes it: RDNs in encoded order, comma and space.</summary>
    public static string LibreswanDn(X500DistinguishedName dn) =>
        string.Join(", ", dn.EnumerateRelativeDistinguishedNames(reversed: false).Select(r => $"{ShortName(r.GetSingleElementType().Value)}={r.GetSingleElementValue()}"));

    private static string ShortName(string? oid) => oid switch
    {
        "2.5.4.6" => "C",
        "2.5.4.10" => "O",
        "2.5.4.3" => "CN",
        _ => throw new ArgumentException($"unexpected attribute {oid}", nameof(oid)),
    };

    /// <summary>Runs a certgate command on the gateway's state directory (outside the namespaces: files only).</summary>
    public string Certgate(params string[] args) => NetNamespaces.Run("dotnet", [Dll, "--state", State, "--yes", .. args]);

    private static string RepositoryRoot()
    {
        string? root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "Certgate.slnx")))
        {
            root = Path.GetDirectoryName(root.TrimEnd('/'));
        }
        Assert.True(root is not null, $"no Certgate.slnx above {AppContext.BaseDirectory}");
        return root!;
    }

    // Encoded C, O, CN (the usual order); .NET's string form lists the RDNs the other way round.
    private static X500DistinguishedName Dn(string cn) => new($"CN={cn}, O=Certgate Test, C=CH");

    private X509Certificate2 MakeCa()
    {
        var req = new CertificateRequest(Dn("Certgate libreswan Test CA"), _caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        return req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-2), DateTimeOffset.UtcNow.AddDays(60));
    }

    private X509Certificate2 Issue(string name, RSA key, byte serial, DateTimeOffset now)
    {
        var req = new CertificateRequest(Dn(name + ".test"), key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(Ca.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Single()));
        return req.Create(Ca.SubjectName, X509SignatureGenerator.CreateForRSA(_caKey, RSASignaturePadding.Pkcs1), now.AddDays(-1), now.AddDays(30), [serial]);
    }

    public void Dispose()
    {
        Net.Dispose();
        _caKey.Dispose();
        Ca?.Dispose();
        Directory.Delete(Dir, recursive: true);
    }
}
