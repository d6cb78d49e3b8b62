using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Certgate.Ca;
using Certgate.Ca.Challenges;
using Certgate.Ca.Http;
using Certgate.Ca.Layout;
using Certgate.Ca.Sqlite;
using Certgate.Ca.Storage;
using Certgate.Cli.Commands;

namespace Certgate.Cli.Demo;

/// <summary>
/// <c>certgate demo</c>: the seed's story on this machine. A certificate authority starts (SQLite, SCEP over HTTP on
/// loopback); two gateways configure a CA profile, enroll the CA certificate and their own certificates by SCEP
/// with one-time challenge passwords, load the CRL and verify; then each commits a next-hop service set and runs
/// <c>certgate gateway run</c> in its own network namespace (joined by a veth pair): the daemons bring the tunnel up
/// with IKEv2 and those certificates, a ping crosses the userspace ESP tunnel, and the show commands list the SAs.
/// Every step is printed as an operator would type it. Needs root (namespaces, TUN) for the tunnel part.
/// </summary>
internal sealed class DemoCommand : ICommandModule
{
    public void Register(CommandTable table) =>
        table.Add("demo", "run the whole story on this machine [keep] [dir DIR]", (ctx, args) =>
        {
            bool keep = args.Flag("keep");
            string? dir = args.Optional("dir");
            args.EnsureAllUsed();
            return Run(ctx, dir, keep).GetAwaiter().GetResult();
        });

