using System.Formats.Asn1;

namespace Certgate.Pki.Revocation;

/// <summary>
/// A forward-only DER cursor over a span that remembers absolute offsets, built on <see cref="AsnDecoder"/> (which
/// checks every length against the buffer and the DER length rules). The CRL reader uses it instead of
/// <see cref="AsnReader"/> for the revokedCertificates loop so that a million entries cost no allocations.
/// </summary>
internal ref struct DerCursor
{
    private readonly ReadOnlySpan<byte> _span;
    private readonly int _base;
    private int _pos;

    public DerCursor(ReadOnlySpan<byte> span, int absoluteOffset)
    {
        _span = span;
        _base = absoluteOffset;
        _pos = 0;
    }

    public readonly bool HasData => _pos < _span.Length;

    /// <summary>The tag octet of the next element (only low-tag-number forms are used in CRLs).</summary>
    public readonly byte PeekTag() => _span[_pos];

    /// <summary>Reads one element; returns its whole encoding and content, with absolute offsets.</summary>
    /// <exception cref="AsnContentException">Bad length or truncated data.</exception>
    public Tlv Read()
    {
        ReadOnlySpan<byte> rest = _span[_pos..];
        Asn1Tag.Decode(rest, out _);
        AsnDecoder.ReadEncodedValue(rest, AsnEncodingRules.DER, out int contentOffset, out int contentLength, out int consumed);
        var tlv = new Tlv(rest[0], _base + _pos, consumed, _base + _pos + contentOffset, contentLength);
        _pos += consumed;
        return tlv;
    }

    /// <summary>Reads one element and checks its tag octet.</summary>
    public Tlv Read(byte expectedTag, string field)
    {
        if (!HasData)
        {
            throw new CrlFormatException($"CRL {field}: expected a value, found the end of its container.");
        }
        Tlv tlv = Read();
        if (tlv.Tag != expectedTag)
        {
            throw new CrlFormatException($"CRL {field}: expected tag 0x{expectedTag:X2}, found 0x{tlv.Tag:X2}.");
        }
        return tlv;
    }
}

/// <summary>One DER element located in a buffer (absolute offsets).</summary>
internal readonly record struct Tlv(byte Tag, int Offset, int Length, int ContentOffset, int ContentLength)
{
    public ReadOnlySpan<byte> Encoded(ReadOnlySpan<byte> buffer) => buffer.Slice(Offset, Length);

    public ReadOnlySpan<byte> Content(ReadOnlySpan<byte> buffer) => buffer.Slice(ContentOffset, ContentLength);

    public DerCursor Children(ReadOnlySpan<byte> buffer) => new(Content(buffer), ContentOffset);
}

internal static class DerTags
{
    public const byte Boolean = 0x01;
    public const byte Integer = 0x02;
    public const byte BitString = 0x03;
    public const byte OctetString = 0x04;
    public const byte Oid = 0x06;
    public const byte Enumerated = 0x0A;
    public const byte UtcTime = 0x17;
    public const byte GeneralizedTime = 0x18;
    public const byte Sequence = 0x30;
    public const byte Set = 0x31;
    public const byte Context0Constructed = 0xA0;
}
