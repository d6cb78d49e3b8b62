using System.Buffers.Binary;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Wire;

/// <summary>A message or payload that breaks the IKEv2 encoding rules; the text says which rule.</summary>
public sealed class IkeFormatException(string message) : Exception(message);

/// <summary>The 28-octet IKE header (RFC 7296 §3.1).</summary>
public readonly record struct IkeHeader(ulong InitiatorSpi, ulong ResponderSpi, PayloadType NextPayload, ExchangeType Exchange,
    bool IsResponse, bool FromOriginalInitiator, uint MessageId, int Length)
{
    public const int Size = 28;
    private const byte FlagResponse = 0x20;
    private const byte FlagInitiator = 0x08;

    /// <summary>Reads and checks the header (version 2.x, length consistent with the datagram).</summary>
    /// <exception cref="IkeFormatException">Too short, wrong major version, or a Length that does not fit.</exception>
    public static IkeHeader Read(ReadOnlySpan<byte> message)
    {
        if (message.Length < Size)
        {
            throw new IkeFormatException($"an IKE message is at least {Size} octets; got {message.Length}");
        }
        if (message[17] >> 4 != 2)
        {
            throw new IkeFormatException($"IKE major version {message[17] >> 4} is not supported (INVALID_MAJOR_VERSION)");
        }
        uint length = BinaryPrimitives.ReadUInt32BigEndian(message[24..]);
        if (length < Size || length > message.Length)
        {
            throw new IkeFormatException($"the header says {length} octets but the datagram has {message.Length}");
        }
        ulong spiI = BinaryPrimitives.ReadUInt64BigEndian(message);
        if (spiI == 0)
        {
            throw new IkeFormatException("the initiator's SPI is 0");
        }
        byte flags = message[19];
        return new IkeHeader(spiI, BinaryPrimitives.ReadUInt64BigEndian(message[8..]), (PayloadType)message[16], (ExchangeType)message[18],
            (flags & FlagResponse) != 0, (flags & FlagInitiator) != 0, BinaryPrimitives.ReadUInt32BigEndian(message[20..]), (int)length);
    }

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, InitiatorSpi);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], ResponderSpi);
        destination[16] = (byte)NextPayload;
        destination[17] = 0x20;
        destination[18] = (byte)Exchange;
        destination[19] = (byte)((IsResponse ? FlagResponse : 0) | (FromOriginalInitiator ? FlagInitiator : 0));
        BinaryPrimitives.WriteUInt32BigEndian(destination[20..], MessageId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[24..], (uint)Length);
    }
}

/// <summary>One payload as found on the wire: its type, critical bit and body (after the 4-octet generic header).</summary>
public sealed record RawPayload(PayloadType Type, bool Critical, ReadOnlyMemory<byte> Body)
{
    /// <summary>Offset of the generic header within the message (SK's AAD and ICV coverage need it).</summary>
    public int Offset { get; init; }
}

/// <summary>
/// An IKEv2 message split into its payload chain (RFC 7296 §3.2). Parsing checks every length against the buffer
/// and the chain's end; an SK/SKF payload must be last. Payload bodies are slices of the input (no copies).
/// </summary>
public sealed class IkeMessage
{
    /// <summary>Most payloads a message may carry (a defence against pathological chains; real ones have ~15).</summary>
    public const int MaxPayloads = 64;

    private IkeMessage(IkeHeader header, IReadOnlyList<RawPayload> payloads, ReadOnlyMemory<byte> raw)
    {
        Header = header;
        Payloads = payloads;
        Raw = raw;
    }

    public IkeHeader Header { get; }

    public IReadOnlyList<RawPayload> Payloads { get; }

    /// <summary>The message octets (header through the last payload).</summary>
    public ReadOnlyMemory<byte> Raw { get; }

    /// <summary>Parses a datagram (without the non-ESP marker).</summary>
    /// <exception cref="IkeFormatException">The message breaks an encoding rule.</exception>
    public static IkeMessage Parse(ReadOnlyMemory<byte> datagram)
    {
        IkeHeader header = IkeHeader.Read(datagram.Span);
        ReadOnlyMemory<byte> raw = datagram[..header.Length];
        return new IkeMessage(header, ParseChain(raw, IkeHeader.Size, header.NextPayload, allowEncrypted: true), raw);
    }

    /// <summary>Parses a payload chain (also used for the decrypted contents of SK).</summary>
    public static IReadOnlyList<RawPayload> ParseChain(ReadOnlyMemory<byte> buffer, int offset, PayloadType first, bool allowEncrypted)
    {
        var payloads = new List<RawPayload>();
        PayloadType next = first;
        ReadOnlySpan<byte> span = buffer.Span;
        while (next != PayloadType.None)
        {
            if (payloads.Count == MaxPayloads)
            {
                throw new IkeFormatException($"more than {MaxPayloads} payloads");
            }
            if (span.Length - offset < 4)
            {
                throw new IkeFormatException($"payload {next} at offset {offset}: the generic header is cut off");
            }
            PayloadType type = next;
            next = (PayloadType)span[offset];
            bool critical = (span[offset + 1] & 0x80) != 0;
            int length = BinaryPrimitives.ReadUInt16BigEndian(span[(offset + 2)..]);
            if (length < 4 || length > span.Length - offset)
            {
                throw new IkeFormatException($"payload {type} at offset {offset}: length {length} does not fit in the {span.Length - offset} octets left");
            }
            payloads.Add(new RawPayload(type, critical, buffer.Slice(offset + 4, length - 4)) { Offset = offset });
            offset += length;
            if (type is PayloadType.Encrypted or PayloadType.EncryptedFragment)
            {
                if (!allowEncrypted)
                {
                    throw new IkeFormatException("an encrypted payload inside an encrypted payload");
                }
                if (offset != span.Length)
                {
                    throw new IkeFormatException($"{type} must be the last payload, but {span.Length - offset} octets follow it");
                }
                // Its Next Payload names the first inner payload, not a following one.
                return payloads;
            }
        }
        if (offset != span.Length)
        {
            throw new IkeFormatException($"{span.Length - offset} octets after the last payload");
        }
        return payloads;
    }

    /// <summary>The Next Payload field of the SK/SKF payload (the first inner payload's type).</summary>
    public PayloadType EncryptedFirstInner(RawPayload encrypted) => (PayloadType)Raw.Span[encrypted.Offset];

    /// <summary>Serializes header + payloads (types and bodies); the header's Length and Next Payload are filled in.</summary>
    public static byte[] Build(IkeHeader header, IReadOnlyList<(PayloadType Type, ReadOnlyMemory<byte> Body)> payloads)
    {
        ArgumentNullException.ThrowIfNull(payloads);
        int length = IkeHeader.Size + payloads.Sum(p => 4 + p.Body.Length);
        byte[] message = new byte[length];
        (header with { Length = length, NextPayload = payloads.Count > 0 ? payloads[0].Type : PayloadType.None }).Write(message);
        int offset = IkeHeader.Size;
        for (int i = 0; i < payloads.Count; i++)
        {
            int payloadLength = 4 + payloads[i].Body.Length;
            if (payloadLength > ushort.MaxValue)
            {
                throw new ArgumentException($"payload {payloads[i].Type} is longer than 65535 octets", nameof(payloads));
            }
            message[offset] = (byte)(i + 1 < payloads.Count ? payloads[i + 1].Type : PayloadType.None);
            message[offset + 1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(offset + 2), (ushort)payloadLength);
            payloads[i].Body.Span.CopyTo(message.AsSpan(offset + 4));
            offset += payloadLength;
        }
        return message;
    }
}
