using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Issuance;
using Certgate.Ca.Settings;
using Certgate.Ca.Sqlite;

namespace Certgate.Ca.Tests.Fixtures;

/// <summary>A CertificateAuthority on a temporary SQLite database with a settable clock.</summary>
public sealed class TestAuthority : IAsyncDisposable
{
    private TestAuthority(CertificateAuthority ca, TestClock clock, SqliteCaStore store)
    {
        Ca = ca;
        Clock = clock;
        Store = store;
    }

    public CertificateAuthority Ca { get; }

    public TestClock Clock { get; }

    public SqliteCaStore Store { get; }

    public string DatabasePath => Store.Path;

    public static async Task<TestAuthority> CreateAsync(CaSettings? settings = null, int caDays = 3650, ISerialNumberSource? serials = null, X509Certificate2? raCertificate = null)
    {
        var clock = new TestClock();
        var dir = new TempDirectory();
        SqliteCaStore store = await SqliteCaStore.OpenAsync(dir.File("ca.db"));
        X509Certificate2 caCert = TestPki.CreateCa(clock.GetUtcNow(), caDays);
        settings ??= CaSettings.CreateDefault() with { BaseUrl = "http://ca.example.net:8080" };
        var ca = new CertificateAuthority(settings, caCert, store, clock, raCertificate, null, new IssuancePipeline(serials));
        var t = new TestAuthority(ca, clock, store);
        t._owned = dir;
        return t;
    }

    private TempDirectory? _owned;

    /// <summary>A PKCSReq with a fresh challenge for the default profile.</summary>
    public async Task<EnrollmentResult> EnrollWithChallengeAsync(System.Security.Cryptography.ECDsa key, string subject = "CN=gw1.example.net,O=Example", string? txid = null, string[]? dns = null)
    {
        var challenge = await Ca.CreateChallengeAsync(TimeSpan.FromHours(1), null, "test");
        byte[] csr = TestPki.Csr(key, subject, challenge.Password, dns: dns);
        return await Ca.EnrollAsync(new EnrollmentRequest(csr, txid ?? Guid.NewGuid().ToString("N"), EnrollmentMessageType.PkcsReq, TestPki.SelfSigned(key, subject, Clock.GetUtcNow()), "127.0.0.1"));
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        _owned?.Dispose();
    }
}
