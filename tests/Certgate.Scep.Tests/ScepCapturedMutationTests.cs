using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca;
using Certgate.Ca.Scep;
using Certgate.Ca.Settings;
using Certgate.Ca.Sqlite;

namespace Certgate.Scep.Tests;

/// <summary>
/// 100,000 mutants of real PKCSReq messages captured from micromdm scepclient, strongSwan pki and certmonger
/// (Data/Captured/README.md), each sent through the SCEP server core (<see cref="ScepService"/> over a real CA and
/// SQLite store). Every mutant must be answered with a CertRep FAILURE or a 400 reason: never SUCCESS, never an
/// exception, never a hang.
/// </summary>
public sealed class ScepCapturedMutationTests : IAsyncLifetime
{
    /// <summary>The issue asks for at least 100,000 mutants in CI.</summary>
    private const int Mutations = 100_000;

    private static readonly string DataDir = Path.Combine(AppContext.BaseDirectory, "Data", "Captured");

    /// <summary>The captured requests: file, and what the client chose (peers.md).</summary>
    public static TheoryData<string, ScepCipher, string> Seeds => new()
    {
        { "micromdm-scepclient-pkcsreq.der", ScepCipher.DesCbc, "1.3.14.3.2.26" },
        { "strongswan-pki-pkcsreq.der", ScepCipher.Aes128Cbc, "2.16.840.1.101.3.4.2.1" },
        { "certmonger-pkcsreq.der", ScepCipher.Aes256Cbc, "2.16.840.1.101.3.4.2.1" },
    };

    private readonly string _dir = Directory.CreateTempSubdirectory("certgate-scep-fuzz-").FullName;
    private SqliteCaStore? _store;
    private ScepService? _service;
    private X509Certificate2? _ca;

    public async Task InitializeAsync()
    {
        // The CA the requests were captured against (a throwaway RSA-1024 test CA: its key decrypts the envelopes,
        // and a short key keeps 100,000 CertRep signatures within CI time).
        _ca = X509Certificate2.CreateFromPemFile(Path.Combine(DataDir, "capture-ca.pem"), Path.Combine(DataDir, "capture-ca.key"));
        _store = await SqliteCaStore.OpenAsync(Path.Combine(_dir, "ca.db"));
        _service = new ScepService(new CertificateAuthority(CaSettings.CreateDefault(), _ca, _store), null);
    }

    public async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _ca?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Each_captured_request_reaches_the_CA_and_its_spent_challenge_is_a_FAILURE(string file, ScepCipher cipher, string digestOid)
    {
        byte[] der = File.ReadAllBytes(Path.Combine(DataDir, file));
        ScepServerRequest parsed = ScepServerRequest.Parse(der, _ca!);
        Assert.Equal(ScepMessageType.PkcsReq, parsed.MessageType);
        Assert.Equal(cipher, parsed.Cipher);
        Assert.Equal(digestOid, parsed.Message.DigestAlgorithmOid);

        // The seed is whole: it decrypts, its signature verifies, and only the CA refuses it (the challenge is not
        // one of this database's), so mutants start from a message that reaches every layer.
        ScepPkiOperationAnswer answer = await _service!.PkiOperationAsync(der, "capture", CancellationToken.None);
        Assert.Equal(ScepPkiStatus.Failure, answer.Status);
        Assert.Contains(await _store!.ReadAuditAsync(0, 100), a => a.Entry.Event == "challenge-refused" && a.Entry.TransactionId == parsed.TransactionId);
    }

    [Fact]
    public async Task Mutants_of_captured_requests_get_a_FAILURE_or_a_400_never_an_exception()
    {
        byte[][] seeds = [.. Seeds.Select(row => File.ReadAllBytes(Path.Combine(DataDir, (string)row[0]!)))];
        var failures = new ConcurrentQueue<string>();
        int certReps = 0, badRequests = 0;
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(10)); // a hang fails the test, it does not stall CI
        await Parallel.ForAsync(0, Mutations, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = deadline.Token }, async (i, ct) =>
        {
            byte[] m = Mutate(seeds[i % seeds.Length], new Random(i));
            try
            {
                ScepPkiOperationAnswer a = await _service!.PkiOperationAsync(m, "fuzz", ct);
                if (a.CertRep is not null && a.Status == ScepPkiStatus.Failure)
                {
                    Interlocked.Increment(ref certReps);
                }
                else if (a.CertRep is null && !string.IsNullOrEmpty(a.BadRequestReason))
                {
                    Interlocked.Increment(ref badRequests);
                }
                else
                {
                    failures.Enqueue($"mutant {i}: answered {a.Status} (expected FAILURE or 400)\n{Convert.ToHexString(m)}");
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !deadline.IsCancellationRequested)
            {
                failures.Enqueue($"mutant {i} of {i % seeds.Length}: {e.GetType().Name}: {e.Message}\n{Convert.ToHexString(m)}");
            }
        });
        Assert.True(failures.IsEmpty, $"{failures.Count} mutants were not answered FAILURE/400; first:\n{failures.FirstOrDefault()}");
        Assert.Equal(Mutations, certReps + badRequests);
        // Both answers occur: flips in the signed part give FAILURE badMessageCheck, flips in the framing give 400.
        Assert.True(certReps > 0 && badRequests > 0, $"{certReps} FAILURE CertReps, {badRequests} 400s");
    }

    /// <summary>One to four changes: a bit flip, a random byte, 0x00/0xFF, a cut, or a duplicated run (lengths).</summary>
    private static byte[] Mutate(byte[] seed, Random rng)
    {
        byte[] m = (byte[])seed.Clone();
        int changes = 1 + rng.Next(4);
        for (int c = 0; c < changes && m.Length > 1; c++)
        {
            int at = rng.Next(m.Length);
            switch (rng.Next(5))
            {
                case 0: m[at] ^= (byte)(1 << rng.Next(8)); break;
                case 1: m[at] = (byte)rng.Next(256); break;
                case 2: m[at] = rng.Next(2) == 0 ? (byte)0x00 : (byte)0xff; break;
                case 3: m = m[..Math.Max(1, at)]; break;
                default:
                    int len = Math.Min(1 + rng.Next(16), m.Length - at);
                    m = [.. m[..(at + len)], .. m[at..]];
                    break;
            }
        }
        return m;
    }
}
