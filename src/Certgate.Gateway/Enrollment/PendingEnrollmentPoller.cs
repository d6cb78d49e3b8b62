using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Config.Pki;
using Certgate.Pki.Encoding;
using Certgate.Pki.Keys;
using Certgate.Pki.Store;
using Certgate.Scep;

namespace Certgate.Gateway.Enrollment;

/// <summary>
/// Polls the enrollments that <c>request security pki local-certificate enroll</c> left PENDING (junos-reference
/// §3.4: "PENDING answers are polled retry times, retry-interval seconds apart"): CertPoll with the same
/// transaction every interval; SUCCESS installs the certificate (checked: this CA, this key) and removes the
/// request; FAILURE removes the request and says why in the log; after the last poll the enrollment is abandoned
/// and nothing is installed (the request stays, so running the command again resumes the same transaction).
/// </summary>
internal sealed class PendingEnrollmentPoller
{
    private readonly PkiStore _store;
    private readonly AgentStateStore _state;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly Action<string> _log;
    private readonly Func<Action, CancellationToken, Task> _exclusive;

    /// <param name="store">The PKI store.</param>
    /// <param name="state">Where the pending enrollments are recorded.</param>
    /// <param name="http">HTTP client to the CAs.</param>
    /// <param name="time">Clock.</param>
    /// <param name="log">One line per event.</param>
    /// <param name="exclusive">Runs a store change in the daemon's one-writer turn.</param>
    public PendingEnrollmentPoller(PkiStore store, AgentStateStore state, HttpClient http, TimeProvider time, Action<string> log, Func<Action, CancellationToken, Task> exclusive)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _state = state ?? throw new ArgumentNullException(nameof(state));
        _http = http ?? throw new ArgumentNullException(nameof(http));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _exclusive = exclusive ?? throw new ArgumentNullException(nameof(exclusive));
    }

    /// <summary>One pass over the pending enrollments; returns when the next poll is due, or null.</summary>
    public async Task<DateTimeOffset?> RunAsync(PkiConfiguration config, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        DateTimeOffset? due = null;
        foreach (string id in _state.ListPending())
        {
            DateTimeOffset? next = await PollOneAsync(config, id, cancellationToken).ConfigureAwait(false);
            if (next is { } n && (due is null || n < due))
            {
                due = n;
            }
        }
        return due;
    }

    private async Task<DateTimeOffset?> PollOneAsync(PkiConfiguration config, string id, CancellationToken cancellationToken)
    {
        PendingEnrollment? pending = _state.LoadPending(id);
        if (pending is null || _store.Exists(PkiObjectType.LocalCertificate, id) || !_store.Exists(PkiObjectType.CertificateRequest, id))
        {
            // Installed by hand, cleared, or a damaged record: nothing left to poll.
            _state.DeletePending(id);
            return null;
        }
        DateTimeOffset now = _time.GetUtcNow();
        if (now < pending.NextPoll)
        {
            return pending.NextPoll;
        }
        int attempt = pending.Attempts + 1;
        string? error;
        try
        {
            AgentCa ca = AgentCa.Resolve(config, _store, pending.CaProfile);
            using KeyPair key = _store.LoadKeyPair(id) ?? throw new AgentException($"the key pair of {id} is missing");
            var subject = new X500DistinguishedName(pending.Subject);
            using X509Certificate2 signer = AgentScep.SelfSigned(key, subject, now);
            // The algorithms the enrollment chose when it started (a CertPoll repeats its PKCSReq's).
            var algorithms = new ScepAlgorithms(new HashAlgorithmName(pending.Digest), Enum.Parse<ScepCipher>(pending.Cipher), []);
            ScepEnrollment result = await ca.Flow(_http).PollAsync(subject, signer, pending.TransactionId, algorithms, cancellationToken).ConfigureAwait(false);
            switch (result.Status)
            {
                case ScepPkiStatus.Success:
                    if (ca.Problem(result.Certificate!, key, _time.GetUtcNow()) is { } problem)
                    {
                        throw new AgentException(problem);
                    }
                    await _exclusive(() =>
                    {
                        if (!_store.Exists(PkiObjectType.LocalCertificate, id))
                        {
                            _store.Apply(new PkiStoreChange().WriteCertificate(PkiObjectType.LocalCertificate, id, result.Certificate!)
                                .Delete(PkiObjectType.CertificateRequest, id));
                        }
                        _state.DeletePending(id);
                    }, cancellationToken).ConfigureAwait(false);
                    _log($"enrollment of local certificate {id} (transaction {pending.TransactionId}): issued after {attempt} poll(s), serial {result.Certificate!.SerialNumber}, installed");
                    return null;
                case ScepPkiStatus.Pending:
                    error = null;
                    break;
                default:
                    await _exclusive(() =>
                    {
                        _store.Apply(new PkiStoreChange().Delete(PkiObjectType.CertificateRequest, id));
                        _state.DeletePending(id);
                    }, cancellationToken).ConfigureAwait(false);
                    _log($"enrollment of local certificate {id} (transaction {pending.TransactionId}) refused by the CA: {result.FailureReason}");
                    return null;
            }
        }
        catch (AgentException e)
        {
            error = e.Message;
        }
        catch (Exception e) when (e is ScepFormatException or CryptographicException or PkiFormatException or IOException or ArgumentException)
        {
            error = e.Message;
        }
        if (attempt >= pending.MaxAttempts)
        {
            _state.DeletePending(id);
            _log($"enrollment of local certificate {id} (transaction {pending.TransactionId}) abandoned after {attempt} poll(s)"
                + (error is null ? ": still pending at the CA" : $": {error}")
                + $"; run request security pki local-certificate enroll certificate-id {id} … again to resume it");
            return null;
        }
        DateTimeOffset next = now + (pending.Interval < ReEnrollmentAgent.MinimumRetryDelay ? ReEnrollmentAgent.MinimumRetryDelay : pending.Interval);
        _state.SavePending(pending with { Attempts = attempt, NextPoll = next, LastError = error });
        if (error is not null)
        {
            _log($"enrollment of local certificate {id}: poll {attempt} of {pending.MaxAttempts} failed: {error}");
        }
        return next;
    }
}
