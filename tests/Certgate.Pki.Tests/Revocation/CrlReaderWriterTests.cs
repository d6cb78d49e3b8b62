using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Certgate.Pki.Revocation;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Pki.Tests.Revocation;

public sealed class CrlReaderWriterTests
{
    private static readonly DateTimeOffset Now = TestCa.Now;

    [Fact]
    public void Writer_output_reads_back_with_all_fields()
    {
        using TestCa ca = TestCa.CreateRoot();
        var b = new CrlBuilder(ca.Certificate) { ThisUpdate = Now, NextUpdate = Now.AddDays(1), CrlNumber = 42 };
        b.AddEntry([0x01, 0x02], Now.AddDays(-2), CrlReason.keyCompromise);
        b.AddEntry([0x8F], Now.AddDays(-1));
        b.AddEntry(new BigInteger(123456789), new DateTimeOffset(2051, 1, 2, 3, 4, 5, TimeSpan.Zero), CrlReason.certificateHold);
        byte[] der = b.Sign((RSA)ca.Key, HashAlgorithmName.SHA256);

        CertificateRevocationList crl = CertificateRevocationList.Load(der);

        Assert.Equal(2, crl.Version);
        Assert.Equal(ca.Certificate.SubjectName.RawData, crl.Issuer.RawData);
        Assert.Equal(Now, crl.ThisUpdate);
        Assert.Equal(Now.AddDays(1), crl.NextUpdate);
        Assert.Equal(new BigInteger(42), crl.CrlNumber);
        Assert.Equal(CrlBuilder.SubjectKeyIdentifier(ca.Certificate), crl.AuthorityKeyIdentifier!.Value.ToArray());
        Assert.Equal("1.2.840.113549.1.1.11", crl.SignatureAlgorithmOid);
        Assert.Equal(3, crl.Count);
        Assert.True(crl.VerifySignature(ca.Certificate));

        Assert.True(crl.TryGetRevocation([0x01, 0x02], out RevokedEntry e1));
        Assert.Equal(CrlReason.keyCompromise, e1.Reason);
        Assert.Equal(Now.AddDays(-2), e1.RevocationDate);
        // 8F needs a sign octet on the wire; lookups with and without it find it.
        Assert.True(crl.TryGetRevocation([0x00, 0x8F], out RevokedEntry e2));
        Assert.True(crl.TryGetRevocation("8f", out _));
        Assert.Null(e2.Reason);
        Assert.Equal("8F", e2.SerialNumberHex);
        Assert.True(crl.TryGetRevocation("07:5B:CD:15", out RevokedEntry e3));
        Assert.Equal(CrlReason.certificateHold, e3.Reason);
        Assert.Equal(2051, e3.RevocationDate.Year);
        Assert.False(crl.TryGetRevocation([0x01, 0x03], out _));
        Assert.False(crl.TryGetRevocation("0102FF", out _));
        Assert.Equal(["0102", "8F", "075BCD15"], crl.Select(e => e.SerialNumberHex));
    }

    [Fact]
    public void Crl_without_authorityKeyIdentifier_reads_back_without_one()
    {
        // Issue #13: openssl ca -gencrl writes no authorityKeyIdentifier unless crl_extensions asks for one; the
        // absent extension must read as null, not as an empty key identifier.
        using TestCa ca = TestCa.CreateRoot();
        CertificateRevocationList crl = ca.Crl(omitAuthorityKeyIdentifier: true);
        Assert.Null(crl.AuthorityKeyIdentifier);
        Assert.True(crl.VerifySignature(ca.Certificate));
    }

