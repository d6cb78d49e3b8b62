using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Audit;
using Certgate.Ca.Challenges;
using Certgate.Ca.Issuance;
using Certgate.Ca.Revocation;
using Certgate.Ca.Settings;
using Certgate.Ca.Storage;
using Certgate.Pki.Revocation;

namespace Certgate.Ca;

/// <summary>
/// The certificate authority: what the SCEP authority adapter, the HTTP host and the <c>certgate ca</c> commands call.
/// </summary>
/// <remarks>
/// Enrollment flow (<see cref="EnrollAsync"/>), in the micromdm "middleware" order:
/// <code>
///   parse CSR (signature) → duplicate transactionID? answer as before
///   → signed by a current certificate of this CA? renewal: authorise by that certificate (no challenge);
///        only its subject and a subset of its subjectAltNames; claim its succession (one successor only)
///   → else initial: profile and bound names from the challenge (or default profile, unbound)
///        manual profile: checks, then PENDING in the queue (the approving operator vouches for the names)
///        challenge profile: checks (name policy or bound names), no name another key holds, then consume the
///        one-time challenge atomically
///   → issuance pipeline (checks → template → modifiers → validators → enforcers → sign → persist) → audit
/// </code>
/// Names (issue #14 §1): see <see cref="NameAuthority"/>; never the CA's or RA's own subject, never cA=TRUE.
/// Client quirks: Cisco IOS renews with a PKCSReq signed by the old certificate (dogtag PR 3413) — treated as a
/// renewal; a RenewalReq signed by anything else is refused (unvalidated renewals: micromdm #117).
/// </remarks>
public sealed class CertificateAuthority
{
    private readonly TimeProvider _time;
    private readonly ICrlSigner _crlSigner;
    private readonly SemaphoreSlim _pendingGate = new(1, 1);

    /// <summary>Creates the authority.</summary>
    /// <param name="settings">Validated settings.</param>
    /// <param name="certificate">The CA certificate with its private key.</param>
    /// <param name="store">The storage backend (owned by the caller).</param>
    /// <param name="time">Clock; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="raCertificate">The RA certificate with its private key, when the settings use RA mode.</param>
    /// <param name="crlSigner">CRL encoder/signer; <see cref="PkiCrlSigner"/> when null.</param>
    /// <param name="pipeline">Issuance pipeline; the default stages when null.</param>
    /// <exception cref="ArgumentException">The CA certificate has no private key, or RA mode without an RA certificate.</exception>
    public CertificateAuthority(CaSettings settings, X509Certificate2 certificate, ICaStore store, TimeProvider? time = null,
        X509Certificate2? raCertificate = null, ICrlSigner? crlSigner = null, IssuancePipeline? pipeline = null)
    {
        Settings = settings ?? throw new ArgumentNullException(nameof(settings));
        Certificate = certificate ?? throw new ArgumentNullException(nameof(certificate));
        Store = store ?? throw new ArgumentNullException(nameof(store));
        if (!certificate.HasPrivateKey)
        {
            throw new ArgumentException("the CA certificate must come with its private key", nameof(certificate));
        }
        if (settings.UsesRa && raCertificate is null)
        {
            throw new ArgumentException("the settings use an RA (getCaCert) but no RA certificate was given", nameof(raCertificate));
        }
        RaCertificate = raCertificate;
        _time = time ?? TimeProvider.System;
        _crlSigner = crlSigner ?? new PkiCrlSigner();
        Pipeline = pipeline ?? new IssuancePipeline();
        Challenges = new ChallengeService(store, _time);
        Refusals = new RefusalAudit(store, _time, settings.Limits.RefusalAudit);
    }

    public CaSettings Settings { get; }

    /// <summary>The CA certificate (with private key).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The RA certificate (with private key), or null.</summary>
    public X509Certificate2? RaCertificate { get; }

    /// <summary>The certificate whose key signs SCEP replies and decrypts requests: the RA's in RA mode, else the CA's.</summary>
    public X509Certificate2 MessageCertificate => Settings.UsesRa ? RaCertificate! : Certificate;

    public ICaStore Store { get; }

    public IssuancePipeline Pipeline { get; }

    public ChallengeService Challenges { get; }

    /// <summary>Where refusals of network requests are audited, aggregated per address and reason (issue #14 §5).</summary>
    public RefusalAudit Refusals { get; }

    // ---------------- SCEP: GetCACert / GetCACaps ----------------

