using System.Collections.Frozen;
using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Sessions;

/// <summary>
/// The payload table: for each exchange and direction, which payloads a message must carry (exactly once), which it
/// may carry at most once, which any number of times, and what the receiver answers when the message breaks it.
/// Checked in one place before any task sees a message: by the <see cref="Sa.TaskManager"/> for every message of an
/// IKE SA, and by <see cref="Sa.Tasks.IkeInit.Screen"/> for the IKE_SA_INIT request that comes before any SA.
/// <code>
///   exchange         dir  required (once)          at most once   any number          refused with
///   IKE_SA_INIT      req  SA KE Ni                 -              N V                 INVALID_SYNTAX (unprotected, no state kept)
///   IKE_SA_INIT      rsp  SA KE Nr                 -              N V CERTREQ         - (the initiator gives up the SA)
///   IKE_AUTH         req  IDi AUTH SA TSi TSr      IDr CP         N V CERT CERTREQ    AUTHENTICATION_FAILED (§2.21.2), SA closed
///   IKE_AUTH         rsp  IDr AUTH SA TSi TSr      CP             N V CERT            AUTHENTICATION_FAILED in an INFORMATIONAL (§2.21.2)
///   CREATE_CHILD_SA  req  SA Ni                    KE TSi TSr     N V                 INVALID_SYNTAX (§2.21), SA closed
///   CREATE_CHILD_SA  rsp  SA Nr                    KE TSi TSr     N V                 - (the task fails)
///   INFORMATIONAL    req  -                        CP             N D V               INVALID_SYNTAX (§2.21), SA closed
///   INFORMATIONAL    rsp  -                        CP             N D V               - (the task fails)
/// </code>
/// A response that carries an error notify (type below 16384, §3.10.1) or N(COOKIE) is a refusal and needs none of
/// its required payloads (§1.3: "an error notification ... SA, Nr ... omitted"; §2.21.2: IDr and AUTH of an IKE_AUTH
/// refusal are the task's to demand). An unknown payload type is skipped unless it is marked critical (§2.5: "MUST
/// reject the entire message and MUST send a notification of UNSUPPORTED_CRITICAL_PAYLOAD"; for a request, with the
/// payload type as data). A known type the row does not list is refused.
/// </summary>
internal static class PayloadRules
{
    private static readonly PayloadType[] NV = [PayloadType.Notify, PayloadType.VendorId];

    private static readonly FrozenDictionary<(ExchangeType Exchange, bool Response), PayloadRule> Table = new PayloadRule[]
    {
        new(ExchangeType.IkeSaInit, false, [PayloadType.SecurityAssociation, PayloadType.KeyExchange, PayloadType.Nonce], [], NV, NotifyType.INVALID_SYNTAX),
        new(ExchangeType.IkeSaInit, true, [PayloadType.SecurityAssociation, PayloadType.KeyExchange, PayloadType.Nonce], [],
            [.. NV, PayloadType.CertificateRequest], null),
        new(ExchangeType.IkeAuth, false,
            [PayloadType.IdInitiator, PayloadType.Authentication, PayloadType.SecurityAssociation, PayloadType.TsInitiator, PayloadType.TsResponder],
            [PayloadType.IdResponder, PayloadType.Configuration], [.. NV, PayloadType.Certificate, PayloadType.CertificateRequest], NotifyType.AUTHENTICATION_FAILED),
        new(ExchangeType.IkeAuth, true,
            [PayloadType.IdResponder, PayloadType.Authentication, PayloadType.SecurityAssociation, PayloadType.TsInitiator, PayloadType.TsResponder],
            [PayloadType.Configuration], [.. NV, PayloadType.Certificate], NotifyType.AUTHENTICATION_FAILED),
        new(ExchangeType.CreateChildSa, false, [PayloadType.SecurityAssociation, PayloadType.Nonce],
            [PayloadType.KeyExchange, PayloadType.TsInitiator, PayloadType.TsResponder], NV, NotifyType.INVALID_SYNTAX),
        new(ExchangeType.CreateChildSa, true, [PayloadType.SecurityAssociation, PayloadType.Nonce],
            [PayloadType.KeyExchange, PayloadType.TsInitiator, PayloadType.TsResponder], NV, null),
        new(ExchangeType.Informational, false, [], [PayloadType.Configuration], [.. NV, PayloadType.Delete], NotifyType.INVALID_SYNTAX),
        new(ExchangeType.Informational, true, [], [PayloadType.Configuration], [.. NV, PayloadType.Delete], null),
    }.ToFrozenDictionary(r => (r.Exchange, r.Response));

