using System.Buffers.Binary;
using System.Net;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Wire;

/// <summary>One transform; <see cref="KeyLength"/> is the Key Length attribute (bits) when present.</summary>
public sealed record Transform(TransformType Type, ushort Id, int? KeyLength = null);

/// <summary>One proposal of an SA payload (RFC 7296 §3.3.1).</summary>
public sealed record Proposal(byte Number, byte ProtocolId, ReadOnlyMemory<byte> Spi, IReadOnlyList<Transform> Transforms)
{
    public const byte Ike = 1;
    public const byte Esp = 3;
}

/// <summary>Decoders and encoders of the payload bodies Certgate uses. Every length is checked before use.</summary>
public static class Payloads
{
    private const ushort KeyLengthAttribute = 14;

    // ---- SA (§3.3) ----

    public static IReadOnlyList<Proposal> ReadSa(ReadOnlySpan<byte> body)
    {
        var proposals = new List<Proposal>();
        int offset = 0;
        bool more = true;
        while (more)
        {
            Need(body, offset, 8, "proposal");
            byte last = body[offset];
            if (last is not (0 or 2))
            {
                throw new IkeFormatException($"proposal {proposals.Count + 1}: 'last' is {last}, expected 0 or 2");
            }
            more = last == 2;
            int length = BinaryPrimitives.ReadUInt16BigEndian(body[(offset + 2)..]);
            if (length < 8)
            {
                throw new IkeFormatException($"proposal length {length} is shorter than its 8-octet header");
            }
            Need(body, offset, length, "proposal");
            ReadOnlySpan<byte> p = body.Slice(offset, length);
            int spiSize = p[6];
            int count = p[7];
            if (8 + spiSize > p.Length)
            {
                throw new IkeFormatException($"proposal {p[4]}: the {spiSize}-octet SPI does not fit");
            }
            var transforms = new List<Transform>(count);
            int t = 8 + spiSize;
            for (int i = 0; i < count; i++)
            {
                Need(p, t, 8, "transform");
                int tLength = BinaryPrimitives.ReadUInt16BigEndian(p[(t + 2)..]);
                Need(p, t, tLength, "transform");
                if (tLength < 8)
                {
                    throw new IkeFormatException($"transform length {tLength} is shorter than its 8-octet header");
                }
                if (p[t] != (i + 1 == count ? 0 : 3))
                {
                    throw new IkeFormatException($"proposal {p[4]}: transform {i + 1} of {count} has 'last' {p[t]}");
                }
                transforms.Add(new Transform((TransformType)p[t + 4], BinaryPrimitives.ReadUInt16BigEndian(p[(t + 6)..]), ReadKeyLength(p.Slice(t + 8, tLength - 8))));
                t += tLength;
            }
            if (t != p.Length)
            {
                throw new IkeFormatException($"proposal {p[4]}: {p.Length - t} octets after its transforms");
            }
            proposals.Add(new Proposal(p[4], p[5], p.Slice(8, spiSize).ToArray(), transforms));
            offset += length;
        }
        if (offset != body.Length)
        {
            throw new IkeFormatException($"{body.Length - offset} octets after the last proposal");
        }
        return proposals;
    }

    private static int? ReadKeyLength(ReadOnlySpan<byte> attributes)
    {
        int? keyLength = null;
        int offset = 0;
        while (offset < attributes.Length)
        {
            Need(attributes, offset, 4, "attribute");
            ushort typeWord = BinaryPrimitives.ReadUInt16BigEndian(attributes[offset..]);
            bool tv = (typeWord & 0x8000) != 0;
            ushort type = (ushort)(typeWord & 0x7FFF);
            if (tv)
            {
                if (type == KeyLengthAttribute)
                {
                    keyLength = BinaryPrimitives.ReadUInt16BigEndian(attributes[(offset + 2)..]);
                }
                offset += 4;
            }
            else
            {
                int length = BinaryPrimitives.ReadUInt16BigEndian(attributes[(offset + 2)..]);
                Need(attributes, offset + 4, length, "attribute value");
                offset += 4 + length;
            }
        }
        return keyLength;
    }

