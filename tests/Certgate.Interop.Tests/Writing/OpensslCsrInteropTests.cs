using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Certgate.Interop.Tests.Tools;
using Certgate.Pki.Keys;
using Certgate.Pki.Requests;

namespace Certgate.Interop.Tests.Writing;

/// <summary>Keys generated once per test class and shared (RSA generation is slow on a small box).</summary>
public sealed class KeyCache : IDisposable
{
    private readonly ConcurrentDictionary<(KeyAlgorithm, int), KeyPair> _keys = new();

    public KeyPair Get(KeyAlgorithm algorithm, int size) => _keys.GetOrAdd((algorithm, size), k => KeyPair.Generate(k.Item1, k.Item2));

    public void Dispose()
    {
        foreach (KeyPair k in _keys.Values)
        {
            k.Dispose();
        }
    }
}

/// <summary><c>openssl req</c> accepts and shows the PKCS#10 requests <see cref="CertificateRequestBuilder"/> writes.</summary>
public sealed class OpensslCsrInteropTests(KeyCache keys) : IClassFixture<KeyCache>, IDisposable
{
    private readonly TempDirectory _dir = new("certgate-interop-csr-");

    public static TheoryData<KeyAlgorithm, int, SignatureDigest> KeysAndDigests()
    {
        var data = new TheoryData<KeyAlgorithm, int, SignatureDigest>();
        foreach (int size in new[] { 1024, 2048, 3072 })
        {
            foreach (SignatureDigest d in Enum.GetValues<SignatureDigest>())
            {
                data.Add(KeyAlgorithm.Rsa, size, d);
            }
        }
        foreach (int size in new[] { 256, 384 })
        {
            foreach (SignatureDigest d in Enum.GetValues<SignatureDigest>())
            {
                if (SignatureDigests.Refusal(KeyAlgorithm.Ecdsa, d) is null)
                {
                    data.Add(KeyAlgorithm.Ecdsa, size, d);
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(KeysAndDigests))]
    public void Openssl_verifies_our_request_signature(KeyAlgorithm algorithm, int size, SignatureDigest digest)
    {
        KeyPair key = keys.Get(algorithm, size);
        byte[] der = CertificateRequestBuilder.Create(key, new CertificateRequestOptions
        {
            Subject = new X500DistinguishedName("CN=gw1.example.net, OU=VPN, O=Certgate"),
            DnsNames = ["gw1.example.net"],
            Digest = digest,
        });
        string pem = Openssl.Write(_dir, "req.pem", CertificateSigningRequest.Parse(der).ToPem());

        ExternalTool.Result verify = Openssl.Run("req", "-verify", "-noout", "-in", pem);
        Assert.True(verify.ExitCode == 0, $"openssl req -verify failed for {algorithm}-{size} {digest}:\n{verify.Combined}");
        Assert.Contains("verify OK", verify.Combined, StringComparison.OrdinalIgnoreCase);

        // DER input as well (what SCEP carries).
        string derFile = Openssl.Write(_dir, "req.der", der);
        Openssl.Check("req", "-verify", "-noout", "-inform", "DER", "-in", derFile);

        string text = Openssl.Check("req", "-text", "-noout", "-in", pem).StdOut;
        string expectedAlg = (algorithm, digest) switch
        {
            (KeyAlgorithm.Rsa, _) => digest.ToString().ToLowerInvariant() + "WithRSAEncryption",
            _ => "ecdsa-with-" + digest.ToString().ToUpperInvariant(),
        };
        Assert.Contains("Signature Algorithm: " + expectedAlg, text);
        Assert.Contains($"Public-Key: ({size} bit)", text);
        Assert.Contains("CN = gw1.example.net", text);

        // The public key openssl sees is ours.
        string pubFile = _dir.File("req-pub.pem");
        Openssl.Check("req", "-in", pem, "-noout", "-pubkey", "-out", pubFile);
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), Openssl.PemBody(pubFile, "PUBLIC KEY"));
    }

    [Theory]
    [InlineData(KeyAlgorithm.Rsa, 2048)]
    [InlineData(KeyAlgorithm.Ecdsa, 384)]
    public void Openssl_shows_our_subject_alt_names_and_challenge_password(KeyAlgorithm algorithm, int size)
    {
        KeyPair key = keys.Get(algorithm, size);
        byte[] der = CertificateRequestBuilder.Create(key, new CertificateRequestOptions
        {
            Subject = new X500DistinguishedName("CN=gw2.example.net, O=Certgate, C=NL"),
            DnsNames = ["gw2.example.net", "vpn.example.net"],
            IPAddresses = [IPAddress.Parse("192.0.2.17"), IPAddress.Parse("2001:db8::1")],
            Emails = ["ops@example.net"],
            ChallengePassword = "Scep-Challenge 42",
            Digest = SignatureDigest.Sha256,
        });
        string pem = Openssl.Write(_dir, "san.pem", CertificateSigningRequest.Parse(der).ToPem());
        Openssl.Check("req", "-verify", "-noout", "-in", pem);
        string text = Openssl.Check("req", "-text", "-noout", "-in", pem).StdOut;

        Assert.Contains("X509v3 Subject Alternative Name", text);
        Assert.Contains("DNS:gw2.example.net", text);
        Assert.Contains("DNS:vpn.example.net", text);
        Assert.Contains("IP Address:192.0.2.17", text);
        Assert.Contains("IP Address:2001:DB8:0:0:0:0:0:1", text);
        Assert.Contains("email:ops@example.net", text);
        Assert.Matches(new Regex(@"challengePassword\s*:\s*Scep-Challenge 42\s*$", RegexOptions.Multiline), text);
        Assert.Contains("C = NL, O = Certgate, CN = gw2.example.net", text);
    }

    [Fact]
    public void Openssl_rejects_a_request_whose_signature_we_damaged()
    {
        // Proves the verify check above can fail: flip one bit of the signature.
        KeyPair key = keys.Get(KeyAlgorithm.Ecdsa, 256);
        byte[] der = CertificateRequestBuilder.Create(key, new CertificateRequestOptions
        {
            Subject = new X500DistinguishedName("CN=broken.example.net"),
        });
        der[^3] ^= 0x01;
        string file = Openssl.Write(_dir, "broken.der", der);
        ExternalTool.Result r = Openssl.Run("req", "-verify", "-noout", "-inform", "DER", "-in", file);
        Assert.True(r.ExitCode != 0 || !r.Combined.Contains("verify OK", StringComparison.OrdinalIgnoreCase),
            $"openssl accepted a damaged request:\n{r.Combined}");
    }

    public void Dispose() => _dir.Dispose();
}
