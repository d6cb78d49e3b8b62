using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Issuance;
using Certgate.Ca.Storage;
using Certgate.Scep;

namespace Certgate.Ca.Scep;

/// <summary>
/// The SCEP service without its HTTP transport (micromdm's split; DESIGN.md "The SCEP service kept apart from its
/// HTTP transport"): GetCACaps and GetCACert answers, and PKIOperation — one pkiMessage in, one answer out: a CertRep
/// (SUCCESS, PENDING or FAILURE) or, for a message too broken to answer in SCEP, a 400 reason. Certgate.Ca.Http maps
/// it onto Kestrel; tests drive it directly.
/// </summary>
/// <param name="ca">The certificate authority that decides.</param>
/// <param name="log">Where one line per request goes (null: nowhere); never a challenge password.</param>
public sealed class ScepService(CertificateAuthority ca, TextWriter? log)
{
    /// <summary>
    /// GetCACaps keywords (RFC 8894 §3.5.2) for the certificate profile named by the <c>message</c> parameter (the
    /// default profile when empty or unknown): the CA's list, plus SHA-384, which this layer supports and strongSwan
    /// 5.9.8 needs to see before it uses AES and SHA-256 (its capability check bug, fixed in 5.9.11).
    /// </summary>
    public IReadOnlyList<string> GetCaCaps(string? profile)
    {
        List<string> caps = [.. ca.GetCaCapabilities(string.IsNullOrEmpty(profile) ? null : profile)];
        int sha256 = caps.FindIndex(c => string.Equals(c, "SHA-256", StringComparison.OrdinalIgnoreCase));
        if (sha256 >= 0 && !caps.Contains("SHA-384", StringComparer.OrdinalIgnoreCase))
        {
            caps.Insert(sha256 + 1, "SHA-384");
        }
        return caps;
    }

    /// <summary>
    /// The GetCACert answer (RFC 8894 §4.2.1): one certificate → DER (<c>application/x-x509-ca-cert</c>); a CA with an
    /// RA → a degenerate certificates-only SignedData holding the RA and the CA (<c>application/x-x509-ca-ra-cert</c>).
    /// </summary>
    public ScepCaCertAnswer GetCaCert()
    {
        X509Certificate2Collection certs = ca.GetCaCertificates();
        if (certs.Count == 1)
        {
            return new ScepCaCertAnswer(certs[0].RawData, "application/x-x509-ca-cert");
        }
        bool hasCa = certs.Cast<X509Certificate2>().Any(c => c.RawData.AsSpan().SequenceEqual(ca.Certificate.RawData));
        List<X509Certificate2> all = [.. certs.Cast<X509Certificate2>(), .. hasCa ? Array.Empty<X509Certificate2>() : [ca.Certificate]];
        return new ScepCaCertAnswer(DegenerateSignedData.Encode(all), "application/x-x509-ca-ra-cert");
    }

    /// <summary>Answers one pkiMessage from <paramref name="who"/> (a peer address, for the log and the audit).</summary>
    /// <remarks>
    /// RFC 8894 §3.3.2: a readable request that fails later (signature: badMessageCheck; an envelope that cannot be
    /// decrypted or whose payload cannot be read: badMessageCheck with one fixed text, so that no padding oracle
    /// exists) and every CA refusal are a CertRep FAILURE with failInfo and failInfoText; a message with no
    /// transactionID, nonce or signer to answer to is a 400.
    /// </remarks>
    public async Task<ScepPkiOperationAnswer> PkiOperationAsync(byte[] der, string who, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(der);
        if (der.Length == 0)
        {
            return await BadRequestAsync(who, "PKIOperation without a pkiMessage", ct).ConfigureAwait(false);
        }
        ScepServerRequest request;
        try
        {
            request = ScepServerRequest.Parse(der, ca.MessageCertificate);
        }
        catch (ScepFormatException e) when (e.Request is not null && e.EnvelopeUndecryptable)
        {
            // One answer for every envelope that cannot be decrypted or read (wrong recipient, key transport,
            // padding, garbage): the same failInfo and failInfoText, the same log line but for the detail, so the
            // CA key is no padding oracle (docs/security.md). The detail is for the operator only.
            log?.WriteLine($"scep {who} {e.Request.MessageType} txid {e.Request.TransactionId}: Failure {ScepFailInfo.BadMessageCheck}: {ScepFormatException.UndecryptableText} (detail: {e.Message})");
            await AuditRefusedAsync(who, e.Request.TransactionId, $"{ScepFailInfo.BadMessageCheck}: {ScepFormatException.UndecryptableText}", ct).ConfigureAwait(false);
            byte[] failure = CertRepBuilder.Build(e.Request, ScepCipher.Aes256Cbc, ca.MessageCertificate,
                ScepReply.Failure(ScepFailInfo.BadMessageCheck, ScepFormatException.UndecryptableText));
            return new ScepPkiOperationAnswer(failure, ScepPkiStatus.Failure, null);
        }
        catch (ScepFormatException e) when (e.Request is not null)
        {
            log?.WriteLine($"scep {who} {e.Request.MessageType} txid {e.Request.TransactionId}: Failure {e.FailInfo}: {e.Message}");
            await AuditRefusedAsync(who, e.Request.TransactionId, $"{e.FailInfo}: {e.Message}", ct).ConfigureAwait(false);
            byte[] failure = CertRepBuilder.Build(e.Request, ScepCipher.Aes256Cbc, ca.MessageCertificate, ScepReply.Failure(e.FailInfo, e.Message));
            return new ScepPkiOperationAnswer(failure, ScepPkiStatus.Failure, null);
        }
        catch (ScepFormatException e)
        {
            return await BadRequestAsync(who, e.Message, ct).ConfigureAwait(false);
        }
        ScepReply reply = await AnswerAsync(request, who, ct).ConfigureAwait(false);
        byte[] certRep = CertRepBuilder.Build(request.Message, request.Cipher, ca.MessageCertificate, reply);
        log?.WriteLine($"scep {who} {request.MessageType} txid {request.TransactionId} cipher {request.Cipher} digest {request.Message.DigestAlgorithmOid}: {reply.Status}{(reply.FailInfo is { } f ? $" {f}: {reply.FailInfoText}" : "")}");
        return new ScepPkiOperationAnswer(certRep, reply.Status, null);
    }

