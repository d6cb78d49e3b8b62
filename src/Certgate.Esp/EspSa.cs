using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Certgate.Esp;

/// <summary>The ESP transforms Certgate speaks (IKEv2 ENCR/INTEG ids in brackets).</summary>
public enum EspCipher
{
    /// <summary>AES-GCM with a 16-octet ICV (ENCR 20), 128/192/256-bit key + 4-octet salt (RFC 4106).</summary>
    AesGcm16,

    /// <summary>AES-CBC (ENCR 12) with HMAC-SHA-256-128 (INTEG 12) (RFC 3602, RFC 4868).</summary>
    AesCbcHmacSha256,

    /// <summary>AES-CBC with HMAC-SHA-384-192 (INTEG 13).</summary>
    AesCbcHmacSha384,

    /// <summary>AES-CBC with HMAC-SHA-512-256 (INTEG 14).</summary>
    AesCbcHmacSha512,
}

/// <summary>Why an inbound packet was not delivered (or that it was).</summary>
public enum EspResult
{
    Ok,

    /// <summary>A TFC dummy packet (next header 59): authenticated, counted, and silently discarded.</summary>
    Dummy,

    /// <summary>Too short, wrong SPI, or a ciphertext length the cipher cannot produce.</summary>
    Malformed,

    /// <summary>The sequence number was already received.</summary>
    Replayed,

    /// <summary>The sequence number is left of the anti-replay window.</summary>
    TooOld,

    /// <summary>The ICV did not verify (forged, corrupted, or the wrong key).</summary>
    AuthenticationFailed,

    /// <summary>The trailer is inconsistent (pad length too long, padding bytes not 1, 2, 3 …).</summary>
    BadPadding,
}

/// <summary>The outbound sequence number would wrap: the SA must be rekeyed (RFC 4303 §3.3.3).</summary>
public sealed class EspSequenceExhaustedException(uint spi) : Exception($"ESP SA 0x{spi:x8} has used all its sequence numbers and must be rekeyed");

/// <summary>The keys and options of one ESP SA (one direction).</summary>
public sealed record EspSaParameters
{
    public required uint Spi { get; init; }

    public required EspCipher Cipher { get; init; }

    /// <summary>The AES key (16, 24 or 32 octets).</summary>
    public required byte[] EncryptionKey { get; init; }

    /// <summary>AES-GCM: the 4-octet salt (the last octets of KEYMAT, RFC 4106 §8.1).</summary>
    public byte[]? Salt { get; init; }

    /// <summary>AES-CBC: the HMAC key (32, 48 or 64 octets).</summary>
    public byte[]? IntegrityKey { get; init; }

    /// <summary>64-bit extended sequence numbers (RFC 4303 §2.2.1).</summary>
    public bool ExtendedSequenceNumbers { get; init; }

    /// <summary>Splits IKEv2 KEYMAT for this direction: encryption key (‖ salt for GCM) then the integrity key.</summary>
    /// <exception cref="ArgumentException">KEYMAT has the wrong length for the cipher and key size.</exception>
    public static EspSaParameters FromKeymat(uint spi, EspCipher cipher, int keyBits, ReadOnlySpan<byte> keymat, bool esn = false)
    {
        if (keyBits is not (128 or 192 or 256))
        {
            throw new ArgumentOutOfRangeException(nameof(keyBits), keyBits, "AES keys are 128, 192 or 256 bits");
        }
        int keyLength = keyBits / 8;
        int needed = cipher == EspCipher.AesGcm16 ? keyLength + 4 : keyLength + EspSa.IntegrityKeyLength(cipher);
        if (keymat.Length != needed)
        {
            throw new ArgumentException($"KEYMAT for {cipher} with a {keyBits}-bit key is {needed} octets, not {keymat.Length}", nameof(keymat));
        }
        return cipher == EspCipher.AesGcm16
            ? new EspSaParameters { Spi = spi, Cipher = cipher, EncryptionKey = keymat[..keyLength].ToArray(), Salt = keymat[keyLength..].ToArray(), ExtendedSequenceNumbers = esn }
            : new EspSaParameters { Spi = spi, Cipher = cipher, EncryptionKey = keymat[..keyLength].ToArray(), IntegrityKey = keymat[keyLength..].ToArray(), ExtendedSequenceNumbers = esn };
    }
}

