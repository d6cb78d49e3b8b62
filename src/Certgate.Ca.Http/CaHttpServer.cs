using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Certgate.Ca.Http;

/// <summary>Options of the CA's HTTP listener.</summary>
public sealed record CaHttpOptions
{
    /// <summary>Where to listen, e.g. <c>http://127.0.0.1:8080</c> (port 0 picks a free port).</summary>
    public Uri Listen { get; init; } = new("http://127.0.0.1:8080");

    /// <summary>The largest request body accepted; null: the settings' <c>limits.http.maxRequestBodyBytes</c>.</summary>
    public long? MaxRequestBodyBytes { get; init; }

    /// <summary>Clock of the rate limits (tests); <see cref="TimeProvider.System"/> when null.</summary>
    public TimeProvider? Time { get; init; }

    /// <summary>Where log lines go (null: nowhere).</summary>
    public TextWriter? Log { get; init; }
}

/// <summary>A group of endpoints of the CA's web server (SCEP, CRL distribution, administration).</summary>
public interface ICaEndpoints
{
    void Map(WebApplication app, CertificateAuthority ca, CaHttpOptions options);
}

/// <summary>
/// The CA's HTTP server on Kestrel: one listener, the endpoint groups of <see cref="Modules"/>, a body size limit.
/// Started and stopped by <c>certgate ca serve</c> and by tests (which listen on port 0 and read <see cref="BaseAddress"/>).
/// </summary>
public sealed class CaHttpServer : IAsyncDisposable
{
    /// <summary>Every endpoint group; a new one adds a line here.</summary>
    private static readonly ICaEndpoints[] Modules =
    [
        new Scep.ScepEndpoints(),
        new Crl.CrlEndpoints(),
    ];

    private readonly WebApplication _app;
    private readonly CertificateAuthority _ca;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _auditFlush;

    private readonly TextWriter? _log;

    private CaHttpServer(WebApplication app, CertificateAuthority ca, Uri baseAddress, Limits.RateLimitGate rates, TextWriter? log)
    {
        _app = app;
        _log = log;
        _ca = ca;
        BaseAddress = baseAddress;
        RateLimits = rates;
        _auditFlush = FlushRefusalsAsync();
    }

    internal Limits.RateLimitGate RateLimits { get; }

    /// <summary>The address actually bound (with the real port when 0 was asked for), ending in '/'.</summary>
    public Uri BaseAddress { get; }

    /// <summary>Binds and starts serving.</summary>
    /// <exception cref="IOException">The address cannot be bound (in use, not local).</exception>
    public static async Task<CaHttpServer> StartAsync(CertificateAuthority ca, CaHttpOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ca);
        ArgumentNullException.ThrowIfNull(options);
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(options.Listen.GetLeftPart(UriPartial.Authority));
        Certgate.Ca.Settings.HttpLimits limits = ca.Settings.Limits.Http;
        long maxBody = options.MaxRequestBodyBytes ?? limits.MaxRequestBodyBytes;
        builder.WebHost.ConfigureKestrel(k =>
        {
            // Settings limits.http (docs/security.md "The CA under abuse"): bounded connections, sizes and times, so
            // slow or idle clients cannot hold the server's sockets and memory.
            k.AddServerHeader = false;
            k.Limits.MaxConcurrentConnections = limits.MaxConnections;
            k.Limits.MaxRequestBodySize = maxBody;
            k.Limits.MaxRequestLineSize = limits.MaxRequestLineBytes;
            k.Limits.MaxRequestHeadersTotalSize = limits.MaxRequestHeadersBytes;
            k.Limits.RequestHeadersTimeout = limits.HeadersTimeout;
            k.Limits.KeepAliveTimeout = limits.KeepAlive;
            k.Limits.MinRequestBodyDataRate = limits.MinRequestBodyBytesPerSecond == 0 ? null
                : new Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate(limits.MinRequestBodyBytesPerSecond, TimeSpan.FromSeconds(5));
        });
        WebApplication app = builder.Build();
        var rates = new Limits.RateLimitGate(ca, options.Log, options.Time ?? TimeProvider.System);
        app.Use(rates.InvokeAsync);
        options = options with { MaxRequestBodyBytes = maxBody };
        foreach (ICaEndpoints module in Modules)
        {
            module.Map(app, ca, options);
        }
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new CaHttpServer(app, ca, new Uri(bound.TrimEnd('/') + "/"), rates, options.Log);
    }

    /// <summary>Stops accepting, finishes requests in flight (up to 5 s), releases the port, and writes the refusal
    /// counts still held in memory to the audit log.</summary>
    public async Task StopAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(cts.Token).ConfigureAwait(false);
        if (!_stopping.IsCancellationRequested)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
            await _auditFlush.ConfigureAwait(false);
            await _ca.Refusals.FlushAsync(all: true).ConfigureAwait(false);
        }
    }

    /// <summary>Writes each ended interval's refusal summaries even when no further refusal comes to trigger it.</summary>
    private async Task FlushRefusalsAsync()
    {
        TimeSpan every = TimeSpan.FromTicks(Math.Clamp(_ca.Settings.Limits.RefusalAudit.Interval.Ticks / 4, TimeSpan.TicksPerSecond, TimeSpan.TicksPerMinute));
        using var timer = new PeriodicTimer(every);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    await _ca.Refusals.FlushAsync(cancellationToken: _stopping.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A database outage must not stop the server; the counts of that interval are lost, and said so.
                    _log?.WriteLine($"audit: writing the refusal summaries failed: {e.GetType().Name}: {e.Message}");
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
