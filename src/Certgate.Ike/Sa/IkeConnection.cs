using System.Buffers.Binary;
using System.Net;
using Certgate.Ike.Crypto;
using Certgate.Ike.Sa.Tasks;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Sa;

/// <summary>An IKE SA of a connection as <c>show</c> and tests see it.</summary>
/// <param name="InitiatorSpi">SPIi.</param>
/// <param name="ResponderSpi">SPIr.</param>
/// <param name="IsOriginalInitiator">Whether this side initiated it (IKE_SA_INIT or the rekey that made it).</param>
/// <param name="State">Where it stands.</param>
/// <param name="EstablishedAt">When it was set up.</param>
/// <param name="Suite">Its algorithms.</param>
public sealed record IkeSaInfo(ulong InitiatorSpi, ulong ResponderSpi, bool IsOriginalInitiator, IkeSaState State, DateTimeOffset EstablishedAt, SaSuite Suite);

/// <summary>
/// The long-lived IKE side of one tunnel: from nothing (<see cref="Initiate"/>, or <see cref="Respond(IReadOnlyList{IkeProfile}, IIkeSender, IkeMessage, IPEndPoint, IPEndPoint, bool, TimeProvider?)"/> to an
/// IKE_SA_INIT request) through IKE_SA_INIT and IKE_AUTH (the <see cref="IkeInit"/> and <see cref="IkeAuth"/> tasks), or
/// from an IKE SA set up elsewhere (the constructor); then the current IKE SA, the ones a rekey is
/// replacing or a collision left behind (each with its own Message IDs, §2.18), and the CHILD_SAs, which the data
/// plane carries (<see cref="IIpsecDataPlane"/>: inbound SA first, then outbound; old SAs go after the exchange).
/// Message-driven: <see cref="Receive(ReadOnlyMemory{byte}, IPEndPoint, bool?)"/> takes every IKE message for its SPIs (requests and responses, from UDP 500
/// or 4500), timers come from the <see cref="TimeProvider"/> (retransmits, DPD, soft and hard lifetimes), messages
/// leave through an <see cref="IIkeSender"/>. Thread-safe: one lock serialises messages, timers and commands.
/// </summary>
public sealed class IkeConnection : IDisposable
{
    private readonly Lock _gate = new();
    private readonly List<IkeSa> _sas = [];
    private readonly List<ChildSaEntry> _children = [];
    private readonly List<Action> _deferred = [];
    private IIpsecDataPlane? _plane;
    private IpsecPolicy? _policy;
    private int _depth;
    private ITimer? _dpdTimer;
    private ITimer? _halfOpenTimer;
    private bool _policyInstalled;
    private DateTimeOffset _lastHeard;

    /// <summary>Takes over the IKE SA of <paramref name="firstChild"/> (<see cref="ChildSa.IkeSa"/>) with that first CHILD_SA, which it installs in <paramref name="plane"/> with the policy.</summary>
    /// <exception cref="ArgumentException">The child has no IKE SA state, or the data plane refuses it.</exception>
    public IkeConnection(ChildSa firstChild, IIpsecDataPlane plane, IIkeSender sender, IkeSaOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(firstChild);
        EstablishedIkeSa established = firstChild.IkeSa ?? throw new ArgumentException("the CHILD_SA carries no IKE SA state", nameof(firstChild));
        ArgumentNullException.ThrowIfNull(plane);
        _plane = plane;
        Sender = sender ?? throw new ArgumentNullException(nameof(sender));
        Options = options ?? throw new ArgumentNullException(nameof(options));
        Time = time ?? TimeProvider.System;
        _lastHeard = Time.GetUtcNow();
        Run(() =>
        {
            var first = new IkeSa(this, established.InitiatorSpi, established.ResponderSpi, established.IsOriginalInitiator, established.Suite, established.Keys,
                established.Remote, established.Encapsulated, Time.GetUtcNow())
            {
                Fragmentation = established.Fragmentation,
            };
            first.Tasks.NextRequestId = established.NextRequestId;
            first.Tasks.ExpectedRequestId = established.NextExpectedRequestId;
            first.Tasks.LastResponse = established.LastResponse;
            _sas.Add(first);
            Current = first;
            Start(first, firstChild, established.LocalTs, established.RemoteTs);
        });
    }

    private IkeConnection(IkePeerConfig config, IIpsecDataPlane? plane, IIkeSender sender, IkeSaOptions options, IPEndPoint local, bool natTraversal, TimeProvider? time)
    {
        IkePeerConfig.Check(config);
        ArgumentNullException.ThrowIfNull(local);
        _plane = plane;
        Sender = sender ?? throw new ArgumentNullException(nameof(sender));
        Options = options ?? throw new ArgumentNullException(nameof(options));
        Time = time ?? TimeProvider.System;
        _lastHeard = Time.GetUtcNow();
        Setup = new IkeSetup(config, local, natTraversal);
    }

