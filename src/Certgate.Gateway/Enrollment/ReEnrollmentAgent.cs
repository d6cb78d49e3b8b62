using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Config.Pki;
using Certgate.Pki.Encoding;
using Certgate.Pki.Keys;
using Certgate.Pki.Requests;
using Certgate.Pki.Store;
using Certgate.Scep;

namespace Certgate.Gateway.Enrollment;

/// <summary>
/// Automatic re-enrollment (<c>security pki auto-re-enrollment</c>, junos-reference §3.5). On every pass, for each
/// configured certificate-id:
/// <code>
///   certificate on disk → trigger = notAfter − p% × lifetime (p = re-enroll-trigger-time-percentage, default 10)
///   before the trigger: wait (status Waiting, next trigger time)
///   at or after it: GetCACaps → key (the current one, or a new one with re-generate-keypair, kept for the retries)
///     → CSR with the certificate's subject and alternative names
///     → RenewalReq signed by the current certificate (PKCSReq with the challenge when the CA lacks "Renewal"
///       or the certificate has already expired)
///     → SUCCESS: check (this CA, this key, valid now), then install certificate (and key) in one store change,
///       in the daemon's one-writer turn, only if the certificate on disk is still the one renewed
///     → PENDING, FAILURE or no answer: keep the old certificate and key, try again after the CA profile's
///       retry-interval, capped to a quarter of the remaining lifetime (at least 2 s) so that a CA that comes back
///       before expiry is always tried again before expiry.
/// </code>
/// Everything is recomputed from the certificate on disk, so a restart resumes where the files say; only the
/// in-flight new key of <c>re-generate-keypair</c> is stored (<c>pki/renewal-keys/ID.pem</c>) before its first request, so a restart repeats the same transaction.
/// </summary>
public sealed class ReEnrollmentAgent : IDisposable
{
    /// <summary>Junos' default share of the lifetime left when renewal starts, when none is configured.</summary>
    public const int DefaultTriggerPercentage = 10;

    /// <summary>The shortest wait between two attempts, however little lifetime is left.</summary>
    public static readonly TimeSpan MinimumRetryDelay = TimeSpan.FromSeconds(2);

    private readonly PkiStore _store;
    private readonly AgentStateStore _state;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly Action<string> _log;
    private readonly Func<Action, CancellationToken, Task> _exclusive;
    private readonly Dictionary<string, Episode> _episodes = new(StringComparer.Ordinal);