/// <summary>
/// One ESP security association in tunnel or transport mode (the caller supplies the next-header value): outbound
/// <see cref="Encapsulate"/> and inbound <see cref="Decapsulate"/> over caller-owned buffers, without allocating
/// per packet. Inbound order is RFC 4303 §3.4: replay pre-check, ICV, decrypt, then window update. Not thread-safe
/// per direction: a pipeline owns an SA's send side and another its receive side.
/// </summary>
public sealed class EspSa : IDisposable
{
    private const int HeaderLength = 8;
    private readonly EspSaParameters _p;
    private readonly AesGcm? _gcm;
    private readonly Aes? _aes;
    private readonly AesCbcChain? _cbc;
    private readonly byte[] _nonce = new byte[12];
    private readonly int _ivLength;
    private readonly int _icvLength;
    private readonly int _block;
    private readonly ReplayWindow _window;
    private ulong _sequence;
    private IncrementalHash? _hmac;

    // CBC IVs (RFC 3602 §2.1: random and unpredictable) drawn from the system CSPRNG in batches: one call per 256
    // packets instead of one per packet (a call costs about as much as encrypting the packet).
    private byte[]? _ivPool;
    private int _ivPoolOffset;

    public EspSa(EspSaParameters parameters, int replayWindow = 1024)
    {
        _p = parameters ?? throw new ArgumentNullException(nameof(parameters));
        if (parameters.EncryptionKey.Length is not (16 or 24 or 32))
        {
            throw new ArgumentException("the AES key must be 16, 24 or 32 octets", nameof(parameters));
        }
        if (parameters.Spi is >= 1 and <= 255 or 0)
        {
            throw new ArgumentException($"SPI {parameters.Spi} is reserved (RFC 4303 §2.1)", nameof(parameters));
        }
        if (parameters.Cipher == EspCipher.AesGcm16)
        {
            if (parameters.Salt is not { Length: 4 })
            {
                throw new ArgumentException("AES-GCM needs a 4-octet salt", nameof(parameters));
            }
            _gcm = new AesGcm(parameters.EncryptionKey, 16);
            parameters.Salt.CopyTo(_nonce, 0);
            _ivLength = 8;
            _icvLength = 16;
            _block = 4;
        }
        else
        {
            if (parameters.IntegrityKey?.Length != IntegrityKeyLength(parameters.Cipher))
            {
                throw new ArgumentException($"{parameters.Cipher} needs a {IntegrityKeyLength(parameters.Cipher)}-octet integrity key", nameof(parameters));
            }
            _aes = Aes.Create();
            _aes.Key = parameters.EncryptionKey;
            _cbc = new AesCbcChain(_aes);
            _ivLength = 16;
            _icvLength = IntegrityKeyLength(parameters.Cipher) / 2;
            _block = 16;
        }
        _window = new ReplayWindow(replayWindow);
    }

    public uint Spi => _p.Spi;

    /// <summary>Sequence numbers sent so far.</summary>
    public ulong SentSequence => _sequence;

