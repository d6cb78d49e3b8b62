using System.Net;
using System.Text.Json;

namespace Certgate.Ca.Settings;

/// <summary>
/// How much work <c>ca serve</c> takes from the network (issue #14 §5, "The CA under abuse"): HTTP connection and
/// request limits, per-address rate limits, the pending queue's caps and the refusal audit's aggregation. The
/// <c>limits</c> block of <c>ca.json</c>; every value has a default for a CA serving hundreds of gateways.
/// </summary>
public sealed record CaLimits
{
    /// <summary>Kestrel's connection and request limits.</summary>
    public HttpLimits Http { get; init; } = new();

    /// <summary>Per-address token buckets.</summary>
    public RateLimits Rate { get; init; } = new();

    /// <summary>Caps on the manual-approval queue.</summary>
    public PendingLimits Pending { get; init; } = new();

    /// <summary>How refusals are written to the audit log.</summary>
    public RefusalAuditLimits RefusalAudit { get; init; } = new();

    /// <summary>Every default.</summary>
    public static CaLimits Default { get; } = new();

    internal static CaLimits Read(CaSettingsFile.Reader r, JsonElement e)
    {
        r.Expect(e, JsonValueKind.Object, "limits");
        r.Known(e, "limits.", "http", "rate", "pending", "refusalAudit");
        var limits = new CaLimits();
        if (Block(r, e, "http", "maxConnections", "maxRequestBodyBytes", "maxRequestLineBytes", "maxRequestHeadersBytes",
                "headersTimeoutSeconds", "keepAliveSeconds", "minRequestBodyBytesPerSecond") is { } h)
        {
            const string at = "limits.http.";
            var d = new HttpLimits();
            limits = limits with
            {
                Http = new HttpLimits
                {
                    MaxConnections = r.Int(h, "maxConnections", at, 1, 1_000_000) ?? d.MaxConnections,
                    MaxRequestBodyBytes = r.Int(h, "maxRequestBodyBytes", at, 1024, global::Certgate.Scep.ScepPkiMessage.MaxMessageBytes) ?? d.MaxRequestBodyBytes,
                    MaxRequestLineBytes = r.Int(h, "maxRequestLineBytes", at, 1024, 1024 * 1024) ?? d.MaxRequestLineBytes,
                    MaxRequestHeadersBytes = r.Int(h, "maxRequestHeadersBytes", at, 1024, 1024 * 1024) ?? d.MaxRequestHeadersBytes,
                    HeadersTimeout = TimeSpan.FromSeconds(r.Int(h, "headersTimeoutSeconds", at, 1, 3600) ?? (int)d.HeadersTimeout.TotalSeconds),
                    KeepAlive = TimeSpan.FromSeconds(r.Int(h, "keepAliveSeconds", at, 1, 3600) ?? (int)d.KeepAlive.TotalSeconds),
                    MinRequestBodyBytesPerSecond = r.Int(h, "minRequestBodyBytesPerSecond", at, 0, 1024 * 1024 * 1024) ?? d.MinRequestBodyBytesPerSecond,
                },
            };
        }
        if (Block(r, e, "rate", "pkiOperation", "get", "trackedAddresses", "trusted") is { } rate)
        {
            const string at = "limits.rate.";
            var d = new RateLimits();
            var trusted = new List<IPNetwork>();
            foreach (string t in r.Strings(rate, "trusted", at) ?? [])
            {
                trusted.Add(ParseTrusted(r.Source, t));
            }
            limits = limits with
            {
                Rate = new RateLimits
                {
                    PkiOperation = Bucket(r, rate, "pkiOperation", d.PkiOperation),
                    Get = Bucket(r, rate, "get", d.Get),
                    TrackedAddresses = r.Int(rate, "trackedAddresses", at, 16, 10_000_000) ?? d.TrackedAddresses,
                    Trusted = trusted,
                },
            };
        }
        if (Block(r, e, "pending", "total", "perAddress", "perSubject") is { } p)
        {
            const string at = "limits.pending.";
            var d = new PendingLimits();
            limits = limits with
            {
                Pending = new PendingLimits
                {
                    Total = r.Int(p, "total", at, 1, 10_000_000) ?? d.Total,
                    PerAddress = r.Int(p, "perAddress", at, 1, 10_000_000) ?? d.PerAddress,
                    PerSubject = r.Int(p, "perSubject", at, 1, 10_000_000) ?? d.PerSubject,
                },
            };
        }
        if (Block(r, e, "refusalAudit", "intervalSeconds", "rowsPerInterval") is { } a)
        {
            const string at = "limits.refusalAudit.";
            var d = new RefusalAuditLimits();
            limits = limits with
            {
                RefusalAudit = new RefusalAuditLimits
                {
                    Interval = TimeSpan.FromSeconds(r.Int(a, "intervalSeconds", at, 1, 24 * 3600) ?? (int)d.Interval.TotalSeconds),
                    RowsPerInterval = r.Int(a, "rowsPerInterval", at, 2, 1_000_000) ?? d.RowsPerInterval,
                },
            };
        }
        return limits;
    }

