using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Sessions;

/// <summary>
/// Which payloads a message of each exchange must carry, and at most once (RFC 7296 §1.2), checked before any of
/// them is used; and no unknown payload marked critical (§2.5: "MUST reject ... with UNSUPPORTED_CRITICAL_PAYLOAD").
/// </summary>
internal static class PayloadRules
{
    public static readonly PayloadType[] IkeSaInitRequest = [PayloadType.SecurityAssociation, PayloadType.KeyExchange, PayloadType.Nonce];

    public static readonly PayloadType[] IkeAuthRequest = [PayloadType.IdInitiator, PayloadType.Authentication, PayloadType.SecurityAssociation, PayloadType.TsInitiator, PayloadType.TsResponder];

    public static readonly PayloadType[] IkeAuthResponse = [PayloadType.IdResponder, PayloadType.Authentication, PayloadType.SecurityAssociation, PayloadType.TsInitiator, PayloadType.TsResponder];

    /// <summary>CREATE_CHILD_SA request (§1.3): SA and Ni always; KEi, TSi/TSr (not for the IKE SA rekey) and N(REKEY_SA) as the case needs.</summary>
    public static readonly ExchangeRule CreateChildSaRequest = new("the CREATE_CHILD_SA request",
        [PayloadType.SecurityAssociation, PayloadType.Nonce],
        [PayloadType.SecurityAssociation, PayloadType.Nonce, PayloadType.KeyExchange, PayloadType.TsInitiator, PayloadType.TsResponder, PayloadType.Notify, PayloadType.VendorId]);

    /// <summary>CREATE_CHILD_SA response (§1.3): SA and Nr, or only error notifies (§1.3: "an error notification ... SA, Nr ... omitted").</summary>
    public static readonly ExchangeRule CreateChildSaResponse = CreateChildSaRequest with { Message = "the CREATE_CHILD_SA response" };

    /// <summary>INFORMATIONAL request (§1.4): any number of N, D and CP; none at all is the liveness check (§2.4).</summary>
    public static readonly ExchangeRule InformationalRequest = new("the INFORMATIONAL request", [],
        [PayloadType.Notify, PayloadType.Delete, PayloadType.Configuration, PayloadType.VendorId]);

    /// <summary>INFORMATIONAL response (§1.4).</summary>
    public static readonly ExchangeRule InformationalResponse = InformationalRequest with { Message = "the INFORMATIONAL response" };

    private static readonly PayloadType[] AtMostOnce =
        [PayloadType.SecurityAssociation, PayloadType.KeyExchange, PayloadType.Nonce, PayloadType.IdInitiator, PayloadType.IdResponder, PayloadType.Authentication, PayloadType.TsInitiator, PayloadType.TsResponder];

    /// <summary>What is wrong with the payload list of <paramref name="message"/>, or null when it may be used.</summary>
    public static string? Problem(IReadOnlyList<RawPayload> payloads, string message, PayloadType[] required)
    {
        foreach (RawPayload p in payloads)
        {
            if (p.Critical && !Enum.IsDefined(p.Type))
            {
                return $"{message} has an unknown payload type {(byte)p.Type} marked critical (UNSUPPORTED_CRITICAL_PAYLOAD)";
            }
        }
        foreach (PayloadType type in required)
        {
            if (!payloads.Any(p => p.Type == type))
            {
                return $"{message} has no {type} payload";
            }
        }
        foreach (PayloadType type in AtMostOnce)
        {
            if (payloads.Count(p => p.Type == type) > 1)
            {
                return $"{message} has more than one {type} payload";
            }
        }
        return null;
    }

    /// <summary>
    /// What is wrong with the (decrypted) payloads of a message of an established IKE SA against its exchange's table:
    /// an unknown critical payload, a payload the exchange does not carry, one that appears twice, or a required one
    /// missing (not required when the message carries an error notify: a refusal has only that, §1.3).
    /// </summary>
    public static string? Problem(IReadOnlyList<RawPayload> payloads, ExchangeRule rule)
    {
        ArgumentNullException.ThrowIfNull(payloads);
        ArgumentNullException.ThrowIfNull(rule);
        foreach (RawPayload p in payloads)
        {
            if (!rule.Allowed.Contains(p.Type) && Enum.IsDefined(p.Type))
            {
                return $"{rule.Message} may not carry a {p.Type} payload";
            }
        }
        bool refusal = payloads.Any(p => p.Type == PayloadType.Notify && p.Body.Length >= 4 && System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(p.Body.Span[2..]) < 16384);
        return Problem(payloads, rule.Message, refusal ? [] : rule.Required);
    }

    /// <exception cref="IkeException">The payload list breaks a rule.</exception>
    public static void Require(IReadOnlyList<RawPayload> payloads, string message, PayloadType[] required)
    {
        if (Problem(payloads, message, required) is { } problem)
        {
            throw new IkeException(problem);
        }
    }
}

/// <summary>One row of the payload table: the message it describes, the payloads it must carry and those it may carry.</summary>
internal sealed record ExchangeRule(string Message, PayloadType[] Required, PayloadType[] Allowed);
