using System.Net;
using Certgate.Ike.Sa.Tasks;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Sa;

/// <summary>
/// The IKE dispatcher of one local address (strongSwan's ike_sa_manager with its receiver): every IKE datagram that
/// arrives there — UDP 500, and UDP 4500 once the non-ESP marker is stripped — comes to <see cref="Receive"/>, which
/// hands it to the <see cref="IkeConnection"/> that owns its SPIs, so any number of IKE SAs, to one peer or many,
/// share the address. Socket-agnostic: datagrams come in through <see cref="Receive"/>, leave through the
/// <see cref="IIkeSender"/>.
/// <code>
///   IKE_SA_INIT request (SPIr 0)  → a half-open SA of this SPIi and peer address? → it (a retransmission: same answer)
///                                 → else the configurations for the peer's address (the candidates callback; none:
///                                   not answered) → IkeInit.Screen (INVALID_SYNTAX, COOKIE under half-open load,
///                                   NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD: answered, nothing kept) → a responder
///                                   connection; IKE_AUTH picks the final configuration by identity and TS
///   anything else                 → the connection with this SPIi (index by SPIi, then its SPI pair) or dropped
/// </code>
/// Half-open SAs are counted in one <see cref="IkeCookies"/> for the address (RFC 7296 §2.6).
/// </summary>
public sealed class IkeSaManager : IDisposable
{
    private readonly Lock _gate = new();
    private readonly IPEndPoint _local;
    private readonly IIkeSender _sender;
    private readonly Func<IPEndPoint, IReadOnlyList<IkeProfile>> _candidates;
    private readonly TimeProvider _time;
    private readonly Action<string>? _log;
    private readonly List<IkeConnection> _connections = [];
    private readonly Dictionary<ulong, IkeConnection> _bySpiI = [];
    private readonly Dictionary<(ulong SpiI, IPAddress Peer), IkeConnection> _halfOpen = [];
    private bool _disposed;
    private int _dropped;

    /// <summary>A dispatcher for <paramref name="local"/> (its UDP 500 endpoint).</summary>
    /// <param name="local">The local address and IKE port (500) the datagrams arrive at; NAT detection hashes it.</param>
    /// <param name="sender">Where every connection's messages leave (500, or 4500 with the marker).</param>
    /// <param name="candidates">The configurations that may answer an IKE_SA_INIT from this peer (by its address), in preference order.</param>
    /// <param name="cookies">The half-open count and cookie secret of this address (null: its own, default threshold).</param>
    /// <param name="time">The clock of the connections' timers.</param>
    /// <param name="log">Dispatcher log lines.</param>
    public IkeSaManager(IPEndPoint local, IIkeSender sender, Func<IPEndPoint, IReadOnlyList<IkeProfile>> candidates, IkeCookies? cookies = null,
        TimeProvider? time = null, Action<string>? log = null)
    {
        _local = local ?? throw new ArgumentNullException(nameof(local));
        _sender = sender ?? throw new ArgumentNullException(nameof(sender));
        _candidates = candidates ?? throw new ArgumentNullException(nameof(candidates));
        Cookies = cookies ?? new IkeCookies();
        _time = time ?? TimeProvider.System;
        _log = log;
    }

    /// <summary>Raised (outside any lock) with each responder connection made for a peer's IKE_SA_INIT; its <see cref="IkeConnection.Profile"/> is final once it is established.</summary>
    public event Action<IkeConnection>? Accepted;

    /// <summary>This address's half-open count and cookie secret.</summary>
    public IkeCookies Cookies { get; }

    /// <summary>The connections that are open, initiated or accepted.</summary>
    public IReadOnlyList<IkeConnection> Connections
    {
        get
        {
            lock (_gate)
            {
                return [.. _connections];
            }
        }
    }

    /// <summary>Datagrams no connection took (unknown SPIs, broken headers).</summary>
    public int Dropped => Volatile.Read(ref _dropped);

