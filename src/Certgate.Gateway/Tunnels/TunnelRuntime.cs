using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Config;
using Certgate.Config.Ipsec;
using Certgate.Config.Pki;
using Certgate.Config.Storage;
using Certgate.Config.Tree;
using Certgate.Esp.Dataplane;
using Certgate.Esp.Tun;
using Certgate.Gateway.Crl;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Pki.Encoding;
using Certgate.Pki.Identity;
using Certgate.Pki.Keys;
using Certgate.Pki.Revocation;
using Certgate.Pki.Store;
using Certgate.Pki.Validation;
using Certgate.ServiceSets;
using Certgate.ServiceSets.Plan;
using Certgate.Ipsec.Registry;

namespace Certgate.Gateway.Tunnels;

/// <summary>
/// Runs the committed IPsec configuration (issues 5 and 6): the service-set plan of the active configuration,
/// applied on start and after every commit.
/// </summary>
/// <remarks>
/// Order of work for a new plan (<see cref="PlanDiff"/> against the running one): stop removed and changed tunnels
/// (and those whose device is re-created) → remove the routes and TUN devices the plan drops → create new TUN
/// devices with their addresses, attached to the ESP data plane of their local-gateway address (UDP 4500; created
/// with the first device on that address, disposed with the last) → install the plan's routes into them → start the
/// new and changed tunnels. Tunnels the commit leaves unchanged keep their SAs.
/// One data plane per local-gateway address serves every service set on it: each set's TUN device is a device of that
/// data plane, and each tunnel's ReqId is bound to its set's device, so outbound packets are matched against their own
/// set's policies only (two sets may negotiate the same selectors) and decrypted packets go to their SA's device.
/// Interface-style service sets run the same way, their TUN device (the service interface) carrying the traffic that
/// policy routing selects (<see cref="PolicyRouting"/>: a table per service set, <c>ip rule</c>s from the rule terms);
/// a commit replaces exactly the rules and table routes that changed.
/// </remarks>
public sealed class TunnelRuntime : IAsyncDisposable
{
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);
    private readonly string _state;
    private readonly PkiStore _store;
    private readonly Action<string> _log;
    private readonly TimeProvider _time;
    private readonly ILinkConfigurator _links;
    private readonly ILocalAddressProbe _addresses;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, Device> _devices = new(StringComparer.Ordinal);
    private readonly Dictionary<IPAddress, EspDataPlane> _planes = [];
    private readonly Dictionary<IPAddress, IkeEndpoint> _endpoints = [];
    private readonly Dictionary<TunnelId, Tunnel> _tunnels = [];
    // local-gateway addresses that have devices but no data plane yet, with why (logged when it changes).
    private readonly Dictionary<IPAddress, string> _waiting = [];
    private ServiceSetPlan _plan = ServiceSetPlan.Empty;
    private PolicyRouting _policy = PolicyRouting.Empty;
    private readonly PolicySlots _slots = new();
    private bool _staleRulesRemoved;
    private volatile PkiConfiguration? _pki;
    private (DateTime Written, long Length)? _applied;
    private uint _nextReqId = 1;

    /// <summary>A TUN device of the plan and, when a tunnel uses it, the data plane that serves it.</summary>
    private sealed class Device(TunDevicePlan plan, TunDevice tun, IPAddress? local)
    {
        public TunDevicePlan Plan { get; } = plan;

        /// <summary>The local-gateway address of the tunnels that use this device (null: none does).</summary>
        public IPAddress? Local { get; } = local;

        public TunDevice Tun { get; } = tun;

        public EspDataPlane? DataPlane { get; set; }

        /// <summary>This device's number in <see cref="DataPlane"/>.</summary>
        public EspDevice? Attached { get; set; }

        /// <summary>Deletes the interface first: the data plane's reader thread sits in a blocking read(2) on the TUN
        /// descriptor, which closing the descriptor does not interrupt (the interface would live on until the next
        /// packet); unregistering the interface ends that read. The data plane itself stays for the other devices.</summary>
        public void Dispose(ILinkConfigurator links)
        {
            links.DeleteLink(Plan.Name);
            if (DataPlane is not null && Attached is not null)
            {
                DataPlane.Detach(Attached);
            }
            else
            {
                Tun.Dispose();
            }
        }
    }

    /// <summary>The runtime of the gateway on <paramref name="stateDirectory"/>; nothing runs before <see cref="RunAsync"/>.</summary>
    public TunnelRuntime(string stateDirectory, Action<string> log, TimeProvider? time = null)
        : this(stateDirectory, log, time ?? TimeProvider.System, new IpCommand())
    {
    }

    internal TunnelRuntime(string stateDirectory, Action<string> log, TimeProvider time, ILinkConfigurator links, ILocalAddressProbe? addresses = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        _state = stateDirectory;
        _store = new PkiStore(stateDirectory);
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _time = time;
        _links = links;
        _addresses = addresses ?? new LocalAddressProbe();
    }

    /// <summary>The plan running now.</summary>
    public ServiceSetPlan Plan => _plan;

    /// <summary>Applies the committed configuration now and again whenever a commit changes it, and starts the tunnels
    /// of a local-gateway address that was not usable as soon as it is, until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var store = new ConfigurationStore(_state);
        while (!cancellationToken.IsCancellationRequested)
        {
            // A stat per second: the plan is compiled only when the committed file changed.
            var file = new FileInfo(store.ActivePath);
            (DateTime, long)? stamp = file.Exists ? (file.LastWriteTimeUtc, file.Length) : null;
            if (stamp != _applied || _applied is null)
            {
                try
                {
                    await ApplyAsync(store.LoadActive(), cancellationToken).ConfigureAwait(false);
                    _applied = stamp ?? (DateTime.MinValue, 0);
                }
                catch (Exception e) when (e is IOException or ConfigException or UnauthorizedAccessException)
                {
                    // A configuration being written: try again on the next poll.
                    _log($"tunnels: the committed configuration cannot be read yet ({e.Message})");
                }
            }
            // As a router does when an interface comes up: the address is looked at again every poll, and the data
            // plane opens and the tunnels start once it is usable (no restart, no commit).
            try
            {
                await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            try
            {
                RetryWaiting();
            }
            finally
            {
                _gate.Release();
            }
            try
            {
                await Task.Delay(Poll, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>Compiles <paramref name="active"/> and makes the running tunnels, devices and routes match it.</summary>
    public async Task ApplyAsync(ConfigNode active, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(active);
        ServiceSetPlan next;
        try
        {
            PkiConfiguration pki = PkiConfiguration.From(active);
            next = ServiceSetCompiler.Compile(IpsecVpnConfiguration.From(active), pki);
            _pki = pki;
        }
        catch (Exception e) when (e is InvalidOperationException or ConfigException)
        {
            _log($"tunnels: the committed configuration gives no plan ({e.Message}); the running tunnels stay as they are");
            return;
        }
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ApplyPlanAsync(next).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task ApplyPlanAsync(ServiceSetPlan next)
    {
        PlanDiff diff = PlanDiff.Compute(_plan, next);
        if (diff.IsEmpty)
        {
            _log($"tunnels: committed configuration read; the plan is unchanged ({_tunnels.Count} tunnel(s) keep running)");
            return;
        }
        _log($"tunnels: new plan: {diff.Unchanged.Count} tunnel(s) unchanged, {diff.Changed.Count} changed, {diff.Added.Count} added, {diff.Removed.Count} removed");
        var recreated = new HashSet<string>(diff.DevicesRemoved.Select(d => d.Name), StringComparer.Ordinal);
        var stop = new List<TunnelId>(diff.Removed);
        stop.AddRange(diff.Changed.Select(c => c.Id));
        stop.AddRange(diff.Unchanged.Where(id => recreated.Contains(next.Find(id)!.Child.Device)));
        foreach (TunnelId id in stop)
        {
            if (_tunnels.Remove(id, out Tunnel? t))
            {
                await t.DisposeAsync().ConfigureAwait(false);
            }
        }
        PolicyRouting policy = NextPolicy(next);
        PolicyChanges changes = _policy.To(policy, recreated);
        foreach (PolicyRule r in changes.RulesRemoved)
        {
            if (_links.DeleteRule(r))
            {
                _log($"tunnels: {r} removed");
            }
        }
        foreach (TableRoute r in changes.RoutesRemoved)
        {
            if (_links.DeleteRoute(r))
            {
                _log($"tunnels: {r} removed");
            }
        }
        foreach (RoutePlan r in diff.RoutesRemoved.Where(r => !recreated.Contains(r.Device)))
        {
            if (_links.DeleteRoute(r.Destination.ToString(), r.Device))
            {
                _log($"tunnels: route {r.Destination} dev {r.Device} removed");
            }
        }
        foreach (TunDevicePlan d in diff.DevicesRemoved)
        {
            if (_devices.Remove(d.Name, out Device? old))
            {
                old.Dispose(_links);
                _log($"tunnels: TUN device {d.Name} ({d.JunosName}) removed");
            }
        }
        DisposeIdlePlanes();
        foreach (TunDevicePlan d in diff.DevicesAdded)
        {
            CreateDevice(d, next);
        }
        foreach (RoutePlan r in next.Routes.Where(r => diff.RoutesAdded.Contains(r) || diff.DevicesAdded.Any(d => d.Name == r.Device)))
        {
            InstallRoute(r);
        }
        foreach (TableRoute r in changes.RoutesAdded)
        {
            Apply(() => _links.ReplaceRoute(r), r.ToString());
        }
        foreach (PolicyRule r in changes.RulesAdded)
        {
            Apply(() => _links.AddRule(r), r.ToString());
        }
        _policy = policy;
        _plan = next;
        foreach (TunnelPlan t in next.Tunnels.Where(t => !_tunnels.ContainsKey(t.Id)))
        {
            StartTunnel(t);
        }
    }

    /// <summary>The policy routing of <paramref name="next"/>; the first time, rules a gateway that ended without cleaning
    /// up left in the priorities the runtime owns are removed.</summary>
    private PolicyRouting NextPolicy(ServiceSetPlan next)
    {
        if (!_staleRulesRemoved && next.Selectors.Count > 0)
        {
            _staleRulesRemoved = true;
            try
            {
                int stale = _links.DeleteRules(PolicyRouting.ExemptPriority, PolicyRouting.FirstSelectorPriority + PolicyRouting.MaxSlots - 1);
                if (stale > 0)
                {
                    _log($"tunnels: {stale} stale policy-routing rule(s) of an earlier run removed");
                }
            }
            catch (IOException e)
            {
                _log($"tunnels: the policy-routing rules cannot be listed: {e.Message}");
            }
        }
        _slots.Retain(next.Selectors.Select(s => s.Tunnel.ServiceSet));
        return PolicyRouting.Compute(next, _slots.Of);
    }

    private void Apply(Action change, string what)
    {
        try
        {
            change();
            _log($"tunnels: {what} installed");
        }
        catch (IOException e)
        {
            _log($"tunnels: {what} cannot be installed: {e.Message}");
        }
    }

    private void CreateDevice(TunDevicePlan d, ServiceSetPlan plan)
    {
        TunDevice tun;
        IPAddress? local = plan.Tunnels.FirstOrDefault(t => t.Child.Device == d.Name)?.Peer.LocalAddress;
        int mtu = d.Mtu ?? TunnelMtu.Default(local);
        try
        {
            // Before the addresses: an IPv6 address needs the MTU at 1280 or above when it is added.
            tun = OpenDevice(d.Name, mtu);
            foreach (string address in d.Addresses)
            {
                _links.AddAddress(d.Name, address);
            }
            _links.SetUp(d.Name);
        }
        catch (Exception e) when (e is IOException or ArgumentException)
        {
            _log($"tunnels: TUN device {d.Name} ({d.JunosName}) of service-set {d.ServiceSet} cannot be created: {e.Message}");
            return;
        }
        var device = new Device(d, tun, local);
        _devices[d.Name] = device;
        _log($"tunnels: TUN device {d.Name} ({d.JunosName}) of service-set {d.ServiceSet} up, mtu {mtu}{(d.Mtu is null ? " (default)" : "")}{(d.Addresses.Count > 0 ? " with " + string.Join(", ", d.Addresses) : "")}");
        if (d.RoutingInstance is not null)
        {
            _log($"tunnels: warning: {d.Name} belongs to routing-instance {d.RoutingInstance}, which the gateway does not create yet (#6); it stays in the main table");
        }
        if (local is not null)
        {
            AttachToDataPlane(device, local);
        }
    }

    /// <summary>
    /// Opens the TUN device <paramref name="name"/> with <paramref name="mtu"/>, as every tunnel's inside device is opened.
    /// TCP segmentation offload: the kernel hands over TCP super-packets, which the data plane cuts into segments
    /// before ESP (3x the TCP throughput of one packet per read, bench/README.md); a kernel that refuses it gets a
    /// plain device.
    /// </summary>
    /// <exception cref="IOException">The device cannot be created (no CAP_NET_ADMIN, no /dev/net/tun, a bad name).</exception>
    internal static TunDevice OpenDevice(string name, int mtu)
    {
        TunDevice tun = TunDevice.Open(name, offloads: true);
        try
        {
            tun.Mtu = mtu;
        }
        catch
        {
            tun.Dispose();
            throw;
        }
        return tun;
    }

    /// <summary>Attaches <paramref name="device"/> to the data plane of <paramref name="local"/>, opening that data plane
    /// (and the IKE endpoint) first when there is none; false while the address is not usable.</summary>
    private bool AttachToDataPlane(Device device, IPAddress local)
    {
        if (!_planes.TryGetValue(local, out EspDataPlane? plane))
        {
            plane = OpenDataPlane(local, device.Plan.ServiceSet);
            if (plane is null)
            {
                return false;
            }
        }
        device.Attached = plane.Attach(device.Tun);
        device.DataPlane = plane;
        _log($"tunnels: ESP data plane for local-gateway {local}: inside device {device.Plan.Name} (service-set {device.Plan.ServiceSet}, device {device.Attached.Id} of {plane.Devices.Count})");
        return true;
    }

    /// <summary>
    /// The IKE endpoint (UDP 500) and ESP data plane (UDP 4500, raw ESP) of <paramref name="local"/>, or null when the
    /// address is not usable yet: then the address waits in <see cref="_waiting"/> with the reason, logged once per
    /// reason, and <see cref="RetryWaiting"/> tries again every poll.
    /// </summary>
    /// <remarks>Why not bind early with IP_FREEBIND / IPV6_FREEBIND: the tunnels must not start before the address is
    /// usable anyway (a tentative IPv6 address neither sends nor receives, RFC 4862 §5.4), and a socket bound to an
    /// address that never comes would hide a typing error in local-gateway; binding when the address is there keeps
    /// "bound" meaning "usable".</remarks>
    private EspDataPlane? OpenDataPlane(IPAddress local, string serviceSet)
    {
        string? why = _addresses.WhyNotUsable(local);
        if (why is null)
        {
            try
            {
                // One IKE endpoint per address (UDP 500, and the data plane's 4500) serves every tunnel there.
                IkeEndpoint endpoint = IkeEndpoint.Open(local, _time, _log);
                EspDataPlane plane = endpoint.Plane!;
                _planes[local] = plane;
                _endpoints[local] = endpoint;
                if (_waiting.Remove(local))
                {
                    _log($"tunnels: local-gateway {local} is usable now");
                }
                _log($"tunnels: ESP data plane for local-gateway {local} on UDP 4500, IKE on UDP 500 and 4500");
                return plane;
            }
            catch (SocketException e)
            {
                // EADDRNOTAVAIL: the address went (or is not there yet) between the look and the bind; anything else
                // (EADDRINUSE: another IKE daemon) is told as it is, and tried again too.
                why = e.SocketErrorCode == SocketError.AddressNotAvailable
                    ? $"the address cannot be bound yet ({e.Message})"
                    : $"UDP 500 or 4500 cannot be bound ({e.Message}); does another IKE daemon use the address?";
            }
        }
        if (!_waiting.TryGetValue(local, out string? before) || before != why)
        {
            _log($"tunnels: waiting for local-gateway {local} (service-set {serviceSet}): {why}; its tunnels start when the address is usable");
        }
        _waiting[local] = why;
        return null;
    }

    /// <summary>Looks again at every local-gateway address that was not usable: opens its data plane when it is, attaches
    /// its devices and starts their tunnels. Addresses the plan no longer uses stop being watched.</summary>
    private void RetryWaiting()
    {
        if (_waiting.Count == 0)
        {
            return;
        }
        foreach (IPAddress local in _waiting.Keys.ToList())
        {
            List<Device> devices = [.. _devices.Values.Where(d => local.Equals(d.Local) && d.DataPlane is null)];
            if (devices.Count == 0)
            {
                _waiting.Remove(local);
                continue;
            }
            foreach (Device d in devices)
            {
                if (!AttachToDataPlane(d, local))
                {
                    break;
                }
            }
        }
        foreach (TunnelPlan t in _plan.Tunnels.Where(t => !_tunnels.ContainsKey(t.Id)))
        {
            if (_devices.TryGetValue(t.Child.Device, out Device? d) && d.DataPlane is not null)
            {
                StartTunnel(t);
            }
        }
    }

    /// <summary>Disposes the data planes no device uses any more (their last service set went), freeing UDP 4500 on that address.</summary>
    private void DisposeIdlePlanes()
    {
        foreach ((IPAddress local, EspDataPlane plane) in _planes.Where(p => p.Value.Devices.Count == 0).ToList())
        {
            _planes.Remove(local);
            if (_endpoints.Remove(local, out IkeEndpoint? endpoint))
            {
                endpoint.Dispose();
            }
            plane.Dispose();
            _log($"tunnels: ESP data plane for local-gateway {local} stopped (no service set uses it)");
        }
    }

    private void InstallRoute(RoutePlan r)
    {
        if (r.RoutingInstance is not null)
        {
            _log($"tunnels: warning: route {r.Destination} of routing-instance {r.RoutingInstance} goes to the main table (routing instances are #6)");
        }
        try
        {
            _links.ReplaceRoute(r.Destination.ToString(), r.Device);
            _log($"tunnels: route {r.Destination} dev {r.Device} installed (service-set {r.ServiceSet})");
        }
        catch (IOException e)
        {
            _log($"tunnels: route {r.Destination} dev {r.Device} cannot be installed: {e.Message}");
        }
    }

    private void StartTunnel(TunnelPlan t)
    {
        if (_devices.TryGetValue(t.Child.Device, out Device? waiting) && waiting.Local is { } local && _waiting.ContainsKey(local))
        {
            _log($"tunnels: tunnel {t.Id} to {t.Peer.RemoteAddress}: starts when local-gateway {local} is usable");
            return;
        }
        if (!_devices.TryGetValue(t.Child.Device, out Device? device) || device.DataPlane is null || device.Attached is null)
        {
            _log($"tunnels: tunnel {t.Id} to {t.Peer.RemoteAddress}: no data plane on {t.Child.Device} (see above); not started");
            return;
        }
        // Bound before the tunnel installs anything: its policy then matches only what its own set's device reads.
        uint reqId = _nextReqId++;
        device.DataPlane.Bind(reqId, device.Attached);
        var tunnel = new Tunnel(t, device.DataPlane, _endpoints.Values.First(e => e.Plane == device.DataPlane), reqId, PeerConfig, _log, _time);
        _tunnels[t.Id] = tunnel;
        _log($"tunnels: tunnel {t.Id} to {t.Peer.RemoteAddress}: starting as {Tunnel.DefaultRole(t).ToString().ToLowerInvariant()} (the lower address initiates)");
        tunnel.Start();
    }

    /// <summary>A prefix as an IKE traffic selector: every protocol and port (RFC 7296 §3.13.1).</summary>
    internal static Payloads.TrafficSelector WireSelector(Certgate.Net.Addressing.IpPrefix prefix) => new(0, 0, 65535, prefix.First, prefix.Last);

    /// <summary>The IKE side of a tunnel from the plan and the PKI store, read anew for every attempt (a renewed
    /// certificate or a new CRL is used by the next negotiation).</summary>
    /// <exception cref="IOException">A certificate, key or CA certificate the plan names is not in the store.</exception>
    internal IkePeerConfig PeerConfig(TunnelPlan t)
    {
        PeerConfig p = t.Peer;
        // Every selector of the plan: offered as initiator, narrowed to as responder (RFC 7296 §2.9).
        IReadOnlyList<Payloads.TrafficSelector> localTs = [.. t.Child.LocalTrafficSelectors.Select(WireSelector)];
        IReadOnlyList<Payloads.TrafficSelector> remoteTs = [.. t.Child.RemoteTrafficSelectors.Select(WireSelector)];
        if (p.PreSharedKey is { } psk)
        {
            return new IkePeerConfig(null, [], null, localTs, remoteTs)
            {
                PreSharedKey = psk.GetKey(),
                LocalId = IdentityMapping.Local(t, null),
                RemoteIds = IdentityMapping.Remote(t),
                IkeProposals = ProposalMapping.Ike(p),
                EspProposals = ProposalMapping.Esp(t.Child),
            };
        }
        string id = p.LocalCertificate ?? throw new IOException($"tunnel {t.Id}: the ike policy names no local-certificate");
        X509Certificate2 cert = _store.LoadLocalCertificate(id) ?? throw new IOException($"tunnel {t.Id}: local certificate {id} is not in the PKI store");
        using KeyPair key = _store.LoadKeyPair(id) ?? throw new IOException($"tunnel {t.Id}: local certificate {id} has no key pair in the PKI store");
        X509Certificate2 withKey = key.Rsa is { } rsa ? cert.CopyWithPrivateKey(rsa) : cert.CopyWithPrivateKey(key.Ecdsa!);
        cert.Dispose();
        var anchors = new List<X509Certificate2>();
        var crls = new CrlCollection();
        bool checkRevocation = false;
        foreach (string profile in p.TrustedCas)
        {
            if (_store.LoadCaCertificate(profile) is { } ca)
            {
                anchors.Add(ca);
            }
            // revocation-check disable: this CA's CRL is neither needed nor used (reference §3.3).
            if (_pki?.CaProfiles.FirstOrDefault(c => c.Name == profile) is { } caProfile
                && RevocationModes.For(caProfile) == RevocationMode.Disabled)
            {
                continue;
            }
            checkRevocation = true;
            if (_store.LoadCrl(profile) is { } der)
            {
                crls.Add(CertificateRevocationList.Load(der));
            }
        }
        if (anchors.Count == 0)
        {
            withKey.Dispose();
            throw new IOException($"tunnel {t.Id}: none of the trusted CA profiles ({string.Join(", ", p.TrustedCas)}) has a CA certificate loaded");
        }
        Certgate.Pki.Identity.IkeIdentity? localId;
        IReadOnlyList<RemoteIdentity> remoteIds;
        try
        {
            localId = IdentityMapping.Local(t, withKey);
            remoteIds = IdentityMapping.Remote(t);
        }
        catch (IOException)
        {
            withKey.Dispose();
            throw;
        }
        // IKE checks revocation strictly for every CA or not at all (#5: per-profile modes and on-download-failure
        // are not expressible yet), so one profile with revocation checking makes the CRLs required.
        return new IkePeerConfig(withKey, anchors, checkRevocation ? crls : null, localTs, remoteTs)
        {
            LocalId = localId,
            RemoteIds = remoteIds,
            RemoteGateway = p.RemoteAddress,
            AllowSha1Signatures = _pki?.AllowSha1Signatures ?? false,
            IkeProposals = ProposalMapping.Ike(p),
            EspProposals = ProposalMapping.Esp(t.Child),
        };
    }

    /// <summary>Every tunnel of the plan that runs or waits for its local-gateway address, in plan order.</summary>
    public IReadOnlyList<TunnelStatus> Snapshot()
    {
        _gate.Wait();
        try
        {
            var list = new List<TunnelStatus>();
            foreach (TunnelPlan t in _plan.Tunnels)
            {
                if (_tunnels.TryGetValue(t.Id, out Tunnel? running))
                {
                    list.Add(running.Status() with { Drops = Drops(t) });
                }
                else if (_devices.TryGetValue(t.Child.Device, out Device? d) && d.Local is { } local && _waiting.TryGetValue(local, out string? why))
                {
                    list.Add(Tunnel.NotStartedStatus(t, $"waiting for local-gateway {local}: {why}"));
                }
            }
            return list;
        }
        finally
        {
            _gate.Release();
        }
    }

    private IReadOnlyList<(string, long)> Drops(TunnelPlan t) =>
        _devices.TryGetValue(t.Child.Device, out Device? d) && d.DataPlane is { } plane
            ? [.. Enum.GetValues<EspDrop>().Select(r => (r.ToString(), plane.Counters.Dropped(r)))]
            : [];

    /// <summary>Tears down the SAs of the tunnels to <paramref name="remote"/> (all when null) and negotiates them
    /// again; with <paramref name="ipsecOnly"/> only the IPsec SAs, renegotiated in the IKE SA; returns how many.</summary>
    public int Clear(IPAddress? remote = null, bool ipsecOnly = false)
    {
        _gate.Wait();
        try
        {
            int n = 0;
            foreach (Tunnel t in _tunnels.Values.Where(t => remote is null || t.Plan.Peer.RemoteAddress.Equals(remote)))
            {
                if (ipsecOnly)
                {
                    t.ResetIpsec();
                }
                else
                {
                    t.Reset();
                }
                n++;
            }
            return n;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops every tunnel (SAs removed), removes the policy-routing rules and the TUN devices (their routes go
    /// with them).</summary>
    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            foreach (Tunnel t in _tunnels.Values)
            {
                await t.DisposeAsync().ConfigureAwait(false);
            }
            _tunnels.Clear();
            foreach (PolicyRule r in _policy.Rules)
            {
                if (_links.DeleteRule(r))
                {
                    _log($"tunnels: {r} removed");
                }
            }
            _policy = PolicyRouting.Empty;
            foreach (Device d in _devices.Values)
            {
                d.Dispose(_links);
                _log($"tunnels: TUN device {d.Plan.Name} removed");
            }
            _devices.Clear();
            _waiting.Clear();
            DisposeIdlePlanes();
            _plan = ServiceSetPlan.Empty;
        }
        finally
        {
            _gate.Release();
        }
    }
}
