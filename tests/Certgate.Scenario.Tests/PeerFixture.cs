namespace Certgate.Scenario.Tests;

/// <summary>
/// The base of the fixtures with a real IKE peer: the <see cref="PeerTestbed"/> they are built on and what their tests
/// read off it. A fixture makes its testbed before anything else (its constructor checks the peer is installed first,
/// then passes the testbed here), and on failure disposes itself, which stops its peer and removes the testbed.
/// </summary>
public abstract class PeerFixture : IDisposable
{
    private protected PeerFixture(PeerTestbed testbed) => Testbed = testbed;

    /// <summary>The namespaces, CA and gateway state (issue #13 §3: set up alike for every peer scenario).</summary>
    internal PeerTestbed Testbed { get; }

    public NetNamespaces Net => Testbed.Net;

    public string Dir => Testbed.Dir;

    /// <summary>The gateway's namespace.</summary>
    public string NsGate => Testbed.NsGate;

    /// <summary>The Release certgate.dll of this checkout.</summary>
    public string Dll => Testbed.Dll;

    /// <summary>The gateway's state directory.</summary>
    public string State => Testbed.State;

    /// <summary>Runs a certgate command on the gateway's state directory (outside the namespaces: files only).</summary>
    public string Certgate(params string[] args) => Testbed.Certgate(args);

    /// <summary>Stops what the fixture started in the namespaces (the peer daemon, a gateway) before they go.</summary>
    protected abstract void StopDaemons();

    public void Dispose()
    {
        StopDaemons();
        Testbed.Dispose();
        GC.SuppressFinalize(this);
    }
}
