using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Certgate.Ca.Audit;
using Certgate.Ca.Storage;
using Certgate.Interop.Tests.Tools;
using Certgate.Scep;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Interop.Tests.Scep;

/// <summary>
/// The CA under abuse (issue #14 §5, docs/security.md): each limit of <c>limits</c> in ca.json hit with real
/// traffic over loopback — HttpClient, raw sockets and micromdm <c>scepclient</c> — while the legitimate path keeps
/// working. No timing assertions: states are polled with generous deadlines.
/// </summary>
public sealed class CaAbuseTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(60) };

    private static Func<string, string> Edit(params (string From, string To)[] edits) => text =>
    {
        foreach ((string from, string to) in edits)
        {
            Assert.Contains(from, text, StringComparison.Ordinal);
            text = text.Replace(from, to, StringComparison.Ordinal);
        }
        return text;
    };

    private const string PkiBucket = "\"pkiOperation\": { \"perMinute\": 30, \"burst\": 30 }";

    [Fact]
    public async Task PKIOperation_over_the_rate_limit_is_429_with_Retry_After_and_GETs_have_their_own_bucket()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync(Edit((PkiBucket, "\"pkiOperation\": { \"perMinute\": 1, \"burst\": 3 }")));
        for (int i = 0; i < 3; i++)
        {
            using HttpResponseMessage junk = await Http.PostAsync(s.ScepUrl + "?operation=PKIOperation", new ByteArrayContent(RandomNumberGenerator.GetBytes(300)));
            Assert.Equal(HttpStatusCode.BadRequest, junk.StatusCode);
        }
        using HttpResponseMessage limited = await Http.PostAsync(s.ScepUrl + "?operation=PKIOperation", new ByteArrayContent(RandomNumberGenerator.GetBytes(300)));
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        TimeSpan retry = limited.Headers.RetryAfter?.Delta ?? TimeSpan.Zero;
        Assert.InRange(retry, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        string body = await limited.Content.ReadAsStringAsync();
        Assert.StartsWith("too many PKIOperation requests from 127.0.0.1 (limits.rate.pkiOperation: 1 a minute, 3 at once); retry after ", body, StringComparison.Ordinal);
        // By GET too, and on the historical path: the same bucket.
        using HttpResponseMessage byGet = await Http.GetAsync(new Uri(s.ScepUrl, "/cgi-bin/pkiclient.exe?operation=PKIOperation&message=AAAA"));
        Assert.Equal(HttpStatusCode.TooManyRequests, byGet.StatusCode);

        // GetCACaps, GetCACert and the CRL are still served: a different, looser bucket.
        using HttpResponseMessage caps = await Http.GetAsync(s.ScepUrl + "?operation=GetCACaps");
        Assert.Equal(HttpStatusCode.OK, caps.StatusCode);
        using HttpResponseMessage crl = await Http.GetAsync(new Uri(s.ScepUrl, "/crl/ca.crl"));
        Assert.Equal(HttpStatusCode.OK, crl.StatusCode);

        // Certgate's own client names the status and the wait.
        using var http = new HttpClient();
        var client = new ScepClient(http, s.ScepUrl);
        X509Certificate2Collection cas = await client.GetCaCertAsync();
        using RSA key = RSA.Create(2048);
        var req = new CertificateRequest("CN=limited.example.net", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        X509Certificate2 signer = TestCa.SelfSigned(key, "CN=limited.example.net", DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        ScepFormatException e = await Assert.ThrowsAsync<ScepFormatException>(() => client.EnrollAsync(ScepMessageType.PkcsReq, req.CreateSigningRequest(), signer, cas[0], [.. cas],
            Guid.NewGuid().ToString("N"), HashAlgorithmName.SHA256, ScepCipher.Aes256Cbc));
        Assert.Contains("the CA answered HTTP 429: too many PKIOperation requests from 127.0.0.1", e.Message, StringComparison.Ordinal);
        Assert.Contains("retry after", e.Message, StringComparison.Ordinal);

        // Audited once (aggregated), logged once.
        IReadOnlyList<AuditRecord> audit = await s.Ca.Store.ReadAuditAsync(0, 1000);
        Assert.Single(audit, r => r.Entry.Event == AuditEvents.RateLimited);
        Assert.Single(s.Log.ToString().Split('\n'), l => l.Contains("refused: too many PKIOperation requests", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Trusted_addresses_are_not_limited()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync(Edit((PkiBucket, "\"pkiOperation\": { \"perMinute\": 1, \"burst\": 1 }"),
            ("\"trusted\": []", "\"trusted\": [\"127.0.0.0/8\"]")));
        for (int i = 0; i < 10; i++)
        {
            using HttpResponseMessage junk = await Http.PostAsync(s.ScepUrl + "?operation=PKIOperation", new ByteArrayContent(RandomNumberGenerator.GetBytes(300)));
            Assert.Equal(HttpStatusCode.BadRequest, junk.StatusCode);
        }
    }

    [Fact]
    public async Task Micromdm_scepclient_over_the_rate_limit_fails_naming_the_status_and_enrolls_once_the_bucket_refills()
    {
        // One PKIOperation at once, refilled every 2 s: the first enrollment passes, the second run at once is refused.
        await using ScepCaServer s = await ScepCaServer.StartAsync(Edit((PkiBucket, "\"pkiOperation\": { \"perMinute\": 30, \"burst\": 1 }")));
        ExternalTool.Result first = RunScepclient(s, await s.ChallengeAsync(), "limit-1", "l1");
        Assert.True(first.ExitCode == 0, $"scepclient exited {first.ExitCode}:\n{first.Combined}\nserver log:\n{s.Log}");

        // Drain the bucket so the run below is over the limit whatever the time since.
        string challenge = await s.ChallengeAsync();
        await DrainAsync(s);
        ExternalTool.Result refused = RunScepclient(s, challenge, "limit-2", "l2");
        Assert.True(refused.ExitCode != 0, $"scepclient over the rate limit exited 0:\n{refused.Combined}");
        Assert.Contains("429", refused.Combined, StringComparison.Ordinal);
        Assert.False(File.Exists(s.Dir.File("l2.crt")) && new FileInfo(s.Dir.File("l2.crt")).Length > 0, "a certificate was written while rate limited");

        // A retry once the bucket has a token again enrolls with the same (unspent) challenge.
        DateTime deadline = DateTime.UtcNow.AddSeconds(60);
        ExternalTool.Result retried;
        do
        {
            retried = RunScepclient(s, challenge, "limit-2", "l2");
        }
        while (retried.ExitCode != 0 && retried.Combined.Contains("429", StringComparison.Ordinal) && DateTime.UtcNow < deadline && await Task.Delay(500).ContinueWith(_ => true));
        Assert.True(retried.ExitCode == 0, $"scepclient retry exited {retried.ExitCode}:\n{retried.Combined}\nserver log:\n{s.Log}");
        Assert.Contains(": OK", s.OpensslVerify(s.Dir.File("l2.crt")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_size_and_slow_clients_are_bounded()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync(Edit(
            ("\"maxRequestBodyBytes\": 65536", "\"maxRequestBodyBytes\": 4096"),
            ("\"maxRequestLineBytes\": 16384", "\"maxRequestLineBytes\": 2048"),
            ("\"headersTimeoutSeconds\": 10", "\"headersTimeoutSeconds\": 1")));
        using HttpResponseMessage big = await Http.PostAsync(s.ScepUrl + "?operation=PKIOperation", new ByteArrayContent(new byte[5000]));
        Assert.Equal(HttpStatusCode.BadRequest, big.StatusCode);
        Assert.Contains("pkiMessage of 5000 octets is larger than 4096 (limits.http.maxRequestBodyBytes)", await big.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using HttpResponseMessage longGet = await Http.GetAsync(s.ScepUrl + "?operation=PKIOperation&message=" + new string('A', 3000));
        Assert.Equal(HttpStatusCode.RequestUriTooLong, longGet.StatusCode);

        // Slowloris: a request line and no headers is cut off by the headers timeout.
        string slowHeaders = await SendAndReadUntilClosedAsync(s, "GET /scep?operation=GetCACaps HTTP/1.1\r\nHost: x\r\n");
        Assert.Contains("408", slowHeaders, StringComparison.Ordinal);

        // A body trickling under minRequestBodyBytesPerSecond (240 B/s after a 5 s grace) is cut off too.
        string slowBody = await SendAndReadUntilClosedAsync(s, "POST /scep?operation=PKIOperation HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n\r\n0123456789");
        Assert.Contains("408", slowBody, StringComparison.Ordinal);

        // The server still answers.
        using HttpResponseMessage caps = await Http.GetAsync(s.ScepUrl + "?operation=GetCACaps");
        Assert.Equal(HttpStatusCode.OK, caps.StatusCode);
    }

    [Fact]
    public async Task Connections_past_maxConnections_are_refused_until_one_closes()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync(Edit(("\"maxConnections\": 1024", "\"maxConnections\": 2")));
        using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero, MaxConnectionsPerServer = 1 }) { Timeout = TimeSpan.FromSeconds(10) };
        var held = new List<TcpClient>();
        try
        {
            for (int i = 0; i < 2; i++)
            {
                var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, s.ScepUrl.Port);
                held.Add(c);
            }
            // Kestrel accepts and closes the third connection at once; a fresh request fails while two are held.
            Assert.True(await PollAsync(async () => !await GetCapsOkAsync(s)), "a third connection was served while maxConnections (2) were open");
            foreach (TcpClient c in held)
            {
                c.Dispose();
            }
            held.Clear();
            Assert.True(await PollAsync(() => GetCapsOkAsync(s)), "no connection was served after the held ones closed");
        }
        finally
        {
            foreach (TcpClient c in held)
            {
                c.Dispose();
            }
        }
    }

    [Fact]
    public async Task Pending_queue_cap_over_HTTP_is_a_FAILURE_with_the_reason_and_the_queued_request_stays()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync(Edit(("\"approval\": \"challenge\"", "\"approval\": \"manual\""), ("\"perSubject\": 2", "\"perSubject\": 1")));
        X509Certificate2 ca = s.Recipient;
        using RSA k1 = RSA.Create(2048), k2 = RSA.Create(2048);
        ScepCertRep first = await EnrollAsync(s, ca, k1, "CN=queued.example.net");
        Assert.Equal(ScepPkiStatus.Pending, first.Status);
        ScepCertRep second = await EnrollAsync(s, ca, k2, "CN=queued.example.net");
        Assert.Equal(ScepPkiStatus.Failure, second.Status);
        Assert.Equal(ScepFailInfo.BadRequest, second.FailInfo);
        Assert.Contains("limits.pending.perSubject is 1", second.FailInfoText, StringComparison.Ordinal);
        Assert.Contains("Failure BadRequest: 1 requests for subject 'CN=queued.example.net' already wait for approval", s.Log.ToString(), StringComparison.Ordinal);
        Assert.Single(await s.Ca.ListPendingAsync());
        Assert.Single(await s.Ca.Store.ReadAuditAsync(0, 1000), r => r.Entry.Event == AuditEvents.PendingQueueFull);
    }

    [Fact]
    public async Task A_flood_of_bad_requests_writes_a_bounded_number_of_audit_rows_and_the_chain_verifies()
    {
        await using ScepCaServer s = await ScepCaServer.StartAsync(Edit((PkiBucket, "\"pkiOperation\": null")));
        X509Certificate2 ca = s.Recipient;
        // 200 garbage bodies, 20 requests with a wrong challenge, 20 with a broken signature.
        for (int i = 0; i < 200; i++)
        {
            using HttpResponseMessage junk = await Http.PostAsync(s.ScepUrl + "?operation=PKIOperation", new ByteArrayContent(RandomNumberGenerator.GetBytes(100 + i)));
            Assert.Equal(HttpStatusCode.BadRequest, junk.StatusCode);
        }
        using RSA key = RSA.Create(2048);
        for (int i = 0; i < 20; i++)
        {
            ScepCertRep wrong = await EnrollAsync(s, ca, key, $"CN=wrong{i}.example.net", challenge: "wrong-challenge");
            Assert.Equal(ScepPkiStatus.Failure, wrong.Status);
            (X509Certificate2 signer, byte[] csr) = Client(key, $"CN=forged{i}.example.net", "x");
            var creds = new ScepClientCredentials(signer, ca);
            ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, creds);
            byte[] der = (byte[])req.Der.Clone();
            der[^10] ^= 0x55; // the signature's last octets
            using var content = new ByteArrayContent(der);
            using HttpResponseMessage forged = await Http.PostAsync(s.ScepUrl + "?operation=PKIOperation", content);
            Assert.True(forged.IsSuccessStatusCode || forged.StatusCode == HttpStatusCode.BadRequest, $"forged: HTTP {(int)forged.StatusCode}");
        }
        // A good enrollment in the middle of it is audited individually.
        using RSA good = RSA.Create(2048);
        Assert.Equal(ScepPkiStatus.Success, (await EnrollAsync(s, ca, good, "CN=good.example.net", challenge: await s.ChallengeAsync())).Status);

        await s.Ca.Refusals.FlushAsync(all: true);
        List<AuditEntry> rows = [.. (await s.Ca.Store.ReadAuditAsync(0, 10_000)).Select(r => r.Entry)];
        Assert.Single(rows, r => r.Event == AuditEvents.CertificateIssued);
        // At most one full row and one summary per reason (message-refused, challenge-refused, enrollment-refused),
        // plus the challenge rows of the good enrollment.
        List<AuditEntry> refusals = [.. rows.Where(r => r.Outcome == "refused")];
        Assert.InRange(refusals.Count, 3, 6);
        AuditEntry messages = Assert.Single(refusals, r => r.Event == RefusalAudit.SummaryEvent && r.Detail!.Contains("(message-refused)", StringComparison.Ordinal));
        int counted = int.Parse(messages.Detail!.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(counted, 199, 219); // the garbage and (as far as it is refused before the CA) the forged requests, less the first
        Assert.True(s.Ca.Refusals.Aggregated >= 199 + 19 + 19);
        AuditVerification verified = await s.Ca.VerifyAuditChainAsync();
        Assert.True(verified.Valid, verified.Problem);
    }

    private static async Task DrainAsync(ScepCaServer s)
    {
        Assert.True(await PollAsync(async () =>
        {
            using HttpResponseMessage r = await Http.GetAsync(s.ScepUrl + "?operation=PKIOperation&message=AAAA");
            return r.StatusCode == HttpStatusCode.TooManyRequests;
        }), "the PKIOperation bucket never ran dry");
    }

    private static async Task<bool> GetCapsOkAsync(ScepCaServer s)
    {
        using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using HttpResponseMessage r = await http.GetAsync(s.ScepUrl + "?operation=GetCACaps");
            return r.StatusCode == HttpStatusCode.OK;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private static async Task<bool> PollAsync(Func<Task<bool>> condition)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }
            await Task.Delay(100);
        }
        return false;
    }

    /// <summary>Sends <paramref name="request"/> and then nothing; returns what the server sent before it closed.</summary>
    private static async Task<string> SendAndReadUntilClosedAsync(ScepCaServer s, string request)
    {
        using var c = new TcpClient();
        await c.ConnectAsync(IPAddress.Loopback, s.ScepUrl.Port);
        NetworkStream stream = c.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var received = new MemoryStream();
        byte[] buffer = new byte[4096];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, deadline.Token)) > 0)
            {
                received.Write(buffer, 0, n);
            }
        }
        catch (IOException)
        {
            // Reset by the server: also closed.
        }
        Assert.False(deadline.IsCancellationRequested, "the server kept a slow client's connection open for 60 s");
        return Encoding.ASCII.GetString(received.ToArray());
    }

    private static async Task<ScepCertRep> EnrollAsync(ScepCaServer s, X509Certificate2 ca, RSA key, string subject, string challenge = "")
    {
        (X509Certificate2 signer, byte[] csr) = Client(key, subject, challenge);
        var creds = new ScepClientCredentials(signer, ca);
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, creds);
        using var content = new ByteArrayContent(req.Der);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-pki-message");
        using HttpResponseMessage r = await Http.PostAsync(s.ScepUrl + "?operation=PKIOperation", content);
        byte[] body = await r.Content.ReadAsByteArrayAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, $"HTTP {(int)r.StatusCode}: {Encoding.UTF8.GetString(body)}");
        return ScepCertRep.Read(body, req, creds);
    }

    private static (X509Certificate2 Signer, byte[] Csr) Client(RSA key, string subject, string challenge)
    {
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        X509Certificate2 signer = TestCa.SelfSigned(key, subject, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        if (challenge.Length > 0)
        {
            var w = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
            w.WriteCharacterString(System.Formats.Asn1.UniversalTagNumber.UTF8String, challenge);
            req.OtherRequestAttributes.Add(new AsnEncodedData("1.2.840.113549.1.9.7", w.Encode()));
        }
        return (signer, req.CreateSigningRequest());
    }

    private static ExternalTool.Result RunScepclient(ScepCaServer s, string challenge, string cn, string name)
    {
        string work = Directory.CreateDirectory(s.Dir.File("work-" + name)).FullName;
        return ExternalTool.Run("scepclient", ["-server-url", s.ScepUrl.ToString(), "-challenge", challenge,
            "-private-key", Path.Combine(work, name + ".key"), "-certificate", s.Dir.File(name + ".crt"),
            "-cn", cn, "-organization", "Test", "-country", "CH"], workingDirectory: work, timeout: TimeSpan.FromSeconds(60));
    }
}
