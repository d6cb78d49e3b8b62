using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Certgate.Gateway.Tunnels;

/// <summary>Whether a local-gateway address can carry IKE and ESP now.</summary>
internal interface ILocalAddressProbe
{
    /// <summary>Null when <paramref name="address"/> is usable; otherwise why not, in one line (tentative, not
    /// configured, its interface down).</summary>
    string? WhyNotUsable(IPAddress address);
}

/// <summary>
/// Linux: the address must be on an interface that is not down and, for IPv6, past duplicate address detection
/// (RFC 4862 §5.4: a tentative address is not assigned to the interface yet, so bind(2) answers EADDRNOTAVAIL and
/// packets sent to it are dropped). IPv6 address flags come from <c>/proc/net/if_inet6</c>, interfaces and their
/// IPv4 and IPv6 addresses from the network namespace the gateway runs in.
/// </summary>
internal sealed class LocalAddressProbe : ILocalAddressProbe
{
    private const string Inet6Path = "/proc/net/if_inet6";

    // include/uapi/linux/if_addr.h
    private const int IfaFlagDadFailed = 0x08;
    private const int IfaFlagTentative = 0x40;

    public string? WhyNotUsable(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && File.Exists(Inet6Path)
            && Inet6Flags(File.ReadAllText(Inet6Path), address) is { } flags)
        {
            if ((flags & IfaFlagDadFailed) != 0)
            {
                return "duplicate address detection failed (another host on the link has the address)";
            }
            if ((flags & IfaFlagTentative) != 0)
            {
                return "the address is tentative (duplicate address detection has not finished)";
            }
        }
        NetworkInterface? nic = NetworkInterface.GetAllNetworkInterfaces()
            .FirstOrDefault(n => n.GetIPProperties().UnicastAddresses.Any(u => SameAddress(u.Address, address)));
        if (nic is null)
        {
            return "the address is not configured on any interface of this host";
        }
        // TUN, loopback and dummy devices report "unknown": only a state that says down refuses.
        if (nic.OperationalStatus is OperationalStatus.Down or OperationalStatus.LowerLayerDown or OperationalStatus.NotPresent)
        {
            return $"its interface {nic.Name} is {nic.OperationalStatus.ToString().ToLowerInvariant()}";
        }
        return null;
    }

    /// <summary>The flags of <paramref name="address"/> in the text of <c>/proc/net/if_inet6</c> (one address a line:
    /// 32 hex digits, ifindex, prefix length, scope, flags, device), or null when it is not there.</summary>
    internal static int? Inet6Flags(string procText, IPAddress address)
    {
        string hex = Convert.ToHexStringLower(address.GetAddressBytes());
        foreach (string line in procText.Split('\n'))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 6 && f[0].Length == 32 && string.Equals(f[0], hex, StringComparison.OrdinalIgnoreCase)
                && int.TryParse(f[4], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int flags))
            {
                return flags;
            }
        }
        return null;
    }

    private static bool SameAddress(IPAddress a, IPAddress b) =>
        a.AddressFamily == b.AddressFamily && a.GetAddressBytes().AsSpan().SequenceEqual(b.GetAddressBytes());
}
