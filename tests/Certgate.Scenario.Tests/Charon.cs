using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Certgate.Scenario.Tests;

/// <summary>
/// A strongSwan charon (5.9.8, kernel-libipsec) inside a network namespace, for interop tests: its own directory
/// (strongswan.conf, swanctl/, a private /run bind-mounted over the real one so its compiled-in pid file does not
/// collide), its own vici socket, driven with swanctl from the host. Stopped by PID. Every failure message carries
/// the tail of charon's log. Fails the test with the package names when charon or swanctl is missing.
/// </summary>
public sealed class Charon : IDisposable
{
    private const string CharonPath = "/usr/lib/ipsec/charon";
    private const string SwanctlPath = "/usr/sbin/swanctl";
    private static readonly string[] SwanctlDirs = ["x509", "x509ca", "x509crl", "x509ocsp", "x509aa", "x509ac", "private", "pubkey", "rsa", "ecdsa", "bliss", "pkcs8", "pkcs12"];
    private readonly NetNamespaces _net;
    private readonly string _ns;
    private Process? _process;

    /// <summary>Prepares <paramref name="dir"/> (created if needed) for a charon that will run in <paramref name="ns"/>.</summary>
    public Charon(NetNamespaces net, string ns, string dir)
    {
        _net = net;
        _ns = ns;
        Dir = dir;
        RequireInstalled();
        foreach (string d in SwanctlDirs)
        {
            Directory.CreateDirectory(Path.Combine(SwanctlDir, d));
        }
        Directory.CreateDirectory(Path.Combine(Dir, "run"));
        WriteSettings(signatureAuthentication: true);
    }

    public string Dir { get; }

    public string SwanctlDir => Path.Combine(Dir, "swanctl");

    public string LogPath => Path.Combine(Dir, "charon.log");

    private string ConfPath => Path.Combine(Dir, "strongswan.conf");

    /// <summary>Trusts <paramref name="ca"/> for peers (<c>swanctl/x509ca/ca.pem</c>).</summary>
    public void TrustCa(X509Certificate2 ca) =>
        File.WriteAllText(Path.Combine(SwanctlDir, "x509ca", "ca.pem"), ca.ExportCertificatePem());

    /// <summary>Gives charon <paramref name="cert"/> as <c>x509/NAME.pem</c> and its key as <c>private/NAME.pem</c> (0600).</summary>
    public void AddCredential(string name, X509Certificate2 cert, AsymmetricAlgorithm key)
    {
        File.WriteAllText(Path.Combine(SwanctlDir, "x509", name + ".pem"), cert.ExportCertificatePem());
        PeerTestbed.WriteKey(Path.Combine(SwanctlDir, "private", name + ".pem"), key);
    }

    private string Socket => Path.Combine(Dir, "charon.vici");

    /// <summary>Fails the test, naming the Debian packages, when charon or swanctl is not installed.</summary>
    public static void RequireInstalled()
    {
        Assert.True(File.Exists(CharonPath) && File.Exists(SwanctlPath),
            $"strongSwan is not installed ({CharonPath}, {SwanctlPath}): the IKE interop tests need the Debian packages strongswan-charon " +
            "strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins (./build.sh test installs them as root)");
    }

    /// <summary>
    /// strongswan.conf: an explicit plugin list (openssl first: the software gcm plugin is 8x slower; kdf is needed;
    /// kernel-libipsec before kernel-netlink), file log with IKE and config details. With
    /// <paramref name="signatureAuthentication"/> off charon neither sends nor uses RFC 7427, so the peer must use
    /// the classic AUTH methods (RSA 1, ECDSA 9/10/11). <paramref name="charonSettings"/> are further
    /// <c>charon { }</c> lines, such as <c>fragment_size = 576</c>.
    /// </summary>
    public void WriteSettings(bool signatureAuthentication, string charonSettings = "")
    {
        File.WriteAllText(ConfPath, $$"""
            charon {
              load = openssl random nonce kdf pem pkcs1 pkcs8 x509 revocation constraints pubkey kernel-libipsec kernel-netlink socket-default vici
              signature_authentication = {{(signatureAuthentication ? "yes" : "no")}}
              retransmit_tries = 3
              retransmit_timeout = 1.0
              {{charonSettings}}
              filelog {
                log {
                  path = {{LogPath}}
                  time_format = %T
                  time_add_ms = yes
                  ike_name = yes
                  flush_line = yes
                  default = 1
                  ike = 2
                  cfg = 2
                }
              }
              plugins {
                vici { socket = unix://{{Socket}} }
                revocation { enable_ocsp = no
                             enable_crl = no }
              }
            }
            swanctl {
              socket = unix://{{Socket}}
              load = openssl random nonce pem pkcs1 pkcs8 x509 revocation pubkey
            }
            """);
    }

    /// <summary>Writes swanctl.conf (the caller's text) for the next <see cref="Load"/>.</summary>
    public void WriteSwanctlConf(string text) => File.WriteAllText(Path.Combine(SwanctlDir, "swanctl.conf"), text);

