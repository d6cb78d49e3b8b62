using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Certgate.Ike.Registry;
using Certgate.Ike.Sessions;
using Certgate.Ipsec;
using Certgate.Ipsec.Registry;
using Certgate.Pki.Encoding;
using Certgate.ServiceSets.Plan;

namespace Certgate.Gateway.Tunnels;

/// <summary>
/// One next-hop tunnel: brings its IKE SA up, installs the two ESP SAs and the policy in the data plane, and keeps
/// listening for the peer's next negotiation (after a restart or a <c>clear</c> on the other side).
/// </summary>
/// <remarks>
/// Who starts: the gateway whose local address is numerically lower initiates, the other responds (docs/decisions.md,
/// "Who initiates a tunnel"), so two Certgate gateways never collide with two simultaneous IKE_SA_INITs. A responder
/// that hears nothing for <see cref="ResponderPatience"/> initiates once itself, so a peer that lost its SAs (it
/// restarted while this side kept them) is not waited for forever. Failures are retried after 1, 2, 4 … seconds,
/// never more than <see cref="MaxBackoff"/> apart. IKE uses UDP 500 and, while no SA runs, 4500 for NAT traversal
/// (<see cref="NattSocket"/>), a socket per attempt, so one tunnel per local-gateway address negotiates at a time
/// (#5: an IKE dispatcher by peer is needed for several).
/// <code>
///   Down --initiate/respond ok--> Up (listening on 500) --peer negotiates again--> Up (new SAs replace the old)
///    ^  \--fails--> wait backoff --/                    \--clear--> Down, initiate at once
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
    private IkeRole _role;
    private DateTimeOffset? _establishedAt;
    private string? _localIdentity;
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

    /// <summary><c>clear services ipsec-vpn … security-associations</c>: remove the SAs and negotiate anew, as initiator.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            RemoveSas();
            _initiateNext = true;
            _attempt?.Cancel();
        }
        _log($"{Name}: SAs cleared, negotiating again");
    }

    public TunnelStatus Status()
    {
        lock (_lock)
        {
            ChildSa? c = _child;
            bool initiator = _role == IkeRole.Initiator;
            return new TunnelStatus
            {
                Id = Plan.Id,
                LocalAddress = Plan.Peer.LocalAddress,
                RemoteAddress = Plan.Peer.RemoteAddress,
                Role = _role,
                Established = c is not null,
                LastError = _lastError,
                Device = Plan.Child.Device,
                LocalSelector = Plan.Child.LocalTrafficSelectors[0].ToString(),
                RemoteSelector = Plan.Child.RemoteTrafficSelectors[0].ToString(),
                IkeLifetime = Plan.Peer.Lifetime,
                IpsecLifetime = Plan.Child.Lifetime,
                EstablishedAt = _establishedAt,
                InitiatorSpi = c is null ? 0 : initiator ? c.InboundSpi : c.OutboundSpi,
                ResponderSpi = c is null ? 0 : initiator ? c.OutboundSpi : c.InboundSpi,
                PeerIdentity = c?.PeerIdentity,
                LocalIdentity = _localIdentity,
                IkeAlgorithms = c?.Ike.IkeName,
                EspAlgorithms = c is null ? null : c.Esp.CipherName,
                LocalAuthMethod = c?.LocalAuthMethod.ToString(),
                PeerAuthMethod = c?.PeerAuthMethod.ToString(),
                NatDetected = c?.NatDetected ?? false,
                Inbound = c is null ? null : Usage(c.InboundSpi, SaDirection.Inbound),
                Outbound = c is null ? null : Usage(c.OutboundSpi, SaDirection.Outbound),
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
            try
            {
                config = _config(Plan);
                ChildSa child;
                if (initiate)
                {
                    _log($"{Name}: initiating IKE_SA_INIT from {Plan.Peer.LocalAddress}:{IkePort}");
                    using UdpClient socket = IkeSocket();
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
                    using UdpClient socket = IkeSocket();
                    // While SAs run, the peer's ESP must reach the data plane, so no NAT-T socket then (#5: IKE on
                    // 4500 through the data plane once the IKE SA lives on).
                    using UdpClient? natt = established ? null : NattSocket();
                    child = await IkeSession.RespondAsync(socket, natt, config, attempt.Token).ConfigureAwait(false);
                }
                Install(child, initiate ? IkeRole.Initiator : IkeRole.Responder, config);
                failures = 0;
                initiate = false;
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

    /// <summary>
    /// Inbound first, then outbound (RFC 4301 §4.4.2.1 order of a strongSwan child: the peer may send as soon as it
    /// has its outbound SA), then the policy; the SAs of an earlier negotiation go last, so nothing in flight is lost.
    /// </summary>
    private void Install(ChildSa child, IkeRole role, IkePeerConfig config)
    {
        IReadOnlyList<TrafficSelector> local = [Selector(Plan.Child.LocalTrafficSelectors[0])];
        IReadOnlyList<TrafficSelector> remote = [Selector(Plan.Child.RemoteTrafficSelectors[0])];
        lock (_lock)
        {
            ChildSa? old = _child;
            _plane.AddSa(Spec(child.InboundSpi, SaDirection.Inbound, child, child.InboundKeymat, local, remote));
            _plane.AddSa(Spec(child.OutboundSpi, SaDirection.Outbound, child, child.OutboundKeymat, local, remote));
            _plane.AddPolicy(new IpsecPolicy(_reqId, local, remote));
            if (old is not null)
            {
                _plane.DeleteSa(old.InboundSpi, SaDirection.Inbound);
                _plane.DeleteSa(old.OutboundSpi, SaDirection.Outbound);
            }
            _child = child;
            _role = role;
            _establishedAt = _time.GetUtcNow();
            _lastError = null;
            _localIdentity = config.Certificate?.Subject ?? config.LocalFqdn;
        }
        _log($"{Name}: IKE SA up as {role.ToString().ToLowerInvariant()} with {child.PeerIdentity} ({child.Ike.IkeName}, AUTH {child.PeerAuthMethod}); "
            + $"ESP {child.Esp.CipherName} SPI in 0x{child.InboundSpi:x8} out 0x{child.OutboundSpi:x8}, {Plan.Child.LocalTrafficSelectors[0]} <-> {Plan.Child.RemoteTrafficSelectors[0]} on {Plan.Child.Device}");
    }

    private SaSpec Spec(uint spi, SaDirection direction, ChildSa child, byte[] keymat, IReadOnlyList<TrafficSelector> local, IReadOnlyList<TrafficSelector> remote) => new()
    {
        Spi = spi,
        Direction = direction,
        // ESP in UDP 4500 always: the userspace data plane has no raw ESP socket (RFC 3948 framing, as libipsec).
        Local = new IPEndPoint(Plan.Peer.LocalAddress, NattPort),
        Remote = new IPEndPoint(Plan.Peer.RemoteAddress, NattPort),
        Encryption = (EncryptionAlgorithm)(ushort)child.Esp.Encryption,
        KeyBits = child.Esp.KeyBits,
        Integrity = child.Esp.Integrity == IntegId.NONE ? IntegrityAlgorithm.NONE : (IntegrityAlgorithm)(ushort)child.Esp.Integrity,
        Keymat = keymat,
        LocalSelectors = local,
        RemoteSelectors = remote,
        ReqId = _reqId,
    };

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
        if (_child is { } c)
        {
            _plane.DeleteSa(c.InboundSpi, SaDirection.Inbound);
            _plane.DeleteSa(c.OutboundSpi, SaDirection.Outbound);
            _plane.DeletePolicy(_reqId);
            _child = null;
            _establishedAt = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
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
