using Certgate.Ike.Wire;

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

    /// <exception cref="IkeException">The payload list breaks a rule.</exception>
    public static void Require(IReadOnlyList<RawPayload> payloads, string message, PayloadType[] required)
    {
        if (Problem(payloads, message, required) is { } problem)
        {
            throw new IkeException(problem);
        }
    }
}
