using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Certgate.Cli.Commands;
using Certgate.Cli.Pki;
using Certgate.Gateway.Tunnels;

namespace Certgate.Cli.Services;

/// <summary>
/// <c>show|clear services ipsec-vpn ike|ipsec security-associations</c> (reference §2.9). The SAs live in the
/// daemon (<c>certgate gateway run</c>), so these commands run there over the control socket; without a daemon
/// they say so. The brief IKE view has Junos's shape: the Initiator/Responder cookie columns are the current IKE SA's
/// SPIs (RFC 7296 §3.1; IKEv1 called them cookies), the same pair on both gateways and in <c>swanctl --list-sas</c>,
/// new after each IKE rekey; the Child SA's SPIs are in the detail view, the IPsec view and the JSON.
/// </summary>
internal sealed class IpsecVpnMonitorCommands : ICommandModule
{
    public void Register(CommandTable table)
    {
        table.Add("show services ipsec-vpn ike security-associations", "[brief|detail] [PEER-ADDRESS]", ShowIke);
        table.Add("show services ipsec-vpn ipsec security-associations", "[brief|detail] [SERVICE-SET]", ShowIpsec);
        table.Add("clear services ipsec-vpn ike security-associations", "[PEER-ADDRESS] (tear down and negotiate again)", (c, a) => Clear(c, a, "ike"));
        table.Add("clear services ipsec-vpn ipsec security-associations", "[remote-gateway IP] (new IPsec SAs in the IKE SA, CREATE_CHILD_SA)", (c, a) => Clear(c, a, "ipsec"));
    }

    private static TunnelRuntime Runtime(CommandContext ctx, string command) =>
        CertgateCli.Daemon?.Tunnels
        ?? throw new UserException($"{command}: no gateway running on {ctx.StateDirectory}; SAs exist only while 'certgate gateway run' runs", 3);

    private static (bool Detail, string? Filter) Options(Arguments args, string command)
    {
        bool detail = false;
        string? filter = null;
        foreach (string word in args.TakeRest())
        {
            switch (word)
            {
                case "detail":
                    detail = true;
                    break;
                case "brief":
                    detail = false;
                    break;
                default:
                    if (filter is not null)
                    {
                        throw new UserException($"{command}: unexpected '{word}' (expected brief, detail and one filter)", 2);
                    }
                    filter = word;
                    break;
            }
        }
        return (detail, filter);
    }