    [Theory]
    [InlineData("rsa-sha1")]
    [InlineData("rsa-sha384")]
    [InlineData("rsa-sha512")]
    [InlineData("rsa-pss-sha256")]
    [InlineData("ecdsa-sha256")]
    [InlineData("ecdsa-sha384")]
    public void Signature_verifies_for_every_supported_algorithm_and_fails_with_another_key(string algorithm)
    {
        bool ec = algorithm.StartsWith("ecdsa", StringComparison.Ordinal);
        using TestCa ca = TestCa.CreateRoot(options: new CertOptions { Ecdsa = ec });
        using TestCa other = TestCa.CreateRoot(options: new CertOptions { Ecdsa = ec });
        var b = new CrlBuilder(ca.Certificate) { ThisUpdate = Now, NextUpdate = Now.AddDays(1), CrlNumber = 1 };
        b.AddEntry([0x05], Now);
        byte[] der = algorithm switch
        {
            "rsa-sha1" => b.Sign((RSA)ca.Key, HashAlgorithmName.SHA1),
            "rsa-sha384" => b.Sign((RSA)ca.Key, HashAlgorithmName.SHA384),
            "rsa-sha512" => b.Sign((RSA)ca.Key, HashAlgorithmName.SHA512),
            "rsa-pss-sha256" => b.Sign((RSA)ca.Key, HashAlgorithmName.SHA256, RSASignaturePadding.Pss),
            "ecdsa-sha256" => b.Sign((ECDsa)ca.Key, HashAlgorithmName.SHA256),
            _ => b.Sign((ECDsa)ca.Key, HashAlgorithmName.SHA384),
        };
        CertificateRevocationList crl = CertificateRevocationList.Load(der);
        Assert.True(crl.VerifySignature(ca.Certificate));
        Assert.False(crl.VerifySignature(other.Certificate));
        der[^3] ^= 1;
        Assert.False(CertificateRevocationList.Load(der).VerifySignature(ca.Certificate));
    }

    [Fact]
    public void Empty_crl_omits_revokedCertificates_and_reads_back()
    {
        using TestCa ca = TestCa.CreateRoot();
        CertificateRevocationList crl = ca.Crl();
        Assert.Equal(0, crl.Count);
        Assert.False(crl.TryGetRevocation([0x01], out _));
        Assert.True(crl.VerifySignature(ca.Certificate));
    }

    [Fact]
    public void Pem_is_accepted()
    {
        using TestCa ca = TestCa.CreateRoot();
        byte[] der = ca.CrlBytes([ca.Issue()]);
        string pem = "\n" + PemEncoding.WriteString("X509 CRL", der) + "\n";
        CertificateRevocationList crl = CertificateRevocationList.Load(System.Text.Encoding.ASCII.GetBytes(pem));
        Assert.Equal(1, crl.Count);
        Assert.True(crl.VerifySignature(ca.Certificate));
    }

    [Fact]
    public void IsExpired_compares_nextUpdate()
    {
        using TestCa ca = TestCa.CreateRoot();
        CertificateRevocationList crl = ca.Crl(nextUpdate: Now);
        Assert.False(crl.IsExpired(Now));
        Assert.True(crl.IsExpired(Now.AddSeconds(1)));
    }

    [Fact]
    public void Builder_rejects_a_key_that_is_not_the_issuers()
    {
        using TestCa ca = TestCa.CreateRoot();
        using RSA other = RSA.Create(2048);
        var b = new CrlBuilder(ca.Certificate) { ThisUpdate = Now };
        ArgumentException e = Assert.Throws<ArgumentException>(() => b.Sign(other, HashAlgorithmName.SHA256));
        Assert.Equal("key", e.ParamName);
        Assert.Equal("serialNumber", Assert.Throws<ArgumentException>(() => b.AddEntry([], Now)).ParamName);
        Assert.Equal("serialNumberHex", Assert.Throws<ArgumentException>(() => ca.Crl().TryGetRevocation("xyz", out _)).ParamName);
    }

    [Theory]
    [InlineData("")]
    [InlineData("3000")]
    [InlineData("30820100")]
    [InlineData("0401FF")]
    public void Garbage_is_a_format_error(string hex)
    {
        Assert.Throws<CrlFormatException>(() => CertificateRevocationList.Load(Convert.FromHexString(hex)));
    }

    [Fact]
    public void Truncated_crl_is_a_format_error_at_every_length()
    {
        using TestCa ca = TestCa.CreateRoot();
        byte[] der = ca.CrlBytes([ca.Issue(), ca.Issue()]);
        for (int n = 0; n < der.Length; n += 7)
        {
            byte[] cut = der[..n];
            Assert.Throws<CrlFormatException>(() => CertificateRevocationList.Load(cut));
        }
    }

    [Fact]
    public void Unknown_critical_crl_extension_is_rejected_and_noncritical_ignored()
    {
        Assert.Contains("1.2.3.4", Assert.Throws<CrlFormatException>(() =>
            CertificateRevocationList.Load(RawCrl.Build(crlExtension: ("1.2.3.4", true)))).Message);
        Assert.Equal(1, CertificateRevocationList.Load(RawCrl.Build(crlExtension: ("1.2.3.4", false))).Count);
    }

