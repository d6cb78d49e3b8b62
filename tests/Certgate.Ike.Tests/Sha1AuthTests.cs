using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Auth;
using Certgate.Ipsec.Registry;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Ike.Tests;

/// <summary>
/// SHA-1 in a peer's AUTH (issue #14 §2, RFC 8247 §3.2: SHA-1 signatures MUST NOT be used in IKEv2): RSA method 1 with
/// a SHA-1 DigestInfo and RFC 7427 method 14 with sha1WithRSAEncryption are refused with the reason and the switch
/// to set, and accepted with the legacy switch; SHA-2 in method 1 needs no switch.
/// </summary>
public sealed class Sha1AuthTests : IDisposable
{
    private const string Remedy = "set security pki allow-sha1-signatures to accept it";
    private static readonly byte[] Sha1WithRsa = Convert.FromHexString("300d06092a864886f70d0101050500");
    private readonly RSA _key = RSA.Create(2048);
    private readonly X509Certificate2 _cert;
    private readonly byte[] _octets = RandomNumberGenerator.GetBytes(400);

    public Sha1AuthTests()
    {
        _cert = X509CertificateLoader.LoadCertificate(TestCa.SelfSigned(_key, "CN=legacy-peer, O=Example", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1)).RawData);
    }

    public void Dispose()
    {
        _key.Dispose();
        _cert.Dispose();
    }

    [Fact]
    public void Method1_WithSha1_IsRefusedWithTheReason_AndAcceptedWithTheSwitch()
    {
        byte[] signature = _key.SignData(_octets, HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1);
        Assert.Equal($"the AUTH is an RSA signature with SHA-1 (method 1, PKCS#1 v1.5) by CN=legacy-peer, O=Example; {Remedy}",
            AuthPayload.Verify(_cert, AuthMethod.RSA_DIGITAL_SIGNATURE, signature, _octets));
        Assert.Null(AuthPayload.Verify(_cert, AuthMethod.RSA_DIGITAL_SIGNATURE, signature, _octets, allowSha1: true));
    }

    [Fact]
    public void Method1_WithSha256_NeedsNoSwitch()
    {
        byte[] signature = _key.SignData(_octets, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        Assert.Null(AuthPayload.Verify(_cert, AuthMethod.RSA_DIGITAL_SIGNATURE, signature, _octets));
    }

    [Fact]
    public void Method14_WithSha1WithRsaEncryption_IsRefusedWithTheReason_AndAcceptedWithTheSwitch()
    {
        byte[] data = [(byte)Sha1WithRsa.Length, .. Sha1WithRsa, .. _key.SignData(_octets, HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1)];
        Assert.Equal($"the AUTH is a Digital Signature with sha1WithRSAEncryption (RFC 7427) by CN=legacy-peer, O=Example; {Remedy}",
            AuthPayload.Verify(_cert, AuthMethod.DIGITAL_SIGNATURE, data, _octets));
        Assert.Null(AuthPayload.Verify(_cert, AuthMethod.DIGITAL_SIGNATURE, data, _octets, allowSha1: true));
        data[^1] ^= 1;
        Assert.Contains("does not verify", AuthPayload.Verify(_cert, AuthMethod.DIGITAL_SIGNATURE, data, _octets, allowSha1: true));
    }
}
