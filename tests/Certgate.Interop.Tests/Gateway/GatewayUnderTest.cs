using System.Security.Cryptography.X509Certificates;
using Certgate.Cli;
using Certgate.Gateway;
using Certgate.Gateway.Control;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Gateway;

/// <summary>
/// A gateway state directory driven by the <c>certgate</c> commands, with its daemon (<see cref="GatewayDaemon"/>,
/// the same code as <c>certgate gateway run</c>, control socket included) run in this process so that a test can
/// stop and start it. While the daemon runs, the commands go through its control socket.
/// </summary>
internal sealed class GatewayUnderTest : IAsyncDisposable
{
    private readonly TempDirectory _dir = new("certgate-gw-");
    private readonly StringWriter _log = new();
    private GatewayDaemon? _daemon;
    private CancellationTokenSource? _stop;
    private Task? _run;

    public GatewayUnderTest()
    {
        State = _dir.File("state");
    }

    public string State { get; }

    /// <summary>What the daemon logged so far.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public string LocalCertificatePath(string id) => Path.Combine(State, "pki", "local", id + ".pem");

    public string KeyPath(string id) => Path.Combine(State, "pki", "keys", id + ".pem");

    public X509Certificate2 LocalCertificate(string id) => X509Certificate2.CreateFromPem(File.ReadAllText(LocalCertificatePath(id)));

    public (int Code, string Out, string Err) Cli(string stdin, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CertgateCli.Run(["--state", State, .. args], new StringReader(stdin), o, e);
        return (code, o.ToString(), e.ToString());
    }

    public string Ok(params string[] args)
    {
        (int code, string output, string err) = Cli("", args);
        Assert.True(code == 0, $"certgate {string.Join(' ', args)} exited {code}: {err}{output}\ndaemon log:\n{Log}");
        return output;
    }

    public void Configure(string script)
    {
        (int code, string output, string err) = Cli(script + "\ncommit\n", "configure");
        Assert.True(code == 0, $"configure failed ({code}): {err}{output}");
    }

    /// <summary>Configures CA profile <c>ca1</c> for <paramref name="ca"/>, loads its certificate by SCEP and makes key pair <c>gw1</c>.</summary>
    /// <param name="ca">The CA.</param>
    /// <param name="extraConfiguration">More <c>set</c> lines.</param>
    /// <param name="retry">enrollment retry.</param>
    /// <param name="retryInterval">enrollment retry-interval (seconds).</param>
    /// <param name="checkRevocation">false: <c>revocation-check disable</c> (the CRL is not what the test is about).</param>
    public void PrepareCaAndKey(GatewayTestCa ca, string extraConfiguration, int retry = 10, int retryInterval = 3, bool checkRevocation = false)
    {
        Configure($"""
            set security pki ca-profile ca1 ca-identity default
            set security pki ca-profile ca1 enrollment url {ca.ScepUrl}
            set security pki ca-profile ca1 enrollment retry {retry}
            set security pki ca-profile ca1 enrollment retry-interval {retryInterval}
            {(checkRevocation ? "" : "set security pki ca-profile ca1 revocation-check disable")}
            {extraConfiguration}
            """);
        Ok("--yes", "request", "security", "pki", "ca-certificate", "enroll", "ca-profile", "ca1");
        Ok("request", "security", "pki", "generate-key-pair", "certificate-id", "gw1", "size", "2048");
    }

    /// <summary>Enrolls local certificate <paramref name="id"/> (key pair already there) with a fresh challenge.</summary>
    public async Task EnrollAsync(GatewayTestCa ca, string id = "gw1")
    {
        string challenge = await ca.ChallengeAsync();
        Assert.Contains($"Local certificate {id} loaded successfully", Ok("request", "security", "pki", "local-certificate", "enroll", "certificate-id", id,
            "ca-profile", "ca1", "challenge-password", challenge, "subject", $"CN={id}.example.net,O=Certgate,C=CH", "domain-name", $"{id}.example.net"));
    }

    /// <summary>Starts the daemon (wakes at least every second).</summary>
    public void StartDaemon()
    {
        Assert.Null(_daemon);
        TextWriter log = TextWriter.Synchronized(new LockedWriter(_log));
        GatewayDaemon? running = null;
        _daemon = GatewayDaemon.Start(State, (r, i, o, e) => CertgateCli.RunInDaemon(running, r, i, o, e), log);
        running = _daemon;
        _stop = new CancellationTokenSource();
        GatewayDaemon d = _daemon;
        _run = Task.Run(() => d.RunAsync(_stop.Token));
        Assert.True(ControlClient.IsListening(State), "the daemon's control socket is not up");
    }

    /// <summary>Stops the daemon as SIGTERM would.</summary>
    public async Task StopDaemonAsync()
    {
        if (_daemon is null)
        {
            return;
        }
        await _stop!.CancelAsync();
        await _run!;
        await _daemon.DisposeAsync();
        _stop.Dispose();
        _daemon = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopDaemonAsync();
        _dir.Dispose();
    }

    /// <summary>Waits (at most <paramref name="limit"/>, checking every 250 ms) until <paramref name="done"/>; false on timeout.</summary>
    public static async Task<bool> WaitAsync(Func<bool> done, TimeSpan limit, Action? eachCheck = null)
    {
        DateTime end = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < end)
        {
            eachCheck?.Invoke();
            if (done())
            {
                return true;
            }
            await Task.Delay(250);
        }
        eachCheck?.Invoke();
        return done();
    }

    /// <summary>Writes into a <see cref="StringWriter"/> under its lock, so <see cref="Log"/> can read it meanwhile.</summary>
    private sealed class LockedWriter(StringWriter inner) : TextWriter
    {
        public override System.Text.Encoding Encoding => inner.Encoding;

        public override void Write(char value)
        {
            lock (inner)
            {
                inner.Write(value);
            }
        }

        public override void Write(string? value)
        {
            lock (inner)
            {
                inner.Write(value);
            }
        }

        public override void WriteLine(string? value)
        {
            lock (inner)
            {
                inner.WriteLine(value);
            }
        }
    }
}
