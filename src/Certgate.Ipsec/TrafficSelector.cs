using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Certgate.Net.Addressing;

namespace Certgate.Ipsec;

/// <summary>
/// One traffic selector (RFC 7296 §3.13.1): an address range of one family, an IP protocol (0 = any) and a port
/// range. Addresses are kept as 128-bit integers so that the packet path matches without allocating.
/// </summary>
public sealed record TrafficSelector
{
    /// <summary>Any IPv4 address, any protocol, any port.</summary>
    public static TrafficSelector AnyIPv4 { get; } = new(IPAddress.Any, IPAddress.Broadcast);

    /// <summary>Any IPv6 address, any protocol, any port.</summary>
    public static TrafficSelector AnyIPv6 { get; } = new(IPAddress.IPv6Any, IPAddress.Parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));

    /// <summary>A range selector; <paramref name="start"/> and <paramref name="end"/> must be of one family, start ≤ end.</summary>
    /// <exception cref="ArgumentException">Mixed families, or the range or port range is reversed.</exception>
    public TrafficSelector(IPAddress start, IPAddress end, byte ipProtocol = 0, ushort startPort = 0, ushort endPort = 65535)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(end);
        if (start.AddressFamily != end.AddressFamily || start.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"a traffic selector's addresses are one family (IPv4 or IPv6), not {start} and {end}", nameof(end));
        }
        Start = start;
        End = end;
        IsIPv6 = start.AddressFamily == AddressFamily.InterNetworkV6;
        Low = ToInteger(start);
        High = ToInteger(end);
        if (Low > High)
        {
            throw new ArgumentException($"the address range {start}-{end} is reversed", nameof(end));
        }
        if (startPort > endPort)
        {
            throw new ArgumentException($"the port range {startPort}-{endPort} is reversed", nameof(endPort));
        }
        IpProtocol = ipProtocol;
        StartPort = startPort;
        EndPort = endPort;
    }

    /// <summary>The selector covering exactly <paramref name="prefix"/> (any protocol and port unless given).</summary>
    public static TrafficSelector FromPrefix(IpPrefix prefix, byte ipProtocol = 0) => new(prefix.First, prefix.Last, ipProtocol);

    public IPAddress Start { get; }

    public IPAddress End { get; }

    /// <summary>IP protocol number (RFC 7296: 0 means any).</summary>
    public byte IpProtocol { get; }

    public ushort StartPort { get; }

    public ushort EndPort { get; }

    public bool IsIPv6 { get; }

    internal UInt128 Low { get; }

    internal UInt128 High { get; }

    /// <summary>Whether an address (of the packet's family) with this protocol and port is covered.</summary>
    internal bool Covers(bool ipv6, UInt128 address, byte protocol, int port)
    {
        if (ipv6 != IsIPv6 || address < Low || address > High)
        {
            return false;
        }
        if (IpProtocol != 0 && IpProtocol != protocol)
        {
            return false;
        }
        // port < 0: the packet has no port (another protocol, or a non-first fragment): only "any port" covers it.
        return port < 0 ? StartPort == 0 && EndPort == 65535 : port >= StartPort && port <= EndPort;
    }

    /// <summary>Whether <paramref name="address"/> (any protocol, any port) lies in the range.</summary>
    public bool Contains(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        bool v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        return v6 == IsIPv6 && ToInteger(address) is var a && a >= Low && a <= High;
    }

    internal static UInt128 ToInteger(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out int written);
        return written == 4 ? BinaryPrimitives.ReadUInt32BigEndian(bytes) : BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }

    /// <inheritdoc />
    public override string ToString()
    {
        string range = Start.Equals(End) ? Start.ToString() : $"{Start}-{End}";
        string protocol = IpProtocol == 0 ? "" : $" proto {IpProtocol.ToString(CultureInfo.InvariantCulture)}";
        string ports = StartPort == 0 && EndPort == 65535 ? "" : $" port {StartPort.ToString(CultureInfo.InvariantCulture)}-{EndPort.ToString(CultureInfo.InvariantCulture)}";
        return range + protocol + ports;
    }
}