    /// <summary>The GetCACert answer, per <see cref="CaSettings.GetCaCert"/> (RA first, then CA).</summary>
    public X509Certificate2Collection GetCaCertificates() => Settings.GetCaCert switch
    {
        GetCaCertMode.CaOnly => [Certificate],
        GetCaCertMode.RaAndCa => [RaCertificate!, Certificate],
        GetCaCertMode.RaOnly => [RaCertificate!],
        _ => throw new InvalidOperationException($"unknown GetCACert mode {Settings.GetCaCert}"),
    };

    /// <summary>GetCACaps keywords (RFC 8894 §3.5.2), one per line in the HTTP answer. Only what the CA really does.</summary>
    /// <param name="profile">Profile (from the GetCACaps <c>message</c> parameter), default when null or unknown.</param>
    public IReadOnlyList<string> GetCaCapabilities(string? profile = null)
    {
        CertificateProfile p = profile is not null && Settings.Profiles.TryGetValue(profile, out CertificateProfile? named) ? named : Settings.GetProfile(null);
        // SHA-384 matters: strongSwan 5.9 pki uses AES only when SHA-384 is offered (peers.md).
        var caps = new List<string> { "AES", "POSTPKIOperation", "Renewal", "SCEPStandard", "SHA-256", "SHA-384", "SHA-512" };
        if (p.AllowSha1Des3)
        {
            caps.Add("DES3");
            caps.Add("SHA-1");
        }
        return caps;
    }

    // ---------------- SCEP: PKCSReq / RenewalReq / CertPoll / GetCert ----------------

