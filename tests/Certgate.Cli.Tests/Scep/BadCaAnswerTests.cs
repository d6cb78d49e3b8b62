using System.Security.Cryptography.X509Certificates;
using Certgate.Ca;
using Certgate.Ca.Http;
using Certgate.Ca.Layout;
using Certgate.Ca.Sqlite;
using Certgate.Cli.Tests.Pki;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Certgate.Cli.Tests.Scep;

/// <summary>
/// <c>local-certificate enroll</c> against a CA whose answers are tampered with by a proxy in front of our real CA:
/// garbage, a broken signature, a replayed answer (wrong nonce), an HTTP error. Each is refused in one line and the
/// state directory is exactly as it was. And a GetCACaps in lower case with CRLF line ends, which is still the same
/// list (RFC 8894 §3.5.2).
/// </summary>
public sealed class BadCaAnswerTests : IAsyncLifetime
{
    private readonly PkiFixture _f = new();
    private SqliteCaStore? _store;
    private CaHttpServer? _ca;
    private CertificateAuthority _authority = null!;
    private WebApplication? _proxy;
    private Uri _proxyUrl = null!;
    private string _mode = "pass";
    private byte[]? _lastReply;
    private readonly HttpClient _http = new();

    public async Task InitializeAsync()
    {
        string dir = Path.Combine(_f.Root, "ca");
        CaDirectory.Init(dir, "CN=Tamper Test CA,O=Certgate", "rsa:2048", 30);
        CaMaterial m = CaDirectory.Load(dir);
        _store = await SqliteCaStore.OpenAsync(Path.Combine(dir, "ca.db"));
        _authority = new CertificateAuthority(m.Settings, m.Certificate, _store, raCertificate: m.RaCertificate);
        _ca = await CaHttpServer.StartAsync(_authority, new CaHttpOptions { Listen = new Uri("http://127.0.0.1:0") });

        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _proxy = builder.Build();
        _proxy.MapMethods("/scep", ["GET", "POST"], async (HttpContext ctx) =>
        {
            var upstream = new Uri(_ca.BaseAddress, "scep" + ctx.Request.QueryString);
            HttpResponseMessage r;
            if (HttpMethods.IsPost(ctx.Request.Method))
            {
                using var body = new MemoryStream();
                await ctx.Request.Body.CopyToAsync(body);
                r = await _http.PostAsync(upstream, new ByteArrayContent(body.ToArray()));
            }
            else
            {
                r = await _http.GetAsync(upstream);
            }
            byte[] answer = await r.Content.ReadAsByteArrayAsync();
            ctx.Response.ContentType = r.Content.Headers.ContentType?.ToString();
            if (ctx.Request.Query["operation"] == "GetCACaps" && _mode == "caps-lower-crlf")
            {
                // RFC 8894 §3.5.2: keywords are case-insensitive; lines may end in CRLF.
                answer = System.Text.Encoding.ASCII.GetBytes(System.Text.Encoding.ASCII.GetString(answer).ToLowerInvariant().Replace("\n", "\r\n", StringComparison.Ordinal));
            }
            if (ctx.Request.Query["operation"] == "PKIOperation")
            {
                byte[] original = answer;
                switch (_mode)
                {
                    case "garbage":
                        answer = [0x30, 0x82, 0x01, 0x00, 0xde, 0xad];
                        break;
                    case "bad-signature":
                        answer = (byte[])answer.Clone();
                        answer[^10] ^= 0xFF;
                        break;
                    case "replay":
                        answer = _lastReply ?? answer;
                        break;
                    case "http-500":
                        ctx.Response.StatusCode = 500;
                        answer = "upstream exploded"u8.ToArray();
                        break;
                }
                _lastReply = original;
            }
            await ctx.Response.Body.WriteAsync(answer);
        });
        await _proxy.StartAsync();
        _proxyUrl = new Uri(new Uri(_proxy.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()), "/scep");

        _f.Configure("set security pki ca-profile ca1 ca-identity ca1", $"set security pki ca-profile ca1 enrollment url {_proxyUrl}");
        _f.Ok("--yes", "request", "security", "pki", "ca-certificate", "enroll", "ca-profile", "ca1");
        _f.Ok("request", "security", "pki", "generate-key-pair", "certificate-id", "gw1");
        // One real enrollment (another key) so that "replay" has a genuine, signed answer for another transaction.
        _f.Ok("request", "security", "pki", "generate-key-pair", "certificate-id", "seed");
        _f.Ok("request", "security", "pki", "local-certificate", "enroll", "certificate-id", "seed", "ca-profile", "ca1",
            "challenge-password", await ChallengeAsync(), "subject", "CN=seed.example.net,O=Certgate");
    }

    public async Task DisposeAsync()
    {
        await _proxy!.StopAsync();
        await _proxy.DisposeAsync();
        await _ca!.DisposeAsync();
        await _store!.DisposeAsync();
        _http.Dispose();
        _f.Dispose();
    }

    private async Task<string> ChallengeAsync() => (await _authority.CreateChallengeAsync(TimeSpan.FromMinutes(10), null, "test")).Password;

    [Fact]
    public async Task LowerCaseCrlfCapabilities_EnrollWithAesAndSha512()
    {
        // Before the shared capabilities parser the CLI compared keywords case-sensitively, fell back to SHA-1 and
        // DES3, and our CA (which offers neither by default) refused the request with badAlg.
        string challenge = await ChallengeAsync();
        _mode = "caps-lower-crlf";
        string output = _f.Ok("request", "security", "pki", "local-certificate", "enroll", "certificate-id", "gw1", "ca-profile", "ca1",
            "challenge-password", challenge, "subject", "CN=gw1.example.net,O=Certgate");
        Assert.Contains("sha-512, aes256", output);
        Assert.DoesNotContain("Warning", output);
        Assert.Contains("Local certificate gw1 loaded successfully", output);
        Assert.True(File.Exists(Path.Combine(_f.State, "pki", "local", "gw1.pem")));
    }

    [Theory]
    [InlineData("garbage", "")]
    [InlineData("bad-signature", "")]
    [InlineData("replay", "")]
    [InlineData("http-500", "HTTP 500")]
    public async Task TamperedAnswer_IsRefused_AndChangesNothing(string mode, string expected)
    {
        string challenge = await ChallengeAsync();
        string before = _f.Snapshot();
        _mode = mode;
        (int code, string output, string err) = _f.Run("request", "security", "pki", "local-certificate", "enroll", "certificate-id", "gw1", "ca-profile", "ca1",
            "challenge-password", challenge, "subject", "CN=gw1.example.net,O=Certgate");
        Assert.Equal(1, code);
        string[] lines = err.TrimEnd('\n').Split('\n');
        Assert.True(lines.Length == 1, $"expected one error line: {err}");
        Assert.StartsWith("error: request security pki local-certificate enroll: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain(challenge, output + err);
        Assert.Equal(before, _f.Snapshot());
        Assert.False(File.Exists(Path.Combine(_f.State, "pki", "local", "gw1.pem")));
    }
}
