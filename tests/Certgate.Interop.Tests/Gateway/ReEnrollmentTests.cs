using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Certgate.Interop.Tests.Gateway;

// Automatic re-enrollment in real time: our CA over HTTP on loopback issues certificates valid for a minute or few, the
// gateway daemon renews them at the configured share of lifetime left. One class each so that xUnit runs them in
// parallel (each takes one to two minutes, mostly waiting for the trigger). The lifetimes leave a minute or more
// before the trigger and after it (issue 13): on 2 loaded cores starting the daemon and a CLI command takes seconds
// each, and a 40 s certificate could expire (or pass its trigger) before the test got there.

/// <summary>Renewal with the same key pair, across a daemon restart before the trigger.</summary>
public sealed class ReEnrollmentSameKeyTests
{
    [Fact]
    public async Task Renewed_BeforeExpiry_WithTheSameKey_AfterADaemonRestart()
    {
        await using GatewayTestCa ca = await GatewayTestCa.StartAsync(lifetime: TimeSpan.FromSeconds(150));
        await using var gw = new GatewayUnderTest();
        string challenge = await ca.ChallengeAsync();
        gw.PrepareCaAndKey(ca, $"set security pki auto-re-enrollment certificate-id gw1 ca-profile-name ca1 challenge-password {challenge} re-enroll-trigger-time-percentage 50");
        await gw.EnrollAsync(ca);
        X509Certificate2 first = gw.LocalCertificate("gw1");
        DateTimeOffset trigger = first.NotAfter.ToUniversalTime() - (first.NotAfter - first.NotBefore) / 2;

        gw.StartDaemon();
        string before = gw.Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail");
        Assert.Contains("Status: Enabled (scep, ca-profile ca1, at 50% remaining)", before);
        Assert.Contains("Last renewal: none", before);
        // Stopped and started again before the trigger: the new daemon recomputes it from the certificate on disk.
        await gw.StopDaemonAsync();
        gw.StartDaemon();

        bool renewed = await GatewayUnderTest.WaitAsync(() => gw.LocalCertificate("gw1").SerialNumber != first.SerialNumber, TimeSpan.FromSeconds(150),
            () => Assert.True(DateTimeOffset.UtcNow <= first.NotAfter.ToUniversalTime() || gw.LocalCertificate("gw1").SerialNumber != first.SerialNumber,
                $"the certificate expired before it was renewed; daemon log:\n{gw.Log}"));
        Assert.True(renewed, $"not renewed within 150 s; daemon log:\n{gw.Log}");
        DateTimeOffset renewedAt = DateTimeOffset.UtcNow;
        X509Certificate2 second = gw.LocalCertificate("gw1");

        Assert.True(renewedAt >= trigger - TimeSpan.FromSeconds(1), $"renewed at {renewedAt:O}, before the trigger {trigger:O}");
        Assert.True(renewedAt < first.NotAfter.ToUniversalTime(), "renewed only after the old certificate expired");
        Assert.Equal(first.PublicKey.ExportSubjectPublicKeyInfo(), second.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.Equal(first.SubjectName.RawData, second.SubjectName.RawData);
        Assert.True(second.NotAfter > first.NotAfter);
        Assert.Contains("renewed", gw.Log);

        string after = gw.Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail");
        Assert.Contains("Public key verification status: Passed", after);
        Assert.DoesNotContain("Last renewal: none", after);
        Assert.Contains("gw1.example.net", after);
        string json = gw.Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail", "|", "display", "json");
        Assert.Contains("\"auto-re-enrollment\"", json);
        Assert.Contains("\"last-renewal\": \"20", json);
        Assert.DoesNotContain(challenge, gw.Log + after + json);
    }
}

/// <summary>Renewal with <c>re-generate-keypair</c>: a new key pair, stored 0600, installed with the new certificate.</summary>
public sealed class ReEnrollmentNewKeyTests
{
    [Fact]
    public async Task Renewed_WithANewKeyPair_StoredOwnerOnly()
    {
        await using GatewayTestCa ca = await GatewayTestCa.StartAsync(lifetime: TimeSpan.FromSeconds(120));
        await using var gw = new GatewayUnderTest();
        string challenge = await ca.ChallengeAsync();
        gw.PrepareCaAndKey(ca, $"set security pki auto-re-enrollment scep certificate-id gw1 ca-profile-name ca1 challenge-password {challenge} re-enroll-trigger-time-percentage 50 re-generate-keypair");
        await gw.EnrollAsync(ca);
        X509Certificate2 first = gw.LocalCertificate("gw1");
        string firstKey = File.ReadAllText(gw.KeyPath("gw1"));
        gw.StartDaemon();
        Assert.Contains("new key pair", gw.Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail"));

        bool renewed = await GatewayUnderTest.WaitAsync(() => gw.LocalCertificate("gw1").SerialNumber != first.SerialNumber, TimeSpan.FromSeconds(130));
        Assert.True(renewed, $"not renewed within 130 s; daemon log:\n{gw.Log}");
        Assert.True(DateTimeOffset.UtcNow < first.NotAfter.ToUniversalTime(), "renewed only after the old certificate expired");
        X509Certificate2 second = gw.LocalCertificate("gw1");

        Assert.NotEqual(first.PublicKey.ExportSubjectPublicKeyInfo(), second.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.NotEqual(firstKey, File.ReadAllText(gw.KeyPath("gw1")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(gw.KeyPath("gw1")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(gw.LocalCertificatePath("gw1")));
        // The stored key is the new certificate's key.
        Assert.Contains("Public key verification status: Passed", gw.Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail"));
        Assert.Contains("new key pair", gw.Log);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(gw.KeyPath("gw1"))!, ".*tmp*"));
    }
}

/// <summary>The CA is down at the trigger and comes back: renewed in time, and the certificate never lapsed.</summary>
public sealed class ReEnrollmentCaDownTests
{
    [Fact]
    public async Task CaDownAtTrigger_ThenBack_RenewedAndNeverLapsed()
    {
        await using GatewayTestCa ca = await GatewayTestCa.StartAsync(lifetime: TimeSpan.FromSeconds(180));
        await using var gw = new GatewayUnderTest();
        string challenge = await ca.ChallengeAsync();
        // retry-interval 30 s: uncapped, the retries after a 10 s outage would come after expiry.
        gw.PrepareCaAndKey(ca, $"set security pki auto-re-enrollment certificate-id gw1 ca-profile-name ca1 challenge-password {challenge} re-enroll-trigger-time-percentage 50",
            retry: 10, retryInterval: 30);
        await gw.EnrollAsync(ca);
        X509Certificate2 first = gw.LocalCertificate("gw1");
        DateTimeOffset trigger = first.NotAfter.ToUniversalTime() - (first.NotAfter - first.NotBefore) / 2;
        gw.StartDaemon();
        await ca.StopHttpAsync();

        int checks = 0;
        void InstalledIsValid()
        {
            checks++;
            X509Certificate2 installed = gw.LocalCertificate("gw1");
            DateTimeOffset now = DateTimeOffset.UtcNow;
            Assert.True(installed.NotBefore.ToUniversalTime() <= now && now <= installed.NotAfter.ToUniversalTime(),
                $"check {checks}: the installed certificate (serial {installed.SerialNumber}) is not valid at {now:O} (valid {installed.NotBefore:O} to {installed.NotAfter:O}); daemon log:\n{gw.Log}");
        }

        // Down until 10 s after the trigger.
        bool failedWhileDown = await GatewayUnderTest.WaitAsync(() => DateTimeOffset.UtcNow > trigger + TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(120), InstalledIsValid);
        Assert.True(failedWhileDown);
        string down = gw.Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail");
        Assert.Contains("renewing (attempt", down);
        Assert.Contains("the current certificate stays in use until it expires", down);
        Assert.Contains("Last error: ", down);
        Assert.Contains("cannot connect to the CA", down);
        Assert.Contains("Next attempt: ", down);
        Assert.Equal(first.SerialNumber, gw.LocalCertificate("gw1").SerialNumber);

        await ca.StartHttpAsync();
        bool renewed = await GatewayUnderTest.WaitAsync(() => gw.LocalCertificate("gw1").SerialNumber != first.SerialNumber, TimeSpan.FromSeconds(75), InstalledIsValid);
        Assert.True(renewed, $"not renewed after the CA came back; daemon log:\n{gw.Log}");
        Assert.True(DateTimeOffset.UtcNow < first.NotAfter.ToUniversalTime(), "renewed only after the old certificate expired");
        // A few more checks on the renewed certificate.
        await GatewayUnderTest.WaitAsync(() => false, TimeSpan.FromSeconds(1), InstalledIsValid);
        Assert.True(checks > 20, $"only {checks} checks");
        Assert.Contains("cannot connect to the CA", gw.Log);
        string after = gw.Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail");
        Assert.DoesNotContain("renewing (attempt", after);
        Assert.DoesNotContain("Last renewal: none", after);
    }
}

/// <summary>
/// A CA whose GetCACaps lacks <c>Renewal</c> (our CA behind a proxy that drops the keyword): the agent renews with a
/// PKCSReq carrying the configured challenge password, which the CA consumes.
/// </summary>
public sealed class ReEnrollmentWithoutRenewalCapabilityTests
{
    [Fact]
    public async Task CaWithoutRenewal_RenewedWithPkcsReqAndTheChallenge()
    {
        await using GatewayTestCa ca = await GatewayTestCa.StartAsync(lifetime: TimeSpan.FromSeconds(120));
        using var http = new HttpClient();
        var operations = new List<string>();
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using WebApplication proxy = builder.Build();
        proxy.MapMethods("/scep", ["GET", "POST"], async (HttpContext ctx) =>
        {
            lock (operations)
            {
                operations.Add(ctx.Request.Query["operation"].ToString());
            }
            var upstream = new Uri(ca.ScepUrl.ToString() + ctx.Request.QueryString);
            using HttpResponseMessage r = HttpMethods.IsPost(ctx.Request.Method)
                ? await http.PostAsync(upstream, new StreamContent(ctx.Request.Body))
                : await http.GetAsync(upstream);
            byte[] answer = await r.Content.ReadAsByteArrayAsync();
            if (ctx.Request.Query["operation"] == "GetCACaps")
            {
                answer = System.Text.Encoding.ASCII.GetBytes(string.Join("\n", System.Text.Encoding.ASCII.GetString(answer)
                    .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(c => c != "Renewal")));
            }
            ctx.Response.StatusCode = (int)r.StatusCode;
            ctx.Response.ContentType = r.Content.Headers.ContentType?.ToString();
            await ctx.Response.Body.WriteAsync(answer);
        });
        await proxy.StartAsync();
        var proxyUrl = new Uri(new Uri(proxy.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()), "/scep");

        await using var gw = new GatewayUnderTest();
        gw.PrepareCaAndKey(ca, "");
        await gw.EnrollAsync(ca);
        X509Certificate2 first = gw.LocalCertificate("gw1");
        // Re-enrollment goes through the proxy, with a challenge of its own.
        string challenge = await ca.ChallengeAsync();
        gw.Configure($"""
            set security pki ca-profile ca1 enrollment url {proxyUrl}
            set security pki auto-re-enrollment certificate-id gw1 ca-profile-name ca1 challenge-password {challenge} re-enroll-trigger-time-percentage 50
            """);
        gw.StartDaemon();

        bool renewed = await GatewayUnderTest.WaitAsync(() => gw.LocalCertificate("gw1").SerialNumber != first.SerialNumber, TimeSpan.FromSeconds(120));
        Assert.True(renewed, $"not renewed within 120 s; daemon log:\n{gw.Log}");
        Assert.True(DateTimeOffset.UtcNow < first.NotAfter.ToUniversalTime(), "renewed only after the old certificate expired");
        Assert.Equal(first.PublicKey.ExportSubjectPublicKeyInfo(), gw.LocalCertificate("gw1").PublicKey.ExportSubjectPublicKeyInfo());
        lock (operations)
        {
            Assert.Contains("GetCACaps", operations);
            Assert.Contains("PKIOperation", operations);
        }
        // The CA took it as an initial enrollment authorised by the challenge: two challenges spent (the first
        // enrollment's and the renewal's).
        IReadOnlyList<Certgate.Ca.Storage.AuditRecord> audit = await ca.Ca.Store.ReadAuditAsync(0, 1000);
        Assert.Equal(2, audit.Count(a => a.Entry.Event == Certgate.Ca.Audit.AuditEvents.ChallengeUsed));
        Assert.DoesNotContain(challenge, gw.Log);
    }
}

/// <summary>
/// A CA that gives no more lifetime than the trigger allows (here: trigger at 99 % left, so every certificate is
/// due at once): one renewal, then the agent waits the retry-interval instead of asking again and again.
/// </summary>
public sealed class ReEnrollmentNoProgressTests
{
    [Fact]
    public async Task RenewedCertificateAlreadyDue_NoRenewalLoop()
    {
        await using GatewayTestCa ca = await GatewayTestCa.StartAsync(lifetime: TimeSpan.FromSeconds(60));
        await using var gw = new GatewayUnderTest();
        string challenge = await ca.ChallengeAsync();
        gw.PrepareCaAndKey(ca, $"set security pki auto-re-enrollment certificate-id gw1 ca-profile-name ca1 challenge-password {challenge} re-enroll-trigger-time-percentage 99",
            retryInterval: 60);
        await gw.EnrollAsync(ca);
        string first = gw.LocalCertificate("gw1").SerialNumber;
        gw.StartDaemon();

        var serials = new HashSet<string> { first };
        bool renewed = await GatewayUnderTest.WaitAsync(() => gw.LocalCertificate("gw1").SerialNumber != first, TimeSpan.FromSeconds(50));
        Assert.True(renewed, $"not renewed; daemon log:\n{gw.Log}");
        await GatewayUnderTest.WaitAsync(() => false, TimeSpan.FromSeconds(6), () => serials.Add(gw.LocalCertificate("gw1").SerialNumber));
        Assert.True(serials.Count == 2, $"{serials.Count} certificates in 6 s: the agent renews in a loop; daemon log:\n{gw.Log}");
        string show = gw.Ok("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail");
        Assert.Contains("already past its re-enrollment trigger", show);
        Assert.Contains("Next attempt: ", show);
    }
}
