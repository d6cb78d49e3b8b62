using System.Net;
using System.Net.Sockets;
using Certgate.Esp.Dataplane;
using Certgate.Esp.Tun;
using Certgate.Ike.Auth;
using Certgate.Ike.Sa;
using Certgate.Ike.Sessions;
using Certgate.Ipsec.Registry;
using Certgate.Net.Addressing;
using Certgate.ServiceSets.Plan;

namespace Certgate.Gateway.Tunnels;

/// <summary>What a foreground tunnel runs: the two gateways, the inside device and the selectors, and the IKE SA's timers.</summary>
public sealed record ForegroundTunnelSettings
{
    /// <summary>This gateway's address (IKE on UDP 500, ESP on UDP 4500 and as protocol 50).</summary>
    public required IPAddress Local { get; init; }

    /// <summary>The peer's address.</summary>
    public required IPAddress Remote { get; init; }

    /// <summary>The TUN device that carries the clear traffic (created if it does not exist).</summary>
    public required string Device { get; init; }

    /// <summary>This side's prefixes: offered as initiator, narrowed to as responder (RFC 7296 §2.9).</summary>
    public required IReadOnlyList<IpPrefix> LocalSubnets { get; init; }

    /// <summary>The peer side's prefixes.</summary>
    public required IReadOnlyList<IpPrefix> RemoteSubnets { get; init; }

    /// <summary>Whether this side initiates; otherwise it only waits for the peer.</summary>
    public bool Initiate { get; init; }

    /// <summary>Hard lifetime of the IKE SA, rekeyed before it runs out; null: never.</summary>
    public TimeSpan? IkeLifetime { get; init; }

    /// <summary>Hard lifetime of the CHILD_SA, rekeyed before it runs out; null: never.</summary>
    public TimeSpan? IpsecLifetime { get; init; }

    /// <summary>A liveness check after this long without a message from the peer; null: none.</summary>
    public TimeSpan? DpdInterval { get; init; }

    /// <summary>The DH group of this side's CHILD_SA rekeys (NONE: no PFS).</summary>
    public DhGroup PfsGroup { get; init; } = DhGroup.NONE;

    /// <summary>Half-open IKE SAs before IKE_SA_INIT is answered with a cookie (RFC 7296 §2.6); null: the default.</summary>
    public int? CookieThreshold { get; init; }
}

/// <summary>What a foreground tunnel can be asked while its IKE SA is up (<c>debug ike-tunnel control FILE</c>).</summary>
public enum TunnelRequest
{
    /// <summary>CREATE_CHILD_SA rekey of the CHILD_SA.</summary>
    RekeyChild,

    /// <summary>CREATE_CHILD_SA rekey of the IKE SA.</summary>
    RekeyIke,

    /// <summary>INFORMATIONAL DELETE of the CHILD_SA.</summary>
    DeleteChild,

    /// <summary>INFORMATIONAL DELETE of the IKE SA (the tunnel then ends).</summary>
    DeleteIke,

    /// <summary>An empty INFORMATIONAL now (liveness check, RFC 7296 §2.4).</summary>
    Dpd,
}

/// <summary>
/// One tunnel in the foreground (<c>certgate debug ike-tunnel</c>), hosted as the gateway hosts its tunnels: the
/// address's <see cref="IkeEndpoint"/> with its ESP data plane (<see cref="IkeEndpoint.Open"/>), the inside device
/// opened as <see cref="TunnelRuntime"/> opens it, and a <see cref="Tunnel"/> bound to it. What differs from the
/// daemon is configuration, not code: the role is fixed by the caller, the tunnel negotiates once
/// (<see cref="TunnelOptions.Once"/>: a failure or the end of the IKE SA ends it, <see cref="Ended"/>), and the
/// IKE side is the caller's <see cref="IkePeerConfig"/> instead of a committed plan's.
/// </summary>
/// <remarks>
/// Lines go to the caller's log: "IKE: …" for IKE (the endpoint, the tunnel and its SAs), and when the SA is up the
/// identities, SPIs, algorithms, AUTH methods, selectors and counters, then "tunnel up on …".
/// </remarks>
public sealed class ForegroundTunnel : IAsyncDisposable
{
    private const uint ReqId = 1;
    private readonly ForegroundTunnelSettings _settings;
    private readonly IkePeerConfig _config;
    private readonly IkeCounters _counters = new();
    private readonly Action<string> _log;
    private readonly IkeEndpoint _endpoint;
    private readonly EspDataPlane _plane;
    private readonly TunDevice _tun;
    private readonly Tunnel _tunnel;
    private volatile bool _up;

