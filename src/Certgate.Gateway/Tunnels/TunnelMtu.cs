using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using Certgate.Esp.Dataplane;

namespace Certgate.Gateway.Tunnels;

/// <summary>
/// The default MTU of a service set's inside (TUN) device when <c>ipsec-vpn-options tunnel-mtu</c> is not set: the
/// outer MTU of the local-gateway's interface less the worst-case ESP-in-UDP overhead, so a full-size inner packet
/// is never fragmented by the outer IP layer (docs/decisions.md, "Tunnel MTU").
/// </summary>
public static class TunnelMtu
{
    /// <summary>The outer MTU assumed where the local-gateway's interface is unknown or is loopback.</summary>
    public const int FallbackOuterMtu = 1500;

    /// <summary>The inside MTU for a set whose tunnels leave from <paramref name="local"/> (null: none yet).</summary>
    public static int Default(IPAddress? local) =>
        EspDataPlane.InnerMtu(local is null ? FallbackOuterMtu : OuterMtu(local), local?.AddressFamily ?? System.Net.Sockets.AddressFamily.InterNetwork);

    /// <summary>
    /// The MTU of the interface that holds <paramref name="local"/>; <see cref="FallbackOuterMtu"/> when no interface
    /// holds it (not configured yet) or it is loopback (its 65,536 says nothing about the path to a peer).
    /// </summary>
    public static int OuterMtu(IPAddress local)
    {
        try
        {
            foreach (NetworkInterface ni in NetworkInterface.GetAllNetworkInterfaces())
            {
                if (ni.NetworkInterfaceType == NetworkInterfaceType.Loopback ||
                    !ni.GetIPProperties().UnicastAddresses.Any(a => a.Address.Equals(local)))
                {
                    continue;
                }
                // Read from sysfs directly: NetworkInterface reports the MTU per family and only where that family is up.
                string text = File.ReadAllText($"/sys/class/net/{ni.Name}/mtu").Trim();
                return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int mtu) && mtu >= 576 ? mtu : FallbackOuterMtu;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NetworkInformationException)
        {
            // An interface that went away between the listing and the read: the path is unknown.
        }
        return FallbackOuterMtu;
    }
}
