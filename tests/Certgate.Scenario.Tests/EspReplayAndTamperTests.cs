using System.Diagnostics;
using System.Text.Json.Nodes;
using static Certgate.Scenario.Tests.ServiceSetScenario;

namespace Certgate.Scenario.Tests;

/// <summary>Replay and tamper on the outer link (RFC 4303 §3.4.3, §3.4.4): an ESP packet from gw1 to gw2 captured with
/// tcpdump, sent again, and sent with one bit of its sequence number flipped.</summary>
[Collection(ServiceSetScenario.Collection)]
public sealed class EspReplayAndTamperTests
{
    /// <summary>The dropped-packet counts gw reports for its tunnel, by reason.</summary>
    private static Dictionary<string, long> Drops(string dll, string state)
    {
        JsonNode json = JsonNode.Parse(CertgateCli(dll, state, "show", "services", "ipsec-vpn", "ipsec", "security-associations", "|", "display", "json"))!;
        return json["ipsec-security-associations"]![0]!["dropped-packets"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<long>());
    }

    /// <summary>The UDP payload of the only packet in a pcap file of an Ethernet link.</summary>
    /// <summary>Where the ESP header of the one raw-ESP frame of a pcap file starts, and where the packet ends.</summary>
    private static (int Esp, int End) EspInCapture(byte[] pcap)
    {
        const int GlobalHeader = 24, RecordHeader = 16, Ethernet = 14;
        Assert.True(pcap.Length > GlobalHeader + RecordHeader + Ethernet + 28, $"the capture holds no packet ({pcap.Length} octets)");
        Assert.Equal(1u, BitConverter.ToUInt32(pcap, 20)); // LINKTYPE_ETHERNET
        int captured = BitConverter.ToInt32(pcap, GlobalHeader + 8);
        int ip = GlobalHeader + RecordHeader + Ethernet;
        Assert.Equal(50, pcap[ip + 9]); // raw ESP: the gateways saw no NAT
        return (ip + (pcap[ip] & 0x0F) * 4, GlobalHeader + RecordHeader + captured);
    }

    [Fact]
    public void InterfaceServiceSet_ReplayedAndTamperedEspFromTheOuterLink_Dropped_CountedByReason_Shown()
    {
        string dll = NetNamespaces.CertgateDll();
        string dir = Directory.CreateTempSubdirectory("certgate-replay-").FullName;
        using var net = new NetNamespaces();
        try
        {
            (string ns1, string ns2, string h1, _, string wan1, string wan2, _, _, string[] states) = InterfaceScenario(net, dll, dir);
            string pcap = Path.Combine(dir, "esp.pcap");
            // Only ESP from gw1: raw ESP (protocol 50), as two gateways that see no NAT use (RFC 7296 §2.23).
            Process capture = net.Start(ns2, "tcpdump", "-i", wan2, "-n", "-U", "-c", "1", "-w", pcap,
                "ip proto 50 and src host 10.88.0.1 and greater 100");
            net.WaitFor(capture, "listening on", 10);
            Assert.Contains("1 received", NetNamespaces.Run("ip", "netns", "exec", h1, "ping", "-c", "1", "-W", "2", "-I", "172.30.1.10", "172.30.2.10"));
            Assert.True(capture.WaitForExit(10_000), $"tcpdump captured no ESP packet: {net.OutputOf(capture)}");
            byte[] frame = File.ReadAllBytes(pcap);
            (int esp, int end) = EspInCapture(frame);
            Assert.True(end - esp > 8 + 16, $"captured {end - esp} octets of ESP, too short");

            Dictionary<string, long> before = Drops(dll, states[1]);
            (ulong In, ulong Out) packets = EspPackets(dll, states[1]);
            string replay = Path.Combine(dir, "replay.bin");
            string tamper = Path.Combine(dir, "tamper.bin");
            File.WriteAllBytes(replay, frame);
            byte[] flipped = (byte[])frame.Clone();
            // The sequence number's top bit: the packet is new to the replay window (right of it), so it reaches the
            // integrity check, which the ICV (covering the ESP header) must fail. (The IP checksum covers the header
            // only, so the frame is still delivered.)
            flipped[esp + 4] ^= 0x80;
            File.WriteAllBytes(tamper, flipped);
            foreach (string file in new[] { replay, tamper })
            {
                // The captured frame, sent again as it was from gw1's outer interface (same addresses, same MACs).
                NetNamespaces.Run("ip", "netns", "exec", ns1, "tcpreplay", "-q", "-i", wan1, file);
            }
            Dictionary<string, long> after = before;
            for (int i = 0; i < 100 && (after["Replayed"] == before["Replayed"] || after["AuthenticationFailed"] == before["AuthenticationFailed"]); i++)
            {
                Thread.Sleep(50);
                after = Drops(dll, states[1]);
            }
            Assert.Equal(before["Replayed"] + 1, after["Replayed"]);
            Assert.Equal(before["AuthenticationFailed"] + 1, after["AuthenticationFailed"]);
            // The other inbound reasons stay (outbound ones count what the kernel itself sends into the TUN device,
            // IPv6 router solicitations for instance).
            foreach (string reason in new[] { "UnknownSpi", "Malformed", "TooOld", "BadPadding", "InnerMismatch", "PolicyMismatch" })
            {
                Assert.True(before[reason] == after[reason], $"{reason}: {before[reason]} -> {after[reason]}");
            }
            Assert.Equal(packets.In, EspPackets(dll, states[1]).In);
            string detail = CertgateCli(dll, states[1], "show", "services", "ipsec-vpn", "ipsec", "security-associations", "detail");
            Assert.Contains($"Replayed {after["Replayed"]}", detail);
            Assert.Contains($"AuthenticationFailed {after["AuthenticationFailed"]}", detail);
            // The SA survives both: the next packets cross.
            Assert.Contains("3 received", Ping(h1, "172.30.1.10", "172.30.2.10"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
