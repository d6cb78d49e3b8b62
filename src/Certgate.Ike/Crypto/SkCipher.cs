using System.Buffers.Binary;
using System.Security.Cryptography;
using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Crypto;

/// <summary>
/// The Encrypted (SK) payload's protection for one direction (RFC 7296 §3.14; AES-GCM per RFC 5282): seals the
/// inner payloads of an outgoing message and opens an incoming one. Keys follow the original IKE roles (§2.14).
/// </summary>
public sealed class SkCipher : IDisposable
{
    private readonly AesGcm? _gcm;
    private readonly byte[]? _salt;
    private readonly Aes? _aes;
    private readonly byte[]? _integrityKey;
    private readonly HashAlgorithmName _integrityHash;
    private readonly int _icvLength;
    private ulong _ivCounter;

    private SkCipher(AesGcm gcm, byte[] salt)
    {
        _gcm = gcm;
        _salt = salt;
        _icvLength = 16;
    }

    private SkCipher(Aes aes, byte[] integrityKey, HashAlgorithmName hash, int icvLength)
    {
        _aes = aes;
        _integrityKey = integrityKey;
        _integrityHash = hash;
        _icvLength = icvLength;
    }

    /// <summary>AES-GCM-16: <paramref name="keyAndSalt"/> is SK_e (key ‖ 4-octet salt).</summary>
    public static SkCipher Gcm(ReadOnlySpan<byte> keyAndSalt)
    {
        if (keyAndSalt.Length is not (20 or 28 or 36))
        {
            throw new ArgumentException("SK_e for AES-GCM is the key plus a 4-octet salt (20, 28 or 36 octets)", nameof(keyAndSalt));
        }
        return new SkCipher(new AesGcm(keyAndSalt[..^4], 16), keyAndSalt[^4..].ToArray());
    }

    /// <summary>AES-CBC with HMAC-SHA2 truncated to half the hash (RFC 4868).</summary>
    public static SkCipher CbcHmac(ReadOnlySpan<byte> encryptionKey, ReadOnlySpan<byte> integrityKey, HashAlgorithmName hash)
    {
        var aes = Aes.Create();
        aes.Key = encryptionKey.ToArray();
        return new SkCipher(aes, integrityKey.ToArray(), hash, integrityKey.Length / 2);
    }

    private int IvLength => _gcm is not null ? 8 : 16;

    /// <summary>Builds a whole message whose payloads travel inside SK.</summary>
    public byte[] Seal(IkeHeader header, IReadOnlyList<(PayloadType Type, ReadOnlyMemory<byte> Body)> inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        return SealPayload(header, PayloadType.Encrypted, inner.Count > 0 ? inner[0].Type : PayloadType.None, default, InnerChain(header, inner));
    }

    /// <summary>
    /// The message as one SK message when it is at most <paramref name="maxMessageLength"/> octets, else as Encrypted
    /// Fragment messages (RFC 7383 §2.5): the inner chain split into chunks, each fragment a whole IKE message with
    /// the same header fields, its own IV, padding and ICV, numbered 1..Total; the first fragment's SKF Next Payload
    /// names the first inner payload, the others' is 0.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="maxMessageLength"/> leaves no room for a chunk.</exception>
    public IReadOnlyList<byte[]> SealFragments(IkeHeader header, IReadOnlyList<(PayloadType Type, ReadOnlyMemory<byte> Body)> inner, int maxMessageLength)
    {
        ArgumentNullException.ThrowIfNull(inner);
        byte[] chain = InnerChain(header, inner);
        PayloadType first = inner.Count > 0 ? inner[0].Type : PayloadType.None;
        byte[] whole = SealPayload(header, PayloadType.Encrypted, first, default, chain);
        if (whole.Length <= maxMessageLength)
        {
            return [whole];
        }
        int chunk = EncryptedFragment.ChunkSize(maxMessageLength, IvLength, _icvLength, BlockSize);
        if (chunk < 1)
        {
            throw new ArgumentException($"a fragment of at most {maxMessageLength} octets has no room for data", nameof(maxMessageLength));
        }
        IReadOnlyList<ReadOnlyMemory<byte>> chunks = EncryptedFragment.Split(chain, chunk);
        var fragments = new List<byte[]>(chunks.Count);
        Span<byte> counters = stackalloc byte[EncryptedFragment.CounterSize];
        for (int i = 0; i < chunks.Count; i++)
        {
            EncryptedFragment.WriteCounters(counters, (ushort)(i + 1), (ushort)chunks.Count);
            fragments.Add(SealPayload(header, PayloadType.EncryptedFragment, i == 0 ? first : PayloadType.None, counters, chunks[i].Span));
        }
        return fragments;
    }

