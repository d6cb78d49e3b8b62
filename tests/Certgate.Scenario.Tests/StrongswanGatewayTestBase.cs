using System.Diagnostics;

namespace Certgate.Scenario.Tests;

/// <summary>
/// The xUnit collection of the gateway-daemon-against-strongSwan test classes: they share one
/// <see cref="StrongswanFixture"/> and run one after another, as the cases of one class did before (issue #13 §3).
/// </summary>
[CollectionDefinition(StrongswanGatewayTestBase.Collection)]
public sealed class StrongswanGatewayCollection : ICollectionFixture<StrongswanFixture>;

/// <summary>
/// What the gateway daemon test classes against charon (<see cref="StrongswanGatewayTests"/>,
/// <see cref="StrongswanGatewayRekeyTests"/>, <see cref="StrongswanGatewayTrafficSelectorTests"/>) do alike: the
/// next-hop service set, committing it and starting <c>certgate gateway run</c>, charon's RSA connection, and waiting
/// for the gateway's lines.
/// </summary>
public abstract class StrongswanGatewayTestBase(StrongswanFixture fixture)
{
    /// <summary>The name of <see cref="StrongswanGatewayCollection"/>.</summary>
    public const string Collection = "strongswan-gateway";

    /// <summary>The shared namespaces, CA and charon.</summary>
    protected StrongswanFixture f { get; } = fixture;

    protected Charon Charon => f.Charon;

    protected const string Policies = """
        set security pki ca-profile test ca-identity test
        set services ipsec-vpn ike proposal ike-cert authentication-method rsa-signatures
        set services ipsec-vpn ike proposal ike-cert dh-group group19
        set services ipsec-vpn ike proposal ike-cert authentication-algorithm sha-256
        set services ipsec-vpn ike proposal ike-cert encryption-algorithm aes-256-gcm
        set services ipsec-vpn ike policy ike-cert-pol version 2
        set services ipsec-vpn ike policy ike-cert-pol proposals ike-cert
        set services ipsec-vpn ike policy ike-cert-pol local-certificate cg-rsa
        set services ipsec-vpn ipsec proposal esp-gcm protocol esp
        set services ipsec-vpn ipsec proposal esp-gcm encryption-algorithm aes-256-gcm
        set services ipsec-vpn ipsec policy esp-pol proposals esp-gcm
        set services ipsec-vpn rule rule-ike term t1 from source-address 10.77.2.0/24
        set services ipsec-vpn rule rule-ike term t1 from destination-address 10.77.1.0/24
        set services ipsec-vpn rule rule-ike term t1 then remote-gateway 10.66.0.1
        set services ipsec-vpn rule rule-ike term t1 then dynamic ike-policy ike-cert-pol
        set services ipsec-vpn rule rule-ike term t1 then dynamic ipsec-policy esp-pol

        """;

    protected const string NextHop = Policies + """
        set services ipsec-vpn rule rule-ike match-direction input
        set interfaces ms-0/0/0 unit 1 family inet address 10.77.2.1/32
        set interfaces ms-0/0/0 unit 1 service-domain inside
        set interfaces ms-0/0/0 unit 2 family inet
        set interfaces ms-0/0/0 unit 2 service-domain outside
        set services service-set ipsec-1 next-hop-service inside-service-interface ms-0/0/0.1
        set services service-set ipsec-1 next-hop-service outside-service-interface ms-0/0/0.2
        set services service-set ipsec-1 ipsec-vpn-options local-gateway 10.66.0.2
        set services service-set ipsec-1 ipsec-vpn-options trusted-ca test
        set services service-set ipsec-1 ipsec-vpn-rules rule-ike
        set routing-options static route 10.77.1.0/24 next-hop ms-0/0/0.1
        commit

        """;

    protected void ConfigureCharon() => f.LoadRsaConnection("10.77.1.0/24", "10.77.2.0/24");

    /// <summary>
    /// Commits <paramref name="nextHop"/> (written to <paramref name="file"/> in the fixture's directory) and starts
    /// the gateway daemon. The fixture's configuration may hold the interface service set of another test: set then
    /// delete makes the deletes valid whichever ran first.
    /// </summary>
    protected Process StartNextHopGateway(string file, string nextHop)
    {
        string wan = $"v{f.Net.Tag}b1";
        string config = Path.Combine(f.Dir, file);
        File.WriteAllText(config, $"""
            set services service-set ss-if ipsec-vpn-rules rule-ike
            delete services service-set ss-if
            set interfaces sp-0/0/0 unit 0 family inet
            delete interfaces sp-0/0/0
            set interfaces {wan} unit 0 family inet
            delete interfaces {wan}

            """ + nextHop);
        f.Certgate("configure", "-f", config);
        return f.Net.Start(f.NsGate, "dotnet", f.Dll, "--state", f.State, "gateway", "run");
    }

    protected string Why(Process gate) => $"\n--- certgate ---\n{f.Net.OutputOf(gate)}\n{Charon.LogTail()}";

    protected void WaitFor(Process gate, string text, int count)
    {
        for (int i = 0; i < 600; i++)
        {
            if (f.Net.OutputOf(gate).Split(text).Length - 1 >= count)
            {
                return;
            }
            Thread.Sleep(50);
        }
        Assert.Fail($"'{text}' did not appear {count} time(s) within 30 s{Why(gate)}");
    }
}