    /// <summary>
    /// Starts an IKE SA to <paramref name="remote"/> under <paramref name="profile"/> (see <see cref="IkeConnection.Initiate"/>);
    /// its messages come back through this dispatcher.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The dispatcher is stopped.</exception>
    public IkeConnection Initiate(IkeProfile profile, IPEndPoint remote, bool natTraversal)
    {
        ArgumentNullException.ThrowIfNull(profile);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            IkeConnection connection = IkeConnection.InitiateUnder(profile with { Config = WithCookies(profile.Config) }, _sender, _local, remote, natTraversal, _time);
            Track(connection);
            return connection;
        }
    }

    /// <summary>One IKE message (non-ESP marker stripped) that arrived from <paramref name="from"/>, on UDP 4500 when <paramref name="encapsulated"/>.</summary>
    public void Receive(ReadOnlyMemory<byte> datagram, IPEndPoint from, bool encapsulated)
    {
        ArgumentNullException.ThrowIfNull(from);
        IkeMessage message;
        try
        {
            message = IkeMessage.Parse(datagram);
        }
        catch (IkeFormatException)
        {
            Interlocked.Increment(ref _dropped);
            return;
        }
        IkeHeader h = message.Header;
        bool newSa = h.Exchange == ExchangeType.IkeSaInit && !h.IsResponse && h.ResponderSpi == 0 && h.MessageId == 0;
        IkeConnection? owner;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            owner = newSa ? _halfOpen.GetValueOrDefault((h.InitiatorSpi, Address(from))) : _bySpiI.GetValueOrDefault(h.InitiatorSpi);
        }
        if (owner is not null && owner.Receive(datagram, from, encapsulated))
        {
            return;
        }
        if (newSa)
        {
            if (!encapsulated)
            {
                Answer(message, from);
            }
            return;
        }
        // The index missed (an IKE rekey made new SPIs) or went stale: look the SPIi up among the connections.
        IkeConnection? found;
        lock (_gate)
        {
            found = _connections.FirstOrDefault(c => c != owner && c.HasInitiatorSpi(h.InitiatorSpi));
            if (found is not null)
            {
                _bySpiI[h.InitiatorSpi] = found;
            }
        }
        if (found is null || !found.Receive(datagram, from, encapsulated))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>Refused IKE_SA_INIT requests logged per <see cref="RefusalLogInterval"/>; the rest are counted.</summary>
    public const int RefusalLogLines = 20;

    /// <summary>The interval of <see cref="RefusalLogLines"/>.</summary>
    public static readonly TimeSpan RefusalLogInterval = TimeSpan.FromSeconds(10);

    private readonly Lock _refusalLogGate = new();
    private DateTimeOffset? _refusalIntervalStart;
    private int _refusalLinesLogged;
    private int _refusalsNotLogged;

    /// <summary>
    /// Logs a refused or unanswered IKE_SA_INIT within a budget: anyone can send them (from any source address), so
    /// a flood must not become one log line per datagram. The first <see cref="RefusalLogLines"/> of an interval are
    /// logged; the rest are counted, and the count is logged with the first refusal of a later interval.
    /// </summary>
    private void LogRefusal(string line)
    {
        if (_log is null)
        {
            return;
        }
        string? summary = null;
        bool write;
        lock (_refusalLogGate)
        {
            DateTimeOffset now = _time.GetUtcNow();
            if (_refusalIntervalStart is not { } start || now - start >= RefusalLogInterval || now < start)
            {
                if (_refusalsNotLogged > 0)
                {
                    summary = $"IKE_SA_INIT: {_refusalsNotLogged} further refused or unanswered request(s) not logged one by one "
                        + $"(at most {RefusalLogLines} lines per {RefusalLogInterval.TotalSeconds:0} s)";
                }
                _refusalIntervalStart = now;
                _refusalLinesLogged = 0;
                _refusalsNotLogged = 0;
            }
            write = _refusalLinesLogged < RefusalLogLines;
            if (write)
            {
                _refusalLinesLogged++;
            }
            else
            {
                _refusalsNotLogged++;
            }
        }
        if (summary is not null)
        {
            _log(summary);
        }
        if (write)
        {
            _log(line);
        }
    }

    private void Answer(IkeMessage request, IPEndPoint from)
    {
        IReadOnlyList<IkeProfile> candidates = [.. _candidates(from).Select(p => p with { Config = WithCookies(p.Config) })];
        if (candidates.Count == 0)
        {
            // Not answered (strongSwan answers NO_PROPOSAL_CHOSEN): the configuration for this peer may be on its way
            // (a gateway starting its tunnels), and the initiator's retransmission then finds it; a stranger learns nothing.
            LogRefusal($"IKE_SA_INIT from {from}: no configuration for this peer; not answered");
            Interlocked.Increment(ref _dropped);
            return;
        }
        try
        {
            IkeInit.Screen(request, from, candidates[0].Config);
        }
        catch (IkeException refused)
        {
            if (refused.Notify != NotifyType.COOKIE)
            {
                // A COOKIE demand is not logged: under a flood of IKE_SA_INIT requests it would be one line each.
                LogRefusal($"IKE_SA_INIT from {from}: {refused.Message}; answering {refused.Notify ?? NotifyType.INVALID_SYNTAX}");
            }
            _sender.Send(IkeInit.Refusal(request.Header, refused), from, false);
            return;
        }
        IkeConnection connection;
        lock (_gate)
        {
            if (_disposed || _halfOpen.ContainsKey((request.Header.InitiatorSpi, Address(from))))
            {
                // Stopped, or another thread made the SA for this very request meanwhile.
                return;
            }
            connection = IkeConnection.Respond(candidates, _sender, request, from, _local, natTraversal: true, _time);
            if (connection.IsClosed)
            {
                return;
            }
            _halfOpen[(request.Header.InitiatorSpi, Address(from))] = connection;
            Track(connection);
        }
        Accepted?.Invoke(connection);
    }

    /// <summary>Indexes a connection by its SPIi until it closes; a responder leaves the half-open table once IKE_AUTH is done.</summary>
    private void Track(IkeConnection connection)
    {
        _connections.Add(connection);
        ulong spiI = connection.Current.SpiI;
        _bySpiI[spiI] = connection;
        connection.Established += _ => Forget(connection, halfOpenOnly: true);
        connection.Closed += _ => Forget(connection, halfOpenOnly: false);
    }

    private void Forget(IkeConnection connection, bool halfOpenOnly)
    {
        lock (_gate)
        {
            foreach (var key in _halfOpen.Where(e => e.Value == connection).Select(e => e.Key).ToList())
            {
                _halfOpen.Remove(key);
            }
            if (halfOpenOnly)
            {
                return;
            }
            _connections.Remove(connection);
            foreach (ulong key in _bySpiI.Where(e => e.Value == connection).Select(e => e.Key).ToList())
            {
                _bySpiI.Remove(key);
            }
        }
    }

    /// <summary>Every connection of this address counts its half-open SAs in the address's one guard.</summary>
    private IkePeerConfig WithCookies(IkePeerConfig config) => config.Cookies == Cookies ? config : config with { Cookies = Cookies };

    private static IPAddress Address(IPEndPoint endpoint) => endpoint.Address.IsIPv4MappedToIPv6 ? endpoint.Address.MapToIPv4() : endpoint.Address;

    /// <summary>Closes every connection without telling the peers (their SAs leave the data planes).</summary>
    public void Dispose()
    {
        List<IkeConnection> all;
        lock (_gate)
        {
            _disposed = true;
            all = [.. _connections];
        }
        foreach (IkeConnection c in all)
        {
            c.Dispose();
        }
    }
}