    /// <summary>
    /// Starts an IKE SA to <paramref name="remote"/> (UDP 500) from nothing: IKE_SA_INIT, then IKE_AUTH with the first
    /// CHILD_SA, run by the task manager with its retransmits; the messages that come back go to <see cref="Receive(ReadOnlyMemory{byte}, IPEndPoint, bool?)"/>.
    /// When IKE_AUTH is done <see cref="Established"/> is raised and the CHILD_SA and the policy go into
    /// <paramref name="plane"/> (ESP in UDP when a NAT was seen); with no plane the connection only negotiates
    /// (<see cref="FirstChild"/> is the result, for another connection to take over). A refusal or no answer closes it.
    /// </summary>
    /// <param name="config">Credentials, traffic selectors and proposals.</param>
    /// <param name="plane">Where the CHILD_SAs go; null: negotiate only.</param>
    /// <param name="sender">Where the messages leave.</param>
    /// <param name="options">Timers, ESP endpoints and the policy's request id.</param>
    /// <param name="local">This side's UDP 500 endpoint (for NAT detection).</param>
    /// <param name="remote">The peer's UDP 500 endpoint.</param>
    /// <param name="natTraversal">Whether UDP 4500 can be used: NAT detection is announced and IKE floats when a NAT is seen (RFC 7296 §2.23).</param>
    /// <param name="time">The clock of the timers.</param>
    /// <exception cref="ArgumentException">The configuration lacks credentials or has a bad fragment size.</exception>
    public static IkeConnection Initiate(IkePeerConfig config, IIpsecDataPlane? plane, IIkeSender sender, IkeSaOptions options, IPEndPoint local, IPEndPoint remote,
        bool natTraversal, TimeProvider? time = null) =>
        InitiateUnder(new IkeProfile(config, plane, options), sender, local, remote, natTraversal, time);

    /// <summary>As <see cref="Initiate"/> under <paramref name="profile"/> (its <see cref="IkeProfile.Tag"/> kept in <see cref="Profile"/>).</summary>
    internal static IkeConnection InitiateUnder(IkeProfile profile, IIkeSender sender, IPEndPoint local, IPEndPoint remote, bool natTraversal, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(remote);
        var connection = new IkeConnection(profile.Config, profile.Plane, sender, profile.Options, local, natTraversal, time) { Profile = profile };
        connection.Run(() =>
        {
            var sa = new IkeSa(connection, connection.NewIkeSpi(), 0, true, remote, connection.Time.GetUtcNow()) { State = IkeSaState.Connecting };
            connection._sas.Add(sa);
            connection.Current = sa;
            connection.Log($"{sa.Name}: initiating to {remote}");
            sa.Tasks.Queue(new IkeInit(connection, connection.Setup!));
            sa.Tasks.Queue(new IkeAuth(connection, connection.Setup!, initiator: true));
        });
        return connection;
    }

    /// <summary>
    /// A responder's connection for an IKE_SA_INIT request that <see cref="IkeInit.Screen"/> let through: answers it
    /// (the SA is half-open, counted in <see cref="IkePeerConfig.Cookies"/>), then waits for IKE_AUTH at most
    /// <see cref="IkeSaOptions.HalfOpenTimeout"/>. As <see cref="Initiate"/> otherwise.
    /// </summary>
    internal static IkeConnection Respond(IkePeerConfig config, IIpsecDataPlane? plane, IIkeSender sender, IkeSaOptions options, IkeMessage request, IPEndPoint from,
        IPEndPoint local, bool natTraversal, TimeProvider? time = null) =>
        Respond([new IkeProfile(config, plane, options)], sender, request, from, local, natTraversal, time);

    /// <summary>
    /// As <see cref="Respond(IkePeerConfig, IIpsecDataPlane?, IIkeSender, IkeSaOptions, IkeMessage, IPEndPoint, IPEndPoint, bool, TimeProvider?)"/>
    /// with several configurations for the peer's address: the first one answers IKE_SA_INIT, IKE_AUTH chooses the
    /// one that runs the SA by the peer's identity and traffic selectors (<see cref="Profile"/>).
    /// </summary>
    internal static IkeConnection Respond(IReadOnlyList<IkeProfile> candidates, IIkeSender sender, IkeMessage request, IPEndPoint from,
        IPEndPoint local, bool natTraversal, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(candidates.Count);
        IkeProfile profile = candidates[0];
        IkePeerConfig config = profile.Config;
        IkeSaOptions options = profile.Options;
        var connection = new IkeConnection(config, profile.Plane, sender, options, local, natTraversal, time) { Profile = profile };
        connection.Setup!.Candidates = candidates;
        connection.Run(() =>
        {
            var sa = new IkeSa(connection, request.Header.InitiatorSpi, connection.NewIkeSpi(), false, from, connection.Time.GetUtcNow()) { State = IkeSaState.Connecting };
            connection._sas.Add(sa);
            connection.Current = sa;
            // Half-open from here (state kept, the peer not yet authenticated) until IKE_AUTH ends either way.
            connection.Setup!.HalfOpen = config.Cookies.Enter();
            connection._halfOpenTimer = connection.Time.CreateTimer(_ => connection.Run(() =>
            {
                if (sa.State == IkeSaState.Connecting)
                {
                    connection.CloseSa(sa, $"no IKE_AUTH from {sa.Remote} within {options.HalfOpenTimeout.TotalSeconds:0.#} s of IKE_SA_INIT");
                }
            }), null, options.HalfOpenTimeout, Timeout.InfiniteTimeSpan);
            connection.Log($"{sa.Name}: IKE_SA_INIT from {from}");
            try
            {
                sa.Tasks.RespondToInit(request);
            }
            catch (Exception e) when (e is IkeException or IkeFormatException or System.Security.Cryptography.CryptographicException)
            {
                connection.CloseSa(sa, $"the IKE_SA_INIT request cannot be answered: {e.Message}");
            }
        });
        return connection;
    }

