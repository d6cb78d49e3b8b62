using System.Security.Cryptography;

namespace Certgate.Ike.Crypto;

/// <summary>The IKE SA's keys (RFC 7296 §2.14), in derivation order.</summary>
public sealed record IkeSaKeys(byte[] Skd, byte[] Skai, byte[] Skar, byte[] Skei, byte[] Sker, byte[] Skpi, byte[] Skpr);

/// <summary>prf, prf+ and the IKEv2 key schedule with an HMAC-SHA2 (or SHA-1) PRF.</summary>
public sealed class KeyDerivation(HashAlgorithmName prfHash)
{
    /// <summary>The PRF's preferred key length = output length (32/48/64; 20 for SHA-1).</summary>
    public int PrfLength { get; } = prfHash.Name switch
    {
        "SHA1" => 20,
        "SHA256" => 32,
        "SHA384" => 48,
        "SHA512" => 64,
        _ => throw new ArgumentException($"PRF hash {prfHash.Name} is not supported", nameof(prfHash)),
    };

    public byte[] Prf(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data)
    {
        using var hmac = IncrementalHash.CreateHMAC(prfHash, key);
        hmac.AppendData(data);
        return hmac.GetHashAndReset();
    }

    /// <summary>prf+(K, S) = T1 | T2 | … with Tn = prf(K, T(n-1) | S | n), n ≤ 255 (RFC 7296 §2.13).</summary>
    /// <exception cref="ArgumentOutOfRangeException">More than 255 blocks asked for.</exception>
    public byte[] PrfPlus(ReadOnlySpan<byte> key, ReadOnlySpan<byte> seed, int length)
    {
        int blocks = (length + PrfLength - 1) / PrfLength;
        if (blocks > 255)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "prf+ yields at most 255 blocks");
        }
        byte[] output = new byte[blocks * PrfLength];
        using var hmac = IncrementalHash.CreateHMAC(prfHash, key);
        Span<byte> counter = stackalloc byte[1];
        for (int n = 1; n <= blocks; n++)
        {
            if (n > 1)
            {
                hmac.AppendData(output.AsSpan((n - 2) * PrfLength, PrfLength));
            }
            hmac.AppendData(seed);
            counter[0] = (byte)n;
            hmac.AppendData(counter);
            hmac.GetHashAndReset(output.AsSpan((n - 1) * PrfLength, PrfLength));
        }
        return output[..length];
    }

    /// <summary>SKEYSEED and the seven keys of a new IKE SA (§2.14).</summary>
    public IkeSaKeys DeriveIkeSa(ReadOnlySpan<byte> ni, ReadOnlySpan<byte> nr, ReadOnlySpan<byte> sharedSecret, ulong spiI, ulong spiR,
        int integrityKeyLength, int encryptionKeyLength)
    {
        byte[] skeyseed = Prf([.. ni, .. nr], sharedSecret);
        return FromSkeySeed(skeyseed, ni, nr, spiI, spiR, integrityKeyLength, encryptionKeyLength);
    }

    /// <summary>
    /// The keys of the IKE SA that replaces one (RFC 7296 §2.18): "SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)",
    /// then prf+ as in §2.14 with the new SPIs. Ni, Nr and SPIi belong to the initiator of the rekeying exchange.
    /// This is the old SA's PRF ("it is the old IKE SA's PRF that is used to generate SKEYSEED"); prf+ is the new
    /// SA's (<paramref name="next"/>, null: the same PRF).
    /// </summary>
    public IkeSaKeys DeriveRekeyedIkeSa(ReadOnlySpan<byte> oldSkd, ReadOnlySpan<byte> sharedSecret, ReadOnlySpan<byte> ni, ReadOnlySpan<byte> nr,
        ulong spiI, ulong spiR, int integrityKeyLength, int encryptionKeyLength, KeyDerivation? next = null)
    {
        byte[] skeyseed = Prf(oldSkd, [.. sharedSecret, .. ni, .. nr]);
        return (next ?? this).FromSkeySeed(skeyseed, ni, nr, spiI, spiR, integrityKeyLength, encryptionKeyLength);
    }

    private IkeSaKeys FromSkeySeed(byte[] skeyseed, ReadOnlySpan<byte> ni, ReadOnlySpan<byte> nr, ulong spiI, ulong spiR, int integrityKeyLength, int encryptionKeyLength)
    {
        byte[] spis = new byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(spis, spiI);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(spis.AsSpan(8), spiR);
        int total = 3 * PrfLength + 2 * integrityKeyLength + 2 * encryptionKeyLength;
        byte[] k = PrfPlus(skeyseed, [.. ni, .. nr, .. spis], total);
        CryptographicOperations.ZeroMemory(skeyseed);
        int o = 0;
        byte[] Take(int n)
        {
            byte[] part = k.AsSpan(o, n).ToArray();
            o += n;
            return part;
        }
        var keys = new IkeSaKeys(Take(PrfLength), Take(integrityKeyLength), Take(integrityKeyLength), Take(encryptionKeyLength),
            Take(encryptionKeyLength), Take(PrfLength), Take(PrfLength));
        CryptographicOperations.ZeroMemory(k);
        return keys;
    }

    /// <summary>Child SA KEYMAT = prf+(SK_d, [g^ir |] Ni | Nr) (§2.17): initiator→responder keys first.</summary>
    public byte[] ChildKeymat(ReadOnlySpan<byte> skd, ReadOnlySpan<byte> pfsSecret, ReadOnlySpan<byte> ni, ReadOnlySpan<byte> nr, int length) =>
        PrfPlus(skd, [.. pfsSecret, .. ni, .. nr], length);
}
