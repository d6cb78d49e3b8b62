using System.Security.Cryptography;

namespace Certgate.Ca.Settings;

/// <summary>A key to generate: <c>rsa:2048</c>, <c>rsa:4096</c>, <c>ecdsa:p256</c>, <c>ecdsa:p384</c>.</summary>
public sealed record KeySpec(string Algorithm, int Size)
{
    /// <summary>Parses a key specification.</summary>
    /// <exception cref="ArgumentException">Not one of the supported specifications.</exception>
    public static KeySpec Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec switch
        {
            "rsa:2048" => new KeySpec("rsa", 2048),
            "rsa:3072" => new KeySpec("rsa", 3072),
            "rsa:4096" => new KeySpec("rsa", 4096),
            "ecdsa:p256" => new KeySpec("ecdsa", 256),
            "ecdsa:p384" => new KeySpec("ecdsa", 384),
            _ => throw new ArgumentException($"key '{spec}': expected rsa:2048, rsa:3072, rsa:4096, ecdsa:p256 or ecdsa:p384", nameof(spec)),
        };
    }

    public bool IsRsa => Algorithm == "rsa";

    /// <summary>Generates a new key pair of this kind.</summary>
    public AsymmetricAlgorithm Generate() => IsRsa
        ? RSA.Create(Size)
        : ECDsa.Create(Size == 256 ? ECCurve.NamedCurves.nistP256 : ECCurve.NamedCurves.nistP384);

    public override string ToString() => IsRsa ? $"rsa:{Size}" : $"ecdsa:p{Size}";
}
