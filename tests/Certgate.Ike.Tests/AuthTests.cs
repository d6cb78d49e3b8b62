using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Auth;
using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Ike.Tests;

public sealed class AuthTests
{
    /// <summary>A self-signed certificate (public key only) for a fresh key of <paramref name="kind"/>, and that key.</summary>
    private static (X509Certificate2 Cert, AsymmetricAlgorithm Key) Make(string kind)
    {
        AsymmetricAlgorithm key = kind.StartsWith("rsa", StringComparison.Ordinal)
            ? RSA.Create(2048)
            : ECDsa.Create(kind == "p384" ? ECCurve.NamedCurves.nistP384 : ECCurve.NamedCurves.nistP256);
        using X509Certificate2 withKey = TestCa.SelfSigned(key, "CN=peer", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return (X509CertificateLoader.LoadCertificate(withKey.RawData), key);
    }

    [Theory]
    [InlineData("rsa", false, AuthMethod.RSA_DIGITAL_SIGNATURE)]
    [InlineData("rsa", true, AuthMethod.DIGITAL_SIGNATURE)]
    [InlineData("p256", false, AuthMethod.ECDSA_SHA_256_P256)]
    [InlineData("p384", false, AuthMethod.ECDSA_SHA_384_P384)]
    [InlineData("p256", true, AuthMethod.DIGITAL_SIGNATURE)]
    public void SignThenVerify_AndTamperingFails(string kind, bool rfc7427, AuthMethod expected)
    {
        (X509Certificate2 cert, AsymmetricAlgorithm key) = Make(kind);
        var prf = new KeyDerivation(HashAlgorithmName.SHA256);
        byte[] octets = AuthPayload.SignedOctets(prf, RandomNumberGenerator.GetBytes(300), RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32), [2, 0, 0, 0, .. "gw1"u8]);
        (AuthMethod method, byte[] data) = AuthPayload.Sign(key, octets, rfc7427);
        Assert.Equal(expected, method);
        // Method 1 is PKCS#1 v1.5 with SHA-1 (RFC 7296 peers without RFC 7427): verified only with the legacy switch.
        bool sha1 = method == AuthMethod.RSA_DIGITAL_SIGNATURE;
        if (sha1)
        {
            Assert.Contains("with SHA-1", AuthPayload.Verify(cert, method, data, octets));
        }
        Assert.Null(AuthPayload.Verify(cert, method, data, octets, allowSha1: sha1));

        octets[^1] ^= 1;
        Assert.NotNull(AuthPayload.Verify(cert, method, data, octets, allowSha1: sha1));
        octets[^1] ^= 1;

        (X509Certificate2 other, _) = Make(kind);
        Assert.Contains("does not verify", AuthPayload.Verify(other, method, data, octets, allowSha1: sha1));
        Assert.NotNull(AuthPayload.Verify(cert, AuthMethod.SHARED_KEY_MESSAGE_INTEGRITY_CODE, data, octets));
        Assert.NotNull(AuthPayload.Verify(cert, AuthMethod.DIGITAL_SIGNATURE, [], octets));
    }

    [Fact]
    public void SharedKeyMic_DependsOnSecretAndOctets()
    {
        var prf = new KeyDerivation(HashAlgorithmName.SHA256);
        byte[] a = AuthPayload.SharedKeyMic(prf, "secret"u8, "octets"u8);
        Assert.Equal(a, AuthPayload.SharedKeyMic(prf, "secret"u8, "octets"u8));
        Assert.NotEqual(a, AuthPayload.SharedKeyMic(prf, "secreT"u8, "octets"u8));
        Assert.NotEqual(a, AuthPayload.SharedKeyMic(prf, "secret"u8, "octetS"u8));
    }
}
