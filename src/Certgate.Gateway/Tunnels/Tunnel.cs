using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Certgate.Esp.Dataplane;
using Certgate.Ike.Auth;
using Certgate.Ike.Sa;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec;
using Certgate.Pki.Encoding;
using Certgate.ServiceSets.Plan;

namespace Certgate.Gateway.Tunnels;

/// <summary>
/// One next-hop tunnel: brings its IKE SA up through the IKE endpoint of its local-gateway address
/// (<see cref="IkeEndpoint"/>: one UDP 500 socket and the data plane's 4500 for every tunnel there, messages routed by
/// SPI), as an <see cref="IkeConnection"/> that installs the ESP SAs and the policy in the data plane and keeps the SA
/// alive (the peer's CREATE_CHILD_SA and INFORMATIONAL exchanges, rekeys before the ike and ipsec proposals'
/// lifetime-seconds run out, #5), and negotiates anew when it is gone.
/// </summary>
/// <remarks>
/// Who starts: the gateway whose local address is numerically lower initiates, the other responds (docs/decisions.md,
/// "Who initiates a tunnel"), so two Certgate gateways never collide with two simultaneous IKE_SA_INITs. A responder
/// that hears nothing for <see cref="ResponderPatience"/> initiates once itself, so a peer that lost its SAs (it
/// restarted while this side kept them) is not waited for forever. Failures are retried after 1, 2, 4 … seconds,
/// never more than <see cref="MaxBackoff"/> apart. The endpoint answers the peer's IKE_SA_INIT at any time (under
/// the configurations of every tunnel to that peer's address; IKE_AUTH picks this one by identity and traffic
/// selectors), and this tunnel adopts the SA once it is up (<see cref="Adopt"/>), replacing the one it had (the peer
/// started over).
/// <code>
///   Down --initiate ok / adopt--> Up (IKE SA: rekeys, DPD) --peer deleted it--> Down, respond (with patience)
///    ^  \--fails--> wait backoff --/        |   \--peer dead / our delete--> Down, default role
///    |                                      |   \--the peer's new IKE SA is up--> Up with it (the old SAs go)
///    \------------- clear (DELETE sent) ----/
/// </code>
/// <see cref="TunnelOptions"/> change two things for a foreground diagnostic (<see cref="ForegroundTunnel"/>,
/// <c>debug ike-tunnel</c>): a fixed role (an initiator that initiates, a responder that only waits), and one
/// negotiation only (<see cref="TunnelOptions.Once"/>): its failure or the end of its IKE SA ends the tunnel
/// (<see cref="Ended"/>) instead of starting over.
/// </remarks>
internal sealed class Tunnel : IAsyncDisposable
{
    internal static readonly TimeSpan ResponderPatience = TimeSpan.FromSeconds(20);
    internal static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    private const int NattPort = 4500;

    private readonly IIpsecDataPlane _plane;
    private readonly IkeEndpoint _endpoint;
    private readonly Func<TunnelPlan, IkePeerConfig> _config;
    private readonly Action<string> _log;
    private readonly TimeProvider _time;
    private readonly uint _reqId;
    private readonly TunnelOptions _options;
    private readonly TaskCompletionSource<TunnelEnd> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private CancellationTokenSource? _attempt;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _initiateNext;
    private IkeConnection? _connection;
    private IkeRole _role;
    private DateTimeOffset? _establishedAt;
    private string? _localIdentity;
    private string? _peerIdentity;
    private string? _lastError;
    private Task _run = Task.CompletedTask;

    public Tunnel(TunnelPlan plan, IIpsecDataPlane plane, IkeEndpoint endpoint, uint reqId, Func<TunnelPlan, IkePeerConfig> config, Action<string> log, TimeProvider time,
        TunnelOptions? options = null)
    {
        Plan = plan;
        _plane = plane;
        _endpoint = endpoint;
        _reqId = reqId;
        _config = config;
        _log = log;
        _time = time;
        _options = options ?? TunnelOptions.Gateway;
        _role = StartRole;
    }

