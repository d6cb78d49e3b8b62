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
/// One next-hop tunnel: brings its IKE SA up, hands it to an <see cref="IkeConnection"/> that installs the ESP SAs
/// and the policy in the data plane and keeps the SA alive (the peer's CREATE_CHILD_SA and INFORMATIONAL exchanges,
/// rekeys before the ike and ipsec proposals' lifetime-seconds run out, #5), and negotiates anew when it is gone.
/// </summary>
/// <remarks>
/// Who starts: the gateway whose local address is numerically lower initiates, the other responds (docs/decisions.md,
/// "Who initiates a tunnel"), so two Certgate gateways never collide with two simultaneous IKE_SA_INITs. A responder
/// that hears nothing for <see cref="ResponderPatience"/> initiates once itself, so a peer that lost its SAs (it
/// restarted while this side kept them) is not waited for forever. Failures are retried after 1, 2, 4 … seconds,
/// never more than <see cref="MaxBackoff"/> apart. IKE uses UDP 500, kept for the IKE SA's life, and while no SA
/// runs, 4500 for NAT traversal (<see cref="NattSocket"/>); once the SA is up, IKE on 4500 reaches it through the
/// data plane (<see cref="ReceiveIke"/>). The 500 socket is connected to the peer (<see cref="IkeSocket"/>), so
/// tunnels to different peers share a local-gateway address; two tunnels to the same peer from the same address need
/// an IKE dispatcher by SPI (#5).
/// <code>
///   Down --initiate/respond ok--> Up (IKE SA on 500: rekeys, DPD) --peer deleted it--> Down, respond (with patience)
///    ^  \--fails--> wait backoff --/        |   \--peer dead / our delete--> Down, default role
///    |                                      |   \--peer sends a new IKE_SA_INIT (it restarted)--> Down, respond
///    \------------- clear (DELETE sent) ----/
/// </code>
/// </remarks>
internal sealed class Tunnel : IAsyncDisposable
{
    internal static readonly TimeSpan ResponderPatience = TimeSpan.FromSeconds(20);
    internal static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    private const int IkePort = 500;
    private const int NattPort = 4500;

    private readonly IIpsecDataPlane _plane;
    private readonly Func<TunnelPlan, IkePeerConfig> _config;
    private readonly Action<string> _log;
    private readonly TimeProvider _time;
    private readonly uint _reqId;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private CancellationTokenSource? _attempt;
    private bool _initiateNext;
    private ChildSa? _child;
    private IkeConnection? _connection;
    private IkeRole _role;
    private DateTimeOffset? _establishedAt;
    private string? _localIdentity;
    private string? _peerIdentity;
    private string? _lastError;
    private Task _run = Task.CompletedTask;

    public Tunnel(TunnelPlan plan, IIpsecDataPlane plane, uint reqId, Func<TunnelPlan, IkePeerConfig> config, Action<string> log, TimeProvider time)
    {
        Plan = plan;
        _plane = plane;
        _reqId = reqId;
        _config = config;
        _log = log;
        _time = time;
        _role = DefaultRole(plan);
    }

    public TunnelPlan Plan { get; }

    /// <summary>The data plane the tunnel installs into.</summary>
    public IIpsecDataPlane Plane => _plane;

    private string Name => $"tunnel {Plan.Id} to {Plan.Peer.RemoteAddress}";

    /// <summary>Lower address initiates (compared as unsigned big-endian numbers; IPv4 before IPv6).</summary>
    internal static IkeRole DefaultRole(TunnelPlan plan) =>
        Compare(plan.Peer.LocalAddress, plan.Peer.RemoteAddress) < 0 ? IkeRole.Initiator : IkeRole.Responder;

    internal static int Compare(IPAddress a, IPAddress b)
    {
        byte[] x = a.GetAddressBytes();
        byte[] y = b.GetAddressBytes();
        return x.Length != y.Length ? x.Length.CompareTo(y.Length) : x.AsSpan().SequenceCompareTo(y);
    }