    private async Task<ScepPkiOperationAnswer> BadRequestAsync(string who, string reason, CancellationToken ct)
    {
        log?.WriteLine($"scep {who} refused: {reason}");
        await AuditRefusedAsync(who, null, "HTTP 400: " + reason, ct).ConfigureAwait(false);
        return new ScepPkiOperationAnswer(null, null, reason);
    }

    /// <summary>Audits a message refused before the CA saw a request (unreadable, bad signature, undecryptable),
    /// aggregated per address (<see cref="Audit.RefusalAudit"/>).</summary>
    private Task AuditRefusedAsync(string who, string? txid, string detail, CancellationToken ct) =>
        ca.Refusals.RecordAsync(who, Audit.AuditEvents.MessageRefused, txid, detail, ct);

    private async Task<ScepReply> AnswerAsync(ScepServerRequest request, string who, CancellationToken ct)
    {
        switch (request.MessageType)
        {
            case ScepMessageType.PkcsReq:
            case ScepMessageType.RenewalReq:
                EnrollmentResult enrolled = await ca.EnrollAsync(new EnrollmentRequest(request.Csr!, request.TransactionId,
                    request.MessageType == ScepMessageType.RenewalReq ? EnrollmentMessageType.RenewalReq : EnrollmentMessageType.PkcsReq,
                    request.Message.SignerCertificate, who), ct).ConfigureAwait(false);
                return ToReply(enrolled);
            case ScepMessageType.CertPoll:
                // Only the holder of the request's key learns its state and gets its certificate (issue #14 §1).
                return ToReply(await ca.PollAsync(request.TransactionId, request.Message.SignerCertificate, who, ct).ConfigureAwait(false));
            case ScepMessageType.GetCert:
            {
                IssuerAndSerialNumber id = request.IssuerAndSerialNumber!;
                if (!IsOurIssuer(id.Issuer))
                {
                    return ScepReply.Failure(ScepFailInfo.BadCertId, $"this CA is {ca.Certificate.Subject}, not {id.Issuer.Name}");
                }
                return ToReply(await ca.GetCertificateForHolderAsync(id.SerialHex, request.Message.SignerCertificate, who, ct).ConfigureAwait(false));
            }
            case ScepMessageType.GetCrl:
            {
                if (!IsOurIssuer(request.IssuerAndSerialNumber!.Issuer))
                {
                    return ScepReply.Failure(ScepFailInfo.BadCertId, $"this CA is {ca.Certificate.Subject}, not {request.IssuerAndSerialNumber.Issuer.Name}");
                }
                CrlRecord crl = await ca.GetCurrentCrlAsync("scep:" + who, ct).ConfigureAwait(false);
                return ScepReply.SuccessCrl(crl.Der);
            }
            default:
                return ScepReply.Failure(ScepFailInfo.BadRequest, $"messageType {request.MessageType} is not a request");
        }
    }

    private bool IsOurIssuer(X500DistinguishedName issuer) =>
        issuer.RawData.AsSpan().SequenceEqual(ca.Certificate.SubjectName.RawData)
        || string.Equals(issuer.Name, ca.Certificate.SubjectName.Name, StringComparison.Ordinal);

    private static ScepReply ToReply(EnrollmentResult r) => r.Status switch
    {
        EnrollmentStatus.Issued => ScepReply.Success(r.Certificate!),
        EnrollmentStatus.Pending => ScepReply.Pending(),
        _ => ScepReply.Failure((ScepFailInfo)(int)(r.FailInfo ?? EnrollmentFailInfo.BadRequest), r.Message),
    };
}

/// <summary>What <see cref="ScepService.PkiOperationAsync"/> answers: a CertRep with its pkiStatus, or a 400 reason.</summary>
/// <param name="CertRep">The DER CertRep, or null for a 400.</param>
/// <param name="Status">Its pkiStatus, or null for a 400.</param>
/// <param name="BadRequestReason">Why the message cannot be answered in SCEP, or null.</param>
public sealed record ScepPkiOperationAnswer(byte[]? CertRep, ScepPkiStatus? Status, string? BadRequestReason);

/// <summary>What <see cref="ScepService.GetCaCert"/> answers.</summary>
/// <param name="Body">DER certificate or certificates-only SignedData.</param>
/// <param name="ContentType">Its media type.</param>
public sealed record ScepCaCertAnswer(byte[] Body, string ContentType);
