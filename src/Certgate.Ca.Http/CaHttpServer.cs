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

    /// <summary>The largest request body accepted (SCEP messages are a few KiB; 256 KiB is generous).</summary>
    public long MaxRequestBodyBytes { get; init; } = 256 * 1024;

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
    ];

    private readonly WebApplication _app;

    private CaHttpServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

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
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            k.Limits.MaxRequestLineSize = 16 * 1024;
            k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(15);
        });
        WebApplication app = builder.Build();
        foreach (ICaEndpoints module in Modules)
        {
            module.Map(app, ca, options);
        }
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new CaHttpServer(app, new Uri(bound.TrimEnd('/') + "/"));
    }

    /// <summary>Stops accepting, finishes requests in flight (up to 5 s), and releases the port.</summary>
    public async Task StopAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(cts.Token).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