    /// <summary>Raised (outside the lock) when IKE_AUTH is done, with the first CHILD_SA (also <see cref="FirstChild"/>).</summary>
    public event Action<ChildSa>? Established;

    /// <summary>
    /// The first CHILD_SA with the IKE SA's state, once IKE_AUTH is done (null before): for <c>show</c>, and for a
    /// connection that only negotiated, what another <see cref="IkeConnection"/> takes over.
    /// </summary>
    public ChildSa? FirstChild { get; private set; }

    /// <summary>The configuration the SA runs under (the responder's is final once IKE_AUTH chose it); null when set up elsewhere.</summary>
    public IkeProfile? Profile { get; private set; }

    /// <summary>IKE_AUTH chose <paramref name="profile"/> among the responder's candidates (under the lock, before anything is installed).</summary>
    internal void Choose(IkeProfile profile)
    {
        Profile = profile;
        Setup!.Config = profile.Config;
        _plane = profile.Plane;
        Options = profile.Options;
    }

    /// <summary>What IKE_SA_INIT leaves for IKE_AUTH; null once the SA is up (or when it was set up elsewhere).</summary>
    internal IkeSetup? Setup { get; private set; }

    /// <summary>IKE_AUTH is done: the CHILD_SA, the policy and the timers start (under the lock).</summary>
    internal void Establish(IkeSa sa, ChildSa child, IReadOnlyList<Payloads.TrafficSelector> localTs, IReadOnlyList<Payloads.TrafficSelector> remoteTs)
    {
        IkeSetup setup = Setup!;
        setup.HalfOpen?.Dispose();
        _halfOpenTimer?.Dispose();
        _halfOpenTimer = null;
        sa.State = IkeSaState.Established;
        // ESP in UDP 4500 (RFC 3948) when a NAT was seen, raw ESP otherwise (§2.23: encapsulation only "if a NAT is detected").
        Options = Options with { UdpEncapsulation = setup.NatDetected };
        IPEndPoint local = setup.NatDetected ? new IPEndPoint(setup.Local.Address, 4500) : setup.Local;
        FirstChild = child with
        {
            // The keys are copied: this connection zeroes its own when its SA goes; the taker-over keeps them.
            IkeSa = new EstablishedIkeSa(sa.SpiI, sa.SpiR, sa.IsOriginalInitiator, sa.Suite, sa.Keys with { Skd = (byte[])sa.Keys.Skd.Clone() }, setup.Ni, setup.Nr,
                local, sa.Remote, sa.Encapsulated, sa.Tasks.NextRequestId, sa.Tasks.ExpectedRequestId, sa.Tasks.LastResponse, localTs, remoteTs)
            {
                Fragmentation = sa.Fragmentation,
            },
        };
        Setup = null;
        if (_plane is null)
        {
            Log($"{sa.Name}: established as {(sa.IsOriginalInitiator ? "initiator" : "responder")}, {sa.Suite.IkeName} (negotiated only)");
        }
        else
        {
            Start(sa, child, localTs, remoteTs);
        }
        ChildSa done = FirstChild;
        _deferred.Add(() => Established?.Invoke(done));
    }

    /// <summary>The first CHILD_SA and the policy go into the data plane; the IKE SA's timers start.</summary>
    private void Start(IkeSa first, ChildSa firstChild, IReadOnlyList<Payloads.TrafficSelector> localTs, IReadOnlyList<Payloads.TrafficSelector> remoteTs)
    {
        LocalTs = localTs;
        RemoteTs = remoteTs;
        // The policy follows the first CHILD_SA's negotiated selectors (§2.9), the configured ones when it carries none.
        InstallChild(firstChild.InboundSpi, firstChild.OutboundSpi, firstChild.Esp, false, firstChild.InboundKeymat, firstChild.OutboundKeymat,
            firstChild.LocalTs.Count > 0 ? firstChild.LocalTs : LocalTs, firstChild.RemoteTs.Count > 0 ? firstChild.RemoteTs : RemoteTs);
        _policyInstalled = true;
        StartIkeTimers(first);
        Plane.Expired += OnExpired;
        if (Options.DpdDelay is { } dpd)
        {
            _dpdTimer = Time.CreateTimer(_ => Run(CheckLiveness), null, dpd, dpd);
        }
        Log($"{first.Name}: established as {(first.IsOriginalInitiator ? "initiator" : "responder")}, {first.Suite.IkeName}");
    }

