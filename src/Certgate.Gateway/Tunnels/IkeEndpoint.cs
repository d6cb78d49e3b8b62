using System.Net;
using System.Net.Sockets;
using Certgate.Esp.Dataplane;
using Certgate.Ike.Sa;
using Certgate.Ike.Sessions;

namespace Certgate.Gateway.Tunnels;

/// <summary>
/// IKE on one local-gateway address: one unconnected UDP 500 socket, and IKE on UDP 4500 from the data plane that
/// owns that port (<see cref="ReceiveEncapsulated"/>), both feeding one <see cref="IkeSaManager"/>, which routes each
/// message by SPI. Tunnels of this address <see cref="Register"/> here; a peer's IKE_SA_INIT is answered under the
/// configurations of the tunnels to that peer's address, and the tunnel whose configuration IKE_AUTH chose adopts
/// the established SA (<see cref="Tunnel.Adopt"/>); a peer's SA that fails before it is up is told to the tunnel it was
/// answered under (<see cref="Tunnel.PeerAttemptFailed"/>). So any number of tunnels — to one peer or many — share
/// the address. <see cref="Open"/> binds both ports: the gateway's runtime and <c>debug ike-tunnel</c>
/// (<see cref="ForegroundTunnel"/>) open every endpoint the same way.
/// </summary>
internal sealed class IkeEndpoint : IIkeSender, IDisposable
{
    private const int IkePort = 500;
    private const int NattPort = 4500;
    private readonly Lock _lock = new();
    private readonly List<Tunnel> _tunnels = [];
    private readonly UdpClient _socket;
    private readonly Action<string> _log;
    private readonly CancellationTokenSource _stop = new();
    private Task _receive = Task.CompletedTask;

    /// <summary>Binds <paramref name="local"/>:500.</summary>
    /// <param name="local">The local-gateway address.</param>
    /// <param name="time">The clock of the IKE SAs' timers.</param>
    /// <param name="log">Log lines of the endpoint and its IKE SAs.</param>
    /// <param name="cookies">The address's half-open count and cookie threshold (RFC 7296 §2.6); null: the default threshold.</param>
    /// <exception cref="SocketException">The port cannot be bound (the address is not on this host, or another IKE daemon has it).</exception>
    public IkeEndpoint(IPAddress local, TimeProvider time, Action<string> log, IkeCookies? cookies = null)
    {
        Local = new IPEndPoint(local, IkePort);
        _log = log;
        _socket = new UdpClient(Local);
        Manager = new IkeSaManager(Local, this, Candidates, cookies, time, line => _log($"ike {local}: {line}"));
        Manager.Accepted += OnAccepted;
    }

    /// <summary>
    /// The IKE endpoint (UDP 500) and the ESP data plane (UDP 4500, raw ESP; IKE that arrives there is handed to the
    /// endpoint) of <paramref name="local"/>, both started: the data plane is <see cref="Plane"/>, its devices are
    /// attached by the caller, and it outlives the endpoint (dispose the endpoint first, then the plane).
    /// </summary>
    /// <exception cref="SocketException">UDP 500 or 4500 cannot be bound.</exception>
    public static IkeEndpoint Open(IPAddress local, TimeProvider time, Action<string> log, IkeCookies? cookies = null)
    {
        var endpoint = new IkeEndpoint(local, time, log, cookies);
        try
        {
            var plane = new EspDataPlane(new IPEndPoint(local, NattPort), time) { IkeHandler = endpoint.ReceiveEncapsulated };
            endpoint.Plane = plane;
            plane.Start();
            endpoint.Start();
            return endpoint;
        }
        catch
        {
            endpoint.Dispose();
            throw;
        }
    }

    public IPEndPoint Local { get; }

    /// <summary>The data plane of this address: it owns UDP 4500, where floated IKE leaves with the non-ESP marker.</summary>
    public EspDataPlane? Plane { get; set; }

    public IkeSaManager Manager { get; }

    public void Start() => _receive = Task.Run(() => ReceiveAsync(_stop.Token));

    public void Register(Tunnel tunnel)
    {
        lock (_lock)
        {
            _tunnels.Add(tunnel);
        }
    }

    public void Unregister(Tunnel tunnel)
    {
        lock (_lock)
        {
            _tunnels.Remove(tunnel);
        }
    }

    /// <summary>IKE that reached the data plane's UDP 4500 (non-ESP marker stripped).</summary>
    public void ReceiveEncapsulated(ReadOnlyMemory<byte> message, IPEndPoint from) => Manager.Receive(message, from, encapsulated: true);

    /// <summary>Starts an IKE SA for <paramref name="tunnel"/>; NAT detection is announced (the data plane has UDP 4500).</summary>
    public IkeConnection Initiate(Tunnel tunnel, IkeProfile profile) =>
        Manager.Initiate(profile, new IPEndPoint(tunnel.Plan.Peer.RemoteAddress, IkePort), natTraversal: true);

    /// <summary>The configurations of the tunnels to the peer's address (strongSwan's ike_cfg by addresses); IKE_AUTH picks one.</summary>
    private List<IkeProfile> Candidates(IPEndPoint from)
    {
        List<Tunnel> tunnels;
        lock (_lock)
        {
            tunnels = [.. _tunnels.Where(t => t.Plan.Peer.RemoteAddress.Equals(from.Address))];
        }
        var profiles = new List<IkeProfile>();
        foreach (Tunnel t in tunnels)
        {
            if (t.ResponderProfile() is { } p)
            {
                profiles.Add(p);
            }
        }
        return profiles;
    }

    private void OnAccepted(IkeConnection connection)
    {
        connection.Established += _ =>
        {
            if (connection.Profile?.Tag is Tunnel tunnel)
            {
                tunnel.Adopt(connection, IkeRole.Responder);
            }
        };
        connection.Closed += reason =>
        {
            // Closed before IKE_AUTH was done: the peer was refused, refused us, or went quiet. The tunnel it was
            // answered under (IKE_AUTH's choice, else the first candidate) hears why.
            if (connection.FirstChild is null && connection.Profile?.Tag is Tunnel tunnel)
            {
                tunnel.PeerAttemptFailed(reason);
            }
        };
    }

    public void Send(ReadOnlyMemory<byte> message, IPEndPoint to, bool encapsulated)
    {
        try
        {
            if (encapsulated)
            {
                Plane?.SendIke(message.Span, to);
            }
            else
            {
                _socket.Send(message.Span, to);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Lost like any datagram; the retransmit timer tries again.
        }
    }

    private async Task ReceiveAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            UdpReceiveResult r;
            try
            {
                r = await _socket.ReceiveAsync(stop).ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
            {
                // An ICMP error for an earlier send: not a message.
                continue;
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            Manager.Receive(r.Buffer, r.RemoteEndPoint, encapsulated: false);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        Manager.Dispose();
        _socket.Dispose();
        try
        {
            _receive.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
            // Ended with the socket.
        }
        _stop.Dispose();
    }
}