    private ForegroundTunnel(ForegroundTunnelSettings settings, IkePeerConfig config, Action<string> log, IkeEndpoint endpoint, TunDevice tun, TimeProvider time)
    {
        _settings = settings;
        _log = log;
        _endpoint = endpoint;
        _plane = endpoint.Plane!;
        _tun = tun;
        // Every prefix given: offered as initiator, narrowed to as responder (RFC 7296 §2.9).
        _config = config with
        {
            LocalTs = [.. settings.LocalSubnets.Select(TunnelRuntime.WireSelector)],
            RemoteTs = [.. settings.RemoteSubnets.Select(TunnelRuntime.WireSelector)],
            Counters = _counters,
        };
        _plane.Bind(ReqId, _plane.Attach(tun));
        var options = new TunnelOptions { Role = settings.Initiate ? IkeRole.Initiator : IkeRole.Responder, Once = true };
        _tunnel = new Tunnel(Plan(settings), _plane, endpoint, ReqId, _ => _config, Ike, time, options);
        _tunnel.Adopted += Report;
    }

    /// <summary>
    /// Opens the inside device and binds UDP 500 and 4500 on <see cref="ForegroundTunnelSettings.Local"/>; nothing is
    /// negotiated before <see cref="Start"/>.
    /// </summary>
    /// <exception cref="IOException">The TUN device cannot be created.</exception>
    /// <exception cref="SocketException">UDP 500 or 4500 cannot be bound (the address is not here, or another IKE daemon has it).</exception>
    public static ForegroundTunnel Open(ForegroundTunnelSettings settings, IkePeerConfig config, Action<string> log, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(log);
        time ??= TimeProvider.System;
        // As the gateway's service sets without tunnel-mtu: a full-size inner packet fits the outer link in ESP.
        TunDevice tun = TunnelRuntime.OpenDevice(settings.Device, TunnelMtu.Default(settings.Local));
        IkeEndpoint endpoint;
        try
        {
            endpoint = IkeEndpoint.Open(settings.Local, time, line => log("IKE: " + line),
                settings.CookieThreshold is int threshold ? new IkeCookies(threshold) : null);
        }
        catch
        {
            tun.Dispose();
            throw;
        }
        return new ForegroundTunnel(settings, config, log, endpoint, tun, time);
    }

    /// <summary>How the one negotiation ended; never completes while the IKE SA is up or the peer is awaited.</summary>
    public Task<TunnelEnd> Ended => _tunnel.Ended;

    /// <summary>Whether the IKE SA came up (it may be gone again).</summary>
    public bool IsUp => _up;

    /// <summary>The data plane's packet counters, one line ("sent …, received …", drops by reason).</summary>
    public string Counters => _plane.Counters.ToString();

    /// <summary>Says how this side starts, then initiates or waits for the peer.</summary>
    public void Start()
    {
        string me = _config.LocalId is { } sent ? IkeIdentities.Describe(sent)
            : _config.Certificate is { } own ? $"{own.SubjectName.Name} (ID_DER_ASN1_DN)"
            : $"{_settings.Local} (ID_{(_settings.Local.AddressFamily == AddressFamily.InterNetwork ? "IPV4" : "IPV6")}_ADDR)";
        _log(_settings.Initiate ? $"IKE: initiating to {_settings.Remote}:500 as {me}" : $"IKE: waiting for {_settings.Remote} on {_settings.Local}:500 as {me}");
        _tunnel.Start();
    }