    public static byte[] WriteSa(IReadOnlyList<Proposal> proposals)
    {
        var output = new List<byte>();
        for (int i = 0; i < proposals.Count; i++)
        {
            Proposal p = proposals[i];
            var transforms = new List<byte>();
            for (int j = 0; j < p.Transforms.Count; j++)
            {
                Transform t = p.Transforms[j];
                int length = t.KeyLength is null ? 8 : 12;
                transforms.AddRange([(byte)(j + 1 == p.Transforms.Count ? 0 : 3), 0, (byte)(length >> 8), (byte)length, (byte)t.Type, 0, (byte)(t.Id >> 8), (byte)t.Id]);
                if (t.KeyLength is int bits)
                {
                    transforms.AddRange([0x80, (byte)KeyLengthAttribute, (byte)(bits >> 8), (byte)bits]);
                }
            }
            int proposalLength = 8 + p.Spi.Length + transforms.Count;
            output.AddRange([(byte)(i + 1 == proposals.Count ? 0 : 2), 0, (byte)(proposalLength >> 8), (byte)proposalLength, p.Number, p.ProtocolId, (byte)p.Spi.Length, (byte)p.Transforms.Count]);
            output.AddRange(p.Spi.ToArray());
            output.AddRange(transforms);
        }
        return [.. output];
    }

    // ---- KE (§3.4), Nonce (§3.9) ----

    public static (ushort Group, ReadOnlyMemory<byte> Data) ReadKe(ReadOnlyMemory<byte> body)
    {
        Need(body.Span, 0, 4, "KE payload");
        return (BinaryPrimitives.ReadUInt16BigEndian(body.Span), body[4..]);
    }

    public static byte[] WriteKe(ushort group, ReadOnlySpan<byte> data)
    {
        byte[] b = new byte[4 + data.Length];
        BinaryPrimitives.WriteUInt16BigEndian(b, group);
        data.CopyTo(b.AsSpan(4));
        return b;
    }

    /// <summary>Checks a nonce body: 16 to 256 octets (RFC 7296 §3.9).</summary>
    public static ReadOnlyMemory<byte> ReadNonce(ReadOnlyMemory<byte> body) =>
        body.Length is >= 16 and <= 256 ? body : throw new IkeFormatException($"a nonce is 16 to 256 octets; got {body.Length}");

    // ---- ID (§3.5), AUTH (§3.8), CERT/CERTREQ (§3.6, §3.7) share "type octet + 3 reserved + data" or "type + data" ----

    public static (byte Type, ReadOnlyMemory<byte> Data) ReadTyped4(ReadOnlyMemory<byte> body, string what)
    {
        Need(body.Span, 0, 4, what);
        return (body.Span[0], body[4..]);
    }

    public static byte[] WriteTyped4(byte type, ReadOnlySpan<byte> data) => [type, 0, 0, 0, .. data];

    public static (byte Encoding, ReadOnlyMemory<byte> Data) ReadCert(ReadOnlyMemory<byte> body)
    {
        Need(body.Span, 0, 1, "CERT payload");
        return (body.Span[0], body[1..]);
    }

    public static byte[] WriteCert(byte encoding, ReadOnlySpan<byte> data) => [encoding, .. data];

    // ---- Notify (§3.10) ----

    public sealed record Notify(byte ProtocolId, ushort Type, ReadOnlyMemory<byte> Spi, ReadOnlyMemory<byte> Data)
    {
        public bool IsError => Type < 16384;
    }

    public static Notify ReadNotify(ReadOnlyMemory<byte> body)
    {
        ReadOnlySpan<byte> s = body.Span;
        Need(s, 0, 4, "Notify payload");
        int spiSize = s[1];
        Need(s, 4, spiSize, "Notify SPI");
        return new Notify(s[0], BinaryPrimitives.ReadUInt16BigEndian(s[2..]), body.Slice(4, spiSize), body[(4 + spiSize)..]);
    }