    /// <summary>Handles PKCSReq and RenewalReq. Never throws for a bad request: refusals come back as
    /// <see cref="EnrollmentStatus.Failed"/> with a failInfo, and are audited.</summary>
    /// <exception cref="ArgumentException">Empty transactionID or CSR (the SCEP layer's mistake).</exception>
    public async Task<EnrollmentResult> EnrollAsync(EnrollmentRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrEmpty(request.TransactionId, nameof(request));
        ArgumentNullException.ThrowIfNull(request.Csr, nameof(request));
        string actor = "scep:" + request.Requester;
        string txid = request.TransactionId;
        ParsedCsr csr;
        try
        {
            csr = ParsedCsr.Parse(request.Csr);
        }
        catch (IssuanceRefusedException e)
        {
            return await RefuseAsync(actor, null, txid, e, cancellationToken).ConfigureAwait(false);
        }
        string subject = csr.Subject.Name;

        try
        {
            RequestRecord? existing = await Store.GetRequestAsync(txid, cancellationToken).ConfigureAwait(false);
            if (existing is not null)
            {
                return await AnswerDuplicateAsync(existing, csr, actor, cancellationToken).ConfigureAwait(false);
            }

            CertificateRecord? renewing = await FindOwnCertificateAsync(request.SignerCertificate, cancellationToken).ConfigureAwait(false);
            if (renewing is not null)
            {
                return await RenewAsync(request, csr, renewing, actor, cancellationToken).ConfigureAwait(false);
            }
            if (request.MessageType == EnrollmentMessageType.RenewalReq)
            {
                throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, "RenewalReq is not signed by a certificate this CA issued");
            }
            return await EnrollInitialAsync(request, csr, actor, cancellationToken).ConfigureAwait(false);
        }
        catch (IssuanceRefusedException e)
        {
            return await RefuseAsync(actor, subject, txid, e, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>CertPoll / GetCertInitial: the state of the request with this transactionID.</summary>
    public async Task<EnrollmentResult> PollAsync(string transactionId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(transactionId);
        RequestRecord? r = await Store.GetRequestAsync(transactionId, cancellationToken).ConfigureAwait(false);
        return r is null
            ? EnrollmentResult.Failed(EnrollmentFailInfo.BadCertId, $"no request with transactionID {transactionId}")
            : await AnswerAsync(r, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// CertPoll / GetCertInitial from the holder of the request's key only (issue #14 §1): the pkiMessage must be
    /// signed by the key of the pending request, or — for a renewal — by the certificate it renews. Anyone else gets
    /// FAILURE badRequest (the signature is valid, the signer is not entitled: RFC 8894 §3.2.1.4.5 "transaction not
    /// permitted"), audited.
    /// </summary>
    public async Task<EnrollmentResult> PollAsync(string transactionId, X509Certificate2? signer, string requester, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(transactionId);
        RequestRecord? r = await Store.GetRequestAsync(transactionId, cancellationToken).ConfigureAwait(false);
        if (r is null)
        {
            return EnrollmentResult.Failed(EnrollmentFailInfo.BadCertId, $"no request with transactionID {transactionId}");
        }
        if (!await IsHolderAsync(signer, r.PublicKeySha256, r.Serial, cancellationToken).ConfigureAwait(false))
        {
            return await RefuseAsync("scep:" + requester, r.Subject, transactionId, new IssuanceRefusedException(EnrollmentFailInfo.BadRequest,
                $"CertPoll for transactionID {transactionId} is not signed by the key of its request"), cancellationToken).ConfigureAwait(false);
        }
        return await AnswerAsync(r, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// GetCert from the holder of the certificate's key only (or of the certificate it renewed, during the grace
    /// period): anyone else gets FAILURE badRequest, audited. Unknown serials get badCertId.
    /// </summary>
    public async Task<EnrollmentResult> GetCertificateForHolderAsync(string serial, X509Certificate2? signer, string requester, CancellationToken cancellationToken = default)
    {
        string s;
        try
        {
            s = NormalizeSerial(serial);
        }
        catch (ArgumentException e)
        {
            return EnrollmentResult.Failed(EnrollmentFailInfo.BadCertId, e.Message);
        }
        CertificateRecord? record = await Store.GetCertificateAsync(s, cancellationToken).ConfigureAwait(false);
        if (record is null)
        {
            return EnrollmentResult.Failed(EnrollmentFailInfo.BadCertId, $"no certificate with serial {s}");
        }
        if (!await IsHolderAsync(signer, record.PublicKeySha256, record.Serial, cancellationToken).ConfigureAwait(false))
        {
            return await RefuseAsync("scep:" + requester, record.Subject, null, new IssuanceRefusedException(EnrollmentFailInfo.BadRequest,
                $"GetCert for certificate serial {record.SerialText} is not signed by that certificate's key"), cancellationToken).ConfigureAwait(false);
        }
        return EnrollmentResult.Issued(X509CertificateLoader.LoadCertificate(record.Der));
    }

    /// <summary>True when <paramref name="signer"/> holds the key <paramref name="publicKeySha256"/>, or is a
    /// certificate of this CA whose successor is <paramref name="serial"/> (a renewal signs with the old certificate).</summary>
    private async Task<bool> IsHolderAsync(X509Certificate2? signer, string publicKeySha256, string? serial, CancellationToken ct)
    {
        if (signer is null)
        {
            return false;
        }
        string signerKey = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(signer.PublicKey.ExportSubjectPublicKeyInfo()));
        if (string.Equals(signerKey, publicKeySha256, StringComparison.Ordinal))
        {
            return true;
        }
        CertificateRecord? own = serial is null ? null : await FindOwnCertificateAsync(signer, ct).ConfigureAwait(false);
        return own is not null && string.Equals(own.Successor, serial, StringComparison.Ordinal);
    }

    /// <summary>GetCert / show: the certificate with this serial (hex, any case, colons allowed), or null.</summary>
    public Task<CertificateRecord?> GetCertificateAsync(string serial, CancellationToken cancellationToken = default) =>
        Store.GetCertificateAsync(NormalizeSerial(serial), cancellationToken);

    // ---------------- operator: challenges, queue, revocation, CRL, audit ----------------

    /// <summary><c>certgate ca challenge</c>: a one-time challenge for <paramref name="profile"/> (default when null).</summary>
    /// <exception cref="ArgumentException">Unknown profile.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Bad TTL.</exception>
    public Task<CreatedChallenge> CreateChallengeAsync(TimeSpan ttl, string? profile, string actor, CancellationToken cancellationToken = default) =>
        CreateChallengeAsync(ttl, profile, actor, null, cancellationToken);

    /// <summary><c>certgate ca challenge --subject/--dns/--ip/--email</c>: a one-time challenge bound to names; a
    /// request using it may ask only for those names (<see cref="NameBinding"/>).</summary>
    /// <exception cref="ArgumentException">Unknown profile.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Bad TTL.</exception>
    public async Task<CreatedChallenge> CreateChallengeAsync(TimeSpan ttl, string? profile, string actor, NameBinding? binding, CancellationToken cancellationToken = default)
    {
        if (profile is not null && !Settings.Profiles.ContainsKey(profile))
        {
            throw new ArgumentException($"no certificate profile '{profile}' (known: {string.Join(", ", Settings.Profiles.Keys)})", nameof(profile));
        }
        CreatedChallenge c = await Challenges.CreateAsync(ttl, profile, binding, cancellationToken).ConfigureAwait(false);
        await AuditAsync(actor, AuditEvents.ChallengeCreated, "success",
            detail: $"challenge {c.Id} profile {profile ?? Settings.DefaultProfile} expires {c.ExpiresAt:u}" + (c.Binding is { } b ? $" bound to {b.Describe()}" : " unbound"),
            cancellationToken: cancellationToken).ConfigureAwait(false);
        return c;
    }

    /// <summary>Requests waiting for approval, oldest first.</summary>
    public Task<IReadOnlyList<RequestRecord>> ListPendingAsync(CancellationToken cancellationToken = default) =>
        Store.ListRequestsAsync(RequestState.Pending, cancellationToken);

    /// <summary><c>certgate ca approve ID</c>: issues a pending request.</summary>
    /// <exception cref="CaOperationException">No such request, or it is not pending.</exception>
    public async Task<EnrollmentResult> ApproveAsync(string transactionId, string actor, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(transactionId);
        RequestRecord r = await Store.GetRequestAsync(transactionId, cancellationToken).ConfigureAwait(false)
            ?? throw new CaOperationException($"no request with transactionID {transactionId}");
        DateTimeOffset now = _time.GetUtcNow();
        if (!await Store.TryTransitionRequestAsync(transactionId, RequestState.Pending, RequestState.Approving, null, null, now, cancellationToken).ConfigureAwait(false))
        {
            throw new CaOperationException($"request {transactionId} is not pending (it is {r.State.ToString().ToLowerInvariant()})");
        }
        await AuditAsync(actor, AuditEvents.RequestApproved, "success", r.Subject, null, transactionId, cancellationToken: cancellationToken).ConfigureAwait(false);
        try
        {
            ParsedCsr csr = ParsedCsr.Parse(r.Csr);
            CertificateProfile profile = ProfileOrDefault(r.Profile);
            var context = new IssuanceContext(csr, profile, Settings, Certificate, now, IssuanceKind.Initial, r.Requester, transactionId, NameGrant.Operator);
            (X509Certificate2 cert, CertificateRecord record) = await Pipeline.IssueAsync(context, Store, cancellationToken).ConfigureAwait(false);
            await Store.TryTransitionRequestAsync(transactionId, RequestState.Approving, RequestState.Issued, record.Serial, null, now, cancellationToken).ConfigureAwait(false);
            await AuditIssuedAsync(actor, record, "approved", cancellationToken).ConfigureAwait(false);
            return EnrollmentResult.Issued(cert);
        }
        catch (IssuanceRefusedException e)
        {
            await Store.TryTransitionRequestAsync(transactionId, RequestState.Approving, RequestState.Failed, null, e.Message, now, cancellationToken).ConfigureAwait(false);
            return await RefuseAsync(actor, r.Subject, transactionId, e, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary><c>certgate ca reject ID</c>: the request fails; polls answer FAILURE (badRequest).</summary>
    /// <exception cref="CaOperationException">No such request, or it is not pending.</exception>
    public async Task RejectAsync(string transactionId, string actor, string? reason, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(transactionId);
        RequestRecord r = await Store.GetRequestAsync(transactionId, cancellationToken).ConfigureAwait(false)
            ?? throw new CaOperationException($"no request with transactionID {transactionId}");
        string why = "rejected by " + actor + (string.IsNullOrEmpty(reason) ? "" : ": " + reason);
        if (!await Store.TryTransitionRequestAsync(transactionId, RequestState.Pending, RequestState.Failed, null, why, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false))
        {
            throw new CaOperationException($"request {transactionId} is not pending (it is {r.State.ToString().ToLowerInvariant()})");
        }
        await AuditAsync(actor, AuditEvents.RequestRejected, "success", r.Subject, null, transactionId, reason, cancellationToken).ConfigureAwait(false);
    }

    /// <summary><c>certgate ca revoke SERIAL reason</c>. Issues a new CRL afterwards when the settings say so.</summary>
    /// <exception cref="ArgumentException">Malformed serial or unknown reason.</exception>
    public async Task<RevokeOutcome> RevokeAsync(string serial, CrlReason reason, string actor, CancellationToken cancellationToken = default)
    {
        string s = NormalizeSerial(serial);
        RevokeOutcome outcome = await Store.RevokeAsync(s, reason, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        CertificateRecord? cert = outcome == RevokeOutcome.NotFound ? null : await Store.GetCertificateAsync(s, cancellationToken).ConfigureAwait(false);
        await AuditAsync(actor, AuditEvents.CertificateRevoked, outcome switch
        {
            RevokeOutcome.Revoked => "success",
            RevokeOutcome.AlreadyRevoked => "already-revoked",
            _ => "not-found",
        }, cert?.Subject, s, null, reason.ToString(), cancellationToken).ConfigureAwait(false);
        if (outcome == RevokeOutcome.Revoked && Settings.Crl.RegenerateOnRevoke)
        {
            await GenerateCrlAsync(actor, cancellationToken).ConfigureAwait(false);
        }
        return outcome;
    }

    /// <summary>Parses an RFC 5280 reason name (case-insensitive), e.g. <c>keyCompromise</c>.</summary>
    /// <exception cref="ArgumentException">Not a reason name.</exception>
    public static CrlReason ParseReason(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (CrlReason r in Enum.GetValues<CrlReason>())
        {
            if (string.Equals(r.ToString(), name, StringComparison.OrdinalIgnoreCase))
            {
                return r;
            }
        }
        throw new ArgumentException($"revocation reason '{name}': expected one of {string.Join(", ", Enum.GetNames<CrlReason>())}", nameof(name));
    }

    /// <summary><c>certgate ca crl</c>: signs and stores a new CRL (number allocated in the same transaction).</summary>
    public async Task<CrlRecord> GenerateCrlAsync(string actor, CancellationToken cancellationToken = default)
    {
        IReadOnlyList<RevokedEntry> revoked = await Store.ListRevokedAsync(cancellationToken).ConfigureAwait(false);
        DateTimeOffset now = _time.GetUtcNow();
        DateTimeOffset thisUpdate = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds());
        DateTimeOffset nextUpdate = thisUpdate + Settings.Crl.Validity;
        CrlRecord crl = await Store.SaveNextCrlAsync(thisUpdate, nextUpdate,
            number => _crlSigner.Sign(new CrlContent(Certificate, number, thisUpdate, nextUpdate, revoked)), cancellationToken).ConfigureAwait(false);
        await AuditAsync(actor, AuditEvents.CrlIssued, "success", detail: $"crl {crl.Number} entries {revoked.Count} nextUpdate {nextUpdate:u}", cancellationToken: cancellationToken).ConfigureAwait(false);
        return crl;
    }

    /// <summary>The current CRL, issuing one first when none exists or the overlap window has begun.</summary>
    public async Task<CrlRecord> GetCurrentCrlAsync(string actor, CancellationToken cancellationToken = default)
    {
        bool revoked = await RevokeSupersededAsync(actor, cancellationToken).ConfigureAwait(false) > 0;
        CrlRecord? latest = await Store.GetLatestCrlAsync(cancellationToken).ConfigureAwait(false);
        return revoked || CrlSchedule.IsDue(latest, Settings.Crl, _time.GetUtcNow()) ? await GenerateCrlAsync(actor, cancellationToken).ConfigureAwait(false) : latest!;
    }

    /// <summary>
    /// Revokes, with reason superseded, every renewed certificate whose successor was issued longer ago than its
    /// profile's <see cref="CertificateProfile.SupersededGrace"/>. Runs with every CRL check (<see cref="GetCurrentCrlAsync"/>).
    /// Returns how many it revoked (the caller issues a new CRL).
    /// </summary>
    public async Task<int> RevokeSupersededAsync(string actor, CancellationToken cancellationToken = default)
    {
        DateTimeOffset now = _time.GetUtcNow();
        int count = 0;
        foreach (CertificateRecord c in await Store.ListSupersededUnrevokedAsync(cancellationToken).ConfigureAwait(false))
        {
            if (c.SupersededAt is not { } at || now < at + ProfileOrDefault(c.Profile).SupersededGrace)
            {
                continue;
            }
            if (await Store.RevokeAsync(c.Serial, CrlReason.superseded, now, cancellationToken).ConfigureAwait(false) == RevokeOutcome.Revoked)
            {
                count++;
                await AuditAsync(actor, AuditEvents.CertificateRevoked, "success", c.Subject, c.Serial, null,
                    $"{CrlReason.superseded}: successor {c.Successor} issued {at:u}", cancellationToken).ConfigureAwait(false);
            }
        }
        return count;
    }

    /// <summary>Recomputes the audit log's hash chain.</summary>
    public Task<AuditVerification> VerifyAuditChainAsync(CancellationToken cancellationToken = default) => AuditChain.VerifyAsync(Store, cancellationToken);

    /// <summary>Normalises a serial to the stored form: upper-case hex, no separators.</summary>
    /// <exception cref="ArgumentException">Not hexadecimal, or longer than 20 octets.</exception>
    public static string NormalizeSerial(string serial)
    {
        ArgumentNullException.ThrowIfNull(serial);
        string s = serial.Replace(":", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant();
        if (s.Length == 0 || s.Length > 40 || !s.All(char.IsAsciiHexDigit))
        {
            throw new ArgumentException($"serial '{serial}': expected hexadecimal digits (at most 20 octets)", nameof(serial));
        }
        return s.Length % 2 == 1 ? "0" + s : s;
    }

    // ---------------- internals ----------------

    private async Task<EnrollmentResult> EnrollInitialAsync(EnrollmentRequest request, ParsedCsr csr, string actor, CancellationToken ct)
    {
        string txid = request.TransactionId;
        DateTimeOffset now = _time.GetUtcNow();
        ChallengeRecord? challenge = csr.ChallengePassword is { } pw ? await Challenges.FindAsync(pw, ct).ConfigureAwait(false) : null;
        CertificateProfile profile = ProfileOrDefault(challenge?.Profile);
        NameBinding? binding = NameBinding.Decode(challenge?.Binding);
        NameGrant grant = profile.Approval == ApprovalMode.Manual ? NameGrant.Operator
            : binding is null ? NameGrant.Profile
            : new NameGrant(NameAuthority.Binding, binding, $"challenge {challenge!.Id}");
        var context = new IssuanceContext(csr, profile, Settings, Certificate, now, IssuanceKind.Initial, request.Requester, txid, grant);

        // The checks run before the challenge is spent, so a mistaken request does not burn the challenge; a
        // challenge that cannot be spent (none, unknown, used, expired) is refused as such below, before any policy.
        bool challengeUsable = challenge is not null && challenge.UsedAt is null && challenge.ExpiresAt > now;
        if (profile.Approval == ApprovalMode.Manual || challengeUsable)
        {
            Pipeline.BuildTemplate(context);
        }
        if (profile.Approval != ApprovalMode.Manual && challengeUsable)
        {
            await CheckHeldNamesAsync(context, ct).ConfigureAwait(false);
        }

        if (profile.Approval == ApprovalMode.Manual)
        {
            var pending = new RequestRecord(txid, RequestState.Pending, csr.PublicKeySha256, csr.Der, csr.Subject.Name, request.Requester, profile.Name, null, null, now, now);
            // The caps are checked and the request queued under one lock, so concurrent requests in this process cannot
            // pass a cap together (frontends sharing a database may pass it by their number at most).
            await _pendingGate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (await PendingCapProblemAsync(pending, ct).ConfigureAwait(false) is { } full)
                {
                    await AuditAsync(actor, AuditEvents.PendingQueueFull, "refused", csr.Subject.Name, null, txid, full, ct).ConfigureAwait(false);
                    return EnrollmentResult.Failed(EnrollmentFailInfo.BadRequest, full);
                }
                if (!await Store.TryInsertRequestAsync(pending, ct).ConfigureAwait(false))
                {
                    RequestRecord raced = (await Store.GetRequestAsync(txid, ct).ConfigureAwait(false))!;
                    return await AnswerDuplicateAsync(raced, csr, actor, ct).ConfigureAwait(false);
                }
            }
            finally
            {
                _pendingGate.Release();
            }
            await AuditAsync(actor, AuditEvents.RequestPending, "pending", csr.Subject.Name, null, txid, $"profile {profile.Name}", ct).ConfigureAwait(false);
            return EnrollmentResult.Pending($"request {txid} waits for approval");
        }

        if (csr.ChallengePassword is null)
        {
            await AuditAsync(actor, AuditEvents.ChallengeRefused, "refused", csr.Subject.Name, null, txid, "no challengePassword in the request", ct).ConfigureAwait(false);
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, "the request carries no challengePassword and is not a renewal");
        }
        ChallengeStatus status = await Challenges.ConsumeAsync(csr.ChallengePassword, ct).ConfigureAwait(false);
        if (status != ChallengeStatus.Consumed)
        {
            string why = status switch
            {
                ChallengeStatus.AlreadyUsed => "the challenge password was already used",
                ChallengeStatus.Expired => "the challenge password has expired",
                _ => "the challenge password is not valid",
            };
            await AuditAsync(actor, AuditEvents.ChallengeRefused, "refused", csr.Subject.Name, null, txid, why + (challenge is null ? "" : $" (challenge {challenge.Id})"), ct).ConfigureAwait(false);
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, why);
        }
        await AuditAsync(actor, AuditEvents.ChallengeUsed, "success", csr.Subject.Name, null, txid, $"challenge {challenge?.Id}", ct).ConfigureAwait(false);
        return await IssueAndRecordAsync(context, actor, null, ct).ConfigureAwait(false);
    }

    /// <summary>Why <paramref name="request"/> cannot join the manual-approval queue (settings <c>limits.pending</c>),
    /// or null. The queue is read whole: it is never longer than the total cap.</summary>
    private async Task<string?> PendingCapProblemAsync(RequestRecord request, CancellationToken ct)
    {
        PendingLimits caps = Settings.Limits.Pending;
        IReadOnlyList<RequestRecord> queued = await Store.ListRequestsAsync(RequestState.Pending, ct).ConfigureAwait(false);
        if (queued.Count >= caps.Total)
        {
            return $"the approval queue is full ({queued.Count} requests wait, limits.pending.total is {caps.Total}); try again after the operator has approved or rejected some";
        }
        int fromAddress = queued.Count(r => string.Equals(r.Requester, request.Requester, StringComparison.Ordinal));
        if (fromAddress >= caps.PerAddress)
        {
            return $"{fromAddress} requests from {request.Requester} already wait for approval (limits.pending.perAddress is {caps.PerAddress})";
        }
        int forSubject = queued.Count(r => string.Equals(r.Subject, request.Subject, StringComparison.Ordinal));
        if (forSubject >= caps.PerSubject)
        {
            return $"{forSubject} requests for subject '{request.Subject}' already wait for approval (limits.pending.perSubject is {caps.PerSubject}); approve or reject them first";
        }
        return null;
    }

    private async Task<EnrollmentResult> RenewAsync(EnrollmentRequest request, ParsedCsr csr, CertificateRecord old, string actor, CancellationToken ct)
    {
        DateTimeOffset now = _time.GetUtcNow();
        if (old.IsRevoked)
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"renewal signed by certificate {old.Serial}, which is revoked");
        }
        if (now < old.NotBefore || now > old.NotAfter)
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadTime, $"renewal signed by certificate {old.Serial}, which is not valid now (valid {old.NotBefore:u} to {old.NotAfter:u})");
        }
        string marker = "renewing:" + request.TransactionId;
        if (old.HasSuccessor && old.Successor != marker)
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, old.Successor!.StartsWith("renewing:", StringComparison.Ordinal)
                ? $"certificate serial {old.SerialText} is being renewed by another request; it renews once"
                : $"certificate serial {old.SerialText} already has a successor (serial 0x{old.Successor}); it cannot renew again");
        }
        CertificateProfile profile = ProfileOrDefault(old.Profile);
        var grant = new NameGrant(NameAuthority.Renewal, Source: $"certificate serial {old.SerialText}", Predecessor: request.SignerCertificate);
        var context = new IssuanceContext(csr, profile, Settings, Certificate, now, IssuanceKind.Renewal, request.Requester, request.TransactionId, grant);
        Pipeline.BuildTemplate(context);
        // Claimed before signing, so two renewals racing on one certificate issue one successor (compare-and-set).
        if (!await Store.TryClaimSuccessionAsync(old.Serial, marker, ct).ConfigureAwait(false))
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"certificate serial {old.SerialText} already has a successor; it cannot renew again");
        }
        string? successor = null;
        try
        {
            EnrollmentResult result = await IssueAndRecordAsync(context, actor, $"renewal of {old.Serial} ({request.MessageType})", ct).ConfigureAwait(false);
            successor = NormalizeSerial(result.Certificate!.SerialNumber);
            return result;
        }
        finally
        {
            await Store.CompleteSuccessionAsync(old.Serial, marker, successor, now, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The held-name rule: a name (DNS name or CN, IP address, e-mail address) that a current certificate of another
    /// key holds is refused, so that one enrolled gateway never obtains another's names with a challenge.
    /// </summary>
    private async Task CheckHeldNamesAsync(IssuanceContext context, CancellationToken ct)
    {
        foreach (HeldName name in HeldNameRule.NamesToCheck(context))
        {
            foreach (CertificateRecord holder in await Store.FindCurrentHoldersAsync(name, context.Now, ct).ConfigureAwait(false))
            {
                if (!string.Equals(holder.PublicKeySha256, context.Csr.PublicKeySha256, StringComparison.Ordinal))
                {
                    throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest,
                        $"{HeldNameRule.Describe(name, context)} is held by certificate serial {holder.SerialText} ({holder.Subject}); revoke it first, or bind a challenge to the name (certgate ca challenge)");
                }
            }
        }
    }

    private async Task<EnrollmentResult> IssueAndRecordAsync(IssuanceContext context, string actor, string? detail, CancellationToken ct)
    {
        (X509Certificate2 cert, CertificateRecord record) = await Pipeline.IssueAsync(context, Store, ct).ConfigureAwait(false);
        DateTimeOffset now = context.Now;
        // Kept by transactionID so a retransmitted request or a poll gets this same certificate. The CSR itself is not
        // kept: it is no longer needed and it carries the (spent) challenge password.
        await Store.TryInsertRequestAsync(new RequestRecord(context.TransactionId!, RequestState.Issued, context.Csr.PublicKeySha256, [],
            record.Subject, context.Requester, context.Profile.Name, record.Serial, null, now, now), ct).ConfigureAwait(false);
        await AuditIssuedAsync(actor, record, detail, ct).ConfigureAwait(false);
        return EnrollmentResult.Issued(cert);
    }

    /// <summary>RFC 8894 §3.2.1.1: a transactionID identifies one transaction; a repeated request gets the same answer,
    /// but only for the same key (the transactionID is often a hash of it).</summary>
    private async Task<EnrollmentResult> AnswerDuplicateAsync(RequestRecord existing, ParsedCsr csr, string actor, CancellationToken ct)
    {
        if (!string.Equals(existing.PublicKeySha256, csr.PublicKeySha256, StringComparison.Ordinal))
        {
            throw new IssuanceRefusedException(EnrollmentFailInfo.BadRequest, $"transactionID {existing.TransactionId} was already used with a different public key");
        }
        return await AnswerAsync(existing, ct).ConfigureAwait(false);
    }

    private async Task<EnrollmentResult> AnswerAsync(RequestRecord r, CancellationToken ct)
    {
        switch (r.State)
        {
            case RequestState.Issued:
                CertificateRecord? cert = await Store.GetCertificateAsync(r.Serial!, ct).ConfigureAwait(false);
                return cert is null
                    ? EnrollmentResult.Failed(EnrollmentFailInfo.BadCertId, $"certificate {r.Serial} of request {r.TransactionId} is missing")
                    : EnrollmentResult.Issued(X509CertificateLoader.LoadCertificate(cert.Der));
            case RequestState.Failed:
                return EnrollmentResult.Failed(EnrollmentFailInfo.BadRequest, r.FailReason ?? "the request failed");
            default:
                return EnrollmentResult.Pending($"request {r.TransactionId} waits for approval");
        }
    }

    /// <summary>The stored record of <paramref name="signer"/> when this CA issued exactly that certificate, else null.
    /// Comparing the full DER with the stored copy proves issuance without a chain build.</summary>
    private async Task<CertificateRecord?> FindOwnCertificateAsync(X509Certificate2? signer, CancellationToken ct)
    {
        if (signer is null || !signer.IssuerName.RawData.AsSpan().SequenceEqual(Certificate.SubjectName.RawData))
        {
            return null;
        }
        string serial;
        try
        {
            serial = NormalizeSerial(signer.SerialNumber);
        }
        catch (ArgumentException)
        {
            return null;
        }
        CertificateRecord? r = await Store.GetCertificateAsync(serial, ct).ConfigureAwait(false);
        return r is not null && r.Der.AsSpan().SequenceEqual(signer.RawData) ? r : null;
    }

    private CertificateProfile ProfileOrDefault(string? name) =>
        name is not null && Settings.Profiles.TryGetValue(name, out CertificateProfile? p) ? p : Settings.GetProfile(null);

    private async Task<EnrollmentResult> RefuseAsync(string actor, string? subject, string? txid, IssuanceRefusedException e, CancellationToken ct)
    {
        await AuditAsync(actor, AuditEvents.EnrollmentRefused, "refused", subject, null, txid, $"{e.FailInfo}: {e.Message}", ct).ConfigureAwait(false);
        return EnrollmentResult.Failed(e.FailInfo, e.Message);
    }

    private Task AuditIssuedAsync(string actor, CertificateRecord record, string? detail, CancellationToken ct) =>
        AuditAsync(actor, AuditEvents.CertificateIssued, "success", record.Subject, record.Serial, record.TransactionId,
            $"profile {record.Profile}; valid until {record.NotAfter:u}" + (detail is null ? "" : "; " + detail), ct);

    /// <summary>Appends an audit row; a refusal of a network request (actor <c>scep:ADDRESS</c>) goes through
    /// <see cref="Refusals"/>, aggregated per address and event, so a flood cannot fill the disk.</summary>
    private Task AuditAsync(string actor, string evt, string outcome, string? subject = null, string? serial = null, string? txid = null, string? detail = null, CancellationToken cancellationToken = default)
    {
        var entry = new AuditEntry(_time.GetUtcNow(), actor, evt, outcome, subject, serial, txid, detail);
        return outcome == "refused" && actor.StartsWith("scep:", StringComparison.Ordinal)
            ? Refusals.RecordAsync(actor["scep:".Length..], evt, entry, cancellationToken)
            : (Task)Store.AppendAuditAsync(entry, cancellationToken);
    }
}
