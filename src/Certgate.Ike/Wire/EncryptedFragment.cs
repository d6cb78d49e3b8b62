using System.Buffers.Binary;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Wire;

/// <summary>
/// The Encrypted Fragment payload, SKF (RFC 7383 §2.5): the generic header, then Fragment Number and Total Fragments
/// (two octets each), then IV, the encrypted chunk of the inner payload chain with its padding, and the ICV — each
/// fragment protected on its own. This type reads and writes the two counters and splits a chain into chunks; the
/// encryption is <see cref="Crypto.SkCipher"/>'s.
/// </summary>
public static class EncryptedFragment
{
    /// <summary>Octets of Fragment Number and Total Fragments, between the generic header and the IV.</summary>
    public const int CounterSize = 4;

    /// <summary>Reads and checks Fragment Number and Total Fragments from an SKF payload body.</summary>
    /// <exception cref="IkeFormatException">
    /// The body is too short, or the numbers break RFC 7383 §2.5 (fragments are numbered from 1 and no number is
    /// above Total Fragments; §2.6 has the receiver discard such a fragment).
    /// </exception>
    public static (ushort Number, ushort Total) ReadCounters(ReadOnlySpan<byte> body)
    {
        if (body.Length < CounterSize)
        {
            throw new IkeFormatException($"an Encrypted Fragment payload needs {CounterSize} octets of Fragment Number and Total Fragments; got {body.Length}");
        }
        ushort number = BinaryPrimitives.ReadUInt16BigEndian(body);
        ushort total = BinaryPrimitives.ReadUInt16BigEndian(body[2..]);
        if (number == 0 || total == 0 || number > total)
        {
            throw new IkeFormatException($"Encrypted Fragment number {number} of {total}: numbers start at 1 and must not exceed Total Fragments (RFC 7383 §2.5)");
        }
        return (number, total);
    }

    /// <summary>Writes Fragment Number and Total Fragments.</summary>
    public static void WriteCounters(Span<byte> destination, ushort number, ushort total)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, number);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], total);
    }

    /// <summary>
    /// The largest chunk of the inner chain one fragment may carry so that the whole IKE message stays within
    /// <paramref name="maxMessageLength"/>: header (28), SKF header and counters (8), IV, the chunk padded to the
    /// cipher block with its Pad Length octet, and the ICV. Zero when even one octet does not fit.
    /// </summary>
    public static int ChunkSize(int maxMessageLength, int ivLength, int icvLength, int blockSize)
    {
        int room = maxMessageLength - IkeHeader.Size - 4 - CounterSize - ivLength - icvLength;
        // The padded plaintext is a whole number of blocks and holds the chunk plus the Pad Length octet.
        int padded = room / blockSize * blockSize;
        return Math.Max(0, padded - 1);
    }

    /// <summary>Splits <paramref name="chain"/> into chunks of at most <paramref name="chunkSize"/> octets, in order.</summary>
    public static IReadOnlyList<ReadOnlyMemory<byte>> Split(ReadOnlyMemory<byte> chain, int chunkSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        int count = Math.Max(1, (chain.Length + chunkSize - 1) / chunkSize);
        if (count > ushort.MaxValue)
        {
            throw new ArgumentException($"{chain.Length} octets in chunks of {chunkSize} need {count} fragments; Total Fragments is 16 bits", nameof(chunkSize));
        }
        var chunks = new List<ReadOnlyMemory<byte>>(count);
        for (int offset = 0; offset < chain.Length || chunks.Count == 0; offset += chunkSize)
        {
            chunks.Add(chain[offset..Math.Min(chain.Length, offset + chunkSize)]);
        }
        return chunks;
    }
}

/// <summary>One fragment after its ICV was checked and it was decrypted: counters, the SKF Next Payload, the chunk.</summary>
/// <param name="MessageId">The Message ID of the fragment's IKE header.</param>
/// <param name="Number">Fragment Number (1..Total).</param>
/// <param name="Total">Total Fragments.</param>
/// <param name="NextPayload">The SKF header's Next Payload: the first inner payload in fragment 1, ignored in the others.</param>
/// <param name="Chunk">The decrypted chunk without padding.</param>
public sealed record DecryptedFragment(uint MessageId, ushort Number, ushort Total, PayloadType NextPayload, ReadOnlyMemory<byte> Chunk);

/// <summary>What <see cref="FragmentReassembler.Add"/> did with a fragment.</summary>
public enum FragmentOutcome
{
    /// <summary>Kept; more fragments are missing.</summary>
    Stored,

    /// <summary>It was the last missing one: <see cref="FragmentReassembler.Add"/> returned the message.</summary>
    Completed,

