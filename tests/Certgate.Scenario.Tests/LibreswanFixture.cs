using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

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
public sealed class LibreswanFixture : PeerFixture
{
    public const string PlutoOuter = "10.68.0.1";
    public const string GateOuter = "10.68.0.2";
    public const string PlutoInner = "10.78.1.1";
    public const string PlutoNet = "10.78.1.0/24";
    public const string GateNet = "10.78.2.0/24";

    public LibreswanFixture()
        : base(CreateTestbed())
    {
        Root = RepositoryRoot();
        Libreswan = LibreswanDirectory(Root);
        try
        {
            // pluto's NSS database: the CA trusted for peers (CT), pluto's certificate and key from a PKCS#12.
            Directory.CreateDirectory(NssDir);
            Directory.CreateDirectory(Path.Combine(Dir, "run"));
            Directory.CreateDirectory(Path.Combine(Dir, "ipsec.d"));
            File.WriteAllText(Secrets, "");
            string caFile = Testbed.CaFile;
            using (RSA plutoKey = RSA.Create(2048))
            using (X509Certificate2 pluto = Testbed.Issue("pluto.test", plutoKey, 0x31))
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

            // Certgate's state: the same CA, its own RSA certificate; it checks revocation (the Junos default): an empty CRL.
            Testbed.LoadCrl();
            using (RSA gateKey = RSA.Create(2048))
            using (X509Certificate2 gate = Testbed.Issue("cg.test", gateKey, 0x32))
            {
                GateSubject = gate.SubjectName;
                Testbed.LoadLocalCertificate("cg", gate, gateKey);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Root { get; }

    /// <summary>The unpacked libreswan package (usr/libexec/ipsec/pluto, whack, addconn).</summary>
    public string Libreswan { get; }

    public string NsPluto => Testbed.NsPeer;

    public X509Certificate2 Ca => Testbed.Ca.Certificate;

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
    public static string LibreswanDn(X500DistinguishedName dn) => PeerTestbed.PeerDn(dn);

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

    private static string LibreswanDirectory(string root) => Path.Combine(root, "artifacts", "peers", "libreswan");

    private static PeerTestbed CreateTestbed()
    {
        RequireInstalled(LibreswanDirectory(RepositoryRoot()));
        return new PeerTestbed("certgate-lsw-", "l", PlutoOuter, GateOuter, PlutoInner, "Certgate libreswan Test CA");
    }

    /// <summary>pluto runs per test (<see cref="StartPluto"/>, <see cref="StopPluto"/>): nothing of the fixture's own.</summary>
    protected override void StopDaemons()
    {
    }
}
