using System.Collections.Concurrent;

namespace Certgate.Gateway.Crl;

/// <summary>How a fetch ended for the caller.</summary>
public enum CrlFetchStatus
{
    /// <summary>The bytes are here.</summary>
    Downloaded,

    /// <summary>The download failed (now, or recently enough that it is not retried yet).</summary>
    Failed,

    /// <summary>The download is still running after the caller's bound; it goes on for the next caller.</summary>
    StillRunning,
}

/// <summary>The outcome of <see cref="CrlFetcher.FetchAsync"/>.</summary>
public sealed record CrlFetchResult(CrlFetchStatus Status, byte[]? Data, string? Error);

/// <summary>
/// Fetches CRL URLs for everyone who needs them: one download per URL at a time, shared by all who wait
/// (hundreds of tunnels whose peers share a CA must not start hundreds of downloads); a failure is remembered
/// for <see cref="FailureMemory"/> so a dead server is not hammered; and no caller waits longer than the bound it
/// gives — the download goes on in the background and the next caller gets its result.
/// </summary>
public sealed class CrlFetcher
{
    private readonly IReadOnlyList<ICrlDownloader> _downloaders;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Lazy<Task<byte[]>>> _inFlight = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (DateTimeOffset At, string Error)> _failures = new(StringComparer.Ordinal);

    public CrlFetcher(IEnumerable<ICrlDownloader> downloaders, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(downloaders);
        _downloaders = [.. downloaders];
        _time = time ?? TimeProvider.System;
    }

    /// <summary>How long a failed URL is answered from memory before it is tried again (default one minute).</summary>
    public TimeSpan FailureMemory { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How many downloads have started (for tests and <c>show</c> counters).</summary>
    public int DownloadsStarted => _started;

    private int _started;

    /// <summary>Fetches <paramref name="url"/>, waiting at most <paramref name="maxWait"/>.</summary>
    public async Task<CrlFetchResult> FetchAsync(Uri url, TimeSpan maxWait, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        string key = url.AbsoluteUri;
        if (_failures.TryGetValue(key, out var failure) && _time.GetUtcNow() - failure.At < FailureMemory)
        {
            return new CrlFetchResult(CrlFetchStatus.Failed, null, failure.Error + " (remembered; retried after " + (failure.At + FailureMemory).ToString("HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) + " UTC)");
        }
        ICrlDownloader? downloader = _downloaders.FirstOrDefault(d => d.Handles(url));
        if (downloader is null)
        {
            return new CrlFetchResult(CrlFetchStatus.Failed, null, $"{url}: unsupported URL scheme '{url.Scheme}' (expected http, https or ldap)");
        }

        Lazy<Task<byte[]>> flight = _inFlight.GetOrAdd(key, _ => new Lazy<Task<byte[]>>(() => Start(key, url, downloader)));
        Task<byte[]> task = flight.Value;
        Task finished = await Task.WhenAny(task, Task.Delay(maxWait, _time, cancellationToken)).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        if (finished != task)
        {
            return new CrlFetchResult(CrlFetchStatus.StillRunning, null, $"{url}: still downloading after {maxWait.TotalSeconds:0.#} seconds");
        }
        try
        {
            return new CrlFetchResult(CrlFetchStatus.Downloaded, await task.ConfigureAwait(false), null);
        }
        catch (CrlDownloadException e)
        {
            return new CrlFetchResult(CrlFetchStatus.Failed, null, e.Message);
        }
    }

    private Task<byte[]> Start(string key, Uri url, ICrlDownloader downloader)
    {
        Interlocked.Increment(ref _started);
        return Run();

        async Task<byte[]> Run()
        {
            try
            {
                // The download belongs to no single caller, so no caller's token cancels it; the downloader has its own timeout.
                byte[] data = await Task.Run(() => downloader.DownloadAsync(url, CancellationToken.None)).ConfigureAwait(false);
                _failures.TryRemove(key, out _);
                return data;
            }
            catch (Exception e) when (e is not CrlDownloadException)
            {
                var wrapped = new CrlDownloadException($"{url}: {e.Message}", e);
                _failures[key] = (_time.GetUtcNow(), wrapped.Message);
                throw wrapped;
            }
            catch (CrlDownloadException e)
            {
                _failures[key] = (_time.GetUtcNow(), e.Message);
                throw;
            }
            finally
            {
                _inFlight.TryRemove(key, out _);
            }
        }
    }
}
