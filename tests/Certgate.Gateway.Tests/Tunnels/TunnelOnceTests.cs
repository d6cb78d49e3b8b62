using System.Net;
using Certgate.Gateway.Tunnels;
using Certgate.Ike.Sessions;
using Certgate.Ipsec;
using Certgate.Net.Addressing;
using Certgate.Pki.Identity;

namespace Certgate.Gateway.Tests.Tunnels;

/// <summary>
/// The tunnel host configured for the foreground (<c>debug ike-tunnel</c>: a fixed role, one negotiation), against a
/// second gateway tunnel over loopback UDP 500 with in-memory data planes: a refusal ends it with the reason and no
/// retry, the end of its IKE SA ends it, and a peer's failed attempt reaches the tunnel it was answered under.
/// </summary>
public sealed class TunnelOnceTests : IAsyncDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly List<string> _log = [];
    private readonly Lock _logLock = new();
    private readonly List<IAsyncDisposable> _tunnels = [];
    private readonly List<IDisposable> _endpoints = [];
    private readonly IPAddress _a;
    private readonly IPAddress _b;

    public TunnelOnceTests()
    {
        // Two loopback addresses of their own, so that UDP 500 is free on them.
        byte x = (byte)Random.Shared.Next(1, 255);
        byte y = (byte)Random.Shared.Next(1, 254);
        _a = new IPAddress([127, 73, x, y]);
        _b = new IPAddress([127, 73, x, (byte)(y + 1)]);
    }

    private void Log(string line)
    {
        lock (_logLock)
        {
            _log.Add(line);
        }
    }

    private string Logged()
    {
        lock (_logLock)
        {
            return string.Join("\n", _log);
        }
    }

    private static IkePeerConfig Psk(string secret, string me, string peer) =>
        new(null, [], null, [], [])
        {
            PreSharedKey = System.Text.Encoding.UTF8.GetBytes(secret),
            LocalId = IkeIdentity.FromFqdn(me),
            RemoteIds = [RemoteIdentity.Fqdn(peer)],
        };

    /// <summary>A tunnel from <paramref name="local"/> to <paramref name="remote"/> on an endpoint of its own.</summary>
    private Tunnel Start(IPAddress local, IPAddress remote, string localNet, string remoteNet, IkePeerConfig config, TunnelOptions options)
    {
        var settings = new ForegroundTunnelSettings
        {
            Local = local,
            Remote = remote,
            Device = "cgtest",
            LocalSubnets = [IpPrefix.Parse(localNet)],
            RemoteSubnets = [IpPrefix.Parse(remoteNet)],
        };
        var endpoint = new IkeEndpoint(local, TimeProvider.System, Log);
        _endpoints.Add(endpoint);
        endpoint.Start();
        IkePeerConfig full = config with
        {
            LocalTs = [TunnelRuntime.WireSelector(IpPrefix.Parse(localNet))],
            RemoteTs = [TunnelRuntime.WireSelector(IpPrefix.Parse(remoteNet))],
        };
        var tunnel = new Tunnel(ForegroundTunnel.Plan(settings), new MemoryDataPlane(), endpoint, 1, _ => full, Log, TimeProvider.System, options);
        _tunnels.Add(tunnel);
        tunnel.Start();
        return tunnel;
    }

    private static readonly TunnelOptions OnceInitiator = new() { Role = IkeRole.Initiator, Once = true };
    private static readonly TunnelOptions OnceResponder = new() { Role = IkeRole.Responder, Once = true };
    private static readonly TunnelOptions Responder = new() { Role = IkeRole.Responder };

    [Fact]
    public async Task OnceInitiator_RefusedByThePeer_EndsWithTheReason_AndTheRespondersTunnelTellsIt()
    {
        Tunnel b = Start(_b, _a, "10.2.0.0/16", "10.1.0.0/16", Psk("the responder's key, 32 octets..", "b.test", "a.test"), Responder);
        Tunnel a = Start(_a, _b, "10.1.0.0/16", "10.2.0.0/16", Psk("the initiator's key, 32 octets..", "a.test", "b.test"), OnceInitiator);

        TunnelEnd end = await a.Ended.WaitAsync(Deadline);

        Assert.False(end.WasUp);
        Assert.Contains("AUTHENTICATION_FAILED", end.Reason, StringComparison.Ordinal);
        // The responder's SA closed before it was up: its tunnel shows why while it waits for the next attempt.
        await Eventually(() => b.Status().LastError is not null);
        Assert.Contains("shared-key AUTH does not verify", b.Status().LastError, StringComparison.Ordinal);
        Assert.False(b.Ended.IsCompleted);
        // One negotiation: no second IKE_SA_INIT after the refusal.
        Assert.Single(Occurrences(Logged(), "initiating IKE_SA_INIT"));
    }

    [Fact]
    public async Task OnceResponder_ThePeersAttemptFails_EndsWithTheReason()
    {
        Tunnel b = Start(_b, _a, "10.2.0.0/16", "10.1.0.0/16", Psk("the responder's key, 32 octets..", "b.test", "a.test"), OnceResponder);
        Start(_a, _b, "10.1.0.0/16", "10.2.0.0/16", Psk("the initiator's key, 32 octets..", "a.test", "b.test"), OnceInitiator);

        TunnelEnd end = await b.Ended.WaitAsync(Deadline);

        Assert.False(end.WasUp);
        Assert.Contains("shared-key AUTH does not verify", end.Reason, StringComparison.Ordinal);
        Assert.Null(b.Connection);
    }

    [Fact]
    public async Task OnceBothSides_UpThenTheResponderDeletes_BothEndWithTheSaGone()
    {
        const string Key = "one key for both sides, 32 octets";
        Tunnel b = Start(_b, _a, "10.2.0.0/16", "10.1.0.0/16", Psk(Key, "b.test", "a.test"), OnceResponder);
        var adopted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.Adopted += (_, _) => adopted.TrySetResult();
        Tunnel a = Start(_a, _b, "10.1.0.0/16", "10.2.0.0/16", Psk(Key, "a.test", "b.test"), OnceInitiator);

        await adopted.Task.WaitAsync(Deadline);
        await Eventually(() => a.Connection is not null);
        Assert.True(a.Status().Established);
        b.Connection!.Delete();

        TunnelEnd aEnd = await a.Ended.WaitAsync(Deadline);
        TunnelEnd bEnd = await b.Ended.WaitAsync(Deadline);
        Assert.True(aEnd.WasUp);
        Assert.Equal("deleted by the peer", aEnd.Reason);
        Assert.True(bEnd.WasUp);
        Assert.Single(Occurrences(Logged(), "initiating IKE_SA_INIT"));
    }

    private async Task Eventually(Func<bool> condition)
    {
        DateTime until = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "the condition did not hold in time\n" + Logged());
            await Task.Delay(50);
        }
    }

    private static IEnumerable<int> Occurrences(string text, string what)
    {
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + 1, StringComparison.Ordinal))
        {
            yield return i;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (IAsyncDisposable t in _tunnels)
        {
            await t.DisposeAsync();
        }
        foreach (IDisposable e in _endpoints)
        {
            e.Dispose();
        }
    }
}
