using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Certificates;
using Certgate.Pki.Encoding;
using Certgate.Pki.Keys;
using Certgate.Pki.Requests;
using Certgate.Pki.Revocation;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Pki.Tests.Fuzz;

/// <summary>
/// Mutation fuzzing of the parsers that read what comes from outside (CRLs fetched from the network, files an
/// operator loads): bit flips, byte overwrites, truncations, insertions and length-byte changes of real inputs.
/// Every mutant must either parse or fail with the parser's own format exception — never another exception,
/// never a hang (each iteration is bounded by the input size, which is small).
/// </summary>
public sealed class ParserFuzzTests
{
    private const int Iterations = 20_000;

    private static IEnumerable<byte[]> Mutants(byte[] seed, int count, int randomSeed)
    {
        var rng = new Random(randomSeed);
        for (int i = 0; i < count; i++)
        {
            byte[] m = (byte[])seed.Clone();
            int edits = 1 + rng.Next(4);
            for (int e = 0; e < edits && m.Length > 0; e++)
            {
                int at = rng.Next(m.Length);
                switch (rng.Next(6))
                {
                    case 0:
                        m[at] ^= (byte)(1 << rng.Next(8));
                        break;
                    case 1:
                        m[at] = (byte)rng.Next(256);
                        break;
                    case 2:
                        m = m[..at];
                        break;
                    case 3:
                        m = [.. m[..at], .. RandomNumberGenerator.GetBytes(1 + rng.Next(8)), .. m[at..]];
                        break;
                    case 4:
                        // Length octets are where parsers over-allocate or over-read: make one huge or long-form.
                        m[at] = (byte)(0x80 | rng.Next(1, 5));
                        break;
                    default:
                        m[at] = 0xFF;
                        break;
                }
            }
            yield return m;
        }
    }

    private static (byte[] Crl, X509Certificate2 Ca) MakeCrl()
    {
        using TestCa authority = TestCa.CreateRoot("CN=Fuzz CA", now: DateTimeOffset.UtcNow);
        X509Certificate2 ca = X509CertificateLoader.LoadCertificate(authority.Certificate.RawData);
        var builder = new CrlBuilder(ca) { ThisUpdate = DateTimeOffset.UtcNow, NextUpdate = DateTimeOffset.UtcNow.AddDays(1), CrlNumber = 3 };
        for (int i = 1; i <= 20; i++)
        {
            builder.AddEntry(new BigInteger(i * 7919), DateTimeOffset.UtcNow, i % 2 == 0 ? CrlReason.keyCompromise : null);
        }
        return (builder.Sign((RSA)authority.Key, HashAlgorithmName.SHA256), ca);
    }

    [Fact]
    public void CrlReader_SurvivesMutations()
    {
        (byte[] crl, X509Certificate2 ca) = MakeCrl();
        int parsed = 0;
        foreach (byte[] m in Mutants(crl, Iterations, 1))
        {
            try
            {
                CertificateRevocationList parsedCrl = CertificateRevocationList.Load(m);
                parsed++;
                // What parses must also be usable: lookups and signature checks may say no, but not throw.
                _ = parsedCrl.Contains([0x1E, 0xEF]);
                _ = parsedCrl.VerifySignature(ca);
                foreach (RevokedEntry e in parsedCrl)
                {
                    _ = e.SerialNumberHex;
                }
            }
            catch (CryptographicException)
            {
                // CrlFormatException derives from it: the expected refusal.
            }
        }
        Assert.True(parsed > 0, "some mutants (e.g. a flipped signature bit) should still parse");
    }

    [Fact]
    public void PemAndCertificateInput_SurviveMutations()
    {
        using TestCa ca = TestCa.CreateRoot("CN=Fuzz CA", now: DateTimeOffset.UtcNow);
        using X509Certificate2 cert = ca.Issue("CN=fuzz.example.net", new CertOptions { DnsNames = ["fuzz.example.net"] });
        byte[] der = cert.RawData;
        byte[] pem = System.Text.Encoding.ASCII.GetBytes(cert.ExportCertificatePem());
        foreach (byte[] m in Mutants(der, Iterations / 2, 2).Concat(Mutants(pem, Iterations / 2, 3)))
        {
            try
            {
                foreach (byte[] d in PkiInput.DecodeCertificates(m))
                {
                    _ = CertificateInfo.Parse(d);
                }
            }
            catch (Exception e) when (e is PkiFormatException or CryptographicException)
            {
            }
        }
    }

    [Fact]
    public void CertificateRequestAndKeyImport_SurviveMutations()
    {
        using KeyPair key = KeyPair.Generate(KeyAlgorithm.Ecdsa, 256);
        byte[] csr = CertificateRequestBuilder.Create(key, new CertificateRequestOptions
        {
            Subject = new X500DistinguishedName("CN=fuzz"),
            DnsNames = ["fuzz.example.net"],
            ChallengePassword = "pw",
        });
        foreach (byte[] m in Mutants(csr, Iterations / 2, 4))
        {
            try
            {
                _ = CertificateSigningRequest.Parse(m);
            }
            catch (Exception e) when (e is PkiFormatException or CryptographicException)
            {
            }
        }
        byte[] pkcs8 = key.ExportPkcs8();
        foreach (byte[] m in Mutants(pkcs8, Iterations / 4, 5))
        {
            try
            {
                using KeyPair k = KeyPair.Import(m);
            }
            catch (Exception e) when (e is PkiFormatException or CryptographicException)
            {
            }
        }
    }
}