    public void Start() => _run = Task.Run(() => RunAsync(_stop.Token));

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
            ChildSa? c = _child;
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
                LocalAuthMethod = c?.LocalAuthMethod.ToString(),
                PeerAuthMethod = c?.PeerAuthMethod.ToString(),
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
            bool established;
            lock (_lock)
            {
                _attempt = attempt;
                initiate |= _initiateNext;
                _initiateNext = false;
                established = _child is not null;
            }
            IkePeerConfig? config = null;
            UdpClient? socket = null;
            try
            {
                config = _config(Plan);
                ChildSa child;
                socket = IkeSocket();
                if (initiate)
                {
                    _log($"{Name}: initiating IKE_SA_INIT from {Plan.Peer.LocalAddress}:{IkePort}");
                    using UdpClient? natt = established ? null : NattSocket();
                    child = await IkeSession.InitiateAsync(socket, natt, new IPEndPoint(Plan.Peer.RemoteAddress, IkePort), config, attempt.Token).ConfigureAwait(false);
                }
                else
                {
                    if (!established)
                    {
                        _log($"{Name}: waiting for the peer's IKE_SA_INIT on {Plan.Peer.LocalAddress}:{IkePort}");
                        attempt.CancelAfter(ResponderPatience);
                    }
                    // While SAs run, the peer's ESP must reach the data plane, so no NAT-T socket then.
                    using UdpClient? natt = established ? null : NattSocket();
                    child = await IkeSession.RespondAsync(socket, natt, config, attempt.Token).ConfigureAwait(false);
                }
                // Up: no more patience; the IKE SA lives until it is deleted, dies, or is cleared.
                attempt.CancelAfter(Timeout.InfiniteTimeSpan);
                IkeConnection connection = Install(child, initiate ? IkeRole.Initiator : IkeRole.Responder, config, socket);
                failures = 0;
                initiate = await KeepAsync(socket, connection, attempt.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!stop.IsCancellationRequested)
            {
                // A clear (initiate at once) or a responder's patience ran out (initiate once ourselves).
                lock (_lock)
                {
                    initiate = _child is null;
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
                _log($"{Name}: {(initiate ? "initiating" : "responding")} failed ({e.Message}); next try in {delay.TotalSeconds:0} s");
                initiate = DefaultRole(Plan) == IkeRole.Initiator;
                try
                {
                    await Task.Delay(delay, _time, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            finally
            {
                socket?.Dispose();
                config?.Certificate?.Dispose();
                lock (_lock)
                {
                    _attempt = null;
                }
            }
        }
    }

    /// <summary>
    /// IKE's port 500 for this tunnel's peer. Several service sets on one local-gateway address run a tunnel each to
    /// their own peer (#6): each binds local:500 with SO_REUSEADDR and connects to its peer's 500, so the kernel gives
    /// every peer's datagrams to that peer's socket (a connected socket is the better match). Two tunnels to the same
    /// peer address still need the IKE dispatcher by peer (#5).
    /// </summary>
    private UdpClient IkeSocket()
    {
        var s = new Socket(Plan.Peer.LocalAddress.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            s.Bind(new IPEndPoint(Plan.Peer.LocalAddress, IkePort));
            s.Connect(new IPEndPoint(Plan.Peer.RemoteAddress, IkePort));
        }
        catch
        {
            s.Dispose();
            throw;
        }
        return new UdpClient(Plan.Peer.LocalAddress.AddressFamily) { Client = s };
    }

    /// <summary>
    /// IKE's port 4500 for NAT traversal (RFC 7296 §2.23; strongSwan's kernel-libipsec always claims a NAT and floats).
    /// The data plane owns local:4500; both sockets set SO_REUSEADDR and this one is connected to the peer's 4500, so
    /// the kernel gives it the peer's datagrams (a connected socket is the better match) until the negotiation ends
    /// and it is closed.
    /// </summary>
    private UdpClient NattSocket()
    {
        var s = new Socket(Plan.Peer.LocalAddress.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            s.Bind(new IPEndPoint(Plan.Peer.LocalAddress, NattPort));
            s.Connect(new IPEndPoint(Plan.Peer.RemoteAddress, NattPort));
        }
        catch
        {
            s.Dispose();
            throw;
        }
        return new UdpClient(Plan.Peer.LocalAddress.AddressFamily) { Client = s };
    }

    /// <summary>IKE that arrived on the data plane's UDP 4500 (non-ESP marker stripped); false when it is not this tunnel's IKE SA's.</summary>
    public bool ReceiveIke(ReadOnlyMemory<byte> message, IPEndPoint from) =>
        from.Address.Equals(Plan.Peer.RemoteAddress) && Volatile.Read(ref _connection) is { } connection && connection.Receive(message, from);

    /// <summary>
    /// Hands the negotiated SA to an <see cref="IkeConnection"/>, which installs inbound first, then outbound, then the
    /// policy (the peer may send as soon as it has its outbound SA); an earlier connection of this tunnel goes first.
    /// </summary>
    private IkeConnection Install(ChildSa child, IkeRole role, IkePeerConfig config, UdpClient socket)
    {
        var options = new IkeSaOptions
        {
            ReqId = _reqId,
            // ESP in UDP 4500 (RFC 3948) behind a NAT (strongSwan's kernel-libipsec always claims one), raw ESP
            // (protocol 50) otherwise, as a peer that saw no NAT sends it.
            UdpEncapsulation = child.NatDetected,
            EspLocal = new IPEndPoint(Plan.Peer.LocalAddress, NattPort),
            EspRemote = new IPEndPoint(Plan.Peer.RemoteAddress, NattPort),
            IkeLifetime = Plan.Peer.Lifetime > TimeSpan.Zero ? Plan.Peer.Lifetime : null,
            ChildLifetime = Plan.Child.Lifetime > TimeSpan.Zero ? Plan.Child.Lifetime : null,
            IkeProposals = config.IkeProposals,
            EspProposals = config.EspProposals,
            PfsGroup = ProposalMapping.Pfs(Plan.Child),
            Log = line => _log($"{Name}: {line}"),
        };
        IkeConnection connection;
        lock (_lock)
        {
            RemoveSas();
            connection = new IkeConnection(child, _plane, new Sender(socket, _plane), options, _time);
            _connection = connection;
            _child = child;
            _role = role;
            _establishedAt = _time.GetUtcNow();
            _lastError = null;
            _localIdentity = child.LocalId is { } local ? IkeIdentities.Describe(local) : null;
            _peerIdentity = child.PeerId is { } peer ? IkeIdentities.Describe(peer) : child.PeerIdentity;
        }
        _log($"{Name}: IKE SA up as {role.ToString().ToLowerInvariant()} with {child.PeerIdentity} ({child.Ike.IkeName}, AUTH {child.PeerAuthMethod}); "
            + $"ESP {child.Esp.CipherName} SPI in 0x{child.InboundSpi:x8} out 0x{child.OutboundSpi:x8}, {TrafficSelectorNarrowing.Describe(child.LocalTs)} <-> {TrafficSelectorNarrowing.Describe(child.RemoteTs)} on {Plan.Child.Device}");
        return connection;
    }

    /// <summary>
    /// Feeds the IKE SA what arrives on its socket until it is gone; returns whether to initiate next: not when the
    /// peer deleted it or starts a new IKE SA (it renegotiates; this side answers), else as the address rule says.
    /// </summary>
    private async Task<bool> KeepAsync(UdpClient socket, IkeConnection connection, CancellationToken cancellationToken)
    {
        var closed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Closed += reason => closed.TrySetResult(reason);
        if (connection.CloseReason is { } already)
        {
            closed.TrySetResult(already);
        }
        while (true)
        {
            Task<UdpReceiveResult> receive = socket.ReceiveAsync(cancellationToken).AsTask();
            if (await Task.WhenAny(receive, closed.Task).ConfigureAwait(false) == closed.Task)
            {
                string reason = await closed.Task.ConfigureAwait(false);
                _log($"{Name}: IKE SA gone ({reason})");
                lock (_lock)
                {
                    RemoveSas();
                }
                return reason != "deleted by the peer" && DefaultRole(Plan) == IkeRole.Initiator;
            }
            UdpReceiveResult r;
            try
            {
                r = await receive.ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
            {
                continue;
            }
            if (!connection.Receive(r.Buffer, r.RemoteEndPoint) && IsNewIkeSaInit(r.Buffer))
            {
                // The peer starts over (it restarted, or cleared without a DELETE we heard): answer its retransmission.
                _log($"{Name}: the peer starts a new IKE SA; the old one goes");
                lock (_lock)
                {
                    RemoveSas();
                }
                return false;
            }
        }
    }

    private static bool IsNewIkeSaInit(byte[] datagram) =>
        IkeConnection.TryReadSpis(datagram, out _, out ulong responderSpi) && responderSpi == 0 && datagram[18] == (byte)ExchangeType.IkeSaInit && (datagram[19] & 0x20) == 0;

    /// <summary>IKE leaves from the tunnel's UDP 500 socket (or, floated, from the data plane's 4500 with the non-ESP marker).</summary>
    private sealed class Sender(UdpClient socket, IIpsecDataPlane plane) : IIkeSender
    {
        public void Send(ReadOnlyMemory<byte> message, IPEndPoint to, bool encapsulated)
        {
            try
            {
                if (encapsulated && plane is EspDataPlane esp)
                {
                    esp.SendIke(message.Span, to);
                }
                else
                {
                    socket.Send(message.Span, to);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Lost like any datagram; the retransmit timer tries again.
            }
        }
    }

    internal static TrafficSelector Selector(Certgate.Net.Addressing.IpPrefix prefix)
    {
        (IPAddress first, IPAddress last) = Range(prefix);
        return new TrafficSelector(first, last);
    }

    internal static (IPAddress First, IPAddress Last) Range(Certgate.Net.Addressing.IpPrefix prefix)
    {
        byte[] first = prefix.Address.GetAddressBytes();
        byte[] last = (byte[])first.Clone();
        for (int bit = prefix.Length; bit < first.Length * 8; bit++)
        {
            first[bit / 8] &= (byte)~(0x80 >> (bit % 8));
            last[bit / 8] |= (byte)(0x80 >> (bit % 8));
        }
        return (new IPAddress(first), new IPAddress(last));
    }

    private void RemoveSas()
    {
        // The connection takes its SAs and the policy out of the data plane.
        _connection?.Dispose();
        _connection = null;
        _child = null;
        _establishedAt = null;
    }

    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            // The peer is told (one DELETE, not waited for, sent while the socket is still open) so that it does not
            // keep SAs nobody answers for.
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
