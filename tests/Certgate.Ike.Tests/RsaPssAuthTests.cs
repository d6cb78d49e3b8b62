using System.Diagnostics;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Auth;
using Certgate.Ipsec.Registry;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Ike.Tests;

/// <summary>
/// RSASSA-PSS in the RFC 7427 Digital Signature AUTH method (14): known answers against OpenSSL both ways, the exact
/// AlgorithmIdentifier sent, and the strict reading of RFC 4055 parameters.
/// </summary>
public sealed class RsaPssAuthTests : IDisposable
{
    /// <summary>
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32 in the form of RFC 7427 Appendix A (hash parameters NULL,
    /// trailerField omitted): the bytes libreswan 4.10 compares a peer's AlgorithmIdentifier with.
    /// </summary>
    private const string PssSha256Der =
        "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120";

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("certgate-pss-");
    private readonly RSA _key = RSA.Create(2048);
    private readonly X509Certificate2 _cert;

    public RsaPssAuthTests()
    {
        using X509Certificate2 withKey = TestCa.SelfSigned(_key, "CN=peer", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        _cert = X509CertificateLoader.LoadCertificate(withKey.RawData);
    }

    public void Dispose()
    {
        _key.Dispose();
        _cert.Dispose();
        _dir.Delete(recursive: true);
    }

    [Fact]
    public void AlgorithmIdentifier_IsTheRfc7427Form()
    {
        Assert.Equal(PssSha256Der, Convert.ToHexStringLower(RsaPss.AlgorithmIdentifier(HashAlgorithmName.SHA256)));
        foreach (HashAlgorithmName h in new[] { HashAlgorithmName.SHA256, HashAlgorithmName.SHA384, HashAlgorithmName.SHA512 })
        {
            Assert.Null(RsaPss.TryRead(RsaPss.AlgorithmIdentifier(h), out HashAlgorithmName read));
            Assert.Equal(h, read);
        }
        Assert.Equal("hash", Assert.Throws<ArgumentException>(() => RsaPss.AlgorithmIdentifier(HashAlgorithmName.SHA1).Length).ParamName);
    }

    [Theory]
    [InlineData(SignatureHash.SHA2_256, "sha256")]
    [InlineData(SignatureHash.SHA2_384, "sha384")]
    [InlineData(SignatureHash.SHA2_512, "sha512")]
    public void OurPssAuth_VerifiesWithOpenssl(SignatureHash announced, string digest)
    {
        byte[] octets = RandomNumberGenerator.GetBytes(500);
        (AuthMethod method, byte[] data) = AuthPayload.Sign(_key, octets, [announced]);
        Assert.Equal(AuthMethod.DIGITAL_SIGNATURE, method);
        int algLength = data[0];
        Assert.Null(RsaPss.TryRead(data.AsSpan(1, algLength), out _));
        Assert.Null(AuthPayload.Verify(_cert, method, data, octets));

        string pub = Write("pub.pem", _key.ExportSubjectPublicKeyInfoPem());
        string hashed = Write("digest.bin", HashFor(digest, octets));
        string sig = Write("sig.bin", data[(1 + algLength)..]);
        string ok = Openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub, "-in", hashed, "-sigfile", sig,
            "-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", $"digest:{digest}", "-pkeyopt", "rsa_pss_saltlen:digest", "-pkeyopt", $"rsa_mgf1_md:{digest}");
        Assert.Contains("Signature Verified Successfully", ok);

        // The parameters, as OpenSSL reads them.
        string asn1 = Openssl("asn1parse", "-inform", "DER", "-in", Write("alg.der", data.AsSpan(1, algLength).ToArray()));
        Assert.Contains("rsassaPss", asn1);
        Assert.Contains("mgf1", asn1);
        Assert.Contains(digest, asn1);
    }

    [Theory]
    [InlineData("sha256")]
    [InlineData("sha384")]
    [InlineData("sha512")]
    public void OpensslPssSignature_VerifiesInOurs(string digest)
    {
        byte[] octets = RandomNumberGenerator.GetBytes(700);
        HashAlgorithmName hash = new(digest.ToUpperInvariant());
        byte[] signature = OpensslSign(octets, digest, "digest");
        byte[] alg = RsaPss.AlgorithmIdentifier(hash).ToArray();
        Assert.Null(AuthPayload.Verify(_cert, AuthMethod.DIGITAL_SIGNATURE, [(byte)alg.Length, .. alg, .. signature], octets));

        octets[0] ^= 1;
        Assert.Contains("does not verify", AuthPayload.Verify(_cert, AuthMethod.DIGITAL_SIGNATURE, [(byte)alg.Length, .. alg, .. signature], octets));
    }

    [Fact]
    public void OpensslPssSignature_WithAnotherSaltThanStated_DoesNotVerify()
    {
        byte[] octets = RandomNumberGenerator.GetBytes(100);
        byte[] signature = OpensslSign(octets, "sha256", "20");
        byte[] alg = RsaPss.AlgorithmIdentifier(HashAlgorithmName.SHA256).ToArray();
        Assert.Equal("the RSASSA-PSS with SHA-256 signature does not verify with the peer certificate's key",
            AuthPayload.Verify(_cert, AuthMethod.DIGITAL_SIGNATURE, [(byte)alg.Length, .. alg, .. signature], octets));
    }

    public static TheoryData<string, string?> Parameters => new()
    {
        // What is accepted beside our own form: hash parameters absent (RFC 4055 §2.1), trailerField 1 written out.
        { "hash-params-absent", null },
        { "trailer-1", null },
        { "sha1", "the hashAlgorithm is SHA-1 (expected SHA-256, SHA-384 or SHA-512)" },
        { "md5", "the hashAlgorithm is 1.2.840.113549.2.5 (expected SHA-256, SHA-384 or SHA-512)" },
        { "no-hash", "the hashAlgorithm is left to its default, SHA-1 (expected SHA-256, SHA-384 or SHA-512)" },
        { "no-mgf", "the maskGenAlgorithm is left to its default, MGF1 with SHA-1 (expected MGF1 with SHA-256, the signature's hash)" },
        { "mgf1-sha384", "MGF1 uses SHA-384, not the signature's hash SHA-256" },
        { "mgf-other", "the maskGenAlgorithm is 1.2.840.113549.1.1.9, not MGF1 (1.2.840.113549.1.1.8)" },
        { "no-salt", "the saltLength is left to its default, 20 (expected 32, the length of SHA-256)" },
        { "salt-20", "the saltLength is not 32, the length of SHA-256 (the only salt length accepted)" },
        { "trailer-2", "the trailerField is not 1 (trailerFieldBC, the only one RFC 4055 defines)" },
        { "extra-field", "the RSASSA-PSS-params carry an unknown field (tag [4])" },
        { "hash-params-int", "the hashAlgorithm's parameters are not NULL or absent" },
        { "no-params", "the RSASSA-PSS-params are missing (RFC 4055 §3.1: a signature names its hash, MGF and salt length)" },
        { "trailing", "octets follow the AlgorithmIdentifier" },
        { "ber-length", "the AlgorithmIdentifier is not valid DER" },
    };

    [Theory]
    [MemberData(nameof(Parameters))]
    public void Parameters_AreReadStrictly(string variant, string? expected)
    {
        byte[] octets = RandomNumberGenerator.GetBytes(64);
        byte[] alg = Variant(variant);
        Assert.Equal(expected, RsaPss.TryRead(alg, out _));

        // The signature is a good one over the octets (SHA-256, MGF1-SHA-256, salt 32): only the parameters decide.
        byte[] data = [(byte)alg.Length, .. alg, .. _key.SignData(octets, HashAlgorithmName.SHA256, RSASignaturePadding.Pss)];
        string? verdict = AuthPayload.Verify(_cert, AuthMethod.DIGITAL_SIGNATURE, data, octets);
        if (expected is null)
        {
            Assert.Null(verdict);
        }
        else
        {
            Assert.Equal($"the Digital Signature's RSASSA-PSS parameters are not accepted: {expected}", verdict);
        }
    }

    [Fact]
    public void PssAlgorithm_WithAnEcdsaCertificate_IsRefused()
    {
        using ECDsa ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using X509Certificate2 ecCert = TestCa.SelfSigned(ec, "CN=peer", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        byte[] octets = RandomNumberGenerator.GetBytes(64);
        (AuthMethod method, byte[] data) = AuthPayload.Sign(_key, octets, [SignatureHash.SHA2_256]);
        Assert.Equal("the Digital Signature is RSASSA-PSS, but the peer certificate's key is not RSA", AuthPayload.Verify(ecCert, method, data, octets));
    }

    [Fact]
    public void PeerWithoutRfc7427_StillGetsMethod1()
    {
        byte[] octets = RandomNumberGenerator.GetBytes(64);
        (AuthMethod method, byte[] data) = AuthPayload.Sign(_key, octets, peerHashes: null);
        Assert.Equal(AuthMethod.RSA_DIGITAL_SIGNATURE, method);
        Assert.True(_key.VerifyData(octets, data, HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1));
    }

    private static byte[] Variant(string variant)
    {
        const string sha256 = "2.16.840.1.101.3.4.2.1";
        (string? Hash, bool HashNull, string? Mgf, string? MgfHash, int? Salt, int? Trailer, bool Extra, bool IntParam) spec = variant switch
        {
            "hash-params-absent" => (sha256, false, RsaPss.Mgf1Oid, sha256, 32, null, false, false),
            "trailer-1" => (sha256, true, RsaPss.Mgf1Oid, sha256, 32, 1, false, false),
            "sha1" => ("1.3.14.3.2.26", true, RsaPss.Mgf1Oid, "1.3.14.3.2.26", 20, null, false, false),
            "md5" => ("1.2.840.113549.2.5", true, RsaPss.Mgf1Oid, sha256, 32, null, false, false),
            "no-hash" => (null, true, RsaPss.Mgf1Oid, sha256, 32, null, false, false),
            "no-mgf" => (sha256, true, null, null, 32, null, false, false),
            "mgf1-sha384" => (sha256, true, RsaPss.Mgf1Oid, "2.16.840.1.101.3.4.2.2", 32, null, false, false),
            "mgf-other" => (sha256, true, "1.2.840.113549.1.1.9", sha256, 32, null, false, false),
            "no-salt" => (sha256, true, RsaPss.Mgf1Oid, sha256, null, null, false, false),
            "salt-20" => (sha256, true, RsaPss.Mgf1Oid, sha256, 20, null, false, false),
            "trailer-2" => (sha256, true, RsaPss.Mgf1Oid, sha256, 32, 2, false, false),
            "extra-field" => (sha256, true, RsaPss.Mgf1Oid, sha256, 32, null, true, false),
            "hash-params-int" => (sha256, true, RsaPss.Mgf1Oid, sha256, 32, null, false, true),
            _ => (sha256, true, RsaPss.Mgf1Oid, sha256, 32, null, false, false),
        };
        (string? hash, bool hashNull, string? mgf, string? mgfHash, int? salt, int? trailer, bool extra, bool intParam) = spec;
        if (variant == "no-params")
        {
            var bare = new AsnWriter(AsnEncodingRules.DER);
            using (bare.PushSequence())
            {
                bare.WriteObjectIdentifier(RsaPss.Oid);
            }
            return bare.Encode();
        }
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(RsaPss.Oid);
            using (w.PushSequence())
            {
                if (hash is not null)
                {
                    using (w.PushSequence(Context(0)))
                    using (w.PushSequence())
                    {
                        w.WriteObjectIdentifier(hash);
                        if (intParam)
                        {
                            w.WriteInteger(0);
                        }
                        else if (hashNull)
                        {
                            w.WriteNull();
                        }
                    }
                }
                if (mgf is not null)
                {
                    using (w.PushSequence(Context(1)))
                    using (w.PushSequence())
                    {
                        w.WriteObjectIdentifier(mgf);
                        using (w.PushSequence())
                        {
                            w.WriteObjectIdentifier(mgfHash!);
                            w.WriteNull();
                        }
                    }
                }
                if (salt is { } s)
                {
                    using (w.PushSequence(Context(2)))
                    {
                        w.WriteInteger(s);
                    }
                }
                if (trailer is { } t)
                {
                    using (w.PushSequence(Context(3)))
                    {
                        w.WriteInteger(t);
                    }
                }
                if (extra)
                {
                    using (w.PushSequence(Context(4)))
                    {
                        w.WriteInteger(0);
                    }
                }
            }
        }
        byte[] der = w.Encode();
        return variant switch
        {
            "trailing" => [.. der, 0],
            // The same content with a long-form length on the outer SEQUENCE: valid BER, not DER.
            "ber-length" => [0x30, 0x81, der[1], .. der[2..]],
            _ => der,
        };
    }

    private static Asn1Tag Context(int n) => new(TagClass.ContextSpecific, n, isConstructed: true);

    private static byte[] HashFor(string digest, byte[] data) => digest switch
    {
        "sha256" => SHA256.HashData(data),
        "sha384" => SHA384.HashData(data),
        _ => SHA512.HashData(data),
    };

    /// <summary>OpenSSL signs <paramref name="octets"/> with PSS over <paramref name="digest"/> and the given salt length.</summary>
    private byte[] OpensslSign(byte[] octets, string digest, string saltLength)
    {
        // The private key file is 0600 in the test's 0700 directory, and deleted with it.
        string key = Path.Combine(_dir.FullName, "key.pem");
        using (var f = new FileStream(key, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
        using (var text = new StreamWriter(f))
        {
            text.Write(_key.ExportPkcs8PrivateKeyPem());
        }
        string hashed = Write("digest.bin", HashFor(digest, octets));
        string sig = Path.Combine(_dir.FullName, "openssl-sig.bin");
        Openssl("pkeyutl", "-sign", "-inkey", key, "-in", hashed, "-out", sig,
            "-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", $"digest:{digest}", "-pkeyopt", $"rsa_pss_saltlen:{saltLength}", "-pkeyopt", $"rsa_mgf1_md:{digest}");
        return File.ReadAllBytes(sig);
    }

    private string Write(string name, byte[] data)
    {
        string path = Path.Combine(_dir.FullName, name);
        File.WriteAllBytes(path, data);
        return path;
    }

    private string Write(string name, string text) => Write(name, System.Text.Encoding.ASCII.GetBytes(text));

    /// <summary>Runs openssl (Debian's openssl package, which build.sh installs); a missing or failing openssl fails the test with its output.</summary>
    private static string Openssl(params string[] args)
    {
        var psi = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using Process p = Process.Start(psi) ?? throw new InvalidOperationException("openssl did not start (install Debian's openssl: ./build.sh deps)");
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000))
        {
            p.Kill();
            throw new TimeoutException($"openssl {string.Join(' ', args)} did not end within 60 s");
        }
        string output = stdout.Result + stderr.Result;
        Assert.True(p.ExitCode == 0, $"openssl {string.Join(' ', args)} failed ({p.ExitCode}): {output}");
        return output;
    }
}
