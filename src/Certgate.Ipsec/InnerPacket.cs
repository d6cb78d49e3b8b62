using System.Buffers.Binary;

namespace Certgate.Ipsec;

/// <summary>
/// The fields of an inner IP packet that selectors look at, read without allocating. Ports are read only for
/// TCP, UDP and SCTP, and only from a first (or unfragmented) IPv4 fragment; otherwise the port is -1, which only an
/// any-port selector covers (RFC 4301 §4.4.1.1: OPAQUE ports).
/// </summary>
public readonly struct InnerPacket
{
    private InnerPacket(bool ipv6, UInt128 source, UInt128 destination, byte protocol, int sourcePort, int destinationPort)
    {
        IsIPv6 = ipv6;
        Source = source;
        Destination = destination;
        Protocol = protocol;
        SourcePort = sourcePort;
        DestinationPort = destinationPort;
    }

    public bool IsIPv6 { get; }

    public UInt128 Source { get; }

    public UInt128 Destination { get; }

    public byte Protocol { get; }

    public int SourcePort { get; }

    public int DestinationPort { get; }

    /// <summary>Reads an IPv4 or IPv6 header; false when the packet is too short or not IP.</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out InnerPacket result)
    {
        result = default;
        if (packet.Length < 1)
        {
            return false;
        }
        int version = packet[0] >> 4;
        if (version == 4)
        {
            int ihl = (packet[0] & 0x0F) * 4;
            if (ihl < 20 || packet.Length < ihl)
            {
                return false;
            }
            byte protocol = packet[9];
            bool firstFragment = (BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) & 0x1FFF) == 0;
            (int sp, int dp) = Ports(packet[ihl..], protocol, firstFragment);
            result = new InnerPacket(false, BinaryPrimitives.ReadUInt32BigEndian(packet[12..]), BinaryPrimitives.ReadUInt32BigEndian(packet[16..]), protocol, sp, dp);
            return true;
        }
        if (version == 6)
        {
            if (packet.Length < 40)
            {
                return false;
            }
            // The next header of the fixed header; extension headers are not walked (their ports are OPAQUE).
            byte protocol = packet[6];
            (int sp, int dp) = Ports(packet[40..], protocol, true);
            result = new InnerPacket(true, BinaryPrimitives.ReadUInt128BigEndian(packet[8..]), BinaryPrimitives.ReadUInt128BigEndian(packet[24..]), protocol, sp, dp);
            return true;
        }
        return false;
    }

    private static (int Source, int Destination) Ports(ReadOnlySpan<byte> transport, byte protocol, bool firstFragment) =>
        firstFragment && protocol is 6 or 17 or 132 && transport.Length >= 4
            ? (BinaryPrimitives.ReadUInt16BigEndian(transport), BinaryPrimitives.ReadUInt16BigEndian(transport[2..]))
            : (-1, -1);

    /// <summary>Whether the source is covered by one of <paramref name="sources"/> and the destination by one of <paramref name="destinations"/>.</summary>
    public bool MatchesAny(IReadOnlyList<TrafficSelector> sources, IReadOnlyList<TrafficSelector> destinations)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(destinations);
        bool source = false;
        for (int i = 0; i < sources.Count && !source; i++)
        {
            source = sources[i].Covers(IsIPv6, Source, Protocol, SourcePort);
        }
        if (!source)
        {
            return false;
        }
        for (int i = 0; i < destinations.Count; i++)
        {
            if (destinations[i].Covers(IsIPv6, Destination, Protocol, DestinationPort))
            {
                return true;
            }
        }
        return false;
    }
}