    private static int ShowIke(CommandContext ctx, Arguments args)
    {
        const string command = "show services ipsec-vpn ike security-associations";
        (bool detail, string? peer) = Options(args, command);
        IPAddress? only = peer is null ? null : IPAddress.TryParse(peer, out IPAddress? a) ? a
            : throw new UserException($"{command}: peer address '{peer}': expected an IP address", 2);
        IReadOnlyList<TunnelStatus> tunnels = [.. Runtime(ctx, command).Snapshot().Where(t => only is null || t.RemoteAddress.Equals(only))];
        var text = new StringBuilder();
        var items = new JsonArray();
        // Junos' 16 columns fit an IPv4 address; an IPv6 peer widens the column so the state stays apart from it.
        int width = Math.Max(16, tunnels.Select(t => t.RemoteAddress.ToString().Length + 2).DefaultIfEmpty(0).Max());
        if (!detail && tunnels.Count > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"{"Remote Address".PadRight(width)}{"State",-14}{"Initiator cookie",-18}{"Responder cookie",-18}Exchange type");
        }
        foreach (TunnelStatus t in tunnels)
        {
            string state = t.Established ? "Matured" : "Not matured";
            items.Add(new JsonObject
            {
                ["remote-address"] = t.RemoteAddress.ToString(),
                ["local-address"] = t.LocalAddress.ToString(),
                ["service-set"] = t.Id.ServiceSet,
                ["state"] = state,
                ["initiator-spi"] = Hex(t.InitiatorSpi),
                ["responder-spi"] = Hex(t.ResponderSpi),
                ["exchange-type"] = "IKEv2",
                ["role"] = t.Role.ToString(),
                ["local-identity"] = t.LocalIdentity,
                ["remote-identity"] = t.PeerIdentity,
                ["algorithms"] = t.IkeAlgorithms,
                ["authentication-method"] = t.LocalAuthMethod,
                ["peer-authentication-method"] = t.PeerAuthMethod,
                ["nat-traversal"] = t.NatDetected,
                ["lifetime-seconds"] = (long)t.IkeLifetime.TotalSeconds,
                ["ike-initiator-spi"] = t.IkeInitiatorSpi.ToString("x16", CultureInfo.InvariantCulture),
                ["ike-responder-spi"] = t.IkeResponderSpi.ToString("x16", CultureInfo.InvariantCulture),
                ["lifetime-remaining-seconds"] = Remaining(t.IkeSaSince, t.IkeLifetime),
                ["last-error"] = t.LastError,
                ["not-started"] = t.NotStarted,
            });
            if (!detail)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"{t.RemoteAddress.ToString().PadRight(width)}{state,-14}{t.IkeInitiatorSpi.ToString("x16", CultureInfo.InvariantCulture),-18}{t.IkeResponderSpi.ToString("x16", CultureInfo.InvariantCulture),-18}IKEv2");
                continue;
            }
            text.AppendLine(CultureInfo.InvariantCulture, $"IKE peer {t.RemoteAddress}, service set: {t.Id.ServiceSet}");
            text.AppendLine(CultureInfo.InvariantCulture, $"  Role: {t.Role}, State: {state}");
            text.AppendLine(CultureInfo.InvariantCulture, $"  Initiator cookie: {t.IkeInitiatorSpi:x16}, Responder cookie: {t.IkeResponderSpi:x16}");
            text.AppendLine(CultureInfo.InvariantCulture, $"  IPsec SA SPIs: initiator {Hex(t.InitiatorSpi)}, responder {Hex(t.ResponderSpi)}");
            text.AppendLine("  Exchange type: IKEv2");
            // IPEndPoint brackets an IPv6 address ([fd00::1]:500), so the port cannot be read as part of it.
            text.AppendLine(CultureInfo.InvariantCulture, $"  Local: {new IPEndPoint(t.LocalAddress, 500)}, Remote: {new IPEndPoint(t.RemoteAddress, 500)}");
            text.AppendLine(CultureInfo.InvariantCulture, $"  Local identity: {t.LocalIdentity ?? "-"}");
            text.AppendLine(CultureInfo.InvariantCulture, $"  Remote identity: {t.PeerIdentity ?? "-"}");
            text.AppendLine(CultureInfo.InvariantCulture, $"  Authentication method: {t.LocalAuthMethod ?? "-"} (peer: {t.PeerAuthMethod ?? "-"})");
            text.AppendLine(CultureInfo.InvariantCulture, $"  Algorithms: {t.IkeAlgorithms ?? "-"}");
            text.AppendLine(CultureInfo.InvariantCulture, $"  NAT traversal: {(t.NatDetected ? "NAT detected, UDP 4500" : "no NAT")}");
            text.AppendLine(CultureInfo.InvariantCulture, $"  Lifetime: {(long)t.IkeLifetime.TotalSeconds} seconds, remaining: {Remaining(t.IkeSaSince, t.IkeLifetime)?.ToString(CultureInfo.InvariantCulture) ?? "-"} seconds (rekeyed before)");
            if (t.NotStarted is not null)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  Not started: {t.NotStarted}");
            }
            if (t.LastError is not null)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  Last error: {t.LastError}");
            }
            text.AppendLine();
        }
        Write(ctx, "ike-security-associations", items, tunnels.Count == 0 ? "No IKE SAs (no IPsec service set is configured)" + Environment.NewLine : text.ToString());
        return 0;
    }

    private static int ShowIpsec(CommandContext ctx, Arguments args)
    {
        const string command = "show services ipsec-vpn ipsec security-associations";
        (bool detail, string? set) = Options(args, command);
        IReadOnlyList<TunnelStatus> tunnels = [.. Runtime(ctx, command).Snapshot().Where(t => set is null || t.Id.ServiceSet == set)];
        var text = new StringBuilder();
        var items = new JsonArray();
        int index = 0;
        foreach (TunnelStatus t in tunnels)
        {
            index++;
            var sas = new JsonArray();
            text.AppendLine(CultureInfo.InvariantCulture, $"Service set: {t.Id.ServiceSet}, IKE Routing-instance: default");
            text.AppendLine(CultureInfo.InvariantCulture, $"  Rule: {t.Id.Rule}, Term: {t.Id.Term}, Tunnel index: {index}");
            text.AppendLine(CultureInfo.InvariantCulture, $"  Local gateway: {t.LocalAddress}, Remote gateway: {t.RemoteAddress}");
            text.AppendLine(CultureInfo.InvariantCulture, $"  Local identity: {SubnetIdentity(t.LocalSelector)}");
            text.AppendLine(CultureInfo.InvariantCulture, $"  Remote identity: {SubnetIdentity(t.RemoteSelector)}");
            if (detail)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  IPsec inside interface: {t.Device}, {(t.NatDetected ? "UDP encapsulation: port 4500" : "ESP (IP protocol 50), no NAT")}");
                if (t.NegotiatedLocalSelector is not null)
                {
                    // What the peers agreed on (RFC 7296 §2.9 narrowing), which may be narrower than the configured identities above.
                    text.AppendLine(CultureInfo.InvariantCulture, $"  Negotiated traffic selectors: local {t.NegotiatedLocalSelector}, remote {t.NegotiatedRemoteSelector}");
                }
            }
            if (t.Inbound is null || t.Outbound is null)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"    No SAs: {(t.NotStarted is not null ? "not started: " + t.NotStarted : t.LastError is null ? "negotiating" : "negotiation failed: " + t.LastError)}");
            }
            else
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"    {"Direction",-11}{"SPI",-12}{"AUX-SPI",-9}{"Mode",-8}{"Type",-9}{"Protocol",-10}{"Packets",-10}Bytes");
                foreach ((string direction, IpsecSaStatus sa) in new[] { ("inbound", t.Inbound), ("outbound", t.Outbound) })
                {
                    text.AppendLine(CultureInfo.InvariantCulture, $"    {direction,-11}{sa.Spi,-12}{0,-9}{"tunnel",-8}{"dynamic",-9}{"ESP",-10}{sa.Packets,-10}{sa.Bytes}");
                    sas.Add(new JsonObject
                    {
                        ["direction"] = direction,
                        ["spi"] = sa.Spi,
                        ["spi-hex"] = Hex(sa.Spi),
                        ["mode"] = "tunnel",
                        ["type"] = "dynamic",
                        ["protocol"] = "ESP",
                        ["algorithms"] = t.EspAlgorithms,
                        ["packets"] = sa.Packets,
                        ["bytes"] = sa.Bytes,
                    });
                }
                if (detail)
                {
                    text.AppendLine(CultureInfo.InvariantCulture, $"    Algorithms: {t.EspAlgorithms}, lifetime {(long)t.IpsecLifetime.TotalSeconds} seconds, remaining {Remaining(t.ChildSaSince, t.IpsecLifetime)} seconds (rekeyed before)");
                    text.AppendLine(CultureInfo.InvariantCulture, $"    Extended sequence numbers: {(t.ExtendedSequenceNumbers ? "enabled" : "disabled")}");
                }
            }
            if (detail && t.Drops.Count > 0)
            {
                // Counted by the data plane of the local-gateway address, which all its tunnels share.
                text.AppendLine(CultureInfo.InvariantCulture, $"    Dropped packets (local-gateway {t.LocalAddress}): {string.Join(", ", t.Drops.Select(d => $"{d.Reason} {d.Packets}"))}");
            }
            text.AppendLine();
            items.Add(new JsonObject
            {
                ["service-set"] = t.Id.ServiceSet,
                ["rule"] = t.Id.Rule,
                ["term"] = t.Id.Term,
                ["tunnel-index"] = index,
                ["local-gateway"] = t.LocalAddress.ToString(),
                ["remote-gateway"] = t.RemoteAddress.ToString(),
                ["local-selector"] = t.LocalSelector,
                ["remote-selector"] = t.RemoteSelector,
                ["negotiated-local-selector"] = t.NegotiatedLocalSelector,
                ["negotiated-remote-selector"] = t.NegotiatedRemoteSelector,
                ["inside-interface"] = t.Device,
                ["algorithms"] = t.EspAlgorithms,
                ["extended-sequence-numbers"] = t.ExtendedSequenceNumbers,
                ["lifetime-seconds"] = (long)t.IpsecLifetime.TotalSeconds,
                ["security-associations"] = sas,
                ["dropped-packets"] = new JsonObject(t.Drops.Select(d => KeyValuePair.Create(d.Reason, (JsonNode?)d.Packets))),
            });
        }
        Write(ctx, "ipsec-security-associations", items, tunnels.Count == 0 ? "No IPsec SAs (no IPsec service set is configured)" + Environment.NewLine : text.ToString());
        return 0;
    }

    /// <summary>
    /// A selector as Junos shows a proxy identity: the ID type and the octet range of its data, an address and a mask
    /// (8 octets for IPv4, 32 for IPv6: ID_IPV4_ADDR_SUBNET / ID_IPV6_ADDR_SUBNET, RFC 2407 §4.6.2.1).
    /// </summary>
    private static string SubnetIdentity(string selector) => selector.Contains(':', StringComparison.Ordinal)
        ? $"ipv6_subnet(any:0,[0..31]={selector})"
        : $"ipv4_subnet(any:0,[0..7]={selector})";

    private static int Clear(CommandContext ctx, Arguments args, string kind)
    {
        string command = $"clear services ipsec-vpn {kind} security-associations";
        string? peer = kind == "ipsec" ? args.Optional("remote-gateway") : null;
        IReadOnlyList<string> rest = args.TakeRest();
        if (rest.Count > (kind == "ike" ? 1 : 0))
        {
            throw new UserException($"{command}: unexpected '{string.Join(' ', rest)}' (expected {(kind == "ike" ? "one peer address" : "remote-gateway IP")})", 2);
        }
        peer ??= rest.FirstOrDefault();
        IPAddress? only = peer is null ? null : IPAddress.TryParse(peer, out IPAddress? a) ? a
            : throw new UserException($"{command}: '{peer}': expected the peer's IP address", 2);
        int n = Runtime(ctx, command).Clear(only, ipsecOnly: kind == "ipsec");
        ctx.Out.WriteLine(n == 0
            ? $"{command}: no tunnel{(only is null ? "" : " to " + only)} to clear"
            : $"{command}: {n} tunnel(s) cleared; negotiating {(kind == "ipsec" ? "new IPsec SAs in the IKE SA" : "again")}");
        return 0;
    }

    private static void Write(CommandContext ctx, string root, JsonArray items, string text)
    {
        if (ctx.Json)
        {
            PkiView.WriteJson(ctx.Out, root, items);
        }
        else
        {
            ctx.Out.Write(text);
        }
    }

    private static string Hex(uint spi) => spi.ToString("x8", CultureInfo.InvariantCulture);

    private static long? Remaining(DateTimeOffset? since, TimeSpan lifetime) =>
        since is { } s ? Math.Max(0, (long)(lifetime - (DateTimeOffset.UtcNow - s)).TotalSeconds) : null;
}