    /// <summary>With <see cref="TunnelOptions.Once"/>: how the one negotiation ended (failed, or its IKE SA is gone). Never completes otherwise.</summary>
    public Task<TunnelEnd> Ended => _ended.Task;

    /// <summary>Raised (outside the tunnel's lock) when an IKE SA of this tunnel is up and adopted, with its first CHILD_SA and the configuration it ran under.</summary>
    public event Action<ChildSa, IkePeerConfig>? Adopted;

    /// <summary>The IKE SA of the tunnel while it has one (for requests such as a rekey or a liveness check).</summary>
    public IkeConnection? Connection
    {
        get
        {
            lock (_lock)
            {
                return _connection is { IsClosed: false } c ? c : null;
            }
        }
    }

    /// <summary>The role a negotiation starts in: the configured one, else the address rule.</summary>
    private IkeRole StartRole => _options.Role ?? DefaultRole(Plan);

    public TunnelPlan Plan { get; }

    /// <summary>The data plane the tunnel installs into.</summary>
    public IIpsecDataPlane Plane => _plane;

    private string Name => $"tunnel {Plan.Id} to {Plan.Peer.RemoteAddress}";

    /// <summary>Lower address initiates (compared as unsigned big-endian numbers; IPv4 before IPv6).</summary>
    internal static IkeRole DefaultRole(TunnelPlan plan) =>
        Compare(plan.Peer.LocalAddress, plan.Peer.RemoteAddress) < 0 ? IkeRole.Initiator : IkeRole.Responder;

    /// <summary>The status of a tunnel of <paramref name="plan"/> that has not started, and <paramref name="why"/>.</summary>
    internal static TunnelStatus NotStartedStatus(TunnelPlan plan, string why) => new()
    {
        Id = plan.Id,
        LocalAddress = plan.Peer.LocalAddress,
        RemoteAddress = plan.Peer.RemoteAddress,
        Role = DefaultRole(plan),
        Established = false,
        NotStarted = why,
        Device = plan.Child.Device,
        LocalSelector = string.Join(", ", plan.Child.LocalTrafficSelectors),
        RemoteSelector = string.Join(", ", plan.Child.RemoteTrafficSelectors),
        IkeLifetime = plan.Peer.Lifetime,
        IpsecLifetime = plan.Child.Lifetime,
    };

    internal static int Compare(IPAddress a, IPAddress b)
    {
        byte[] x = a.GetAddressBytes();
        byte[] y = b.GetAddressBytes();
        return x.Length != y.Length ? x.Length.CompareTo(y.Length) : x.AsSpan().SequenceCompareTo(y);
    }

    public void Start()
    {
        _endpoint.Register(this);
        _run = Task.Run(() => RunAsync(_stop.Token));
    }

