using System.Globalization;
using System.Net;
using Certgate.Ca.Audit;
using Certgate.Ca.Settings;
using Microsoft.AspNetCore.Http;

namespace Certgate.Ca.Http.Limits;

/// <summary>
/// The per-address rate limits of <c>ca serve</c> (settings <c>limits.rate</c>), checked before a request's body is
/// read: PKIOperation (at <c>/scep</c> and <c>/cgi-bin/pkiclient.exe</c>, by POST or GET) against one bucket, every
/// other request (GetCACaps, GetCACert, CRLs, the CA certificate) against a looser one. Over the limit: HTTP 429 Too
/// Many Requests with Retry-After (RFC 6585 §4), the refusal audited through <see cref="RefusalAudit"/> (aggregated,
/// so the flood does not fill the audit log) and logged only when the audit wrote it in full.
/// </summary>
/// <remarks>
/// Clients: Certgate's ScepClient reports "HTTP 429 ... retry after N s" and the gateway's PKI agent retries at its
/// enrollment retry interval; micromdm scepclient exits non-zero naming the status (tests/Certgate.Interop.Tests
/// CaAbuseTests). Addresses in <c>limits.rate.trusted</c> are never limited; loopback is not exempt by default.
/// </remarks>
internal sealed class RateLimitGate
{
    private readonly CertificateAuthority _ca;
    private readonly TextWriter? _log;
    private readonly AddressRateLimiter? _pki;
    private readonly AddressRateLimiter? _get;
    private readonly IReadOnlyList<IPNetwork> _trusted;

    public RateLimitGate(CertificateAuthority ca, TextWriter? log, TimeProvider time)
    {
        _ca = ca;
        _log = log;
        Certgate.Ca.Settings.RateLimits s = ca.Settings.Limits.Rate;
        _pki = s.PkiOperation is { } p ? new AddressRateLimiter(p, s.TrackedAddresses, time) : null;
        _get = s.Get is { } g ? new AddressRateLimiter(g, s.TrackedAddresses, time) : null;
        _trusted = s.Trusted;
    }

    /// <summary>Addresses tracked by the PKIOperation limiter (for tests and the bench).</summary>
    public int TrackedPkiAddresses => _pki?.Tracked ?? 0;

    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        bool pkiOperation = IsPkiOperation(http.Request);
        AddressRateLimiter? limiter = pkiOperation ? _pki : _get;
        IPAddress? address = http.Connection.RemoteIpAddress;
        if (limiter is null || address is null || IsTrusted(address))
        {
            await next(http).ConfigureAwait(false);
            return;
        }
        if (limiter.TryAcquire(address, out TimeSpan retryAfter))
        {
            await next(http).ConfigureAwait(false);
            return;
        }
        string who = address.IsIPv4MappedToIPv6 ? address.MapToIPv4().ToString() : address.ToString();
        string name = pkiOperation ? "pkiOperation" : "get";
        string what = pkiOperation ? "PKIOperation requests" : "requests";
        int seconds = Math.Max(1, (int)retryAfter.TotalSeconds);
        string reason = $"too many {what} from {who} (limits.rate.{name}: {limiter.Limit.PerMinute} a minute, {limiter.Limit.Burst} at once); retry after {seconds} s";
        if (await _ca.Refusals.RecordAsync(who, AuditEvents.RateLimited, null, reason, http.RequestAborted).ConfigureAwait(false))
        {
            _log?.WriteLine($"http {who} refused: {reason} (further refusals of this address are counted in the audit log)");
        }
        http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        http.Response.ContentType = "text/plain";
        // The body is not read: close the connection rather than drain an unread upload.
        http.Response.Headers.Connection = "close";
        await http.Response.WriteAsync(reason + "\n", http.RequestAborted).ConfigureAwait(false);
    }

    private bool IsTrusted(IPAddress address)
    {
        if (_trusted.Count == 0)
        {
            return false;
        }
        IPAddress a = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (IPNetwork n in _trusted)
        {
            if (n.Contains(a))
            {
                return true;
            }
        }
        return false;
    }

    private static bool IsPkiOperation(HttpRequest request)
    {
        PathString path = request.Path;
        bool scepPath = false;
        foreach (string p in Scep.ScepEndpoints.Paths)
        {
            scepPath |= path.Equals(p, StringComparison.OrdinalIgnoreCase);
        }
        return scepPath && string.Equals(request.Query["operation"].ToString(), "PKIOperation", StringComparison.OrdinalIgnoreCase);
    }
}
