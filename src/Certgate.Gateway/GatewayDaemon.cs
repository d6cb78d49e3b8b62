using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Config;
using Certgate.Config.Pki;
using Certgate.Config.Storage;
using Certgate.Gateway.Control;
using Certgate.Gateway.Crl;
using Certgate.Gateway.Enrollment;
using Certgate.Gateway.Tunnels;
using Certgate.Pki.Certificates;
using Certgate.Pki.Encoding;
using Certgate.Pki.Store;

namespace Certgate.Gateway;

/// <summary>
/// <c>certgate gateway run</c>: the gateway's daemon on one state directory. It serves the control socket (the
/// <c>certgate</c> command runs inside it while it is up), keeps every CA profile's CRL current (fetched when
/// missing or expired, then every <c>refresh-interval</c> hours or at nextUpdate if sooner), renews local
/// certificates configured for <c>auto-re-enrollment</c> (<see cref="ReEnrollmentAgent"/>) and polls enrollments
/// left PENDING (<see cref="PendingEnrollmentPoller"/>). It reads the committed configuration on every cycle, so a
/// <c>commit</c> takes effect without a restart; it wakes every <see cref="Tick"/>, or sooner when a renewal or a
/// poll is due. Its <see cref="Tunnels"/> run the committed service sets (devices,
/// routes, IKE and ESP) and follow each commit within a second.
/// </summary>
public sealed class GatewayDaemon : IAsyncDisposable
{
    private readonly string _state;
    private readonly TextWriter _log;
    private readonly TimeProvider _time;
    private readonly ControlServer _control;
    private readonly PkiStore _store;
    private readonly HttpCrlDownloader _http = new();
    private readonly CrlUpdater _crls;
    private readonly Dictionary<string, DateTimeOffset> _nextCrlRefresh = new(StringComparer.Ordinal);
    private readonly HttpClient _scepHttp = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly ReEnrollmentAgent _reEnrollment;
    private readonly PendingEnrollmentPoller _pending;
    private readonly string _pidFile;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private GatewayDaemon(string state, ControlCommandHandler handler, TextWriter log, TimeProvider time)
    {
        _state = Path.GetFullPath(state);
        _log = log;
        _time = time;
        TightenStateDirectory();
        _store = new PkiStore(_state);
        _crls = new CrlUpdater(_store, new CrlFetcher([_http, new LdapCrlDownloader()], time), time);
        if (ControlClient.IsListening(_state))
        {
            throw new IOException($"a gateway is already running on {ControlProtocol.SocketPath(_state)}");
        }
        // The pid file first: whoever sees the socket may rely on it.
        _pidFile = Path.Combine(_state, "gateway.pid");
        File.WriteAllText(_pidFile, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        // A command may have changed what is due (a commit, a PENDING enrollment to poll): look again right after it.
        _control = ControlServer.Start(_state, (request, input, output, error) =>
        {
            try
            {
                return handler(request, input, output, error);
            }
            finally
            {
                Volatile.Read(ref _wake).TrySetResult();
            }
        }, Log);
        var agentState = new AgentStateStore(_state);
        // No other daemon runs on this state (checked above): finish a PKI change a crash interrupted after its
        // commit and remove what uncommitted ones left, before anything reads the store (issue #14 §4).
        foreach (string line in _store.Recover().Concat(agentState.RemoveLeftovers()))
        {
            Log(line);
        }
        _reEnrollment = new ReEnrollmentAgent(_store, agentState, _scepHttp, time, Log, _control.RunExclusiveAsync);
        _pending = new PendingEnrollmentPoller(_store, agentState, _scepHttp, time, Log, _control.RunExclusiveAsync);
        Tunnels = new TunnelRuntime(_state, Log, time);
    }

    /// <summary>The tunnels of the committed service sets.</summary>
    public TunnelRuntime Tunnels { get; }

    /// <summary>How often the daemon looks at what is due (default 30 s).</summary>
    public TimeSpan Tick { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Starts the daemon; commands that arrive on the control socket go to <paramref name="handler"/>.</summary>
    /// <exception cref="IOException">Another daemon runs on the directory.</exception>
    public static GatewayDaemon Start(string stateDirectory, ControlCommandHandler handler, TextWriter log, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        Directory.CreateDirectory(stateDirectory, StateDirectoryMode);
        return new GatewayDaemon(stateDirectory, handler, log, time ?? TimeProvider.System);
    }

    /// <summary>The state directory's mode: it holds private keys and the control socket, so only its owner enters.</summary>
    public const UnixFileMode StateDirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>A state directory others may enter or list (made by hand, or by an older version) is closed, with a warning.</summary>
    private void TightenStateDirectory()
    {
        UnixFileMode mode = File.GetUnixFileMode(_state);
        if ((mode & ~StateDirectoryMode) != 0)
        {
            File.SetUnixFileMode(_state, StateDirectoryMode);
            Log($"warning: state directory {_state} was mode {Octal(mode)}; tightened to 0700 (it holds private keys and the control socket)");
        }
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode, 8);

    /// <summary>Runs the periodic work until <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Log($"gateway running on {_state} (control socket {ControlProtocol.SocketPath(_state)}, pid {Environment.ProcessId})");
        Task tunnels = Tunnels.RunAsync(cancellationToken);
        while (!cancellationToken.IsCancellationRequested)
        {
            TimeSpan wait = Tick;
            var wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _wake, wake);
            // The CRL refresh and the enrollments fail apart: a broken CRL URL must not stop a renewal.
            if (!await GuardedAsync(() => RefreshCrlsAsync(cancellationToken)).ConfigureAwait(false))
            {
                break;
            }
            DateTimeOffset? due = null;
            if (!await GuardedAsync(async () => due = await RunEnrollmentsAsync(cancellationToken).ConfigureAwait(false)).ConfigureAwait(false))
            {
                break;
            }
            if (due is { } d)
            {
                TimeSpan untilDue = d - _time.GetUtcNow();
                wait = untilDue < TimeSpan.FromMilliseconds(200) ? TimeSpan.FromMilliseconds(200) : untilDue < Tick ? untilDue : Tick;
            }
            try
            {
                await Task.WhenAny(Task.Delay(wait, _time, cancellationToken), wake.Task).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        Log("gateway stopping");
        await tunnels.ConfigureAwait(false);
    }

    /// <summary>Runs one part of a cycle; false when the daemon is stopping.</summary>
    private async Task<bool> GuardedAsync(Func<Task> work)
    {
        try
        {
            await work().ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (Exception e) when (e is IOException or ConfigException or CryptographicException or PkiFormatException or UnauthorizedAccessException)
        {
            // One bad cycle (a damaged file, a configuration being written) must not end the daemon.
            Log($"warning: {e.Message}");
            return true;
        }
    }

    /// <summary>One pass of automatic re-enrollment and of PENDING polls; returns when the next one is due, or null.</summary>
    public async Task<DateTimeOffset?> RunEnrollmentsAsync(CancellationToken cancellationToken)
    {
        PkiConfiguration config = PkiConfiguration.From(new ConfigurationStore(_state).LoadActive());
        DateTimeOffset? renew = await _reEnrollment.RunAsync(config, cancellationToken).ConfigureAwait(false);
        DateTimeOffset? poll = await _pending.RunAsync(config, cancellationToken).ConfigureAwait(false);
        return renew is null ? poll : poll is null ? renew : renew < poll ? renew : poll;
    }

    /// <summary>One pass over the CA profiles: fetch the CRLs that are missing, expired or due.</summary>
    public async Task RefreshCrlsAsync(CancellationToken cancellationToken)
    {
        PkiConfiguration config = PkiConfiguration.From(new ConfigurationStore(_state).LoadActive());
        DateTimeOffset now = _time.GetUtcNow();
        foreach (CaProfile profile in config.CaProfiles)
        {
            if (RevocationModes.For(profile) == Certgate.Pki.Validation.RevocationMode.Disabled || _store.LoadCaCertificate(profile.Name) is not { } ca)
            {
                continue;
            }
            List<Uri> urls = UrlsFor(profile, ca);
            if (urls.Count == 0 || (_nextCrlRefresh.TryGetValue(profile.Name, out DateTimeOffset due) && now < due))
            {
                continue;
            }
            CrlUpdateResult result = await _crls.UpdateAsync(profile.Name, ca, urls, TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            foreach (string error in result.Errors)
            {
                Log($"CRL download failed for ca-profile {profile.Name}: {error}");
            }
            if (result.Installed)
            {
                Log($"CRL of ca-profile {profile.Name} updated from {result.Source} (CRL number {result.Crl!.CrlNumber?.ToString(CultureInfo.InvariantCulture) ?? "none"}, {result.Crl.Count} revoked)");
            }
            // After a failure, retry in a few minutes rather than after the whole refresh interval.
            _nextCrlRefresh[profile.Name] = result.Crl is null || result.Crl.IsExpired(now)
                ? now + TimeSpan.FromMinutes(5)
                : CrlUpdater.NextRefresh(result.Crl, profile.RefreshInterval, now);
        }
    }

    /// <summary>The distribution points of the local certificates this CA issued, then the profile's <c>crl url</c>s.</summary>
    private List<Uri> UrlsFor(CaProfile profile, X509Certificate2 ca)
    {
        var urls = new List<Uri>();
        foreach (string id in _store.List(PkiObjectType.LocalCertificate))
        {
            try
            {
                if (_store.LoadLocalCertificate(id) is { } local && local.IssuerName.RawData.AsSpan().SequenceEqual(ca.SubjectName.RawData))
                {
                    foreach (string cdp in CertificateInfo.From(local).CrlDistributionPoints)
                    {
                        if (Uri.TryCreate(cdp, UriKind.Absolute, out Uri? u))
                        {
                            urls.Add(u);
                        }
                    }
                }
            }
            catch (Exception e) when (e is CryptographicException or PkiFormatException)
            {
                Log($"warning: local certificate {id} cannot be read: {e.Message}");
            }
        }
        urls.AddRange(profile.CrlUrls.Select(c => c.Url));
        return urls;
    }

    private void Log(string line)
    {
        lock (_log)
        {
            _log.WriteLine($"{_time.GetUtcNow():yyyy-MM-dd'T'HH:mm:ss'Z'} {line}");
            _log.Flush();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _control.DisposeAsync().ConfigureAwait(false);
        await Tunnels.DisposeAsync().ConfigureAwait(false);
        _http.Dispose();
        _scepHttp.Dispose();
        _reEnrollment.Dispose();
        try
        {
            File.Delete(_pidFile);
        }
        catch (IOException)
        {
            // Already gone.
        }
    }
}
