using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Issuance;
using Certgate.Ca.Storage;
using Certgate.Scep;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Certgate.Ca.Http.Scep;

/// <summary>
/// The SCEP server (RFC 8894 §4) at <c>/scep</c> and <c>/cgi-bin/pkiclient.exe</c>, GET and POST: GetCACaps,
/// GetCACert, GetNextCACert and PKIOperation (PKCSReq, RenewalReq, CertPoll, GetCert). A request that cannot be
/// decoded gets HTTP 400 with a one-line reason; a request the CA refuses gets a signed CertRep FAILURE with its
/// failInfo; PENDING while it waits for approval.
/// </summary>
public sealed class ScepEndpoints : ICaEndpoints
{
    public void Map(WebApplication app, CertificateAuthority ca, CaHttpOptions options)
    {
        ArgumentNullException.ThrowIfNull(app);
        foreach (string path in new[] { "/scep", "/cgi-bin/pkiclient.exe" })
        {
            app.MapMethods(path, ["GET", "POST"], (Delegate)((HttpContext http) => GuardedAsync(http, ca, options)));
        }
    }

    /// <summary>A bug must not take the server down or leak a stack trace: log it, answer 500 with the exception type.</summary>
    private static async Task<IResult> GuardedAsync(HttpContext http, CertificateAuthority ca, CaHttpOptions options)
    {
        try
        {
            return await HandleAsync(http, ca, options).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log(options, $"scep: internal error: {e}");
            return Results.Text($"internal error ({e.GetType().Name}: {e.Message})\n", "text/plain", statusCode: 500);
        }
    }

    private static async Task<IResult> HandleAsync(HttpContext http, CertificateAuthority ca, CaHttpOptions options)
    {
        string operation = http.Request.Query["operation"].ToString();
        switch (operation)
        {
            case "GetCACaps":
                return Results.Text(string.Join('\n', ca.GetCaCapabilities(http.Request.Query["message"].ToString() is { Length: > 0 } m ? m : null)) + "\n", "text/plain");
            case "GetCACert":
                X509Certificate2Collection certs = ca.GetCaCertificates();
                return certs.Count == 1
                    ? Results.Bytes(certs[0].RawData, "application/x-x509-ca-cert")
                    : Results.Bytes(ScepMessage.CertificatesOnly(certs), "application/x-x509-ca-ra-cert");
            case "GetNextCACert":
                return Results.Text("no CA rollover certificate is configured\n", "text/plain", statusCode: StatusCodes.Status404NotFound);
            case "PKIOperation":
                byte[]? body = await ReadMessageAsync(http, options).ConfigureAwait(false);
                return body is null
                    ? Results.Text("PKIOperation needs a message (POST body, or GET message=BASE64)\n", "text/plain", statusCode: 400)
                    : await PkiOperationAsync(body, ca, http.Connection.RemoteIpAddress?.ToString() ?? "unknown", options, http.RequestAborted).ConfigureAwait(false);
            default:
                return Results.Text($"unknown SCEP operation '{Sanitize(operation)}' (expected GetCACaps, GetCACert, GetNextCACert or PKIOperation)\n", "text/plain", statusCode: 400);
        }
    }