    private static JsonElement? Block(CaSettingsFile.Reader r, JsonElement parent, string name, params string[] keys)
    {
        if (!parent.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        r.Expect(e, JsonValueKind.Object, "limits." + name);
        r.Known(e, $"limits.{name}.", keys);
        return e;
    }

    private static TokenBucket? Bucket(CaSettingsFile.Reader r, JsonElement rate, string name, TokenBucket? fallback)
    {
        if (!rate.TryGetProperty(name, out JsonElement e))
        {
            return fallback;
        }
        if (e.ValueKind == JsonValueKind.Null)
        {
            return null; // null: no limit for this class of request
        }
        string at = $"limits.rate.{name}.";
        r.Expect(e, JsonValueKind.Object, at.TrimEnd('.'));
        r.Known(e, at, "perMinute", "burst");
        int perMinute = r.Int(e, "perMinute", at, 1, 6_000_000) ?? fallback?.PerMinute ?? 60;
        int burst = r.Int(e, "burst", at, 1, 1_000_000) ?? fallback?.Burst ?? perMinute;
        return new TokenBucket(perMinute, burst);
    }

    private static IPNetwork ParseTrusted(string source, string text)
    {
        // A prefix with host bits set (10.1.0.1/16) is most likely a typo for an address: refused, not rounded.
        if (IPNetwork.TryParse(text, out IPNetwork network) && IPAddress.TryParse(text.AsSpan(0, text.IndexOf('/')), out IPAddress? written)
            && written.Equals(network.BaseAddress))
        {
            return network;
        }
        if (!text.Contains('/', StringComparison.Ordinal) && IPAddress.TryParse(text, out IPAddress? address))
        {
            return new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
        }
        throw new CaSettingsException($"{source}: limits.rate.trusted '{text}': expected an address or a prefix such as 10.0.0.0/8 or 2001:db8::/32 (no host bits set)");
    }
}

/// <summary>Kestrel limits of <c>ca serve</c>.</summary>
public sealed record HttpLimits
{
    /// <summary>Open connections at once; more wait in the kernel's backlog (Kestrel MaxConcurrentConnections). A
    /// gateway holds one short connection while it enrolls or fetches a CRL, so 1024 serves hundreds of gateways
    /// renewing at once while bounding the sockets and buffers an attacker can hold.</summary>
    public int MaxConnections { get; init; } = 1024;

    /// <summary>Largest request body: the PKIOperation POST. A PKCSReq with an RSA-4096 key and its signer
    /// certificate is under 8 KiB; 64 KiB leaves room for long chains.</summary>
    public int MaxRequestBodyBytes { get; init; } = 64 * 1024;

    /// <summary>Largest request line: bounds PKIOperation by GET (<c>message=</c>, base64 and percent-encoded, so a
    /// 8 KiB pkiMessage is up to about 11–16 KiB here) and every other URL.</summary>
    public int MaxRequestLineBytes { get; init; } = 16 * 1024;

    /// <summary>Largest total of request headers.</summary>
    public int MaxRequestHeadersBytes { get; init; } = 16 * 1024;

    /// <summary>Time a client gets to send its request line and headers (slowloris).</summary>
    public TimeSpan HeadersTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>An idle keep-alive connection is closed after this long.</summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A request body slower than this (after a 5 s grace) is cut off (Kestrel MinRequestBodyDataRate);
    /// 0 turns the check off.</summary>
    public int MinRequestBodyBytesPerSecond { get; init; } = 240;
}

/// <summary>A token bucket: <paramref name="Burst"/> requests at once, refilled at <paramref name="PerMinute"/>.</summary>
public sealed record TokenBucket(int PerMinute, int Burst);

/// <summary>Per-address rate limits (IPv4 address, IPv6 /64).</summary>
public sealed record RateLimits
{
    /// <summary>PKIOperation (the expensive requests: signature check, decryption, signing, a database write);
    /// null: no limit. A gateway sends one to three per enrollment and a poll per retry interval, so 30 at once and
    /// 30 a minute never touch a legitimate address, even a NAT with several gateways behind it, while a flood from
    /// one address is cut to one request every 2 s.</summary>
    public TokenBucket? PkiOperation { get; init; } = new(30, 30);

    /// <summary>Everything else: GetCACaps, GetCACert, CRLs, the CA certificate. Cheap answers from memory (a CRL
    /// is sent from its cached copy and 304s are a few bytes), so looser: 600 a minute, 120 at once; null: none.</summary>
    public TokenBucket? Get { get; init; } = new(600, 120);

    /// <summary>Addresses tracked at once; the least recently seen is forgotten first (it starts again with a full
    /// bucket), so an attacker with many addresses cannot grow memory without bound (about 100 bytes each).</summary>
    public int TrackedAddresses { get; init; } = 100_000;

    /// <summary>Addresses and prefixes never limited. Empty by default: loopback is not exempt.</summary>
    public IReadOnlyList<IPNetwork> Trusted { get; init; } = [];
}

/// <summary>Caps on the manual-approval queue. A request over a cap is refused (SCEP FAILURE badRequest); nothing
/// already queued is touched.</summary>
public sealed record PendingLimits
{
    /// <summary>Requests waiting in all.</summary>
    public int Total { get; init; } = 1000;

    /// <summary>Requests waiting from one requester address.</summary>
    public int PerAddress { get; init; } = 50;

    /// <summary>Requests waiting for one subject DN.</summary>
    public int PerSubject { get; init; } = 2;
}

/// <summary>Refusal auditing a flood cannot use to fill the disk.</summary>
public sealed record RefusalAuditLimits
{
    /// <summary>The aggregation interval: per interval, the first refusal of each address and reason is written in
    /// full, the rest are counted into one summary row.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Refusal rows (first refusals and their summaries) per interval; past it, one row counts what was not
    /// recorded individually.</summary>
    public int RowsPerInterval { get; init; } = 200;
}