    [Fact]
    public void Unknown_critical_entry_extension_is_rejected_and_noncritical_ignored()
    {
        Assert.Contains("1.2.3.5", Assert.Throws<CrlFormatException>(() =>
            CertificateRevocationList.Load(RawCrl.Build(entryExtension: ("1.2.3.5", true)))).Message);
        Assert.Equal(1, CertificateRevocationList.Load(RawCrl.Build(entryExtension: ("1.2.3.5", false))).Count);
    }

    [Fact]
    public void Delta_crl_is_rejected_with_a_clear_message()
    {
        Assert.Contains("Delta", Assert.Throws<CrlFormatException>(() =>
            CertificateRevocationList.Load(RawCrl.Build(crlExtension: ("2.5.29.27", true)))).Message);
    }

    [Fact]
    public void Mismatched_inner_signature_algorithm_is_rejected()
    {
        Assert.Contains("signature", Assert.Throws<CrlFormatException>(() =>
            CertificateRevocationList.Load(RawCrl.Build(innerAlgorithm: "1.2.840.113549.1.1.5"))).Message);
    }

    [Fact]
    public void Hundred_thousand_entries_write_and_load()
    {
        // How long it takes is measured in bench/ (input-bounds: linear, under 3 s), not asserted here (issue 13).
        using TestCa ca = TestCa.CreateRoot();
        const int n = 100_000;
        var b = new CrlBuilder(ca.Certificate) { ThisUpdate = Now, NextUpdate = Now.AddDays(1), CrlNumber = 1 };
        Span<byte> serial = stackalloc byte[16];
        for (int i = 0; i < n; i++)
        {
            SerialFor(i, serial);
            b.AddEntry(serial, Now.AddMinutes(-i), (i & 1) == 0 ? CrlReason.superseded : null);
        }
        byte[] der = b.Sign((RSA)ca.Key, HashAlgorithmName.SHA256);
        CertificateRevocationList crl = CertificateRevocationList.Load(der);
        Assert.Equal(n, crl.Count);
        Assert.True(crl.VerifySignature(ca.Certificate));
        for (int i = 0; i < n; i += 997)
        {
            SerialFor(i, serial);
            Assert.True(crl.TryGetRevocation(serial, out RevokedEntry e));
            Assert.Equal(Now.AddMinutes(-i), e.RevocationDate);
            Assert.Equal((i & 1) == 0 ? CrlReason.superseded : null, e.Reason);
            serial[0] ^= 0x40;
            Assert.False(crl.TryGetRevocation(serial, out _));
        }
    }

    internal static void SerialFor(int i, Span<byte> serial)
    {
        serial.Clear();
        serial[0] = 0x3A;
        BitConverter.TryWriteBytes(serial[8..], (long)i * 2654435761L);
    }
}

/// <summary>Hand-built (unsigned) CRLs for the structure tests: the reader does not check signatures on load.</summary>
internal static class RawCrl
{
    public static byte[] Build((string Oid, bool Critical)? crlExtension = null, (string Oid, bool Critical)? entryExtension = null,
        string innerAlgorithm = "1.2.840.113549.1.1.11")
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            using (w.PushSequence())
            {
                w.WriteInteger(1);
                WriteAlg(w, innerAlgorithm);
                w.WriteEncodedValue(new X500DistinguishedName("CN=Raw").RawData);
                w.WriteUtcTime(TestCa.Now);
                w.WriteUtcTime(TestCa.Now.AddDays(1));
                using (w.PushSequence())
                using (w.PushSequence())
                {
                    w.WriteInteger(5);
                    w.WriteUtcTime(TestCa.Now);
                    if (entryExtension is { } ee)
                    {
                        using (w.PushSequence())
                        {
                            WriteExt(w, ee.Oid, ee.Critical);
                        }
                    }
                }
                if (crlExtension is { } ce)
                {
                    using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
                    using (w.PushSequence())
                    {
                        WriteExt(w, ce.Oid, ce.Critical);
                    }
                }
            }
            WriteAlg(w, "1.2.840.113549.1.1.11");
            w.WriteBitString(new byte[16]);
        }
        return w.Encode();
    }

    private static void WriteAlg(AsnWriter w, string oid)
    {
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(oid);
            w.WriteNull();
        }
    }

    private static void WriteExt(AsnWriter w, string oid, bool critical)
    {
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(oid);
            if (critical)
            {
                w.WriteBoolean(true);
            }
            w.WriteOctetString([0x05, 0x00]);
        }
    }
}
