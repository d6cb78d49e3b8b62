using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Issuance;
using Certgate.Ca.Settings;
using Certgate.Ca.Storage;
using Certgate.Ca.Tests.Fixtures;

namespace Certgate.Ca.Tests.Issuance;

public sealed class PipelineTests
{
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private static IssuanceContext Context(byte[] csr, CertificateProfile? profile = null, X509Certificate2? issuer = null, CaSettings? settings = null) =>
        new(ParsedCsr.Parse(csr), profile ?? CaSettings.CreateDefault().GetProfile(null), settings ?? CaSettings.CreateDefault() with { BaseUrl = "http://ca.example.net" },
            issuer ?? TestPki.CreateCa(Now), Now, IssuanceKind.Initial, "test", "tx");

    private static IssuanceRefusedException Refused(Action a) => Assert.Throws<IssuanceRefusedException>(a);

    [Fact]
    public void Issued_certificate_carries_the_profile_and_not_the_requested_extensions()
    {
        using ECDsa key = TestPki.NewEcKey();
        byte[] csr = TestPki.Csr(key, dns: ["gw1.example.net"], ips: ["192.0.2.1"],
            extraExtensions: [new X509BasicConstraintsExtension(true, false, 0, true), new X509Extension("1.2.3.4.5", [0x05, 0x00], false),
                new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true)]);
        // The IP address is issued under a profile that allows its range (issue #14: not under a bare challenge).
        CertificateProfile profile = CaSettings.CreateDefault().GetProfile(null) with { Names = new NamePolicy { IpRanges = [IpRange.TryParse("192.0.2.0/24", out _)!] } };
        IssuanceContext ctx = Context(csr, profile);
        X509Certificate2 cert = IssuancePipeline.Sign(new IssuancePipeline().BuildTemplate(ctx), WithKey(ctx.Issuer), RandomSerialNumberSource.Instance.Next());

