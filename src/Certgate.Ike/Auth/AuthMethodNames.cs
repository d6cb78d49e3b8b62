using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Auth;

/// <summary>
/// The names people see for an AUTH method in <c>show services ipsec-vpn</c>, the gateway's tunnel log and
/// <c>debug ike-tunnel</c>. Why not the enum's IANA spelling: these texts are older than the one registry (issue #13)
/// and the scenario tests' expected lines hold them ("AUTH local 2 (SharedKey)"), so the consolidation keeps them.
/// </summary>
public static class AuthMethodNames
{
    /// <summary>The display name of <paramref name="method"/>; an unknown number prints as the number.</summary>
    public static string Of(AuthMethod method) => method switch
    {
        AuthMethod.RSA_DIGITAL_SIGNATURE => "RsaSignature",
        AuthMethod.SHARED_KEY_MESSAGE_INTEGRITY_CODE => "SharedKey",
        AuthMethod.ECDSA_SHA_256_P256 => "EcdsaSha256P256",
        AuthMethod.ECDSA_SHA_384_P384 => "EcdsaSha384P384",
        AuthMethod.ECDSA_SHA_512_P521 => "EcdsaSha512P521",
        AuthMethod.DIGITAL_SIGNATURE => "DigitalSignature",
        _ => ((byte)method).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
