using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Postgres;
using Certgate.Ca.Storage;
using Certgate.Interop.Tests.Tools;
using Certgate.Pki.Keys;
using Certgate.Pki.Requests;
using Certgate.Pki.Revocation;
using Certgate.Scep;
using Certgate.Tests.Shared;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Interop.Tests.Ca;

/// <summary>
/// Two <c>certgate ca serve --db postgres:…</c> frontends on one private PostgreSQL database (one CA directory, so
/// one CA key): SCEP enrollments through both at once never share a serial, and after <c>certgate ca revoke</c> from
/// the command line both serve the same new CRL.
/// </summary>
public sealed class CaServePostgresTests(PostgresServerFixture postgres) : IClassFixture<PostgresServerFixture>, IDisposable
{
    private readonly TempDirectory _dir = new("certgate-ca-pg-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Two_frontends_on_one_database_enroll_without_duplicate_serials_and_serve_the_same_CRL_after_a_revocation()
    {
        string caDir = _dir.File("ca");
        string db = "postgres:" + await postgres.CreateDatabaseAsync("serve");
        CaServeProcess.Cli("ca", "init", "--dir", caDir, "--subject", "CN=Postgres Frontends CA,O=Certgate");
        var challenges = new ConcurrentQueue<string>();
        for (int i = 0; i < 16; i++)
        {
            challenges.Enqueue(CaServeProcess.Cli("ca", "challenge", "--dir", caDir, "--db", db).Trim());
        }

        await using CaServeProcess a = await CaServeProcess.StartAsync(caDir, db);
        await using CaServeProcess b = await CaServeProcess.StartAsync(caDir, db);
        Assert.Contains("database postgres:…", a.Log, StringComparison.Ordinal); // the connection string is not logged
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var received = new ConcurrentBag<(string Frontend, X509Certificate2 Cert)>();

        // Four clients per frontend at the same time, two enrollments each.
        async Task Client(CaServeProcess server, string name)
        {
            var client = new ScepClient(http, server.ScepUrl);
            X509Certificate2Collection caCerts = await client.GetCaCertAsync();
            // A CA made by `ca init` answers with its RA and itself (issue #14 §4): requests go to the RA.
            X509Certificate2 recipient = caCerts.Single(c => c.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true });
            while (challenges.TryDequeue(out string? challenge))
            {
                using KeyPair key = KeyPair.Generate(KeyAlgorithm.Rsa, 2048);
                var subject = new X500DistinguishedName($"CN={name}-{Guid.NewGuid():N},O=Certgate");
                byte[] csr = CertificateRequestBuilder.Create(key, new CertificateRequestOptions { Subject = subject, ChallengePassword = challenge });
                using X509Certificate2 signer = TestCa.SelfSigned(key.Rsa!, subject.Name, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
                ScepEnrollment r = await client.EnrollAsync(ScepMessageType.PkcsReq, csr, signer, recipient, [.. caCerts],
                    ScepClient.TransactionIdFor(signer.PublicKey), HashAlgorithmName.SHA256, ScepCipher.Aes256Cbc);
                Assert.True(r.Certificate is not null, $"{name}: {r.Status} {r.FailInfo} {r.FailInfoText}\n{server.Log}");
                received.Add((name, r.Certificate));
            }
        }
        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => i % 2 == 0 ? Client(a, "a") : Client(b, "b"))));

        Assert.Equal(16, received.Count);
        Assert.Contains(received, r => r.Frontend == "a");
        Assert.Contains(received, r => r.Frontend == "b");
        Assert.Equal(16, received.Select(r => r.Cert.SerialNumber).Distinct(StringComparer.Ordinal).Count());
        await using (PostgresCaStore store = await PostgresCaStore.OpenAsync(db["postgres:".Length..]))
        {
            IReadOnlyList<CertificateRecord> inDb = await store.ListCertificatesAsync(0, 100);
            Assert.Equal(16, inDb.Count);
            Assert.Equal(16, inDb.Select(c => c.Serial).Distinct(StringComparer.Ordinal).Count());
            Assert.True((await Certgate.Ca.Audit.AuditChain.VerifyAsync(store)).Valid, "the audit chain written by two frontends does not verify");
        }
        string caPem = _dir.File("ca.pem");
        File.WriteAllText(caPem, X509CertificateLoader.LoadCertificateFromFile(Path.Combine(caDir, "ca.crt")).ExportCertificatePem());

        // Revoke from the command line (a third process on the same database); both frontends pick the new CRL up.
        X509Certificate2 victim = received.First(r => r.Frontend == "b").Cert;
        CaServeProcess.Cli("ca", "revoke", "--dir", caDir, "--db", db, "--serial", victim.SerialNumber, "--reason", "keyCompromise");
        byte[]? crlA = null, crlB = null;
        for (int i = 0; i < 50; i++)
        {
            crlA = await http.GetByteArrayAsync(new Uri(a.BaseAddress, "crl/ca.crl"));
            crlB = await http.GetByteArrayAsync(new Uri(b.BaseAddress, "crl/ca.crl"));
            if (crlA.AsSpan().SequenceEqual(crlB) && CertificateRevocationList.Load(crlA).TryGetRevocation(victim, out _))
            {
                break;
            }
            await Task.Delay(100);
        }
        Assert.Equal(crlA, crlB);
        CertificateRevocationList crl = CertificateRevocationList.Load(crlA!);
        Assert.Equal(1, crl.Count);
        Assert.True(crl.TryGetRevocation(victim, out _), $"serial {victim.SerialNumber} is not on the CRL both frontends serve");

        // OpenSSL agrees: the CRL is the CA's, and the revoked certificate fails a CRL check.
        string crlPath = _dir.File("ca.crl");
        File.WriteAllBytes(crlPath, crlA!);
        ExternalTool.Check("openssl", "crl", "-inform", "DER", "-in", crlPath, "-CAfile", caPem, "-noout");
        string pemCrl = _dir.File("crl.pem");
        File.WriteAllText(pemCrl, new string(PemEncoding.Write("X509 CRL", crlA!)) + "\n");
        string victimPath = _dir.File("victim.pem");
        File.WriteAllText(victimPath, victim.ExportCertificatePem());
        ExternalTool.Result check = ExternalTool.Run("openssl", ["verify", "-crl_check", "-CAfile", caPem, "-CRLfile", pemCrl, victimPath]);
        Assert.NotEqual(0, check.ExitCode);
        Assert.Contains("certificate revoked", check.Combined, StringComparison.Ordinal);
    }
}