    /// <summary>Raised (outside the lock) when the connection closes: the peer is dead, it deleted the IKE SA, or this side did.</summary>
    public event Action<string>? Closed;

    /// <summary>Raised (outside the lock) after a rekey or delete changed the SAs.</summary>
    public event Action? Changed;

    /// <summary>Why the connection closed, once it has.</summary>
    public string? CloseReason { get; private set; }

    public bool IsClosed => CloseReason is not null;

    internal IkeSaOptions Options { get; private set; }

    internal IIpsecDataPlane Plane => _plane ?? throw new InvalidOperationException("this connection only negotiates; it has no data plane");

    internal IIkeSender Sender { get; }

    internal TimeProvider Time { get; }

    /// <summary>This side's configured traffic selectors (a new CHILD_SA is offered and narrowed with them).</summary>
    internal IReadOnlyList<Payloads.TrafficSelector> LocalTs { get; private set; } = [];

    /// <summary>The peer side's configured traffic selectors.</summary>
    internal IReadOnlyList<Payloads.TrafficSelector> RemoteTs { get; private set; } = [];

    /// <summary>The IKE SA new exchanges run on.</summary>
    internal IkeSa Current { get; private set; } = null!;

    internal IReadOnlyList<IkeSa> Sas => _sas;

    /// <summary>The current IKE SA.</summary>
    public IkeSaInfo IkeSa
    {
        get
        {
            lock (_gate)
            {
                return Info(Current);
            }
        }
    }

    /// <summary>Every IKE SA the connection still has (the current one, and those being retired).</summary>
    public IReadOnlyList<IkeSaInfo> IkeSas
    {
        get
        {
            lock (_gate)
            {
                return [.. _sas.Select(Info)];
            }
        }
    }

    /// <summary>The CHILD_SAs, oldest first.</summary>
    public IReadOnlyList<ChildSaInfo> Children
    {
        get
        {
            lock (_gate)
            {
                return [.. _children.Select(c => c.Info)];
            }
        }
    }

    /// <summary>The IKE SPIs of a message (header only), or false when it is too short to be IKE.</summary>
    public static bool TryReadSpis(ReadOnlySpan<byte> message, out ulong initiatorSpi, out ulong responderSpi)
    {
        initiatorSpi = responderSpi = 0;
        if (message.Length < IkeHeader.Size)
        {
            return false;
        }
        initiatorSpi = BinaryPrimitives.ReadUInt64BigEndian(message);
        responderSpi = BinaryPrimitives.ReadUInt64BigEndian(message[8..]);
        return true;
    }

    /// <summary>Whether one of this connection's IKE SAs has these SPIs.</summary>
    public bool Owns(ulong initiatorSpi, ulong responderSpi)
    {
        lock (_gate)
        {
            return _sas.Any(s => s.SpiI == initiatorSpi && s.SpiR == responderSpi);
        }
    }

    /// <summary>
    /// Takes one IKE message (without the non-ESP marker) that arrived from <paramref name="from"/>; false when it is
    /// for none of this connection's SAs. Broken, forged and stale messages are dropped (and logged), never thrown.
    /// </summary>
    public bool Receive(ReadOnlyMemory<byte> message, IPEndPoint from) => Receive(message, from, null);

    /// <summary>
    /// As <see cref="Receive(ReadOnlyMemory{byte}, IPEndPoint)"/>, saying whether the message came on UDP 4500 with the
    /// non-ESP marker (<paramref name="encapsulated"/>; null: unknown): an IKE_AUTH request there moves the responder
    /// to 4500 (§2.23). While IKE_SA_INIT runs, a response with this SPIi and any SPIr (the first one names it) and a
    /// retransmitted request with SPIr 0 are this connection's too.
    /// </summary>
    public bool Receive(ReadOnlyMemory<byte> message, IPEndPoint from, bool? encapsulated)
    {
        ArgumentNullException.ThrowIfNull(from);
        IkeMessage parsed;
        try
        {
            parsed = IkeMessage.Parse(message);
        }
        catch (IkeFormatException)
        {
            return false;
        }
        bool mine = false;
        Run(() =>
        {
            IkeHeader h = parsed.Header;
            IkeSa? sa = _sas.FirstOrDefault(s => s.SpiI == h.InitiatorSpi && (s.SpiR == h.ResponderSpi
                || (s.State == IkeSaState.Connecting && h.Exchange == ExchangeType.IkeSaInit && (h.IsResponse ? s.SpiR == 0 : h.ResponderSpi == 0))));
            if (sa is null)
            {
                return;
            }
            mine = true;
            // The I flag names the original initiator (§3.1): a message from ourselves is a reflection.
            if (parsed.Header.FromOriginalInitiator == sa.IsOriginalInitiator)
            {
                return;
            }
            sa.Tasks.OnMessage(parsed, from, encapsulated);
        });
        return mine;
    }