        Assert.False(cert.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Null(cert.Extensions["1.2.3.4.5"]);
        // EC key: keyEncipherment is dropped (RFC 5480), keyCertSign was requested but never copied.
        Assert.Equal(X509KeyUsageFlags.DigitalSignature, cert.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages);
        var ekus = cert.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value).ToList();
        Assert.Equal([Oids.ServerAuth, Oids.ClientAuth, Oids.IkeIntermediate], ekus);
        var san = cert.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["gw1.example.net"], san.EnumerateDnsNames());
        Assert.Equal("192.0.2.1", san.EnumerateIPAddresses().Single().ToString());
        Assert.NotNull(cert.Extensions.OfType<X509SubjectKeyIdentifierExtension>().SingleOrDefault());
        var aki = cert.Extensions.OfType<X509AuthorityKeyIdentifierExtension>().Single();
        Assert.Equal(ctx.Issuer.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Single().SubjectKeyIdentifierBytes.ToArray(), aki.KeyIdentifier!.Value.ToArray());
        Assert.NotNull(cert.Extensions["2.5.29.31"]); // CDP
        var aia = cert.Extensions.OfType<X509AuthorityInformationAccessExtension>().Single();
        Assert.Equal(["http://ca.example.net/ca.crt"], aia.EnumerateCAIssuersUris());
        Assert.Equal(ctx.Issuer.SubjectName.Name, cert.IssuerName.Name);
    }

    [Fact]
    public void Rsa_keys_get_keyEncipherment()
    {
        using RSA key = RSA.Create(2048);
        CertificateTemplate t = new IssuancePipeline().BuildTemplate(Context(TestPki.Csr(key)));
        Assert.Equal(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, t.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages);
    }

    [Fact]
    public void San_types_the_profile_does_not_allow_are_refused()
    {
        using ECDsa key = TestPki.NewEcKey();
        var dnsOnly = new CertificateProfile { Name = "dnsonly", AllowedSans = SanTypes.Dns };
        var e = Refused(() => new IssuancePipeline().BuildTemplate(Context(TestPki.Csr(key, emails: ["a@example.net"]), dnsOnly)));
        Assert.Equal(EnrollmentFailInfo.BadRequest, e.FailInfo);
        Assert.Contains("email", e.Message, StringComparison.Ordinal);
        e = Refused(() => new IssuancePipeline().BuildTemplate(Context(TestPki.Csr(key, uri: "http://evil.example/"))));
        Assert.Contains("uri", e.Message, StringComparison.Ordinal);
        CertificateTemplate ok = new IssuancePipeline().BuildTemplate(Context(TestPki.Csr(key, dns: ["a.example.net"]), dnsOnly));
        Assert.Single(ok.Sans);
    }

    [Fact]
    public void Key_types_and_sizes_follow_the_profile()
    {
        using RSA small = RSA.Create(1024);
        Assert.Equal(EnrollmentFailInfo.BadAlg, Refused(() => new IssuancePipeline().BuildTemplate(Context(TestPki.Csr(small)))).FailInfo);
        using ECDsa p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var p256Only = new CertificateProfile { Name = "p", EcdsaCurves = ["p256"] };
        var e = Refused(() => new IssuancePipeline().BuildTemplate(Context(TestPki.Csr(p384), p256Only)));
        Assert.Equal(EnrollmentFailInfo.BadAlg, e.FailInfo);
        Assert.Contains("p384", e.Message, StringComparison.Ordinal);
        var noRsa = new CertificateProfile { Name = "ec", RsaMinimumBits = 0 };
        using RSA big = RSA.Create(2048);
        Assert.Equal(EnrollmentFailInfo.BadAlg, Refused(() => new IssuancePipeline().BuildTemplate(Context(TestPki.Csr(big), noRsa))).FailInfo);
    }

    [Fact]
    public void Empty_subject_needs_a_san_which_then_is_critical()
    {
        using ECDsa key = TestPki.NewEcKey();
        Refused(() => new IssuancePipeline().BuildTemplate(Context(TestPki.Csr(key, subject: ""))));
        CertificateTemplate t = new IssuancePipeline().BuildTemplate(Context(TestPki.Csr(key, subject: "", dns: ["a.example.net"])));
        Assert.True(t.Extensions.Single(e => e.Oid!.Value == Oids.SubjectAltName).Critical);
    }

    [Fact]
    public void Validity_is_clamped_to_the_ca_certificate()
    {
        using ECDsa key = TestPki.NewEcKey();
        X509Certificate2 shortCa = TestPki.CreateCa(Now, days: 30);
        CertificateTemplate t = new IssuancePipeline().BuildTemplate(Context(TestPki.Csr(key), issuer: shortCa));
        Assert.Equal(new DateTimeOffset(shortCa.NotAfter.ToUniversalTime()), t.NotAfter);
        Assert.Equal(Now - ValidityModifier.Backdate, t.NotBefore);
        CertificateTemplate normal = new IssuancePipeline().BuildTemplate(Context(TestPki.Csr(key)));
        Assert.Equal(Now.AddDays(365), normal.NotAfter);
    }

    [Fact]
    public void Malformed_and_badly_signed_requests_are_refused()
    {
        Assert.Equal(EnrollmentFailInfo.BadRequest, Refused(() => ParsedCsr.Parse([0x30, 0x03, 0x02, 0x01, 0x00])).FailInfo);
        Assert.Equal(EnrollmentFailInfo.BadRequest, Refused(() => ParsedCsr.Parse(new byte[ParsedCsr.MaxLength + 1])).FailInfo);
        using ECDsa key = TestPki.NewEcKey();
        byte[] csr = TestPki.Csr(key);
        csr[^5] ^= 0x01; // inside the signature
        IssuanceRefusedException e = Refused(() => ParsedCsr.Parse(csr));
        Assert.True(e.FailInfo is EnrollmentFailInfo.BadMessageCheck or EnrollmentFailInfo.BadRequest);
    }

    [Fact]
    public void Challenge_password_is_read_from_the_request()
    {
        using ECDsa key = TestPki.NewEcKey();
        Assert.Equal("S3CRET", ParsedCsr.Parse(TestPki.Csr(key, challenge: "S3CRET")).ChallengePassword);
        Assert.Null(ParsedCsr.Parse(TestPki.Csr(key)).ChallengePassword);
    }

    [Fact]
    public void Serials_are_16_bytes_positive_minimal_and_random()
    {
        var seen = new HashSet<string>();
        for (int i = 0; i < 2000; i++)
        {
            byte[] s = RandomSerialNumberSource.Instance.Next();
            Assert.Equal(16, s.Length);
            Assert.InRange(s[0], 0x01, 0x7F);
            Assert.True(seen.Add(Convert.ToHexString(s)));
        }
    }

    [Fact]
    public async Task A_serial_collision_draws_a_new_serial_and_a_broken_source_gives_up()
    {
        byte[] fixedSerial = [0x42, .. new byte[15]];
        var source = new ScriptedSerials(fixedSerial, fixedSerial, RandomSerialNumberSource.Instance.Next());
        await using TestAuthority t = await TestAuthority.CreateAsync(serials: source);
        using ECDsa k1 = TestPki.NewEcKey(), k2 = TestPki.NewEcKey(), k3 = TestPki.NewEcKey();
        EnrollmentResult first = await t.EnrollWithChallengeAsync(k1);
        Assert.Equal(Convert.ToHexString(fixedSerial), first.Certificate!.SerialNumber);
        EnrollmentResult second = await t.EnrollWithChallengeAsync(k2, "CN=gw2.example.net,O=Example"); // another gateway: its own name
        Assert.Equal(EnrollmentStatus.Issued, second.Status);
        Assert.NotEqual(first.Certificate.SerialNumber, second.Certificate!.SerialNumber);

        await using TestAuthority broken = await TestAuthority.CreateAsync(serials: new ScriptedSerials(Enumerable.Repeat(fixedSerial, 20).ToArray()));
        await broken.EnrollWithChallengeAsync(k1);
        await Assert.ThrowsAsync<InvalidOperationException>(() => broken.EnrollWithChallengeAsync(k3, "CN=gw3.example.net,O=Example"));
    }

    private static X509Certificate2 WithKey(X509Certificate2 c) => c; // CreateSelfSigned certificates carry their key

    private sealed class ScriptedSerials(params byte[][] serials) : ISerialNumberSource
    {
        private int _next;

        public byte[] Next() => serials[Math.Min(_next++, serials.Length - 1)];
    }
}