    public static byte[] WriteNotify(Notify n)
    {
        ArgumentNullException.ThrowIfNull(n);
        return [n.ProtocolId, (byte)n.Spi.Length, (byte)(n.Type >> 8), (byte)n.Type, .. n.Spi.Span, .. n.Data.Span];
    }

    // ---- Delete (§3.11) ----

    public static (byte ProtocolId, IReadOnlyList<ReadOnlyMemory<byte>> Spis) ReadDelete(ReadOnlyMemory<byte> body)
    {
        ReadOnlySpan<byte> s = body.Span;
        Need(s, 0, 4, "Delete payload");
        int spiSize = s[1];
        int count = BinaryPrimitives.ReadUInt16BigEndian(s[2..]);
        if ((long)spiSize * count != s.Length - 4)
        {
            throw new IkeFormatException($"Delete: {count} SPIs of {spiSize} octets do not make the {s.Length - 4} octets given");
        }
        var spis = new List<ReadOnlyMemory<byte>>(count);
        for (int i = 0; i < count; i++)
        {
            spis.Add(body.Slice(4 + i * spiSize, spiSize));
        }
        return (s[0], spis);
    }

    // ---- Traffic selectors (§3.13) ----

    public sealed record TrafficSelector(byte IpProtocol, ushort StartPort, ushort EndPort, IPAddress Start, IPAddress End)
    {
        public static TrafficSelector Any4 { get; } = new(0, 0, 65535, IPAddress.Any, IPAddress.Broadcast);
    }

    public static IReadOnlyList<TrafficSelector> ReadTs(ReadOnlySpan<byte> body)
    {
        Need(body, 0, 4, "TS payload");
        int count = body[0];
        var list = new List<TrafficSelector>(count);
        int offset = 4;
        for (int i = 0; i < count; i++)
        {
            Need(body, offset, 8, "traffic selector");
            byte type = body[offset];
            int length = BinaryPrimitives.ReadUInt16BigEndian(body[(offset + 2)..]);
            int addressLength = type switch
            {
                7 => 4,
                8 => 16,
                _ => throw new IkeFormatException($"traffic selector type {type} is not supported (expected 7 or 8)"),
            };
            if (length != 8 + 2 * addressLength)
            {
                throw new IkeFormatException($"traffic selector type {type} has length {length}, expected {8 + 2 * addressLength}");
            }
            Need(body, offset, length, "traffic selector");
            list.Add(new TrafficSelector(body[offset + 1], BinaryPrimitives.ReadUInt16BigEndian(body[(offset + 4)..]), BinaryPrimitives.ReadUInt16BigEndian(body[(offset + 6)..]),
                new IPAddress(body.Slice(offset + 8, addressLength)), new IPAddress(body.Slice(offset + 8 + addressLength, addressLength))));
            offset += length;
        }
        if (offset != body.Length)
        {
            throw new IkeFormatException($"{body.Length - offset} octets after the last traffic selector");
        }
        return list;
    }

    public static byte[] WriteTs(IReadOnlyList<TrafficSelector> selectors)
    {
        var output = new List<byte> { (byte)selectors.Count, 0, 0, 0 };
        foreach (TrafficSelector ts in selectors)
        {
            byte[] start = ts.Start.GetAddressBytes();
            byte[] end = ts.End.GetAddressBytes();
            if (start.Length != end.Length)
            {
                throw new ArgumentException("a traffic selector's start and end must be the same address family", nameof(selectors));
            }
            int length = 8 + 2 * start.Length;
            output.AddRange([(byte)(start.Length == 4 ? 7 : 8), ts.IpProtocol, (byte)(length >> 8), (byte)length,
                (byte)(ts.StartPort >> 8), (byte)ts.StartPort, (byte)(ts.EndPort >> 8), (byte)ts.EndPort]);
            output.AddRange(start);
            output.AddRange(end);
        }
        return [.. output];
    }

    private static void Need(ReadOnlySpan<byte> span, int offset, int length, string what)
    {
        if (length < 0 || offset < 0 || offset > span.Length || span.Length - offset < length)
        {
            throw new IkeFormatException($"{what} at offset {offset}: needs {length} octets, {Math.Max(0, span.Length - offset)} left");
        }
    }
}