    /// <summary>
    /// swanctl.conf with one IKEv2 connection <paramref name="connection"/> from <paramref name="localAddrs"/> to
    /// <paramref name="remoteAddrs"/> (CERTREQ sent), <paramref name="auth"/> as its <c>local</c> and <c>remote</c>
    /// rounds, a child <paramref name="child"/> between <paramref name="localTs"/> and <paramref name="remoteTs"/> that
    /// only <c>swanctl --initiate</c> starts, then <paramref name="moreChildren"/> and <paramref name="secrets"/>.
    /// Whatever an earlier case left (an SA, its routes) is terminated before the connection is replaced and loaded.
    /// </summary>
    public void LoadConnection(string localAddrs, string remoteAddrs, string auth, string localTs, string remoteTs,
        string proposals = "aes256gcm16-prfsha256-ecp256", string espProposals = "aes256gcm16", string moreChildren = "", string secrets = "",
        string connection = "cg", string child = "net")
    {
        WriteSwanctlConf($$"""
            connections {
              {{connection}} {
                version = 2
                local_addrs = {{localAddrs}}
                remote_addrs = {{remoteAddrs}}
                proposals = {{proposals}}
                send_certreq = yes
            {{auth}}
                children {
                  {{child}} {
                    local_ts = {{localTs}}
                    remote_ts = {{remoteTs}}
                    esp_proposals = {{espProposals}}
                    start_action = none
                  }
            {{moreChildren}}
                }
              }
            }
            {{secrets}}
            """);
        TrySwanctl("--terminate", "--ike", connection, "--force", "--timeout", "2");
        Load();
    }

    /// <summary>
    /// Brings a tunnel between charon and a <c>certgate debug ike-tunnel</c> up: with <paramref name="charonInitiates"/>
    /// charon starts it (its initiate must succeed), then Certgate must print "tunnel up". A failure fails the test with
    /// Certgate's output and charon's log.
    /// </summary>
    public void BringUp(NetNamespaces net, Process gate, bool charonInitiates, string connection = "cg", string child = "net")
    {
        if (charonInitiates)
        {
            (int code, string output) = TrySwanctl("--initiate", "--child", child, "--ike", connection, "--timeout", "15");
            Assert.True(code == 0, $"swanctl --initiate exited {code}:\n{output}\n--- certgate ---\n{net.OutputOf(gate)}\n{LogTail()}");
        }
        try
        {
            net.WaitFor(gate, "tunnel up");
        }
        catch (TimeoutException e)
        {
            Assert.Fail($"{e.Message}\n{LogTail()}");
        }
    }

    /// <summary>Pings <paramref name="to"/> from <paramref name="from"/> in <paramref name="ns"/> (3 packets); a failure fails the test with charon's log.</summary>
    public string Ping(string ns, string from, string to)
    {
        try
        {
            return NetNamespaces.Run("ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", from, to);
        }
        catch (InvalidOperationException e)
        {
            Assert.Fail($"ping {from} -> {to} failed: {e.Message}\n{LogTail()}");
            throw;
        }
    }

    /// <summary>Starts charon in the namespace and waits (bounded) for its vici socket.</summary>
    public void Start()
    {
        File.Delete(Socket);
        _process = _net.Start(_ns, "sh", "-c", $"mount --bind '{Dir}/run' /run && STRONGSWAN_CONF='{ConfPath}' exec {CharonPath}");
        for (int i = 0; i < 600 && !File.Exists(Socket) && !_process.HasExited; i++)
        {
            Thread.Sleep(50);
        }
        Assert.True(File.Exists(Socket), $"charon did not open its vici socket within 30 s.\n{_net.OutputOf(_process)}\n{LogTail()}");
    }

    /// <summary><c>swanctl --load-all</c>: credentials and connections from <see cref="SwanctlDir"/>.</summary>
    public string Load() => Swanctl("--load-all", "--noprompt");

    /// <summary>Runs swanctl against this charon; a non-zero exit fails the test with its output and charon's log.</summary>
    public string Swanctl(params string[] args)
    {
        (int code, string output) = TrySwanctl(args);
        Assert.True(code == 0, $"swanctl {string.Join(' ', args)} exited {code}:\n{output}\n{LogTail()}");
        return output;
    }

    /// <summary>Runs swanctl; returns its exit code and output.</summary>
    public (int ExitCode, string Output) TrySwanctl(params string[] args)
    {
        var psi = new ProcessStartInfo(SwanctlPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["STRONGSWAN_CONF"] = ConfPath;
        psi.Environment["SWANCTL_DIR"] = SwanctlDir;
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(30_000))
        {
            p.Kill();
            Assert.Fail($"swanctl {string.Join(' ', args)} did not finish in 30 s\n{LogTail()}");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>The whole log so far.</summary>
    public string Log() => File.Exists(LogPath) ? File.ReadAllText(LogPath) : "(charon wrote no log)";

    /// <summary>The last lines of charon's log, for assertion messages.</summary>
    public string LogTail(int lines = 60)
    {
        string[] all = Log().Split('\n');
        var text = new StringBuilder("--- charon log (last lines) ---\n");
        foreach (string line in all.Skip(Math.Max(0, all.Length - lines)))
        {
            text.AppendLine(line);
        }
        return text.ToString();
    }

    /// <summary>SIGTERM by PID, bounded wait.</summary>
    public void Stop()
    {
        if (_process is not null)
        {
            NetNamespaces.Stop(_process);
            _process = null;
        }
    }

    public void Dispose() => Stop();
}
