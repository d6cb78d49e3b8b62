using System.Security.Cryptography;

namespace Certgate.Esp;

/// <summary>
/// AES-CBC for ESP (RFC 3602) with a fresh IV per packet, on one long-lived encryptor and decryptor per SA instead of
/// .NET's one-shot <c>EncryptCbc</c>/<c>DecryptCbc</c>, which set up a cipher context (key schedule included) and
/// allocate on every call.
/// </summary>
/// <remarks>
/// Why this is CBC with the packet's IV: a CBC transform used block by block keeps the last ciphertext block L as
/// its chaining value, and enciphers P1 as E(P1 ⊕ L). Feeding P1 ⊕ IV ⊕ L instead gives E(P1 ⊕ IV), the first block
/// of CBC under IV; every later block chains as usual. Decrypting, the transform outputs D(C1) ⊕ L, and ⊕ L ⊕ IV
/// turns that into D(C1) ⊕ IV. L is the last ciphertext block of the previous call on that transform, kept here.
/// One thread per direction (an ESP SA's send side and receive side each have one owner); the two may differ.
/// </remarks>
internal sealed class AesCbcChain : IDisposable
{
    private const int Block = 16;
    private readonly ICryptoTransform _encryptor;
    private readonly ICryptoTransform _decryptor;
    private readonly byte[] _lastOut = new byte[Block];
    private readonly byte[] _lastIn = new byte[Block];
    // Scratch per direction, so a send thread and a receive thread may share one instance.
    private byte[] _encIn = new byte[2048];
    private byte[] _encOut = new byte[2048];
    private byte[] _decIn = new byte[2048];
    private byte[] _decOut = new byte[2048];

    public AesCbcChain(Aes aes)
    {
        ArgumentNullException.ThrowIfNull(aes);
        aes.Mode = CipherMode.CBC;
        aes.Padding = PaddingMode.None;
        // Both start chaining from a zero IV; _lastOut and _lastIn start at zero to match.
        _encryptor = aes.CreateEncryptor(aes.Key, new byte[Block]);
        _decryptor = aes.CreateDecryptor(aes.Key, new byte[Block]);
    }

    /// <summary>Encrypts <paramref name="data"/> (whole blocks) in place under <paramref name="iv"/>.</summary>
    public void Encrypt(ReadOnlySpan<byte> iv, Span<byte> data)
    {
        int n = data.Length;
        if (n == 0 || n % Block != 0)
        {
            throw new ArgumentException("CBC needs whole 16-octet blocks", nameof(data));
        }
        Ensure(ref _encIn, ref _encOut, n);
        data.CopyTo(_encIn);
        for (int i = 0; i < Block; i++)
        {
            _encIn[i] ^= (byte)(iv[i] ^ _lastOut[i]);
        }
        _encryptor.TransformBlock(_encIn, 0, n, _encOut, 0);
        _encOut.AsSpan(n - Block, Block).CopyTo(_lastOut);
        _encOut.AsSpan(0, n).CopyTo(data);
    }

    /// <summary>Decrypts <paramref name="cipher"/> (whole blocks) under <paramref name="iv"/> into <paramref name="plain"/>.</summary>
    public void Decrypt(ReadOnlySpan<byte> iv, ReadOnlySpan<byte> cipher, Span<byte> plain)
    {
        int n = cipher.Length;
        if (n == 0 || n % Block != 0)
        {
            throw new ArgumentException("CBC needs whole 16-octet blocks", nameof(cipher));
        }
        Ensure(ref _decIn, ref _decOut, n);
        cipher.CopyTo(_decIn);
        _decryptor.TransformBlock(_decIn, 0, n, _decOut, 0);
        for (int i = 0; i < Block; i++)
        {
            _decOut[i] ^= (byte)(iv[i] ^ _lastIn[i]);
        }
        cipher[(n - Block)..].CopyTo(_lastIn);
        _decOut.AsSpan(0, n).CopyTo(plain);
    }

    private static void Ensure(ref byte[] input, ref byte[] output, int n)
    {
        if (input.Length < n)
        {
            input = new byte[n];
            output = new byte[n];
        }
    }

    public void Dispose()
    {
        _encryptor.Dispose();
        _decryptor.Dispose();
        // Plaintext passed through these.
        CryptographicOperations.ZeroMemory(_encIn);
        CryptographicOperations.ZeroMemory(_encOut);
        CryptographicOperations.ZeroMemory(_decIn);
        CryptographicOperations.ZeroMemory(_decOut);
    }
}