    /// <summary>Dropped: the same Fragment Number is already held (a retransmission).</summary>
    Duplicate,

    /// <summary>Dropped: it belongs to an older message than the one being collected (RFC 7383 §2.6).</summary>
    OlderMessage,

    /// <summary>Dropped: fewer Total Fragments than the fragments held (§2.6: "MUST be discarded").</summary>
    SmallerTotal,

    /// <summary>Dropped: Total Fragments is above the limit, or the held octets would be; what was held is discarded too.</summary>
    OverLimit,
}

/// <summary>
/// Collects the decrypted fragments of one IKE message (RFC 7383 §2.6) and gives back the inner payload chain when
/// all are present. Bounded: at most <see cref="MaxFragments"/> fragments and <see cref="MaxOctets"/> octets are held,
/// so a peer (authenticated, since each fragment's ICV was checked first) cannot make it grow without limit. A
/// fragment of a newer message discards what was held for an older one; a fragment of an older message is dropped.
/// Not thread-safe: one per direction of one IKE SA.
/// </summary>
public sealed class FragmentReassembler
{
    private readonly Dictionary<ushort, ReadOnlyMemory<byte>> _chunks = [];
    private uint? _messageId;
    private ushort _total;
    private int _octets;
    private PayloadType _firstInner;

    /// <summary>Limits; the defaults hold a ~60 kB IKE_AUTH (large certificate chains) in fragments of 576 octets.</summary>
    public FragmentReassembler(int maxFragments = 128, int maxOctets = 65_535)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFragments, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxOctets, 1);
        MaxFragments = maxFragments;
        MaxOctets = maxOctets;
    }

    /// <summary>Most fragments one message may have (Total Fragments above it is refused).</summary>
    public int MaxFragments { get; }

    /// <summary>Most octets of decrypted chunks held for one message.</summary>
    public int MaxOctets { get; }

    /// <summary>Fragments held for the message being collected.</summary>
    public int Held => _chunks.Count;

    /// <summary>
    /// Adds a fragment whose ICV has been checked. Returns the reassembled message (first inner payload type and the
    /// whole inner chain, chunks in Fragment Number order) when this was the last missing fragment, else null.
    /// </summary>
    public (PayloadType FirstInner, byte[] Chain)? Add(DecryptedFragment fragment, out FragmentOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(fragment);
        if (_messageId is uint current && fragment.MessageId != current)
        {
            if (fragment.MessageId < current)
            {
                outcome = FragmentOutcome.OlderMessage;
                return null;
            }
            Clear();
        }
        if (fragment.Total > MaxFragments)
        {
            Clear();
            outcome = FragmentOutcome.OverLimit;
            return null;
        }
        if (_messageId is not null && fragment.Total != _total)
        {
            // RFC 7383 §2.6: a greater Total Fragments than the stored fragments have means the sender re-fragmented
            // (smaller, e.g. after a PMTU change): the stored ones are discarded; a smaller one is itself discarded.
            if (fragment.Total < _total)
            {
                outcome = FragmentOutcome.SmallerTotal;
                return null;
            }
            Clear();
        }
        if (_chunks.ContainsKey(fragment.Number))
        {
            outcome = FragmentOutcome.Duplicate;
            return null;
        }
        if (_octets + fragment.Chunk.Length > MaxOctets)
        {
            Clear();
            outcome = FragmentOutcome.OverLimit;
            return null;
        }
        _messageId = fragment.MessageId;
        _total = fragment.Total;
        _chunks[fragment.Number] = fragment.Chunk.ToArray();
        _octets += fragment.Chunk.Length;
        if (fragment.Number == 1)
        {
            // RFC 7383 §2.5: only the first fragment's Next Payload names the first inner payload; the others' is 0 and ignored.
            _firstInner = fragment.NextPayload;
        }
        if (_chunks.Count < _total)
        {
            outcome = FragmentOutcome.Stored;
            return null;
        }
        byte[] chain = new byte[_octets];
        int offset = 0;
        for (ushort n = 1; n <= _total; n++)
        {
            _chunks[n].Span.CopyTo(chain.AsSpan(offset));
            offset += _chunks[n].Length;
        }
        PayloadType first = _firstInner;
        // The message is done: a later fragment with this Message ID is a retransmission of an old message.
        Clear();
        _messageId = fragment.MessageId + 1;
        outcome = FragmentOutcome.Completed;
        return (first, chain);
    }

    private void Clear()
    {
        _chunks.Clear();
        _octets = 0;
        _total = 0;
        _messageId = null;
        _firstInner = PayloadType.None;
    }
}