    /// <summary><c>clear services ipsec-vpn … security-associations</c>: delete the IKE SA (the peer is told), remove the SAs and negotiate anew, as initiator.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            // One DELETE (§1.4.1) so that the peer drops its SAs too and waits for the new negotiation; not waited for.
            _connection?.Delete();
            RemoveSas();
            _initiateNext = true;
            _attempt?.Cancel();
        }
        _log($"{Name}: SAs cleared, negotiating again");
    }

    /// <summary>
    /// <c>clear services ipsec-vpn ipsec security-associations</c>: new IPsec SAs in the IKE SA that stays (a
    /// CREATE_CHILD_SA rekey: the old SAs go once the new ones are in, nothing is lost); without an IKE SA, as
    /// <see cref="Reset"/>.
    /// </summary>
    public void ResetIpsec()
    {
        lock (_lock)
        {
            if (_connection is { IsClosed: false } c && c.Children.Count > 0)
            {
                c.RekeyChild();
                _log($"{Name}: IPsec SAs cleared, negotiating new ones in the IKE SA");
                return;
            }
        }
        Reset();
    }

    public TunnelStatus Status()
    {
        lock (_lock)
        {
            ChildSa? c = _connection?.FirstChild;
            ChildSaInfo? now = _connection?.Children.LastOrDefault(x => x.State == ChildSaState.Installed) ?? _connection?.Children.LastOrDefault();
            IkeSaInfo? ike = _connection is { IsClosed: false } connection ? connection.IkeSa : null;
            bool initiator = _role == IkeRole.Initiator;
            return new TunnelStatus
            {
                Id = Plan.Id,
                LocalAddress = Plan.Peer.LocalAddress,
                RemoteAddress = Plan.Peer.RemoteAddress,
                Role = _role,
                Established = now is not null,
                LastError = _lastError,
                Device = Plan.Child.Device,
                LocalSelector = string.Join(", ", Plan.Child.LocalTrafficSelectors),
                RemoteSelector = string.Join(", ", Plan.Child.RemoteTrafficSelectors),
                NegotiatedLocalSelector = now is null ? null : TrafficSelectorNarrowing.Describe(now.LocalTs),
                NegotiatedRemoteSelector = now is null ? null : TrafficSelectorNarrowing.Describe(now.RemoteTs),
                IkeLifetime = Plan.Peer.Lifetime,
                IpsecLifetime = Plan.Child.Lifetime,
                EstablishedAt = _establishedAt,
                IkeSaSince = ike?.EstablishedAt,
                ChildSaSince = now?.InstalledAt,
                IkeInitiatorSpi = ike?.InitiatorSpi ?? 0,
                IkeResponderSpi = ike?.ResponderSpi ?? 0,
                InitiatorSpi = now is null ? 0 : initiator ? now.InboundSpi : now.OutboundSpi,
                ResponderSpi = now is null ? 0 : initiator ? now.OutboundSpi : now.InboundSpi,
                PeerIdentity = c is null ? null : _peerIdentity,
                LocalIdentity = _localIdentity,
                IkeAlgorithms = c?.Ike.IkeName,
                EspAlgorithms = now?.Esp.CipherName,
                ExtendedSequenceNumbers = now?.Esp.Esn ?? false,
                LocalAuthMethod = c is null ? null : AuthMethodNames.Of(c.LocalAuthMethod),
                PeerAuthMethod = c is null ? null : AuthMethodNames.Of(c.PeerAuthMethod),
                NatDetected = c?.NatDetected ?? false,
                Inbound = now is null ? null : Usage(now.InboundSpi, SaDirection.Inbound),
                Outbound = now is null ? null : Usage(now.OutboundSpi, SaDirection.Outbound),
            };
        }
    }

    private IpsecSaStatus Usage(uint spi, SaDirection direction) =>
        _plane.QuerySa(spi, direction) is { } u ? new IpsecSaStatus(spi, u.Bytes, u.Packets) : new IpsecSaStatus(spi, 0, 0);

    private async Task RunAsync(CancellationToken stop)
    {
        int failures = 0;
        bool initiate = _role == IkeRole.Initiator;
        while (!stop.IsCancellationRequested)
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(stop);
            IkeConnection? up;
            Task changed;
            lock (_lock)
            {
                _attempt = attempt;
                initiate |= _initiateNext;
                _initiateNext = false;
                up = _connection;
                changed = _changed.Task;
            }
            IkeConnection? attempting = null;
            try
            {
                if (up is not null)
                {
                    // Up: the IKE SA lives until it is deleted, dies, is cleared, or the peer's new one replaces it.
                    await changed.WaitAsync(attempt.Token).ConfigureAwait(false);
                    lock (_lock)
                    {
                        if (_connection != up || !up.IsClosed)
                        {
                            continue;
                        }
                        _log($"{Name}: IKE SA gone ({up.CloseReason})");
                        initiate = up.CloseReason != "deleted by the peer" && StartRole == IkeRole.Initiator;
                        RemoveSas();
                    }
                    if (_options.Once)
                    {
                        _ended.TrySetResult(new TunnelEnd(true, up.CloseReason!));
                        break;
                    }
                    continue;
                }
                if (initiate)
                {
                    IkeProfile profile = Profile(_config(Plan));
                    _log($"{Name}: initiating IKE_SA_INIT from {Plan.Peer.LocalAddress}:500");
                    attempting = _endpoint.Initiate(this, profile);
                    await EstablishedAsync(attempting, attempt.Token).ConfigureAwait(false);
                    Adopt(attempting, IkeRole.Initiator);
                    attempting = null;
                }
                else
                {
                    _log($"{Name}: waiting for the peer's IKE_SA_INIT on {Plan.Peer.LocalAddress}:500");
                    if (_options.Role is null)
                    {
                        attempt.CancelAfter(ResponderPatience);
                    }
                    // The endpoint answers the peer; this tunnel adopts the SA when it is up (changed).
                    await changed.WaitAsync(attempt.Token).ConfigureAwait(false);
                }
                failures = 0;
            }
            catch (OperationCanceledException) when (!stop.IsCancellationRequested)
            {
                // A clear (initiate at once) or a responder's patience ran out (initiate once ourselves).
                lock (_lock)
                {
                    initiate = _connection is null;
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (Exception e) when (e is IkeException or SocketException or IOException or CryptographicException or PkiFormatException or ArgumentException or InvalidOperationException)
            {
                failures++;
                TimeSpan delay = TimeSpan.FromSeconds(Math.Min(Math.Pow(2, failures - 1), MaxBackoff.TotalSeconds));
                lock (_lock)
                {
                    _lastError = e.Message;
                }
                if (_options.Once)
                {
                    _log($"{Name}: {(initiate ? "initiating" : "responding")} failed ({e.Message})");
                    _ended.TrySetResult(new TunnelEnd(false, e.Message));
                    break;
                }
                _log($"{Name}: {(initiate ? "initiating" : "responding")} failed ({e.Message}); next try in {delay.TotalSeconds:0} s");
                initiate = StartRole == IkeRole.Initiator;
                try
                {
                    // An SA the peer starts meanwhile is adopted; the wait ends with it.
                    Task wake;
                    lock (_lock)
                    {
                        wake = _changed.Task;
                    }
                    await Task.WhenAny(Task.Delay(delay, _time, stop), wake).ConfigureAwait(false);
                    stop.ThrowIfCancellationRequested();
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            finally
            {
                // An attempt that did not make it (cleared, stopped, failed) leaves nothing behind.
                attempting?.Dispose();
                lock (_lock)
                {
                    _attempt = null;
                }
            }
        }
    }

    /// <summary>Until <paramref name="connection"/> is up; its close reason as an <see cref="IkeException"/> when it fails.</summary>
    private static async Task EstablishedAsync(IkeConnection connection, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Established += _ => done.TrySetResult();
        connection.Closed += reason => done.TrySetException(new IkeException(reason));
        if (connection.FirstChild is not null)
        {
            done.TrySetResult();
        }
        else if (connection.CloseReason is { } reason)
        {
            done.TrySetException(new IkeException(reason));
        }
        await done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// This tunnel's configuration for a peer's IKE_SA_INIT (the endpoint offers it among the tunnels to that peer's
    /// address); null when it cannot be read now (a certificate missing from the store: logged).
    /// </summary>
    public IkeProfile? ResponderProfile()
    {
        try
        {
            return Profile(_config(Plan));
        }
        catch (Exception e) when (e is IOException or CryptographicException or PkiFormatException or ArgumentException)
        {
            _log($"{Name}: cannot answer the peer's IKE_SA_INIT: {e.Message}");
            return null;
        }
    }

    /// <summary>What an IKE SA of this tunnel runs under: the peer configuration, the data plane, timers and lifetimes.</summary>
    private IkeProfile Profile(IkePeerConfig config) => new(config, _plane, new IkeSaOptions
    {
        ReqId = _reqId,
        // ESP in UDP 4500 (RFC 3948) behind a NAT (strongSwan's kernel-libipsec always claims one), raw ESP
        // (protocol 50) otherwise, as a peer that saw no NAT sends it: the connection sets it from NAT detection.
        EspLocal = new IPEndPoint(Plan.Peer.LocalAddress, NattPort),
        EspRemote = new IPEndPoint(Plan.Peer.RemoteAddress, NattPort),
        IkeLifetime = Plan.Peer.Lifetime > TimeSpan.Zero ? Plan.Peer.Lifetime : null,
        ChildLifetime = Plan.Child.Lifetime > TimeSpan.Zero ? Plan.Child.Lifetime : null,
        // Junos initiate-dead-peer-detection: a liveness check after this long without a message from the peer.
        DpdDelay = Plan.Peer.DeadPeerDetection?.Interval,
        RetransmitTimeout = config.RetransmitTimeout,
        FragmentSize = config.FragmentSize,
        Counters = config.Counters,
        IkeProposals = config.IkeProposals,
        EspProposals = config.EspProposals,
        PfsGroup = ProposalMapping.Pfs(Plan.Child),
        Log = line => _log($"{Name}: {line}"),
    })
    {
        Tag = this,
    };

    /// <summary>
    /// An IKE SA of this tunnel is up (this side initiated it, or the endpoint answered the peer's and IKE_AUTH chose
    /// this tunnel): it becomes the tunnel's, and one it had before goes (its SAs leave the data plane; the policy,
    /// same request id, stays for the new one).
    /// </summary>
    public void Adopt(IkeConnection connection, IkeRole role)
    {
        ChildSa child = connection.FirstChild!;
        lock (_lock)
        {
            if (_connection is { } old && old != connection)
            {
                _log($"{Name}: the peer's new IKE SA replaces the old one");
                old.CloseReplaced();
            }
            _connection = connection;
            _role = role;
            _establishedAt = _time.GetUtcNow();
            _lastError = null;
            _localIdentity = child.LocalId is { } local ? IkeIdentities.Describe(local) : null;
            _peerIdentity = child.PeerId is { } peer ? IkeIdentities.Describe(peer) : child.PeerIdentity;
            connection.Closed += _ => Pulse();
            Pulse();
        }
        _log($"{Name}: IKE SA up as {role.ToString().ToLowerInvariant()} with {child.PeerIdentity} ({child.Ike.IkeName}, AUTH {AuthMethodNames.Of(child.PeerAuthMethod)}); "
            + $"ESP {child.Esp.CipherName} SPI in 0x{child.InboundSpi:x8} out 0x{child.OutboundSpi:x8}, {TrafficSelectorNarrowing.Describe(child.LocalTs)} <-> {TrafficSelectorNarrowing.Describe(child.RemoteTs)} on {Plan.Child.Device}");
        if (connection.Profile is { } profile)
        {
            Adopted?.Invoke(child, profile.Config);
        }
    }

    /// <summary>
    /// The endpoint answered a peer's IKE_SA_INIT under this tunnel's configuration and that SA closed before it was up
    /// (<paramref name="reason"/>: a refusal either way, or no IKE_AUTH): the status carries it (<see cref="TunnelStatus.LastError"/>) while the tunnel is down;
    /// with <see cref="TunnelOptions.Once"/> a responder that had no SA yet ends with it.
    /// </summary>
    public void PeerAttemptFailed(string reason)
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        lock (_lock)
        {
            if (_connection is not null)
            {
                return;
            }
            _lastError = reason;
        }
        if (_options.Once)
        {
            _ended.TrySetResult(new TunnelEnd(false, reason));
        }
    }

    /// <summary>Wakes the run loop (under the lock): an SA was adopted or closed.</summary>
    private void Pulse()
    {
        lock (_lock)
        {
            _changed.TrySetResult();
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    internal static TrafficSelector Selector(Certgate.Net.Addressing.IpPrefix prefix) => TrafficSelector.FromPrefix(prefix);

    private void RemoveSas()
    {
        // The connection takes its SAs and the policy out of the data plane.
        _connection?.Dispose();
        _connection?.Profile?.Config.Certificate?.Dispose();
        _connection = null;
        _establishedAt = null;
    }

    public async ValueTask DisposeAsync()
    {
        _endpoint.Unregister(this);
        lock (_lock)
        {
            // The peer is told (one DELETE, not waited for) so that it does not keep SAs nobody answers for.
            _connection?.Delete();
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _run.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
        lock (_lock)
        {
            RemoveSas();
        }
        _stop.Dispose();
        _log($"{Name}: stopped, SAs removed");
    }
}