    private static async Task<byte[]?> ReadMessageAsync(HttpContext http, CaHttpOptions options)
    {
        if (HttpMethods.IsPost(http.Request.Method))
        {
            using var buffer = new MemoryStream();
            try
            {
                await http.Request.Body.CopyToAsync(buffer, http.RequestAborted).ConfigureAwait(false);
            }
            catch (BadHttpRequestException)
            {
                return null;
            }
            return buffer.Length == 0 || buffer.Length > options.MaxRequestBodyBytes ? null : buffer.ToArray();
        }
        string message = http.Request.Query["message"].ToString();
        if (message.Length == 0)
        {
            return null;
        }
        try
        {
            return Convert.FromBase64String(message.Replace(' ', '+'));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static async Task<IResult> PkiOperationAsync(byte[] body, CertificateAuthority ca, string requester, CaHttpOptions options, CancellationToken cancellationToken)
    {
        ScepMessage request;
        try
        {
            request = ScepMessage.Decode(body, [ca.MessageCertificate]);
        }
        catch (ScepFormatException e)
        {
            return Results.Text($"bad SCEP message: {e.Message}\n", "text/plain", statusCode: 400);
        }
        (PkiStatus status, Certgate.Scep.FailInfo? failInfo, X509Certificate2? issued, string? why) = await AnswerAsync(request, ca, requester, cancellationToken).ConfigureAwait(false);
        Log(options, $"scep: {request.MessageType} {request.TransactionId} from {requester} (content {Convert.ToHexString(request.Content.AsSpan(0, Math.Min(6, request.Content?.Length ?? 0)))}, {request.EncryptionOid}): {status}{(failInfo is { } f ? " " + f : "")}{(why is null ? "" : " (" + why + ")")}");
        byte[]? inner = issued is null ? null : ScepMessage.CertificatesOnly([issued]);
        byte[] reply = ScepMessage.Encode(ScepMessageType.CertRep, request.TransactionId, ScepMessage.NewNonce(), request.SenderNonce, status, failInfo,
            inner, request.Signer, ReplyEncryption(request.EncryptionOid), ca.MessageCertificate, ReplyDigest(request.Digest));
        return Results.Bytes(reply, "application/x-pki-message");
    }

    private static void Log(CaHttpOptions options, string line)
    {
        if (options.Log is { } log)
        {
            lock (log)
            {
                log.WriteLine(line);
                log.Flush();
            }
        }
    }

    private static async Task<(PkiStatus, Certgate.Scep.FailInfo?, X509Certificate2?, string?)> AnswerAsync(ScepMessage request, CertificateAuthority ca, string requester, CancellationToken cancellationToken)
    {
        switch (request.MessageType)
        {
            case ScepMessageType.PkcsReq or ScepMessageType.RenewalReq:
                EnrollmentResult result = await ca.EnrollAsync(new EnrollmentRequest(request.Content!, request.TransactionId,
                    request.MessageType == ScepMessageType.RenewalReq ? EnrollmentMessageType.RenewalReq : EnrollmentMessageType.PkcsReq,
                    request.Signer, requester), cancellationToken).ConfigureAwait(false);
                return ToScep(result);
            case ScepMessageType.CertPoll:
                return ToScep(await ca.PollAsync(request.TransactionId, cancellationToken).ConfigureAwait(false));
            case ScepMessageType.GetCert:
                string? serial = ReadSerial(request.Content!);
                CertificateRecord? record = serial is null ? null : await ca.GetCertificateAsync(serial, cancellationToken).ConfigureAwait(false);
                return record is null
                    ? (PkiStatus.Failure, Certgate.Scep.FailInfo.BadCertId, null, $"no certificate with serial {serial}")
                    : (PkiStatus.Success, null, X509CertificateLoader.LoadCertificate(record.Der), null);
            default:
                // GetCRL: the CRL is served over HTTP at the distribution point in every certificate.
                return (PkiStatus.Failure, Certgate.Scep.FailInfo.BadRequest, null, $"{request.MessageType} is not supported; CRLs are served over HTTP");
        }
    }

    private static (PkiStatus, Certgate.Scep.FailInfo?, X509Certificate2?, string?) ToScep(EnrollmentResult result) => result.Status switch
    {
        EnrollmentStatus.Issued => (PkiStatus.Success, null, result.Certificate, null),
        EnrollmentStatus.Pending => (PkiStatus.Pending, null, null, result.Message),
        _ => (PkiStatus.Failure, result.FailInfo switch
        {
            EnrollmentFailInfo.BadAlg => Certgate.Scep.FailInfo.BadAlg,
            EnrollmentFailInfo.BadMessageCheck => Certgate.Scep.FailInfo.BadMessageCheck,
            EnrollmentFailInfo.BadTime => Certgate.Scep.FailInfo.BadTime,
            EnrollmentFailInfo.BadCertId => Certgate.Scep.FailInfo.BadCertId,
            _ => Certgate.Scep.FailInfo.BadRequest,
        }, null, result.Message),
    };

    /// <summary>IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER } → hex serial.</summary>
    private static string? ReadSerial(byte[] content)
    {
        try
        {
            AsnReader seq = new AsnReader(content, AsnEncodingRules.BER).ReadSequence();
            seq.ReadEncodedValue();
            return Convert.ToHexString(seq.ReadIntegerBytes().Span);
        }
        catch (AsnContentException)
        {
            return null;
        }
    }

    /// <summary>Answer with the request's cipher when we support it (DES only because old clients cannot do better).</summary>
    private static string ReplyEncryption(string? requestOid) => requestOid switch
    {
        "2.16.840.1.101.3.4.1.2" or "2.16.840.1.101.3.4.1.22" or "2.16.840.1.101.3.4.1.42" or "1.2.840.113549.3.7" or "1.3.14.3.2.7" => requestOid,
        _ => "2.16.840.1.101.3.4.1.42",
    };

    private static HashAlgorithmName ReplyDigest(HashAlgorithmName request) => request == HashAlgorithmName.MD5 ? HashAlgorithmName.SHA256 : request;

    private static string Sanitize(string s) => new(s.Take(40).Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