    /// <param name="store">The PKI store.</param>
    /// <param name="state">Where statuses are written.</param>
    /// <param name="http">HTTP client to the CAs (its timeout bounds each request).</param>
    /// <param name="time">Clock.</param>
    /// <param name="log">One line per event (no secrets are passed to it).</param>
    /// <param name="exclusive">Runs a store change in the daemon's one-writer turn.</param>
    public ReEnrollmentAgent(PkiStore store, AgentStateStore state, HttpClient http, TimeProvider time, Action<string> log, Func<Action, CancellationToken, Task> exclusive)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _state = state ?? throw new ArgumentNullException(nameof(state));
        _http = http ?? throw new ArgumentNullException(nameof(http));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _exclusive = exclusive ?? throw new ArgumentNullException(nameof(exclusive));
    }

    /// <summary>When renewal starts: <c>notAfter − (p/100) × (notAfter − notBefore)</c> (junos-reference §3.5).</summary>
    public static DateTimeOffset TriggerTime(X509Certificate2 certificate, int percentage)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentOutOfRangeException.ThrowIfLessThan(percentage, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(percentage, 99);
        DateTimeOffset notBefore = certificate.NotBefore.ToUniversalTime();
        DateTimeOffset notAfter = certificate.NotAfter.ToUniversalTime();
        return notAfter - (notAfter - notBefore) * (percentage / 100.0);
    }

    /// <summary>
    /// The wait before the next attempt: the profile's retry-interval, capped to a quarter of the lifetime left (at
    /// least <see cref="MinimumRetryDelay"/>); after expiry the retry-interval itself.
    /// </summary>
    public static TimeSpan RetryDelay(TimeSpan retryInterval, DateTimeOffset notAfter, DateTimeOffset now)
    {
        TimeSpan configured = retryInterval < MinimumRetryDelay ? MinimumRetryDelay : retryInterval;
        TimeSpan left = notAfter - now;
        if (left <= TimeSpan.Zero)
        {
            return configured;
        }
        TimeSpan cap = left / 4;
        return cap < MinimumRetryDelay ? MinimumRetryDelay : cap < configured ? cap : configured;
    }

    /// <summary>One pass; returns when something is next due (a trigger or a retry), or null when nothing is.</summary>
    public async Task<DateTimeOffset?> RunAsync(PkiConfiguration config, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        DateTimeOffset? due = null;
        var configured = new HashSet<string>(StringComparer.Ordinal);
        foreach (AutoReEnrollment entry in config.AutoReEnrollments)
        {
            configured.Add(entry.CertificateId);
            DateTimeOffset? next = await RunOneAsync(config, entry, cancellationToken).ConfigureAwait(false);
            if (next is { } n && (due is null || n < due))
            {
                due = n;
            }
        }
        foreach (string id in _state.ListStatuses().Where(s => !configured.Contains(s)))
        {
            _state.DeleteStatus(id);
        }
        foreach (string id in _episodes.Keys.Where(k => !configured.Contains(k)).ToList())
        {
            _episodes[id].Dispose();
            _episodes.Remove(id);
        }
        return due;
    }

    private async Task<DateTimeOffset?> RunOneAsync(PkiConfiguration config, AutoReEnrollment entry, CancellationToken cancellationToken)
    {
        string id = entry.CertificateId;
        DateTimeOffset now = _time.GetUtcNow();
        ReEnrollmentStatus? saved = _state.LoadStatus(id);
        if (entry.Protocol != ReEnrollmentProtocol.Scep)
        {
            _state.SaveStatus(new ReEnrollmentStatus(id, "Unavailable", null, null, null, 0, null, "cmpv2 re-enrollment is not supported; configure auto-re-enrollment scep", saved?.LastRenewal, null));
            return null;
        }
        X509Certificate2? certificate;
        try
        {
            certificate = _store.LoadLocalCertificate(id);
        }
        catch (Exception e) when (e is CryptographicException or PkiFormatException or IOException)
        {
            _state.SaveStatus(new ReEnrollmentStatus(id, "Unavailable", null, null, null, 0, null, $"the local certificate {id} cannot be read: {e.Message}", saved?.LastRenewal, null));
            return null;
        }
        if (certificate is null)
        {
            _state.SaveStatus(new ReEnrollmentStatus(id, "Unavailable", null, null, null, 0, null, $"there is no local certificate {id} to renew", saved?.LastRenewal, null));
            return null;
        }

        string fingerprint = AgentScep.Fingerprint(certificate);
        if (!_episodes.TryGetValue(id, out Episode? episode) || episode.Fingerprint != fingerprint)
        {
            episode?.Dispose();
            episode = new Episode(fingerprint);
            // After a restart: what was tried for this same certificate stays visible; the next attempt is now.
            if (saved is not null && saved.ForCertificate == fingerprint)
            {
                episode.Attempts = saved.Attempts;
                episode.LastAttempt = saved.LastAttempt;
                episode.LastError = saved.LastError;
            }
            _episodes[id] = episode;
        }
        DateTimeOffset trigger = TriggerTime(certificate, entry.TriggerPercentage ?? DefaultTriggerPercentage);
        DateTimeOffset? lastRenewal = saved?.LastRenewal;
        if (now < trigger)
        {
            Save(id, "Waiting", episode, trigger, lastRenewal);
            return trigger;
        }
        if (episode.NextAttempt is { } retryAt && now < retryAt)
        {
            return retryAt;
        }

        episode.Attempts++;
        episode.LastAttempt = now;
        TimeSpan retryInterval = config.FindCaProfile(entry.CaProfileName)?.RetryInterval ?? TimeSpan.FromSeconds(900);
        try
        {
            X509Certificate2? renewed = await AttemptAsync(config, entry, certificate, episode, now, cancellationToken).ConfigureAwait(false);
            if (renewed is not null)
            {
                bool installed = await InstallAsync(id, certificate, renewed, episode, cancellationToken).ConfigureAwait(false);
                if (installed)
                {
                    _log($"auto-re-enrollment: local certificate {id} renewed (serial {renewed.SerialNumber}, valid until {renewed.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC{(episode.NewKey is null ? "" : ", new key pair")})");
                    var done = new Episode(AgentScep.Fingerprint(renewed));
                    episode.Dispose();
                    _episodes[id] = done;
                    DateTimeOffset nextTrigger = TriggerTime(renewed, entry.TriggerPercentage ?? DefaultTriggerPercentage);
                    if (nextTrigger <= now)
                    {
                        // The CA gave no more lifetime than the trigger allows (it clamps to its own expiry, or its
                        // profile is short): renewing again at once would only ask again and again.
                        done.NextAttempt = now + (retryInterval < MinimumRetryDelay ? MinimumRetryDelay : retryInterval);
                        done.LastAttempt = now;
                        done.LastError = $"the renewed certificate (valid until {renewed.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC) is already past its re-enrollment trigger; the CA may be limiting validity to its own";
                        _log($"auto-re-enrollment: local certificate {id}: {done.LastError}; next attempt after the retry-interval");
                        Save(id, "Renewing", done, nextTrigger, now);
                        return done.NextAttempt;
                    }
                    _state.SaveStatus(new ReEnrollmentStatus(id, "Waiting", done.Fingerprint, nextTrigger, null, 0, now, null, now, null));
                    return nextTrigger;
                }
                episode.LastError = "the local certificate was replaced while the renewal ran; the renewed certificate was discarded";
            }
        }
        catch (AgentException e)
        {
            episode.LastError = e.Message;
        }
        catch (Exception e) when (e is ScepFormatException or CryptographicException or PkiFormatException or IOException or ArgumentException or UnauthorizedAccessException)
        {
            episode.LastError = e.Message;
        }
        DateTimeOffset nextAttempt = now + RetryDelay(retryInterval, certificate.NotAfter.ToUniversalTime(), now);
        episode.NextAttempt = nextAttempt;
        _log($"auto-re-enrollment: local certificate {id}, attempt {episode.Attempts}: {episode.LastError}; next attempt at {nextAttempt:HH:mm:ss} UTC");
        Save(id, "Renewing", episode, trigger, lastRenewal);
        return nextAttempt;
    }

    /// <summary>One SCEP exchange; the renewed certificate, or null (PENDING) with the reason in the episode.</summary>
    private async Task<X509Certificate2?> AttemptAsync(PkiConfiguration config, AutoReEnrollment entry, X509Certificate2 certificate, Episode episode,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        AgentCa ca = AgentCa.Resolve(config, _store, entry.CaProfileName);
        using KeyPair current = _store.LoadKeyPair(entry.CertificateId) ?? throw new AgentException($"the key pair of {entry.CertificateId} is missing");
        if (!current.Matches(certificate))
        {
            throw new AgentException($"the key pair of {entry.CertificateId} does not match its certificate");
        }
        ScepEnrollmentFlow flow = ca.Flow(_http);
        HashAlgorithmName? digestAsked = AgentScep.Digest(entry.ScepDigestAlgorithm);
        ScepCipher? cipherAsked = AgentScep.Cipher(entry.ScepEncryptionAlgorithm);
        ScepCapabilities caps = await flow.GetCapabilitiesAsync(cancellationToken).ConfigureAwait(false);
        ScepAlgorithms algorithms = ScepAlgorithms.Choose(caps, digestAsked, cipherAsked);
        foreach (string warning in algorithms.Warnings)
        {
            _log($"auto-re-enrollment: local certificate {entry.CertificateId}: warning: {warning}");
        }
        // RFC 8894 §3.3.1.2: a RenewalReq is signed with the certificate being renewed, which must still be valid.
        bool renewal = caps.Renewal && now < certificate.NotAfter.ToUniversalTime();
        if (!renewal && entry.ChallengePassword is null)
        {
            throw new AgentException(now < certificate.NotAfter.ToUniversalTime()
                ? $"the CA does not offer Renewal (GetCACaps) and no challenge-password is configured for {entry.CertificateId}"
                : $"the certificate has expired, so it cannot sign a renewal, and no challenge-password is configured for {entry.CertificateId}");
        }
        if (entry.ReGenerateKeyPair && episode.NewKey is null)
        {
            episode.NewKey = await NewKeyAsync(entry.CertificateId, current, cancellationToken).ConfigureAwait(false);
        }
        KeyPair requestKey = episode.NewKey ?? current;
        byte[] csr = CertificateRequestBuilder.Create(requestKey, AgentScep.SameNames(certificate, algorithms.CsrDigest, renewal ? null : entry.ChallengePassword));
        byte[] spki = requestKey.ExportSubjectPublicKeyInfo();
        // A transaction per (requested key, certificate renewed): a retry repeats it (the CA answers it as before),
        // and it differs from the first enrollment's, which used the same key.
        string transactionId = Convert.ToHexString(SHA256.HashData([.. spki, .. certificate.RawData]))[..40];
        episode.TransactionId = transactionId;
        using X509Certificate2 signer = renewal ? AgentScep.WithKey(certificate, current) : AgentScep.SelfSigned(requestKey, certificate.SubjectName, now);
        // With re-generate-keypair the RenewalReq is signed with the current key while the certificate is for the new
        // one, so the issued certificate is looked for by the CSR's key, not the signer's.
        PublicKey issuedKey = PublicKey.CreateFromSubjectPublicKeyInfo(spki, out _);
        ScepEnrollment result = await flow.EnrollAsync(renewal ? ScepMessageType.RenewalReq : ScepMessageType.PkcsReq, csr, signer, transactionId, algorithms,
            issuedKey, cancellationToken).ConfigureAwait(false);
        switch (result.Status)
        {
            case ScepPkiStatus.Success:
                if (ca.Problem(result.Certificate!, requestKey, _time.GetUtcNow()) is { } problem)
                {
                    throw new AgentException(problem);
                }
                return result.Certificate;
            case ScepPkiStatus.Pending:
                episode.LastError = $"pending at the CA (transaction {transactionId})";
                return null;
            default:
                throw new AgentException($"the CA refused the {(renewal ? "RenewalReq" : "PKCSReq")}: {result.FailureReason}");
        }
    }

    /// <summary>
    /// The new key of a <c>re-generate-keypair</c> renewal: the one a previous run stored (a restart, or a crash
    /// before the install, repeats the same transaction, and the CA answers it with the certificate it already
    /// issued, since it gives a certificate one successor only), or a new one stored before its first request.
    /// </summary>
    private async Task<KeyPair> NewKeyAsync(string id, KeyPair current, CancellationToken cancellationToken)
    {
        KeyPair? key = null;
        await _exclusive(() =>
        {
            try
            {
                key = _store.LoadRenewalKey(id);
            }
            catch (PkiFormatException e)
            {
                _log($"auto-re-enrollment: local certificate {id}: the stored renewal key is damaged ({e.Message}); making a new one");
            }
            if (key is null)
            {
                key = KeyPair.Generate(current.Algorithm, current.KeySize);
                _store.Apply(new PkiStoreChange().WriteRenewalKey(id, key));
            }
        }, cancellationToken).ConfigureAwait(false);
        return key!;
    }

    /// <summary>Installs the renewed certificate (and new key) in one store change, if the old one is still in place.</summary>
    private async Task<bool> InstallAsync(string id, X509Certificate2 old, X509Certificate2 renewed, Episode episode, CancellationToken cancellationToken)
    {
        bool installed = false;
        await _exclusive(() =>
        {
            X509Certificate2? onDisk = _store.LoadLocalCertificate(id);
            if (onDisk is null || !onDisk.RawData.AsSpan().SequenceEqual(old.RawData))
            {
                return;
            }
            var change = new PkiStoreChange();
            if (episode.NewKey is not null)
            {
                change.WriteKeyPair(id, episode.NewKey);
                change.Delete(PkiObjectType.RenewalKey, id);
            }
            change.WriteCertificate(PkiObjectType.LocalCertificate, id, renewed);
            _store.Apply(change);
            installed = true;
        }, cancellationToken).ConfigureAwait(false);
        return installed;
    }

    private void Save(string id, string state, Episode episode, DateTimeOffset trigger, DateTimeOffset? lastRenewal) =>
        _state.SaveStatus(new ReEnrollmentStatus(id, state, episode.Fingerprint, trigger, episode.NextAttempt, episode.Attempts, episode.LastAttempt,
            episode.LastError, lastRenewal, episode.TransactionId));

    public void Dispose()
    {
        foreach (Episode e in _episodes.Values)
        {
            e.Dispose();
        }
        _episodes.Clear();
    }

    /// <summary>The renewal of one certificate (identified by its fingerprint), from trigger to installation.</summary>
    private sealed class Episode(string fingerprint) : IDisposable
    {
        public string Fingerprint { get; } = fingerprint;

        /// <summary>The new key pair of <c>re-generate-keypair</c>, the same for every retry of this renewal.</summary>
        public KeyPair? NewKey { get; set; }

        public int Attempts { get; set; }

        public DateTimeOffset? LastAttempt { get; set; }

        public DateTimeOffset? NextAttempt { get; set; }

        public string? LastError { get; set; }

        public string? TransactionId { get; set; }

        public void Dispose() => NewKey?.Dispose();
    }
}