    /// <summary>Runs <paramref name="request"/> on the IKE SA.</summary>
    /// <exception cref="InvalidOperationException">There is no IKE SA (not up yet, or gone), or it cannot take the request now.</exception>
    public void Request(TunnelRequest request)
    {
        IkeConnection sa = _tunnel.Connection ?? throw new InvalidOperationException("there is no IKE SA");
        switch (request)
        {
            case TunnelRequest.RekeyChild:
                sa.RekeyChild();
                break;
            case TunnelRequest.RekeyIke:
                sa.RekeyIke();
                break;
            case TunnelRequest.DeleteChild:
                sa.DeleteChild();
                break;
            case TunnelRequest.DeleteIke:
                sa.Delete();
                break;
            case TunnelRequest.Dpd:
                sa.Dpd();
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(request), request, null);
        }
    }

    /// <summary>The tunnel's plan: what <see cref="Tunnel"/> reads of it (addresses, lifetimes, liveness, PFS, selectors, device).
    /// Credentials, identities and proposals come from the caller's configuration instead, so the plan has none.</summary>
    internal static TunnelPlan Plan(ForegroundTunnelSettings s) => new(
        new TunnelId("debug", "ike-tunnel", s.Device),
        ServiceSetStyle.NextHop,
        new PeerConfig(s.Local, s.Remote, [], default, [], new IdentityPlan(IdType.ID_DER_ASN1_DN, null), [], null, null, [],
            s.IkeLifetime ?? TimeSpan.Zero, s.DpdInterval is { } dpd ? new Certgate.Config.Ipsec.DeadPeerDetection(dpd, 0) : null),
        new ChildConfig([], s.PfsGroup == DhGroup.NONE ? null : s.PfsGroup, [.. s.LocalSubnets], [.. s.RemoteSubnets], s.IpsecLifetime ?? TimeSpan.Zero, s.Device));

    private void Ike(string line) => _log("IKE: " + line);

    /// <summary>The SA is up: what was agreed, in the words of <c>swanctl --list-sas</c> where it has them.</summary>
    private void Report(ChildSa child, IkePeerConfig config)
    {
        Ike($"identities local {(child.LocalId is { } l ? IkeIdentities.Describe(l) : "-")}, peer {(child.PeerId is { } r ? IkeIdentities.Describe(r) : "-")}");
        Ike($"SA established with {child.PeerIdentity}{(child.PeerCertificate is { } pc ? $" (issuer {pc.Issuer})" : " (pre-shared key)")}; "
            + $"ESP SPI in 0x{child.InboundSpi:x8} out 0x{child.OutboundSpi:x8}, {child.Esp.EspName}");
        Ike($"{child.Ike.IkeName}{(child.NatDetected ? ", NAT-T (UDP 4500)" : "")}; AUTH local {(byte)child.LocalAuthMethod} ({AuthMethodNames.Of(child.LocalAuthMethod)}), "
            + $"peer {(byte)child.PeerAuthMethod} ({AuthMethodNames.Of(child.PeerAuthMethod)})");
        Ike($"traffic selectors local {TrafficSelectorNarrowing.Describe(child.LocalTs)}, remote {TrafficSelectorNarrowing.Describe(child.RemoteTs)} "
            + $"(configured local {TrafficSelectorNarrowing.Describe(config.LocalTs)}, remote {TrafficSelectorNarrowing.Describe(config.RemoteTs)})");
        Ike(_counters.ToString());
        _up = true;
        _log($"tunnel up on {_tun.Name} (mtu {_tun.Mtu}): {TrafficSelectorNarrowing.Describe(child.LocalTs)} <-> {TrafficSelectorNarrowing.Describe(child.RemoteTs)} via {_settings.Remote}");
    }

    /// <summary>Stops the tunnel (the peer is told with a DELETE, not waited for), the IKE endpoint, then the data plane and its device.</summary>
    public async ValueTask DisposeAsync()
    {
        await _tunnel.DisposeAsync().ConfigureAwait(false);
        _endpoint.Dispose();
        _plane.Dispose();
    }
}
