using System.Globalization;
using Certgate.Ca.Scep;
using Certgate.Scep;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Certgate.Ca.Http.Scep;

/// <summary>
/// SCEP over HTTP (RFC 8894 §4): GetCACaps, GetCACert, GetNextCACert and PKIOperation (POST body or GET
/// <c>message</c>) at <c>/scep</c> and at the historical <c>/cgi-bin/pkiclient.exe</c>. Only the transport lives here
/// (operation names, body limits, base64, status codes); every answer comes from <see cref="ScepService"/> in
/// Certgate.Ca.
/// </summary>
/// <remarks>
/// A message too broken to read (not CMS, no SCEP attributes) answers HTTP 400 with a short reason. A readable request
/// that fails later (signature: badMessageCheck; not decryptable: badMessageCheck; bad payload: badRequest) and every
/// CA refusal (challenge, policy) answer a CertRep FAILURE with the failInfo and a failInfoText.
/// </remarks>
public sealed class ScepEndpoints : ICaEndpoints
{
    /// <summary>The paths SCEP answers on.</summary>
    public static readonly string[] Paths = ["/scep", "/cgi-bin/pkiclient.exe"];

    private const string PkiMessageType = "application/x-pki-message";

    /// <inheritdoc />
    public void Map(WebApplication app, CertificateAuthority ca, CaHttpOptions options)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(ca);
        ArgumentNullException.ThrowIfNull(options);
        var handler = new Handler(ca, options);
        foreach (string path in Paths)
        {
            app.MapMethods(path, ["GET", "POST"], handler.InvokeAsync);
        }
    }

    private sealed class Handler(CertificateAuthority ca, CaHttpOptions options)
    {
        private readonly ScepService _service = new(ca, options.Log);

        public async Task InvokeAsync(HttpContext http)
        {
            IResult result = await HandleAsync(http).ConfigureAwait(false);
            await result.ExecuteAsync(http).ConfigureAwait(false);
        }

        private async Task<IResult> HandleAsync(HttpContext http)
        {
            string op = http.Request.Query["operation"].ToString();
            string who = http.Connection.RemoteIpAddress?.ToString() ?? "unknown";
            try
            {
                switch (op.ToUpperInvariant())
                {
                    case "GETCACAPS":
                        return Results.Text(string.Join('\n', _service.GetCaCaps(http.Request.Query["message"].ToString())) + "\n", "text/plain");
                    case "GETCACERT":
                        return GetCaCert();
                    case "GETNEXTCACERT":
                        // No rollover certificate is ever prepared, so GetNextCACert is not advertised in GetCACaps.
                        return Results.Text("no next CA certificate\n", "text/plain", statusCode: StatusCodes.Status404NotFound);
                    case "PKIOPERATION":
                        return await PkiOperationAsync(http, who).ConfigureAwait(false);
                    case "":
                        return await BadRequestAsync(http, who, "missing 'operation' parameter (GetCACaps, GetCACert, PKIOperation)");
                    default:
                        return await BadRequestAsync(http, who, $"unknown operation '{Truncate(op)}' (GetCACaps, GetCACert, GetNextCACert, PKIOperation)");
                }
            }
            catch (ScepFormatException e)
            {
                return await BadRequestAsync(http, who, e.Message);
            }
        }

        private IResult GetCaCert()
        {
            ScepCaCertAnswer answer = _service.GetCaCert();
            return Results.Bytes(answer.Body, answer.ContentType);
        }

        private async Task<IResult> PkiOperationAsync(HttpContext http, string who)
        {
            byte[] der;
            if (HttpMethods.IsPost(http.Request.Method))
            {
                der = await ReadBodyAsync(http.Request, options.MaxRequestBodyBytes ?? ca.Settings.Limits.Http.MaxRequestBodyBytes, http.RequestAborted).ConfigureAwait(false);
            }
            else
            {
                string message = http.Request.Query["message"].ToString();
                if (message.Length == 0)
                {
                    return await BadRequestAsync(http, who, "PKIOperation by GET needs the 'message' parameter (base64 pkiMessage)");
                }
                // Query decoding turns an unescaped '+' into a space; base64 has no spaces, so put them back.
                if (!TryBase64(message.Replace(' ', '+').Replace("\n", "", StringComparison.Ordinal).Replace("\r", "", StringComparison.Ordinal), out der))
                {
                    return await BadRequestAsync(http, who, "PKIOperation 'message' is not base64");
                }
            }
            ScepPkiOperationAnswer answer = await _service.PkiOperationAsync(der, who, http.RequestAborted).ConfigureAwait(false);
            return answer.CertRep is { } certRep
                ? Results.Bytes(certRep, PkiMessageType)
                : Results.Text(answer.BadRequestReason + "\n", "text/plain", statusCode: StatusCodes.Status400BadRequest);
        }

        private async Task<IResult> BadRequestAsync(HttpContext http, string who, string reason)
        {
            options.Log?.WriteLine($"scep {who} refused: {reason}");
            await ca.Refusals.RecordAsync(who, Certgate.Ca.Audit.AuditEvents.MessageRefused, null, "HTTP 400: " + reason, http.RequestAborted).ConfigureAwait(false);
            return Results.Text(reason + "\n", "text/plain", statusCode: StatusCodes.Status400BadRequest);
        }
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, long limit, CancellationToken ct)
    {
        long max = Math.Min(limit, ScepPkiMessage.MaxMessageBytes);
        if (request.ContentLength > max)
        {
            // Refused from the header, before Kestrel's own limit would throw on the first read.
            throw new ScepFormatException($"pkiMessage of {request.ContentLength} octets is larger than {max} (limits.http.maxRequestBodyBytes)");
        }
        using var ms = new MemoryStream();
        byte[] buffer = new byte[16 * 1024];
        int n;
        while ((n = await request.Body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            if (ms.Length + n > Math.Min(limit, ScepPkiMessage.MaxMessageBytes))
            {
                throw new ScepFormatException($"pkiMessage is larger than {Math.Min(limit, ScepPkiMessage.MaxMessageBytes)} octets");
            }
            ms.Write(buffer, 0, n);
        }
        return ms.ToArray();
    }

    private static bool TryBase64(string s, out byte[] der)
    {
        der = new byte[s.Length * 3 / 4 + 3];
        if (Convert.TryFromBase64String(s, der, out int written))
        {
            der = der[..written];
            return true;
        }
        der = [];
        return false;
    }

    private static string Truncate(string s) => s.Length > 40 ? s[..40] + "…" : s;
}