    /// <summary>Every row, for tests and documentation.</summary>
    public static IEnumerable<PayloadRule> Rows => Table.Values;

    /// <summary>The row of <paramref name="exchange"/> in one direction; null for an exchange Certgate does not run.</summary>
    public static PayloadRule? For(ExchangeType exchange, bool response) => Table.GetValueOrDefault((exchange, response));

    /// <summary>Checks the (decrypted) payloads of one message of <paramref name="exchange"/> against its row.</summary>
    /// <exception cref="IkeException">The message breaks the row: <see cref="Problem"/>.</exception>
    public static void Check(ExchangeType exchange, bool response, IReadOnlyList<RawPayload> payloads)
    {
        if (Problem(exchange, response, payloads) is { } refused)
        {
            throw refused;
        }
    }

    /// <summary>
    /// The refusal of a message that breaks its row, or null when its payloads may be used: the exception's message
    /// names the exchange and the payload, its <see cref="IkeException.Notify"/> is the row's answer (null: none is sent).
    /// </summary>
    public static IkeException? Problem(ExchangeType exchange, bool response, IReadOnlyList<RawPayload> payloads)
    {
        ArgumentNullException.ThrowIfNull(payloads);
        if (For(exchange, response) is not { } rule)
        {
            return new IkeException($"exchange type {(byte)exchange} is not one Certgate runs", NotifyType.INVALID_SYNTAX);
        }
        foreach (RawPayload p in payloads)
        {
            if (!Enum.IsDefined(p.Type))
            {
                if (p.Critical)
                {
                    string unknown = $"{rule.Message} has an unknown payload type {(byte)p.Type} marked critical";
                    return response ? Refused(rule, unknown) : new IkeException(unknown, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, new byte[] { (byte)p.Type });
                }
                continue;
            }
            if (!rule.Allows(p.Type))
            {
                return Refused(rule, $"{rule.Message} may not carry a {p.Type} payload");
            }
        }
        bool refusal = response && payloads.Any(p => p.Type == PayloadType.Notify && p.Body.Length >= 4
            && System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(p.Body.Span[2..]) is < 16384 or (ushort)NotifyType.COOKIE);
        foreach (PayloadType type in rule.Required)
        {
            if (!refusal && !payloads.Any(p => p.Type == type))
            {
                return Refused(rule, $"{rule.Message} has no {type} payload");
            }
        }
        foreach (PayloadType type in rule.Required.Concat(rule.AtMostOnce))
        {
            if (payloads.Count(p => p.Type == type) > 1)
            {
                return Refused(rule, $"{rule.Message} has more than one {type} payload");
            }
        }
        return null;
    }

    private static IkeException Refused(PayloadRule rule, string problem) =>
        rule.Refusal is { } notify ? new IkeException(problem, notify) : new IkeException(problem);
}

/// <summary>
/// One row of the payload table (<see cref="PayloadRules"/>): a message of <paramref name="Exchange"/> in one direction.
/// </summary>
/// <param name="Exchange">The exchange.</param>
/// <param name="Response">Whether the row is for the response (else the request).</param>
/// <param name="Required">Payloads the message must carry, each exactly once.</param>
/// <param name="AtMostOnce">Payloads it may carry once.</param>
/// <param name="Repeatable">Payloads it may carry any number of times.</param>
/// <param name="Refusal">What the receiver answers a message that breaks the row; null: nothing (a response is not answered).</param>
internal sealed record PayloadRule(ExchangeType Exchange, bool Response, PayloadType[] Required, PayloadType[] AtMostOnce, PayloadType[] Repeatable, NotifyType? Refusal)
{
    /// <summary>The message in words, e.g. <c>the CREATE_CHILD_SA request</c>.</summary>
    public string Message => $"the {Name(Exchange)} {(Response ? "response" : "request")}";

    public bool Allows(PayloadType type) => Required.Contains(type) || AtMostOnce.Contains(type) || Repeatable.Contains(type);

    /// <summary>The exchange's name as RFC 7296 spells it.</summary>
    public static string Name(ExchangeType exchange) => exchange switch
    {
        ExchangeType.IkeSaInit => "IKE_SA_INIT",
        ExchangeType.IkeAuth => "IKE_AUTH",
        ExchangeType.CreateChildSa => "CREATE_CHILD_SA",
        ExchangeType.Informational => "INFORMATIONAL",
        _ => $"exchange {(byte)exchange}",
    };
}
