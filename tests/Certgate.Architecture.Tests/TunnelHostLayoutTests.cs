namespace Certgate.Architecture.Tests;

/// <summary>
/// One tunnel host (issue #13 §3): the gateway daemon and <c>certgate debug ike-tunnel</c> host an IKE tunnel with the
/// same classes of Certgate.Gateway (<c>IkeEndpoint</c>, <c>Tunnel</c>; <c>ForegroundTunnel</c> sets them up for the
/// foreground). The command line builds an IKE configuration from its options and prints what the host reports: it
/// negotiates nothing, owns no IKE socket and keeps no IKE SA, so it references none of the IKE engine's session,
/// negotiation or SA types. Read from the built assembly's type and member references, so a second host in the CLI
/// fails here. Types are matched by name under <c>Certgate.Ike</c>, wherever a namespace move puts them.
/// </summary>
public sealed class TunnelHostLayoutTests
{
    private const string Cli = "certgate";
    private const string Host = "Certgate.Gateway.Tunnels.ForegroundTunnel";

    /// <summary>The IKE engine's types that run an exchange or hold an SA: what only a tunnel host touches.</summary>
    private static readonly string[] HostingTypes =
    [
        "IkeSession", "IkeConnection", "IkeSaManager", "IIkeSender", "IkeSaOptions", "IkeProfile", "IkeSa", "ChildSa",
        "EstablishedIkeSa", "IkeTransport", "TaskManager", "IkeHandshake",
    ];

    [Fact]
    public void Cli_hosts_ike_tunnels_through_the_gateway()
    {
        HashSet<(string Type, string Member)> calls = AssemblyMetadata.MemberReferences(Cli);
        Assert.Contains((Host, "Open"), calls);
        Assert.Contains((Host, "Start"), calls);
    }

    [Fact]
    public void Cli_references_no_ike_session_negotiation_or_sa_type()
    {
        HashSet<string> types = AssemblyMetadata.TypeReferences(Cli);
        Assert.Contains(types, t => t.StartsWith("Certgate.Ike.", StringComparison.Ordinal)); // configuration still comes from Ike: not an empty check
        List<string> hosting = [.. types
            .Where(t => t.StartsWith("Certgate.Ike.", StringComparison.Ordinal) && HostingTypes.Contains(t[(t.LastIndexOf('.') + 1)..]))
            .Order(StringComparer.Ordinal)];
        Assert.True(hosting.Count == 0, $"{Cli} uses {string.Join(", ", hosting)}: host IKE tunnels through {Host} (the gateway's IkeEndpoint and Tunnel)");
    }
}