    /// <summary>Rekeys the CHILD_SA whose inbound SPI is <paramref name="inboundSpi"/> (default: the newest).</summary>
    /// <exception cref="InvalidOperationException">The connection is closed or has no such CHILD_SA.</exception>
    public void RekeyChild(uint? inboundSpi = null) => Run(() =>
    {
        ChildSaEntry child = FindChild(inboundSpi);
        Current.Tasks.Queue(new ChildCreate(this, child, Options.PfsGroup));
    });

    /// <summary>Deletes the CHILD_SA whose inbound SPI is <paramref name="inboundSpi"/> (default: the newest).</summary>
    /// <exception cref="InvalidOperationException">The connection is closed or has no such CHILD_SA.</exception>
    public void DeleteChild(uint? inboundSpi = null) => Run(() => Current.Tasks.Queue(new ChildDelete(this, FindChild(inboundSpi))));

    /// <summary>Rekeys the IKE SA.</summary>
    /// <exception cref="InvalidOperationException">The connection is closed.</exception>
    public void RekeyIke() => Run(() =>
    {
        ThrowIfClosed();
        Current.Tasks.Queue(new IkeRekey(this, initiator: true));
    });

    /// <summary>Deletes the IKE SA and with it every CHILD_SA (§1.4.1); the connection closes when the peer answers or gives up.</summary>
    public void Delete() => Run(() =>
    {
        if (!IsClosed)
        {
            Current.Tasks.Queue(new IkeDelete(this, initiator: true));
        }
    });

    /// <summary>Sends a liveness check now (§2.4).</summary>
    public void Dpd() => Run(() =>
    {
        ThrowIfClosed();
        Current.Tasks.Queue(new IkeDpd(this, initiator: true));
    });

    /// <summary>Closes without telling the peer: every SA leaves the data plane.</summary>
    public void Dispose() => Run(() => Close("stopped"));

    /// <summary>
    /// Closes without telling the peer because a newer connection of the same policy replaced this one (the peer
    /// started over): this connection's SAs leave the data plane, the policy (same request id) stays for the new one.
    /// </summary>
    public void CloseReplaced() => Run(() =>
    {
        _policyInstalled = false;
        if (_plane is not null && !IsClosed)
        {
            _plane.Expired -= OnExpired;
        }
        Close("replaced by a new IKE SA with the peer");
    });

    // ---- for the tasks (under the lock) ----

    internal void Log(string line) => Options.Log?.Invoke(line);

    internal byte[] Nonce() => Options.Random(32);

    /// <summary>Whether one of this connection's IKE SAs has <paramref name="initiatorSpi"/> as SPIi (the dispatcher's index).</summary>
    internal bool HasInitiatorSpi(ulong initiatorSpi)
    {
        lock (_gate)
        {
            return _sas.Any(s => s.SpiI == initiatorSpi);
        }
    }

    internal ulong NewIkeSpi() => BinaryPrimitives.ReadUInt64BigEndian(Options.Random(8)) | 1;

