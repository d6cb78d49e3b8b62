using System.Security.Cryptography;

namespace Certgate.Ca.Issuance;

/// <summary>Source of certificate serial numbers (injected so tests can force collisions).</summary>
public interface ISerialNumberSource
{
    /// <summary>A new serial: big-endian, positive, minimally encoded, at least 64 random bits.</summary>
    byte[] Next();
}

/// <summary>
/// 16 random bytes with the top bit cleared: 127 random bits, positive as a DER INTEGER (CA/B Forum BR §7.1: "at least
/// 64 bits of output from a CSPRNG", RFC 5280 §4.1.2.2: "MUST be a positive integer", at most 20 octets). A first byte
/// of zero is redrawn so the encoding stays minimal at 16 octets. Uniqueness is the database's job (primary key;
/// the pipeline draws again on collision).
/// </summary>
public sealed class RandomSerialNumberSource : ISerialNumberSource
{
    public static RandomSerialNumberSource Instance { get; } = new();

    /// <inheritdoc/>
    public byte[] Next()
    {
        byte[] serial = new byte[16];
        do
        {
            RandomNumberGenerator.Fill(serial);
            serial[0] &= 0x7F;
        }
        while (serial[0] == 0);
        return serial;
    }
}
