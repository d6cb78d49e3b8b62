using System.Numerics;
using System.Security.Cryptography;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sessions;

namespace Certgate.Ike.Crypto;

/// <summary>
/// One side of a Diffie-Hellman exchange in a group Certgate speaks: ECP-256/384/521 (RFC 5903: the KE data is
/// x ‖ y, the shared secret is x alone) and MODP-2048 (RFC 3526 group 14: values zero-padded to 256 octets).
/// </summary>
internal abstract class KeyExchange : IDisposable
{
    /// <summary>The group's Transform ID.</summary>
    public abstract DhGroup Group { get; }

    /// <summary>The KE payload's Key Exchange Data.</summary>
    public abstract byte[] PublicValue { get; }

    /// <summary>Computes g^ir from the peer's public value.</summary>
    /// <exception cref="IkeException">The peer's value has the wrong length or is not a valid group element.</exception>
    public abstract byte[] SharedSecret(ReadOnlySpan<byte> peer);

    /// <summary>Whether Certgate can compute <paramref name="group"/>.</summary>
    public static bool IsSupported(ushort group) => group is (ushort)DhGroup.MODP_2048 or (ushort)DhGroup.ECP_256 or (ushort)DhGroup.ECP_384
        or (ushort)DhGroup.ECP_521;

    /// <summary>A fresh private key in <paramref name="group"/>.</summary>
    public static KeyExchange Create(DhGroup group) => group switch
    {
        DhGroup.ECP_256 => new Ecp(group, ECCurve.NamedCurves.nistP256, 32),
        DhGroup.ECP_384 => new Ecp(group, ECCurve.NamedCurves.nistP384, 48),
        DhGroup.ECP_521 => new Ecp(group, ECCurve.NamedCurves.nistP521, 66),
        DhGroup.MODP_2048 => new Modp2048(),
        _ => throw new ArgumentOutOfRangeException(nameof(group), group, "supported groups: MODP_2048 (14), ECP_256 (19), ECP_384 (20), ECP_521 (21)"),
    };

    public abstract void Dispose();

    private sealed class Ecp(DhGroup group, ECCurve curve, int coordinate) : KeyExchange
    {
        private readonly ECDiffieHellman _dh = ECDiffieHellman.Create(curve);

        public override DhGroup Group => group;

        public override byte[] PublicValue
        {
            get
            {
                ECParameters p = _dh.ExportParameters(false);
                return [.. p.Q.X!, .. p.Q.Y!];
            }
        }

        public override byte[] SharedSecret(ReadOnlySpan<byte> peer)
        {
            if (peer.Length != 2 * coordinate)
            {
                throw new IkeException($"a {group} key exchange value is {2 * coordinate} octets, not {peer.Length}");
            }
            try
            {
                using ECDiffieHellman other = ECDiffieHellman.Create(new ECParameters
                {
                    Curve = curve,
                    Q = new ECPoint { X = peer[..coordinate].ToArray(), Y = peer[coordinate..].ToArray() },
                });
                return _dh.DeriveRawSecretAgreement(other.PublicKey);
            }
            catch (CryptographicException)
            {
                throw new IkeException($"the peer's {group} public value is not a point on the curve");
            }
        }

        public override void Dispose() => _dh.Dispose();
    }

    /// <summary>RFC 3526 §3: p = 2^2048 - 2^1984 - 1 + 2^64 * { [2^1918 pi] + 124476 }, g = 2.</summary>
    private sealed class Modp2048 : KeyExchange
    {
        private const int Length = 256;

        private static readonly BigInteger P = new(Convert.FromHexString(
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
            "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
            "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
            "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
            "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510" +
            "15728E5A8AACAA68FFFFFFFFFFFFFFFF"), isUnsigned: true, isBigEndian: true);

        private readonly BigInteger _x;

        public Modp2048()
        {
            // A 256-bit exponent gives the group's ~112-bit strength with room to spare (RFC 3526 §8 table).
            byte[] x = RandomNumberGenerator.GetBytes(32);
            _x = new BigInteger(x, isUnsigned: true, isBigEndian: true);
            CryptographicOperations.ZeroMemory(x);
        }

        public override DhGroup Group => DhGroup.MODP_2048;

        public override byte[] PublicValue => Pad(BigInteger.ModPow(2, _x, P));

        public override byte[] SharedSecret(ReadOnlySpan<byte> peer)
        {
            if (peer.Length != Length)
            {
                throw new IkeException($"a MODP_2048 key exchange value is {Length} octets, not {peer.Length}");
            }
            var y = new BigInteger(peer, isUnsigned: true, isBigEndian: true);
            // 1 < y < p-1: the values 0, 1 and p-1 would force a known shared secret (RFC 6989 §2.1).
            if (y <= BigInteger.One || y >= P - BigInteger.One)
            {
                throw new IkeException("the peer's MODP_2048 public value is out of range (1 < y < p-1)");
            }
            return Pad(BigInteger.ModPow(y, _x, P));
        }

        private static byte[] Pad(BigInteger value)
        {
            byte[] raw = value.ToByteArray(isUnsigned: true, isBigEndian: true);
            byte[] padded = new byte[Length];
            raw.CopyTo(padded, Length - raw.Length);
            return padded;
        }

        public override void Dispose()
        {
        }
    }
}