    /// <summary>An inbound ESP SPI: the data plane's, or a random one when this connection only negotiates.</summary>
    internal uint NewEspSpi() => _plane?.AllocateSpi() ?? (BinaryPrimitives.ReadUInt32BigEndian(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4)) | 0x1000);

    internal void Heard(IkeSa sa) => _lastHeard = Time.GetUtcNow();

    /// <summary>Runs <paramref name="action"/> under the lock; events it raised go out after the lock is released.</summary>
    internal void Run(Action action)
    {
        List<Action>? events = null;
        lock (_gate)
        {
            _depth++;
            try
            {
                action();
            }
            finally
            {
                _depth--;
                if (_depth == 0 && _deferred.Count > 0)
                {
                    events = [.. _deferred];
                    _deferred.Clear();
                }
            }
        }
        events?.ForEach(e => e());
    }

    internal ChildSaEntry? ChildByOutbound(uint spi) => _children.FirstOrDefault(c => c.OutboundSpi == spi && c.State != ChildSaState.Deleted);

    /// <summary>The CHILD_SAs that carry traffic now (installed, or being rekeyed by this side).</summary>
    internal IEnumerable<ChildSaEntry> LiveChildren => _children.Where(c => c.State is ChildSaState.Installed or ChildSaState.Rekeying);

    /// <summary>
    /// Installs a CHILD_SA: inbound first, then outbound (the data plane's order for a loss-free rekey). With
    /// <paramref name="outboundLater"/> (the responder of a rekey) the outbound SA waits until the SA it replaces is
    /// removed (<see cref="RemoveChild"/>): until the peer reads the response it cannot decrypt the new SA, and it
    /// deletes the old SA only after that (RFC 7296 §2.8), so traffic stays on the old SA meanwhile (strongSwan's order too).
    /// </summary>
    /// <remarks>
    /// <paramref name="localTs"/> and <paramref name="remoteTs"/> are the negotiated selectors of this side and the
    /// peer's. They go into both SAs and, when they differ from it, replace the connection's policy (one per ReqId), so
    /// that the data plane carries what was negotiated (RFC 7296 §2.9).
    /// </remarks>
    internal ChildSaEntry InstallChild(uint inboundSpi, uint outboundSpi, SaSuite esp, bool pfs, byte[] inboundKeymat, byte[] outboundKeymat,
        IReadOnlyList<Payloads.TrafficSelector> localTs, IReadOnlyList<Payloads.TrafficSelector> remoteTs, bool outboundLater = false)
    {
        IReadOnlyList<Ipsec.TrafficSelector> local = TrafficSelectorNarrowing.ToPolicy(localTs);
        IReadOnlyList<Ipsec.TrafficSelector> remote = TrafficSelectorNarrowing.ToPolicy(remoteTs);
        Plane.AddSa(Spec(inboundSpi, SaDirection.Inbound, esp, inboundKeymat, local, remote));
        SaSpec outbound = Spec(outboundSpi, SaDirection.Outbound, esp, outboundKeymat, local, remote);
        if (!outboundLater)
        {
            Plane.AddSa(outbound);
        }
        if (_policy is null || !_policy.LocalSelectors.SequenceEqual(local) || !_policy.RemoteSelectors.SequenceEqual(remote))
        {
            _policy = new IpsecPolicy(Options.ReqId, local, remote);
            Plane.AddPolicy(_policy);
        }
        var child = new ChildSaEntry(inboundSpi, outboundSpi, esp, pfs, Time.GetUtcNow())
        {
            PendingOutbound = outboundLater ? outbound : null,
            LocalTs = localTs,
            RemoteTs = remoteTs,
        };
        _children.Add(child);
        if (Options.ChildLifetime is { } life)
        {
            child.RekeyTimer = Time.CreateTimer(_ => Run(() =>
            {
                if (child.State == ChildSaState.Installed && !IsClosed)
                {
                    Log($"{child.Name}: soft lifetime reached; rekeying");
                    Current.Tasks.Queue(new ChildCreate(this, child, Options.PfsGroup));
                }
            }), null, Soft(life), Timeout.InfiniteTimeSpan);
            child.ExpireTimer = Time.CreateTimer(_ => Run(() =>
            {
                if (child.State != ChildSaState.Deleted && !IsClosed)
                {
                    Log($"{child.Name}: hard lifetime reached; deleting");
                    Current.Tasks.Queue(new ChildDelete(this, child));
                }
            }), null, life, Timeout.InfiniteTimeSpan);
        }
        Log($"{child.Name}: installed ({esp.EspName}{(pfs ? ", PFS" : "")}), {TrafficSelectorNarrowing.Describe(localTs)} === {TrafficSelectorNarrowing.Describe(remoteTs)}");
        _deferred.Add(() => Changed?.Invoke());
        return child;
    }

    /// <summary>Both directions leave the data plane (after the exchange that deleted them, §1.4.1).</summary>
    internal void RemoveChild(ChildSaEntry child, string reason)
    {
        if (child.State == ChildSaState.Deleted)
        {
            return;
        }
        child.State = ChildSaState.Deleted;
        child.StopTimers();
        child.PendingOutbound = null;
        if (child.Successor is { PendingOutbound: { } successorOutbound, State: ChildSaState.Installed or ChildSaState.Rekeying } successor)
        {
            // The successor's outbound SA takes over before the old one goes, so that outbound traffic never lacks an SA.
            // (A successor already replaced or being deleted stays without: its replacement's outbound SA is the current one.)
            Plane.AddSa(successorOutbound);
            successor.PendingOutbound = null;
            Log($"{successor.Name}: outbound SA installed");
        }
        Plane.DeleteSa(child.InboundSpi, SaDirection.Inbound);
        Plane.DeleteSa(child.OutboundSpi, SaDirection.Outbound);
        _children.Remove(child);
        Log($"{child.Name}: {reason}");
        if (_children.FirstOrDefault(c => c.Successor == child && c.State == ChildSaState.Rekeyed) is { } predecessor)
        {
            // The peer deleted what its own rekey created before the old SA (it refused this side's answer, e.g. its
            // selectors, §2.9): the old SA carries on, and is rekeyed again after a while as after TEMPORARY_FAILURE.
            predecessor.State = ChildSaState.Installed;
            predecessor.Successor = null;
            predecessor.StopTimers();
            RetryChildRekey(predecessor);
            Log($"{predecessor.Name}: its replacement is gone; it stays installed");
        }
        _deferred.Add(() => Changed?.Invoke());
    }

    internal void RetryChildRekey(ChildSaEntry child)
    {
        child.RekeyTimer?.Dispose();
        child.RekeyTimer = Time.CreateTimer(_ => Run(() =>
        {
            if (child.State == ChildSaState.Installed && !IsClosed)
            {
                Current.Tasks.Queue(new ChildCreate(this, child, Options.PfsGroup));
            }
        }), null, RetryDelay(), Timeout.InfiniteTimeSpan);
    }

    internal void RetryIkeRekey(IkeSa sa)
    {
        sa.RekeyTimer?.Dispose();
        sa.RekeyTimer = Time.CreateTimer(_ => Run(() =>
        {
            if (sa == Current && sa.State == IkeSaState.Established)
            {
                sa.Tasks.Queue(new IkeRekey(this, initiator: true));
            }
        }), null, RetryDelay(), Timeout.InfiniteTimeSpan);
    }

    /// <summary>§2.25: retry "after some time" — jittered between one and two delays, so two peers that refused each other do not meet again.</summary>
    private TimeSpan RetryDelay() => Options.TemporaryFailureDelay * (1 + Fraction());

    /// <summary>The peer replaced <paramref name="child"/>; if its DELETE does not come within the grace, this side deletes it.</summary>
    internal void AwaitPeerDelete(ChildSaEntry child)
    {
        child.StopTimers();
        child.ExpireTimer = Time.CreateTimer(_ => Run(() =>
        {
            if (child.State == ChildSaState.Rekeyed && !IsClosed)
            {
                Log($"{child.Name}: the peer replaced it but did not delete it; deleting");
                Current.Tasks.Queue(new ChildDelete(this, child));
            }
        }), null, Options.RekeyedGrace, Timeout.InfiniteTimeSpan);
    }

    /// <summary>A new IKE SA from a rekey of <paramref name="from"/> (same peer and port); not current yet.</summary>
    internal IkeSa AddSa(ulong spiI, ulong spiR, bool isOriginalInitiator, SaSuite suite, IkeSaKeys keys, IkeSa from)
    {
        var sa = new IkeSa(this, spiI, spiR, isOriginalInitiator, suite, keys, from.Remote, from.Encapsulated, Time.GetUtcNow());
        _sas.Add(sa);
        return sa;
    }

    /// <summary>§2.18: the CHILD_SAs and the queued exchanges move from <paramref name="old"/> to <paramref name="successor"/>.</summary>
    internal void SwitchTo(IkeSa old, IkeSa successor)
    {
        if (old.State is not (IkeSaState.Deleting or IkeSaState.Closed))
        {
            old.State = IkeSaState.Rekeyed;
        }
        old.StopTimers();
        successor.State = IkeSaState.Established;
        Current = successor;
        if (old.State == IkeSaState.Rekeyed)
        {
            // The rekey initiator deletes the old SA (§2.18); should its DELETE be lost, the old SA goes anyway.
            old.ExpireTimer = Time.CreateTimer(_ => Run(() => CloseSa(old, "replaced, and not deleted by the peer in time")), null, Options.RekeyedGrace, Timeout.InfiniteTimeSpan);
        }
        foreach (IkeTask task in old.Tasks.TakeMovable())
        {
            successor.Tasks.Queue(task);
        }
        StartIkeTimers(successor);
        Log($"{old.Name}: replaced by {successor.Name}; {_children.Count} CHILD_SA(s) moved");
        _deferred.Add(() => Changed?.Invoke());
    }

    /// <summary>One IKE SA is gone; when it is the current one the connection closes with it (its CHILD_SAs go).</summary>
    internal void CloseSa(IkeSa sa, string reason)
    {
        if (sa.State == IkeSaState.Closed)
        {
            return;
        }
        if (sa == Current)
        {
            Close(reason);
            return;
        }
        sa.State = IkeSaState.Closed;
        sa.Dispose();
        _sas.Remove(sa);
        Log($"{sa.Name}: {reason}");
        _deferred.Add(() => Changed?.Invoke());
    }

    private void Close(string reason)
    {
        if (IsClosed)
        {
            return;
        }
        CloseReason = reason;
        foreach (ChildSaEntry child in _children.ToList())
        {
            RemoveChild(child, "removed with the IKE SA");
        }
        if (_policyInstalled)
        {
            Plane.DeletePolicy(Options.ReqId);
            Plane.Expired -= OnExpired;
        }
        Setup?.HalfOpen?.Dispose();
        _halfOpenTimer?.Dispose();
        foreach (IkeSa s in _sas)
        {
            s.State = IkeSaState.Closed;
            s.Dispose();
        }
        // Nothing more is taken: messages for these SPIs are no one's now.
        _sas.Clear();
        _dpdTimer?.Dispose();
        Log($"{Current.Name}: closed: {reason}");
        _deferred.Add(() => Closed?.Invoke(reason));
    }

    /// <summary>
    /// The data plane's traffic limits (RFC 4301 §4.4.2.1): a soft expiry of one of this connection's SAs rekeys its
    /// CHILD_SA, a hard one (also: sequence numbers used up) deletes it; other connections' SAs are not ours.
    /// </summary>
    private void OnExpired(SaExpiry expiry)
    {
        if (expiry.ReqId != Options.ReqId)
        {
            return;
        }
        Run(() =>
        {
            ChildSaEntry? child = _children.FirstOrDefault(c => expiry.Direction == SaDirection.Inbound ? c.InboundSpi == expiry.Spi : c.OutboundSpi == expiry.Spi);
            if (child is null || IsClosed)
            {
                return;
            }
            if (expiry.Kind == ExpiryKind.Soft && child.State == ChildSaState.Installed)
            {
                Log($"{child.Name}: {expiry.Reason}; rekeying");
                Current.Tasks.Queue(new ChildCreate(this, child, Options.PfsGroup));
            }
            else if (expiry.Kind == ExpiryKind.Hard && child.State is not (ChildSaState.Deleting or ChildSaState.Deleted))
            {
                Log($"{child.Name}: {expiry.Reason}; deleting");
                Current.Tasks.Queue(new ChildDelete(this, child));
            }
        });
    }

    private void CheckLiveness()
    {
        if (IsClosed || Options.DpdDelay is not { } delay)
        {
            return;
        }
        DateTimeOffset now = Time.GetUtcNow();
        // ESP from the peer proves it alive as well as IKE does (strongSwan checks the inbound SAs' use too).
        DateTimeOffset last = _children.Select(c => Plane.QuerySa(c.InboundSpi, SaDirection.Inbound)?.LastUsed ?? DateTimeOffset.MinValue).Append(_lastHeard).Max();
        if (now - last >= delay && Current.Tasks.Active is null && Current.Tasks.Queued.Count == 0)
        {
            Current.Tasks.Queue(new IkeDpd(this, initiator: true));
        }
    }

    private void StartIkeTimers(IkeSa sa)
    {
        if (Options.IkeLifetime is not { } life)
        {
            return;
        }
        sa.RekeyTimer = Time.CreateTimer(_ => Run(() =>
        {
            if (sa == Current && sa.State == IkeSaState.Established)
            {
                Log($"{sa.Name}: soft lifetime reached; rekeying");
                sa.Tasks.Queue(new IkeRekey(this, initiator: true));
            }
        }), null, Soft(life), Timeout.InfiniteTimeSpan);
        sa.ExpireTimer = Time.CreateTimer(_ => Run(() =>
        {
            if (sa.State != IkeSaState.Closed)
            {
                Log($"{sa.Name}: hard lifetime reached; deleting");
                sa.Tasks.Queue(new IkeDelete(this, initiator: true));
            }
        }), null, life, Timeout.InfiniteTimeSpan);
    }

    private TimeSpan Soft(TimeSpan hard)
    {
        return hard * (1 - Options.RekeyMargin - Options.RekeyJitter * Fraction());
    }

    private double Fraction() => BinaryPrimitives.ReadUInt32BigEndian(Options.Random(4)) / (double)uint.MaxValue;

    private ChildSaEntry FindChild(uint? inboundSpi)
    {
        ThrowIfClosed();
        return (inboundSpi is uint spi ? _children.FirstOrDefault(c => c.InboundSpi == spi) : _children.LastOrDefault(c => c.State == ChildSaState.Installed))
            ?? throw new InvalidOperationException(inboundSpi is uint s ? $"no CHILD_SA with inbound SPI 0x{s:x8}" : "no installed CHILD_SA");
    }

    private void ThrowIfClosed()
    {
        if (IsClosed)
        {
            throw new InvalidOperationException($"the IKE SA is closed ({CloseReason})");
        }
    }

    private SaSpec Spec(uint spi, SaDirection direction, SaSuite esp, byte[] keymat, IReadOnlyList<Ipsec.TrafficSelector> local, IReadOnlyList<Ipsec.TrafficSelector> remote) => new()
    {
        Spi = spi,
        Direction = direction,
        Local = Options.EspLocal,
        Remote = Options.EspRemote,
        UdpEncapsulation = Options.UdpEncapsulation,
        Encryption = esp.Encryption,
        KeyBits = esp.KeyBits,
        Integrity = esp.Integrity,
        Keymat = keymat,
        ExtendedSequenceNumbers = esp.Esn,
        LocalSelectors = local,
        RemoteSelectors = remote,
        ReqId = Options.ReqId,
    };

    private static IkeSaInfo Info(IkeSa sa) => new(sa.SpiI, sa.SpiR, sa.IsOriginalInitiator, sa.State, sa.EstablishedAt, sa.Suite);
}