    /// <summary>Verifies and decrypts the SK payload of <paramref name="message"/>; returns the inner payload chain.</summary>
    /// <exception cref="IkeFormatException">Malformed SK payload or inner chain.</exception>
    /// <exception cref="CryptographicException">The ICV does not verify.</exception>
    public IReadOnlyList<RawPayload> Open(IkeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        RawPayload sk = message.Payloads.LastOrDefault(p => p.Type == PayloadType.Encrypted)
            ?? throw new IkeFormatException("the message has no Encrypted payload");
        byte[] plain = OpenPayload(message, sk, 0, out int length);
        return IkeMessage.ParseChain(plain.AsMemory(0, length), 0, message.EncryptedFirstInner(sk), allowEncrypted: false);
    }

    /// <summary>
    /// Verifies and decrypts the Encrypted Fragment payload of <paramref name="message"/> (RFC 7383 §2.6: each
    /// fragment's ICV is checked on its own, before it is kept). The chunk is not parsed: that waits for reassembly.
    /// </summary>
    /// <exception cref="IkeFormatException">No or a malformed SKF payload, or bad fragment numbers.</exception>
    /// <exception cref="CryptographicException">The ICV does not verify.</exception>
    public DecryptedFragment OpenFragment(IkeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        RawPayload skf = message.Payloads.LastOrDefault(p => p.Type == PayloadType.EncryptedFragment)
            ?? throw new IkeFormatException("the message has no Encrypted Fragment payload");
        (ushort number, ushort total) = EncryptedFragment.ReadCounters(skf.Body.Span);
        byte[] plain = OpenPayload(message, skf, EncryptedFragment.CounterSize, out int length);
        return new DecryptedFragment(message.Header.MessageId, number, total, message.EncryptedFirstInner(skf), plain.AsMemory(0, length));
    }

    private int BlockSize => _gcm is not null ? 1 : 16;

    private static byte[] InnerChain(IkeHeader header, IReadOnlyList<(PayloadType Type, ReadOnlyMemory<byte> Body)> inner) =>
        // Inner chain as plain payload octets (generic headers included).
        IkeMessage.Build(header, inner)[IkeHeader.Size..];

