using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca;
using Certgate.Ca.Settings;
using Certgate.Ca.Sqlite;
using Certgate.Interop.Tests.Tools;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Interop.Tests.Ldap;

/// <summary>A real <see cref="CertificateAuthority"/> (ECDSA P-256 root, SQLite store in a temp directory) whose CRLs get published.</summary>
internal sealed class LdapTestAuthority : IAsyncDisposable
{
    private readonly TempDirectory _dir;
    private readonly SqliteCaStore _store;

    private LdapTestAuthority(TempDirectory dir, SqliteCaStore store, CertificateAuthority ca)
    {
        _dir = dir;
        _store = store;
        Ca = ca;
    }

    public CertificateAuthority Ca { get; }

    /// <summary>The CA's directory (holds ca.db), for files the settings name relative to it.</summary>
    public string Directory => _dir.Path;

    public static async Task<LdapTestAuthority> CreateAsync(LdapPublishSettings? ldap = null, string subject = "CN=Certgate LDAP Test CA,O=Certgate")
    {
        var dir = new TempDirectory("certgate-ldapca-");
        SqliteCaStore store = await SqliteCaStore.OpenAsync(dir.File("ca.db"));
        // The shared test CA's root on the real clock, with the usage and key identifiers a Certgate CA certificate has.
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using TestCa root = TestCa.CreateRoot(subject, new CertOptions
        {
            KeyType = TestKeyType.EcdsaP256,
            KeyUsage = X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature,
            NotBefore = now.AddDays(-1),
            NotAfter = now.AddDays(365),
            OmitAuthorityKeyIdentifier = true,
        }, now);
        X509Certificate2 cert = root.CertificateWithKey();
        var settings = CaSettings.CreateDefault() with { BaseUrl = "http://ca.example.net:8080", Ldap = ldap ?? LdapPublishSettings.Disabled };
        return new LdapTestAuthority(dir, store, new CertificateAuthority(settings, cert, store));
    }

    /// <summary>Enrolls a fresh ECDSA key with a one-time challenge and returns the issued certificate.</summary>
    public async Task<X509Certificate2> EnrollAsync(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var challenge = await Ca.CreateChallengeAsync(TimeSpan.FromHours(1), null, "test");
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        var w = new AsnWriter(AsnEncodingRules.DER);
        w.WriteCharacterString(UniversalTagNumber.PrintableString, challenge.Password);
        req.OtherRequestAttributes.Add(new AsnEncodedData(Oids.ChallengePassword, w.Encode()));
        byte[] csr = req.CreateSigningRequest();
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using X509Certificate2 signer = TestCa.SelfSigned(key, subject, now.AddDays(-1), now.AddDays(1));
        EnrollmentResult result = await Ca.EnrollAsync(new EnrollmentRequest(csr, Guid.NewGuid().ToString("N"), EnrollmentMessageType.PkcsReq, signer, "127.0.0.1"));
        Assert.True(result.Status == EnrollmentStatus.Issued, $"enrollment of {subject}: {result.Status} {result.FailInfo} {result.Message}");
        return result.Certificate!;
    }

    public async ValueTask DisposeAsync()
    {
        await _store.DisposeAsync();
        Ca.Certificate.Dispose();
        _dir.Dispose();
    }
}
