using System.Buffers.Binary;
using System.Security.Cryptography;
using Certgate.Ike.Wire;

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
        // Inner chain as plain payload octets (generic headers included), then padding and Pad Length.
        byte[] chain = IkeMessage.Build(header, inner)[IkeHeader.Size..];
        int block = _gcm is not null ? 1 : 16;
        int padded = (chain.Length + 1 + block - 1) / block * block;
        int padLength = padded - chain.Length - 1;
        int skLength = 4 + IvLength + padded + _icvLength;
        int total = IkeHeader.Size + skLength;
        byte[] message = new byte[total];
        (header with { Length = total, NextPayload = PayloadType.Encrypted }).Write(message);
        message[IkeHeader.Size] = (byte)(inner.Count > 0 ? inner[0].Type : PayloadType.None);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(IkeHeader.Size + 2), (ushort)skLength);
        int ivAt = IkeHeader.Size + 4;
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

    /// <summary>Verifies and decrypts the SK payload of <paramref name="message"/>; returns the inner payload chain.</summary>
    /// <exception cref="IkeFormatException">Malformed SK payload or inner chain.</exception>
    /// <exception cref="CryptographicException">The ICV does not verify.</exception>
    public IReadOnlyList<RawPayload> Open(IkeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        RawPayload sk = message.Payloads.LastOrDefault(p => p.Type == PayloadType.Encrypted)
            ?? throw new IkeFormatException("the message has no Encrypted payload");
        ReadOnlySpan<byte> raw = message.Raw.Span;
        int ivAt = sk.Offset + 4;
        int cipherLength = sk.Body.Length - IvLength - _icvLength;
        if (cipherLength < 1 || (_gcm is null && cipherLength % 16 != 0))
        {
            throw new IkeFormatException($"the Encrypted payload's {sk.Body.Length} octets cannot hold an IV, a ciphertext and a {_icvLength}-octet ICV");
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
                throw new CryptographicException("the Encrypted payload's ICV does not verify");
            }
            _aes!.DecryptCbc(cipher, iv, plain, PaddingMode.None);
        }
        int padLength = plain[^1];
        if (padLength + 1 > plain.Length)
        {
            throw new IkeFormatException($"pad length {padLength} is longer than the decrypted {plain.Length} octets");
        }
        return IkeMessage.ParseChain(plain.AsMemory(0, plain.Length - 1 - padLength), 0, message.EncryptedFirstInner(sk), allowEncrypted: false);
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