    /// <summary>
    /// One protected payload (SK, or SKF with its counters as <paramref name="prefix"/>) as a whole message: header,
    /// generic header, prefix, IV, the encrypted chunk with padding and Pad Length, ICV. The AAD / integrity input is
    /// everything before the IV, so the SKF counters are protected too (RFC 7383 §2.5).
    /// </summary>
    private byte[] SealPayload(IkeHeader header, PayloadType payloadType, PayloadType nextPayload, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> chain)
    {
        int block = BlockSize;
        int padded = (chain.Length + 1 + block - 1) / block * block;
        int padLength = padded - chain.Length - 1;
        int payloadLength = 4 + prefix.Length + IvLength + padded + _icvLength;
        int total = IkeHeader.Size + payloadLength;
        byte[] message = new byte[total];
        (header with { Length = total, NextPayload = payloadType }).Write(message);
        message[IkeHeader.Size] = (byte)nextPayload;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(IkeHeader.Size + 2), (ushort)payloadLength);
        prefix.CopyTo(message.AsSpan(IkeHeader.Size + 4));
        int ivAt = IkeHeader.Size + 4 + prefix.Length;
        Span<byte> iv = message.AsSpan(ivAt, IvLength);
        Span<byte> plain = message.AsSpan(ivAt + IvLength, padded);
        chain.CopyTo(plain);
        plain[^1] = (byte)padLength;
        Span<byte> icv = message.AsSpan(total - _icvLength);
        if (_gcm is not null)
        {
            // A counter IV never repeats under the key (RFC 5282: the IV MUST NOT repeat).
            BinaryPrimitives.WriteUInt64BigEndian(iv, Interlocked.Increment(ref _ivCounter));
            Span<byte> nonce = stackalloc byte[12];
            _salt.CopyTo(nonce);
            iv.CopyTo(nonce[4..]);
            _gcm.Encrypt(nonce, plain, plain, icv, message.AsSpan(0, ivAt));
        }
        else
        {
            RandomNumberGenerator.Fill(iv);
            _aes!.EncryptCbc(plain, iv, plain, PaddingMode.None);
            Mac(message.AsSpan(0, total - _icvLength), icv);
        }
        return message;
    }

    /// <summary>Checks the ICV of <paramref name="payload"/> and decrypts it; <paramref name="length"/> is the plaintext without padding.</summary>
    private byte[] OpenPayload(IkeMessage message, RawPayload payload, int prefixLength, out int length)
    {
        ReadOnlySpan<byte> raw = message.Raw.Span;
        int ivAt = payload.Offset + 4 + prefixLength;
        int cipherLength = payload.Body.Length - prefixLength - IvLength - _icvLength;
        if (cipherLength < 1 || (_gcm is null && cipherLength % 16 != 0))
        {
            throw new IkeFormatException($"the {payload.Type} payload's {payload.Body.Length} octets cannot hold an IV, a ciphertext and a {_icvLength}-octet ICV");
        }
        ReadOnlySpan<byte> iv = raw.Slice(ivAt, IvLength);
        ReadOnlySpan<byte> cipher = raw.Slice(ivAt + IvLength, cipherLength);
        ReadOnlySpan<byte> icv = raw.Slice(ivAt + IvLength + cipherLength, _icvLength);
        byte[] plain = new byte[cipherLength];
        if (_gcm is not null)
        {
            Span<byte> nonce = stackalloc byte[12];
            _salt.CopyTo(nonce);
            iv.CopyTo(nonce[4..]);
            _gcm.Decrypt(nonce, cipher, icv, plain, raw[..ivAt]);
        }
        else
        {
            Span<byte> expected = stackalloc byte[64];
            Mac(raw[..(ivAt + IvLength + cipherLength)], expected[.._icvLength]);
            if (!CryptographicOperations.FixedTimeEquals(expected[.._icvLength], icv))
            {
                throw new CryptographicException($"the {payload.Type} payload's ICV does not verify");
            }
            _aes!.DecryptCbc(cipher, iv, plain, PaddingMode.None);
        }
        int padLength = plain[^1];
        if (padLength + 1 > plain.Length)
        {
            throw new IkeFormatException($"pad length {padLength} is longer than the decrypted {plain.Length} octets");
        }
        length = plain.Length - 1 - padLength;
        return plain;
    }

    private void Mac(ReadOnlySpan<byte> data, Span<byte> icv)
    {
        using var hmac = IncrementalHash.CreateHMAC(_integrityHash, _integrityKey!);
        hmac.AppendData(data);
        Span<byte> full = stackalloc byte[64];
        hmac.GetHashAndReset(full);
        full[..icv.Length].CopyTo(icv);
    }

    public void Dispose()
    {
        _gcm?.Dispose();
        _aes?.Dispose();
    }
}