    /// <summary>
    /// Test hook: the next packet goes out with sequence number <paramref name="next"/>, so tests can cross 2^32
    /// without sending four billion packets. Only forward (a number is never used twice under one key).
    /// </summary>
    internal void SkipSequenceTo(ulong next)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(next, _sequence);
        _sequence = next - 1;
    }

    /// <summary>The inbound anti-replay window.</summary>
    public ReplayWindow Window => _window;

    /// <summary>The largest ESP packet <see cref="Encapsulate"/> makes from <paramref name="innerLength"/> octets.</summary>
    public int MaxPacketLength(int innerLength) => HeaderLength + _ivLength + PaddedLength(innerLength) + _icvLength;

    /// <summary>Octets ESP adds at most to a packet (for MTU/MSS).</summary>
    public int MaxOverhead => MaxPacketLength(0) + _block - 1;

    internal static int IntegrityKeyLength(EspCipher cipher) => cipher switch
    {
        EspCipher.AesCbcHmacSha256 => 32,
        EspCipher.AesCbcHmacSha384 => 48,
        EspCipher.AesCbcHmacSha512 => 64,
        _ => 0,
    };

    private int PaddedLength(int innerLength)
    {
        int withTrailer = innerLength + 2;
        return (withTrailer + _block - 1) / _block * _block;
    }

    /// <summary>Builds the ESP packet (SPI … ICV) for <paramref name="inner"/> into <paramref name="output"/>.</summary>
    /// <returns>Octets written.</returns>
    /// <exception cref="ArgumentException"><paramref name="output"/> is shorter than <see cref="MaxPacketLength"/>.</exception>
    /// <exception cref="EspSequenceExhaustedException">The SA must be rekeyed.</exception>
    public int Encapsulate(ReadOnlySpan<byte> inner, byte nextHeader, Span<byte> output)
    {
        int total = MaxPacketLength(inner.Length);
        if (output.Length < total)
        {
            throw new ArgumentException($"the output buffer needs {total} octets", nameof(output));
        }
        ulong limit = _p.ExtendedSequenceNumbers ? ulong.MaxValue : uint.MaxValue;
        if (_sequence >= limit)
        {
            throw new EspSequenceExhaustedException(_p.Spi);
        }
        ulong seq = ++_sequence;
        BinaryPrimitives.WriteUInt32BigEndian(output, _p.Spi);
        BinaryPrimitives.WriteUInt32BigEndian(output[4..], (uint)seq);
        Span<byte> iv = output.Slice(HeaderLength, _ivLength);
        int plainLength = PaddedLength(inner.Length);
        Span<byte> body = output.Slice(HeaderLength + _ivLength, plainLength);
        inner.CopyTo(body);
        int padLength = plainLength - inner.Length - 2;
        for (int i = 0; i < padLength; i++)
        {
            body[inner.Length + i] = (byte)(i + 1);
        }
        body[plainLength - 2] = (byte)padLength;
        body[plainLength - 1] = nextHeader;
        Span<byte> icv = output.Slice(HeaderLength + _ivLength + plainLength, _icvLength);

        if (_gcm is not null)
        {
            // The IV is the 64-bit sequence number: unique per key, as RFC 4106 requires.
            BinaryPrimitives.WriteUInt64BigEndian(iv, seq);
            iv.CopyTo(_nonce.AsSpan(4));
            Span<byte> aad = stackalloc byte[12];
            int aadLength = WriteAad(aad, seq);
            _gcm.Encrypt(_nonce, body, body, icv, aad[..aadLength]);
        }
        else
        {
            NextIv(iv);
            _cbc!.Encrypt(iv, body);
            ComputeHmac(output[..(HeaderLength + _ivLength + plainLength)], seq, icv);
        }
        return total;
    }

    private void NextIv(Span<byte> iv)
    {
        _ivPool ??= new byte[256 * 16];
        if (_ivPoolOffset == 0)
        {
            RandomNumberGenerator.Fill(_ivPool);
        }
        _ivPool.AsSpan(_ivPoolOffset, iv.Length).CopyTo(iv);
        // Each IV is used once: the pooled bytes are cleared as they are handed out.
        _ivPool.AsSpan(_ivPoolOffset, iv.Length).Clear();
        _ivPoolOffset = (_ivPoolOffset + iv.Length) % _ivPool.Length;
    }

    /// <summary>
    /// Verifies and decrypts an ESP packet; on <see cref="EspResult.Ok"/> the inner packet is
    /// <c>output[..innerLength]</c> with <paramref name="nextHeader"/>. <paramref name="output"/> must hold the
    /// packet's ciphertext (packet length is always enough).
    /// </summary>
    public EspResult Decapsulate(ReadOnlySpan<byte> packet, Span<byte> output, out int innerLength, out byte nextHeader)
    {
        innerLength = 0;
        nextHeader = 0;
        int cipherLength = packet.Length - HeaderLength - _ivLength - _icvLength;
        if (cipherLength < 2 || cipherLength % _block != 0 || BinaryPrimitives.ReadUInt32BigEndian(packet) != _p.Spi)
        {
            return EspResult.Malformed;
        }
        if (output.Length < cipherLength)
        {
            throw new ArgumentException($"the output buffer needs {cipherLength} octets", nameof(output));
        }
        uint low = BinaryPrimitives.ReadUInt32BigEndian(packet[4..]);
        ulong seq = _p.ExtendedSequenceNumbers ? InferSequence(low) : low;
        switch (_window.Check(seq))
        {
            case ReplayCheck.Replayed:
                return EspResult.Replayed;
            case ReplayCheck.TooOld:
                return EspResult.TooOld;
        }
        return Open(packet, seq, output, out innerLength, out nextHeader);
    }

    /// <summary>ICV, decryption, trailer and window update for a packet whose full sequence number is known.</summary>
    internal EspResult Open(ReadOnlySpan<byte> packet, ulong seq, Span<byte> output, out int innerLength, out byte nextHeader)
    {
        innerLength = 0;
        nextHeader = 0;
        int cipherLength = packet.Length - HeaderLength - _ivLength - _icvLength;
        ReadOnlySpan<byte> iv = packet.Slice(HeaderLength, _ivLength);
        ReadOnlySpan<byte> cipher = packet.Slice(HeaderLength + _ivLength, cipherLength);
        ReadOnlySpan<byte> icv = packet.Slice(HeaderLength + _ivLength + cipherLength, _icvLength);
        Span<byte> plain = output[..cipherLength];
        if (_gcm is not null)
        {
            iv.CopyTo(_nonce.AsSpan(4));
            Span<byte> aad = stackalloc byte[12];
            int aadLength = WriteAad(aad, seq);
            try
            {
                _gcm.Decrypt(_nonce, cipher, icv, plain, aad[..aadLength]);
            }
            catch (AuthenticationTagMismatchException)
            {
                return EspResult.AuthenticationFailed;
            }
        }
        else
        {
            Span<byte> expected = stackalloc byte[64];
            ComputeHmac(packet[..(HeaderLength + _ivLength + cipherLength)], seq, expected[.._icvLength]);
            if (!CryptographicOperations.FixedTimeEquals(expected[.._icvLength], icv))
            {
                return EspResult.AuthenticationFailed;
            }
            _cbc!.Decrypt(iv, cipher, plain);
        }
        int padLength = plain[^2];
        if (padLength + 2 > plain.Length)
        {
            return EspResult.BadPadding;
        }
        int inner = plain.Length - 2 - padLength;
        for (int i = 0; i < padLength; i++)
        {
            if (plain[inner + i] != (byte)(i + 1))
            {
                return EspResult.BadPadding;
            }
        }
        // Authenticated: only now does the window move (RFC 4303 §3.4.3).
        if (!_window.Accept(seq))
        {
            return EspResult.Replayed;
        }
        nextHeader = plain[^1];
        innerLength = inner;
        return nextHeader == 59 ? EspResult.Dummy : EspResult.Ok;
    }

    /// <summary>RFC 4303 Appendix A2.2: the high half of an ESN from the low half and the window's top.</summary>
    private ulong InferSequence(uint low)
    {
        ulong top = _window.Highest;
        uint th = (uint)(top >> 32);
        uint tl = (uint)top;
        uint w = (uint)Math.Min(_window.Size, uint.MaxValue);
        uint bl = unchecked(tl - w + 1);
        uint high = tl >= w - 1
            ? (low >= bl ? th : unchecked(th + 1))
            // Case B; in the first epoch there is no earlier one, so the high half stays 0.
            : (low >= bl && th > 0 ? th - 1 : th);
        return ((ulong)high << 32) | low;
    }

    /// <summary>AAD of RFC 4106 §5: SPI ‖ Seq (8) or SPI ‖ Seqh ‖ Seql (12).</summary>
    private int WriteAad(Span<byte> aad, ulong seq)
    {
        BinaryPrimitives.WriteUInt32BigEndian(aad, _p.Spi);
        if (_p.ExtendedSequenceNumbers)
        {
            BinaryPrimitives.WriteUInt64BigEndian(aad[4..], seq);
            return 12;
        }
        BinaryPrimitives.WriteUInt32BigEndian(aad[4..], (uint)seq);
        return 8;
    }

    /// <summary>ICV = leftmost bits of HMAC(SPI ‖ Seq ‖ IV ‖ ciphertext [‖ Seqh]) (RFC 4303 §3.3.2.1, RFC 4868).</summary>
    private void ComputeHmac(ReadOnlySpan<byte> covered, ulong seq, Span<byte> icv)
    {
        HashAlgorithmName hash = _p.Cipher switch
        {
            EspCipher.AesCbcHmacSha256 => HashAlgorithmName.SHA256,
            EspCipher.AesCbcHmacSha384 => HashAlgorithmName.SHA384,
            _ => HashAlgorithmName.SHA512,
        };
        IncrementalHash hmac = _hmac ??= IncrementalHash.CreateHMAC(hash, _p.IntegrityKey!);
        hmac.AppendData(covered);
        if (_p.ExtendedSequenceNumbers)
        {
            Span<byte> high = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(high, (uint)(seq >> 32));
            hmac.AppendData(high);
        }
        Span<byte> full = stackalloc byte[64];
        int n = hmac.GetHashAndReset(full);
        full[..icv.Length].CopyTo(icv);
        CryptographicOperations.ZeroMemory(full[..n]);
    }

    public void Dispose()
    {
        _gcm?.Dispose();
        _cbc?.Dispose();
        _aes?.Dispose();
        _hmac?.Dispose();
    }
}
