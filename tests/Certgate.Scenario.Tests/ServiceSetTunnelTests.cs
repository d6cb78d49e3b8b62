using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Certgate.Pki.Revocation;
using static Certgate.Scenario.Tests.ServiceSetScenario;

namespace Certgate.Scenario.Tests;

/// <summary>
/// Issues 5 and 6 end to end: a tunnel that comes up from <c>set services …</c> + <c>commit</c> and
/// <c>certgate gateway run</c>, as on a Junos router, with no debug command.
/// <code>
///   ns 1: certgate gateway run (gw1)                             ns 2: certgate gateway run (gw2)
///   ms0-0-0-1 (TUN, ms-0/0/0.1) 172.30.1.1/24                     ms0-0-0-1 (TUN) 172.30.2.1/24
///   route 172.30.2.0/24 dev ms0-0-0-1 (static route)              route 172.30.1.0/24 dev ms0-0-0-1
///   veth 10.88.0.1/24 (local-gateway) -------------------------- veth 10.88.0.2/24 (local-gateway)
///   IKEv2 on UDP 500 (gw1 initiates: lower address), ESP in UDP 4500, certificates of one test CA + its CRL
/// </code>
/// </summary>
[Collection(ServiceSetScenario.Collection)]
public sealed class ServiceSetTunnelTests
{
    [Fact]
    public void NextHopServiceSet_Committed_TunnelUp_PingCrosses_ShowsMatchingSas_KeepsSasAcrossCommit_SigtermRemovesDevices()
    {
        string dll = NetNamespaces.CertgateDll();
        string dir = Directory.CreateTempSubdirectory("certgate-sset-").FullName;
        using var net = new NetNamespaces();
        try
        {
            string ns1 = net.Create("1");
            string ns2 = net.Create("2");
            net.Link(ns1, "10.88.0.1/24", ns2, "10.88.0.2/24");
            string[] states = [Path.Combine(dir, "gw1"), Path.Combine(dir, "gw2")];
            Provision(dll, dir, states);
            Process gw1 = net.Start(ns1, "dotnet", dll, "--state", states[0], "gateway", "run");
            Process gw2 = net.Start(ns2, "dotnet", dll, "--state", states[1], "gateway", "run");
            net.WaitFor(gw1, "IKE SA up as initiator", 90);
            net.WaitFor(gw2, "IKE SA up as responder", 30);
            Assert.Contains("route 172.30.2.0/24 dev ms0-0-0-1 installed", net.OutputOf(gw1));

            string ping = NetNamespaces.Run("ip", "netns", "exec", ns1, "ping", "-c", "3", "-W", "2", "-I", "172.30.1.1", "172.30.2.1");
            Assert.Contains("3 packets transmitted, 3 received", ping);

            (string I, string R) spis1 = IkeSpis(CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations"), "10.88.0.2");
            (string I, string R) spis2 = IkeSpis(CertgateCli(dll, states[1], "show", "services", "ipsec-vpn", "ike", "security-associations"), "10.88.0.1");
            Assert.Equal(spis1, spis2);
            string detail = CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail");
            // No local-id: each side sends its certificate's subject (docs/decisions.md "Identities").
            Assert.Contains("Local identity: CN=gw1.test, O=Certgate Test, C=CH (ID_DER_ASN1_DN)", detail);
            Assert.Contains("Remote identity: CN=gw2.test, O=Certgate Test, C=CH (ID_DER_ASN1_DN)", detail);
            Assert.Contains("Role: Initiator", detail);
            Assert.Contains($"Initiator cookie: {spis1.I}, Responder cookie: {spis1.R}", detail);
            (string I, string R) child1 = ChildSpis(detail);
            Assert.Equal(child1, ChildSpis(CertgateCli(dll, states[1], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail")));

            string ipsec = CertgateCli(dll, states[1], "show", "services", "ipsec-vpn", "ipsec", "security-associations");
            Assert.Contains("Rule: rule-ike, Term: t1", ipsec);
            JsonNode json = JsonNode.Parse(CertgateCli(dll, states[1], "show", "services", "ipsec-vpn", "ipsec", "security-associations", "|", "display", "json"))!;
            JsonArray sas = json["ipsec-security-associations"]![0]!["security-associations"]!.AsArray();
            Assert.Equal(2, sas.Count);
            Assert.All(sas, sa => Assert.True(sa!["packets"]!.GetValue<ulong>() >= 3, $"{sa["direction"]} SA counted {sa["packets"]} packets after 3 pings"));
            Assert.Equal(child1.R, sas.Single(s => (string)s!["direction"]! == "inbound")!["spi-hex"]!.GetValue<string>());

            // A commit that changes nothing the tunnel depends on: the runtime reads it and the SAs stay.
            int reads = Regex.Matches(net.OutputOf(gw1), "the plan is unchanged").Count;
            File.WriteAllText(Path.Combine(dir, "description.set"), "set interfaces eth0 description outside-link\ncommit\n");
            CertgateCli(dll, states[0], "configure", "-f", Path.Combine(dir, "description.set"));
            WaitUntil(() => Regex.Matches(net.OutputOf(gw1), "the plan is unchanged").Count > reads, "gw1 did not read the new commit", net.OutputOf(gw1));
            Assert.Equal(spis1, IkeSpis(CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations"), "10.88.0.2"));
            Assert.Contains("3 received", NetNamespaces.Run("ip", "netns", "exec", ns2, "ping", "-c", "3", "-W", "2", "-I", "172.30.2.1", "172.30.1.1"));

            // clear on the responder: it drops its SAs and initiates; gw1, listening while up, answers and replaces its SAs.
            Assert.Contains("1 tunnel(s) cleared", CertgateCli(dll, states[1], "clear", "services", "ipsec-vpn", "ike", "security-associations"));
            net.WaitFor(gw2, "IKE SA up as initiator", 30);
            WaitUntil(() => Regex.Matches(net.OutputOf(gw1), "IKE SA up as").Count == 2, "gw1 did not accept the new negotiation", net.OutputOf(gw1));
            (string I, string R) renewed = IkeSpis(CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations"), "10.88.0.2");
            Assert.NotEqual(spis1, renewed);
            Assert.Equal(renewed, IkeSpis(CertgateCli(dll, states[1], "show", "services", "ipsec-vpn", "ike", "security-associations"), "10.88.0.1"));
            (string I, string R) childRenewed = ChildSpis(CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail"));
            Assert.Contains("3 received", NetNamespaces.Run("ip", "netns", "exec", ns1, "ping", "-c", "3", "-W", "2", "-I", "172.30.1.1", "172.30.2.1"));

            // clear ipsec on gw1: new IPsec SAs by a CREATE_CHILD_SA rekey in the IKE SA that stays (#5); both agree.
            int ikeSasGone = Regex.Matches(net.OutputOf(gw1), "IKE SA gone").Count;
            Assert.Contains("negotiating new IPsec SAs in the IKE SA", CertgateCli(dll, states[0], "clear", "services", "ipsec-vpn", "ipsec", "security-associations"));
            net.WaitFor(gw1, "rekeyed to CHILD_SA", 10);
            WaitUntil(() => Regex.IsMatch(net.OutputOf(gw1), @"CHILD_SA \w+_i \w+_o: deleted\n"), "gw1 did not delete the old CHILD_SA", net.OutputOf(gw1));
            // The IKE SA stays (same cookies); the IPsec SAs are new and the same on both gateways.
            Assert.Equal(renewed, IkeSpis(CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations"), "10.88.0.2"));
            (string I, string R) childBefore = childRenewed;
            (string I, string R) rekeyed = ChildSpis(CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail"));
            Assert.NotEqual(childBefore, rekeyed);
            Assert.Equal(rekeyed, ChildSpis(CertgateCli(dll, states[1], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail")));
            Assert.Equal(ikeSasGone, Regex.Matches(net.OutputOf(gw1), "IKE SA gone").Count);
            Assert.Contains("3 received", NetNamespaces.Run("ip", "netns", "exec", ns2, "ping", "-c", "3", "-W", "2", "-I", "172.30.2.1", "172.30.1.1"));

            NetNamespaces.Stop(gw1);
            // gw1 told gw2 on its way out (one IKE DELETE): gw2 drops the SAs instead of keeping them for a dead peer.
            WaitUntil(() => net.OutputOf(gw2).Contains("IKE SA gone (deleted by the peer)", StringComparison.Ordinal), "gw2 did not hear gw1's DELETE", net.OutputOf(gw2));
            NetNamespaces.Stop(gw2);
            Console.WriteLine("gw1:\n" + net.OutputOf(gw1) + "\ngw2:\n" + net.OutputOf(gw2));
            foreach ((Process p, string ns) in new[] { (gw1, ns1), (gw2, ns2) })
            {
                Assert.True(p.ExitCode == 0, $"gateway exited {p.ExitCode}: {net.OutputOf(p)}");
                Assert.Contains($"TUN device {Device} removed", net.OutputOf(p));
                Assert.DoesNotContain(Device, NetNamespaces.Run("ip", "-n", ns, "link", "show"));
            }
            // The daemon is gone: the show command says so instead of showing stale SAs.
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { dll, "--state", states[0], "show", "services", "ipsec-vpn", "ike", "security-associations" })
            {
                psi.ArgumentList.Add(a);
            }
            using Process show = Process.Start(psi)!;
            string said = show.StandardOutput.ReadToEnd() + show.StandardError.ReadToEnd();
            show.WaitForExit();
            Assert.Equal(3, show.ExitCode);
            Assert.Contains("no gateway running", said);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void RevokedPeerCertificate_TunnelStaysDown_WithTheReason_ThenACommitWithoutTheServiceSetRemovesDeviceAndRoute()
    {
        string dll = NetNamespaces.CertgateDll();
        string dir = Directory.CreateTempSubdirectory("certgate-sset-").FullName;
        using var net = new NetNamespaces();
        try
        {
            string ns1 = net.Create("1");
            string ns2 = net.Create("2");
            net.Link(ns1, "10.88.0.1/24", ns2, "10.88.0.2/24");
            string[] states = [Path.Combine(dir, "gw1"), Path.Combine(dir, "gw2")];
            Provision(dll, dir, states, revokeGw2: true);
            Process gw1 = net.Start(ns1, "dotnet", dll, "--state", states[0], "gateway", "run");
            Process gw2 = net.Start(ns2, "dotnet", dll, "--state", states[1], "gateway", "run");
            net.WaitFor(gw1, "initiating failed", 60);
            string show = CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations", "detail");
            Assert.Contains("State: Not matured", show);
            Assert.Matches("Last error: .*revoked", show);
            Assert.Contains("No SAs: negotiation failed", CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ipsec", "security-associations"));
            Assert.Contains(Device, NetNamespaces.Run("ip", "-n", ns1, "link", "show"));
            Assert.Contains("172.30.2.0/24 dev ms0-0-0-1", NetNamespaces.Run("ip", "-n", ns1, "route", "show"));

            File.WriteAllText(Path.Combine(dir, "delete.set"), "delete services service-set ipsec-1\ndelete routing-options\ncommit\n");
            CertgateCli(dll, states[0], "configure", "-f", Path.Combine(dir, "delete.set"));
            net.WaitFor(gw1, $"TUN device {Device} (ms-0/0/0.1) removed", 20);
            Assert.Contains("1 removed", net.OutputOf(gw1));
            Assert.DoesNotContain(Device, NetNamespaces.Run("ip", "-n", ns1, "link", "show"));
            Assert.DoesNotContain("172.30.2.0/24", NetNamespaces.Run("ip", "-n", ns1, "route", "show"));
            Assert.Contains("No IKE SAs", CertgateCli(dll, states[0], "show", "services", "ipsec-vpn", "ike", "security-associations"));
            NetNamespaces.Stop(gw1);
            NetNamespaces.Stop(gw2);
            Assert.Equal(0, gw1.ExitCode);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