    private static async Task<int> Run(CommandContext ctx, string? dir, bool keep)
    {
        if (Environment.UserName != "root" || !File.Exists("/dev/net/tun"))
        {
            ctx.Error.WriteLine("certgate demo: needs root and /dev/net/tun: it creates two network namespaces, a veth pair and TUN devices " +
                "(and removes them at the end, on Ctrl-C or on failure). Run it as root: sudo ./certgate demo");
            return 1;
        }
        string work = dir is null ? Directory.CreateTempSubdirectory("certgate-demo-").FullName : Path.GetFullPath(dir);
        Directory.CreateDirectory(work);
        var demo = new Script(ctx);
        var namespaces = new List<string>();
        var processes = new List<Process>();
        SqliteCaStore? store = null;
        CaHttpServer? server = null;
        var cleanupLock = new object();
        bool cleanedUp = false;
        // Ctrl-C, SIGTERM or SIGHUP: end the tunnel processes and delete the namespaces before the process goes,
        // the same cleanup the finally block does at a normal end or on failure.
        void CleanupHost()
        {
            lock (cleanupLock)
            {
                if (cleanedUp)
                {
                    return;
                }
                cleanedUp = true;
                foreach (Process p in processes)
                {
                    Signal(p);
                    p.Dispose();
                }
                foreach (string ns in namespaces)
                {
                    Script.Quiet("ip", "netns", "del", ns);
                }
            }
        }
        void OnSignal(PosixSignalContext s)
        {
            ctx.Error.WriteLine($"certgate demo: {s.Signal}: stopping the tunnels and removing the namespaces");
            CleanupHost();
            if (!keep && dir is null)
            {
                try
                {
                    Directory.Delete(work, recursive: true);
                }
                catch (IOException)
                {
                    // Best effort: the directory is under /tmp.
                }
            }
        }
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using PosixSignalRegistration sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal);
        try
        {
            demo.Say($"Working in {work}.");

            demo.Step("1. A certificate authority: a root CA on SQLite, serving SCEP over HTTP on loopback.");
            string caDir = Path.Combine(work, "ca");
            // The CA's address is chosen first so that `ca init --url` can put it into ca.json: the certificates it
            // issues then carry their CRL distribution point (http://127.0.0.1:PORT/crl/ca.crl).
            var caListen = new Uri($"http://127.0.0.1:{FreeLoopbackPort()}");
            demo.Run("ca", Path.Combine(work, "ca-operator"), "ca", "init", "--dir", caDir, "--subject", "CN=Certgate Demo Root CA,O=Certgate Demo,C=US",
                "--key", "rsa:2048", "--url", caListen.GetLeftPart(UriPartial.Authority));
            if (demo.Failures > 0)
            {
                demo.Say("Demo stopped: the CA could not be created.");
                return 1;
            }
            CaMaterial material = CaDirectory.Load(caDir);
            store = await SqliteCaStore.OpenAsync(Path.Combine(caDir, "ca.db"));
            var ca = new CertificateAuthority(material.Settings, material.Certificate, store, raCertificate: material.RaCertificate);
            server = await CaHttpServer.StartAsync(ca, new CaHttpOptions { Listen = caListen });
            var scepUrl = new Uri(server.BaseAddress, "scep");
            demo.Say($"CA '{material.Certificate.Subject}' serves SCEP at {scepUrl}");

            string[] gateways = ["gw1", "gw2"];
            for (int g = 0; g < gateways.Length; g++)
            {
                string gw = gateways[g];
                string state = Path.Combine(work, gw);
                demo.Step($"2. Gateway {gw}: CA profile, CA certificate and local certificate by SCEP.");
                demo.Configure(gw, state,
                    "set security pki ca-profile demo-ca ca-identity demo-ca",
                    $"set security pki ca-profile demo-ca enrollment url {scepUrl}",
                    "set security pki ca-profile demo-ca revocation-check crl refresh-interval 24",
                    "commit");
                demo.Run(gw, state, "request", "security", "pki", "ca-certificate", "enroll", "ca-profile", "demo-ca");
                demo.Run(gw, state, "request", "security", "pki", "generate-key-pair", "certificate-id", gw, "size", "2048");
                // The challenge is bound to the gateway's names: its address may be issued only under a challenge that
                // names it, because a peer's tunnel accepts the certificate for that address (issue #14 §1).
                string gwSubject = $"CN={gw}.demo.example,OU=VPN,O=Certgate Demo,C=US";
                var binding = NameBinding.Create(gwSubject, [$"{gw}.demo.example"], [$"10.99.0.{g + 1}"], null);
                CreatedChallenge challenge = await ca.CreateChallengeAsync(TimeSpan.FromMinutes(15), null, "demo", binding);
                demo.Say($"(CA operator) ca challenge --dir {caDir} --subject \"{gwSubject}\" --dns {gw}.demo.example --ip 10.99.0.{g + 1}");
                demo.Say($"(CA operator) one-time challenge password for {gw}, bound to {binding.Describe()}: {challenge.Password}");
                demo.Run(gw, state, "request", "security", "pki", "local-certificate", "enroll", "certificate-id", gw, "ca-profile", "demo-ca",
                    "challenge-password", challenge.Password, "subject", gwSubject, "domain-name", $"{gw}.demo.example",
                    // The gateway's outer address (its local-gateway below): the peer's tunnel has no remote-id, so it
                    // accepts only a certificate that names its remote-gateway (issue #14 §2), as a Junos SRX does.
                    "ip-address", $"10.99.0.{g + 1}");
                CrlRecord crl = await ca.GetCurrentCrlAsync("demo");
                string crlFile = Path.Combine(work, "demo-ca.crl");
                await File.WriteAllBytesAsync(crlFile, crl.Der);
                demo.Run(gw, state, "request", "security", "pki", "crl", "load", "ca-profile", "demo-ca", "filename", crlFile);
                demo.Run(gw, state, "request", "security", "pki", "local-certificate", "verify", "certificate-id", gw);
                demo.Run(gw, state, "show", "security", "pki", "local-certificate", "certificate-id", gw);
            }
            if (demo.Failures > 0)
            {
                demo.Say($"Demo stopped: {demo.Failures} step(s) failed before the tunnel.");
                return 1;
            }

            demo.Step("3. The tunnel: a next-hop service set committed on each gateway; 'certgate gateway run' in two namespaces brings it up.");
            string tag = Guid.NewGuid().ToString("N")[..5];
            string ns1 = $"cgd{tag}1", ns2 = $"cgd{tag}2";
            foreach (string ns in new[] { ns1, ns2 })
            {
                demo.Shell("ip", "netns", "add", ns);
                namespaces.Add(ns);
                demo.Shell("ip", "-n", ns, "link", "set", "lo", "up");
            }
            demo.Shell("ip", "link", "add", $"v{tag}a", "netns", ns1, "type", "veth", "peer", "name", $"v{tag}b", "netns", ns2);
            demo.Shell("ip", "-n", ns1, "addr", "add", "10.99.0.1/24", "dev", $"v{tag}a");
            demo.Shell("ip", "-n", ns2, "addr", "add", "10.99.0.2/24", "dev", $"v{tag}b");
            demo.Shell("ip", "-n", ns1, "link", "set", $"v{tag}a", "up");
            demo.Shell("ip", "-n", ns2, "link", "set", $"v{tag}b", "up");
            for (int i = 0; i < 2; i++)
            {
                string gw = gateways[i];
                demo.Configure(gw, Path.Combine(work, gw), ServiceSet(gw, local: $"10.99.0.{i + 1}", remote: $"10.99.0.{2 - i}",
                    inside: $"172.31.{i + 1}.1/24", near: $"172.31.{i + 1}.0/24", far: $"172.31.{2 - i}.0/24"));
            }
            string dll = typeof(DemoCommand).Assembly.Location;
            string dotnet = Environment.ProcessPath ?? "dotnet";
            Process Start(string ns, string gw)
            {
                var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (string a in new[] { "netns", "exec", ns, dotnet, dll, "--state", Path.Combine(work, gw), "gateway", "run" })
                {
                    psi.ArgumentList.Add(a);
                }
                var p = new Process { StartInfo = psi };
                var output = new StringBuilder();
                p.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } ctx.Out.WriteLine($"  [{gw}] {e.Data}"); } };
                p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { ctx.Out.WriteLine($"  [{gw}] {e.Data}"); } };
                p.Start();
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                processes.Add(p);
                tunnelOutputs[p] = output;
                // Printed once the process is in the cleanup list: a SIGTERM from here on stops it too.
                demo.Say($"{gw}# ip netns exec {ns} certgate --state {Path.Combine(work, gw)} gateway run");
                return p;
            }
            demo.Say("(The namespaces have no route to the CA on the host's loopback, so each daemon's first CRL refresh from the "
                + "certificates' distribution point fails once; they keep the CRL loaded above.)");
            Process daemon1 = Start(ns1, "gw1");
            Process daemon2 = Start(ns2, "gw2");
            if (!WaitFor(daemon1, "IKE SA up") || !WaitFor(daemon2, "IKE SA up"))
            {
                demo.Say("The tunnel did not come up within 20 s (see the lines above).");
                return 1;
            }
            int ping = demo.Shell("ip", "netns", "exec", ns1, "ping", "-c", "3", "-W", "2", "-I", "172.31.1.1", "172.31.2.1");
            foreach (string gw in gateways)
            {
                demo.Run(gw, Path.Combine(work, gw), "show", "services", "ipsec-vpn", "ike", "security-associations");
                demo.Run(gw, Path.Combine(work, gw), "show", "services", "ipsec-vpn", "ipsec", "security-associations");
            }
            foreach (Process p in processes)
            {
                Signal(p);
            }
            demo.Say(ping == 0 && demo.Failures == 0
                ? "Demo finished: two gateways enrolled by SCEP, brought their committed service set up with IKEv2 and their certificates, and a ping crossed the ESP tunnel."
                : "Demo finished with failures (see above).");
            return ping == 0 && demo.Failures == 0 ? 0 : 1;
        }
        finally
        {
            CleanupHost();
            if (server is not null)
            {
                await server.DisposeAsync();
            }
            if (store is not null)
            {
                await store.DisposeAsync();
            }
            if (!keep && dir is null)
            {
                Directory.Delete(work, recursive: true);
            }
            else
            {
                ctx.Out.WriteLine($"State kept in {work}.");
            }
        }
    }

    private static readonly Dictionary<Process, StringBuilder> tunnelOutputs = [];

    /// <summary>docs/examples/ipsec-next-hop.set for the demo's namespaces: the CA profile of step 2, the certificate
    /// enrolled there, the inside unit's address and the static route into it.</summary>
    private static string[] ServiceSet(string gw, string local, string remote, string inside, string near, string far) =>
    [
        "set services ipsec-vpn ike proposal ike-cert authentication-method rsa-signatures",
        "set services ipsec-vpn ike proposal ike-cert dh-group group19",
        "set services ipsec-vpn ike proposal ike-cert authentication-algorithm sha-256",
        "set services ipsec-vpn ike proposal ike-cert encryption-algorithm aes-256-gcm",
        "set services ipsec-vpn ike policy ike-cert-pol version 2",
        "set services ipsec-vpn ike policy ike-cert-pol proposals ike-cert",
        $"set services ipsec-vpn ike policy ike-cert-pol local-certificate {gw}",
        "set services ipsec-vpn ipsec proposal esp-gcm protocol esp",
        "set services ipsec-vpn ipsec proposal esp-gcm encryption-algorithm aes-256-gcm",
        "set services ipsec-vpn ipsec policy esp-pol proposals esp-gcm",
        $"set services ipsec-vpn rule rule-ike term t1 from source-address {near}",
        $"set services ipsec-vpn rule rule-ike term t1 from destination-address {far}",
        $"set services ipsec-vpn rule rule-ike term t1 then remote-gateway {remote}",
        "set services ipsec-vpn rule rule-ike term t1 then dynamic ike-policy ike-cert-pol",
        "set services ipsec-vpn rule rule-ike term t1 then dynamic ipsec-policy esp-pol",
        "set services ipsec-vpn rule rule-ike match-direction input",
        $"set interfaces ms-0/0/0 unit 1 family inet address {inside}",
        "set interfaces ms-0/0/0 unit 1 service-domain inside",
        "set interfaces ms-0/0/0 unit 2 family inet",
        "set interfaces ms-0/0/0 unit 2 service-domain outside",
        "set services service-set ipsec-1 next-hop-service inside-service-interface ms-0/0/0.1",
        "set services service-set ipsec-1 next-hop-service outside-service-interface ms-0/0/0.2",
        $"set services service-set ipsec-1 ipsec-vpn-options local-gateway {local}",
        "set services service-set ipsec-1 ipsec-vpn-options trusted-ca demo-ca",
        "set services service-set ipsec-1 ipsec-vpn-rules rule-ike",
        $"set routing-options static route {far} next-hop ms-0/0/0.1",
        "commit",
    ];

    private static bool WaitFor(Process p, string text)
    {
        for (int i = 0; i < 200; i++)
        {
            lock (tunnelOutputs[p])
            {
                if (tunnelOutputs[p].ToString().Contains(text, StringComparison.Ordinal))
                {
                    return true;
                }
            }
            if (p.HasExited)
            {
                return false;
            }
            Thread.Sleep(100);
        }
        return false;
    }

    /// <summary>SIGTERM (the tunnel prints its counters), then a bounded wait; kill if it does not stop.</summary>
    private static void Signal(Process p)
    {
        try
        {
            if (p.HasExited)
            {
                return;
            }
            Script.Quiet("kill", "-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (!p.WaitForExit(5000))
            {
                p.Kill(entireProcessTree: true);
            }
            p.WaitForExit();
        }
        catch (InvalidOperationException)
        {
            // Not started or already reaped.
        }
    }

    /// <summary>Prints and runs each step through the same entry point as the command line.</summary>
    /// <summary>A TCP port free on 127.0.0.1 now (the CA binds it a moment later).</summary>
    private static int FreeLoopbackPort()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
    }

    private sealed class Script(CommandContext ctx)
    {
        public int Failures { get; private set; }

        public void Say(string text) => ctx.Out.WriteLine(text);

        public void Step(string text)
        {
            ctx.Out.WriteLine();
            ctx.Out.WriteLine("### " + text);
        }

        public void Run(string gw, string state, params string[] words)
        {
            ctx.Out.WriteLine($"{gw}> {string.Join(' ', words.Select(Quote))}");
            int rc = CertgateCli.Run(["--state", state, "--yes", .. words], TextReader.Null, ctx.Out, ctx.Out);
            if (rc != 0)
            {
                Failures++;
                ctx.Out.WriteLine($"(exit {rc})");
            }
        }

        public void Configure(string gw, string state, params string[] lines)
        {
            ctx.Out.WriteLine($"{gw}> configure");
            foreach (string line in lines)
            {
                ctx.Out.WriteLine($"{gw}# {line}");
            }
            using var input = new StringReader(string.Join('\n', lines) + "\n");
            int rc = CertgateCli.Run(["--state", state, "configure"], input, ctx.Out, ctx.Out);
            if (rc != 0)
            {
                Failures++;
                ctx.Out.WriteLine($"(exit {rc})");
            }
        }

        /// <summary>Runs a system command (ip, ping), printing it and its output.</summary>
        public int Shell(string file, params string[] args)
        {
            ctx.Out.WriteLine($"# {file} {string.Join(' ', args)}");
            var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in args)
            {
                psi.ArgumentList.Add(a);
            }
            try
            {
                using Process p = Process.Start(psi)!;
                string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
                p.WaitForExit();
                if (output.Length > 0)
                {
                    ctx.Out.Write(output);
                }
                if (p.ExitCode != 0)
                {
                    Failures++;
                }
                return p.ExitCode;
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                ctx.Out.WriteLine($"cannot run {file}: {e.Message} (install iproute2 and iputils-ping)");
                Failures++;
                return 127;
            }
        }

        public static void Quiet(string file, params string[] args)
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in args)
            {
                psi.ArgumentList.Add(a);
            }
            try
            {
                using Process p = Process.Start(psi)!;
                p.WaitForExit(10_000);
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // Cleanup is best effort.
            }
        }

        private static string Quote(string w) => w.Contains(' ') || w.Contains(',') ? $"\"{w}\"" : w;
    }
}
