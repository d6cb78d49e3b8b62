namespace Certgate.Ike.Registry;

#pragma warning disable CA1707 // IANA spellings, so code greps against the RFCs and peer logs.

/// <summary>IKEv2 Notify Message Types (IANA "IKEv2 Notify Message Types", RFC 7296 §3.10.1) that Certgate uses.</summary>
public enum NotifyType : ushort
{
    UNSUPPORTED_CRITICAL_PAYLOAD = 1,
    INVALID_SYNTAX = 7,
    NO_PROPOSAL_CHOSEN = 14,
    INVALID_KE_PAYLOAD = 17,
    AUTHENTICATION_FAILED = 24,
    NO_ADDITIONAL_SAS = 35,
    TS_UNACCEPTABLE = 38,
    TEMPORARY_FAILURE = 43,
    CHILD_SA_NOT_FOUND = 44,
    NAT_DETECTION_SOURCE_IP = 16388,
    NAT_DETECTION_DESTINATION_IP = 16389,
    COOKIE = 16390,
    REKEY_SA = 16393,
    IKEV2_FRAGMENTATION_SUPPORTED = 16430,
    SIGNATURE_HASH_ALGORITHMS = 16431,
}

/// <summary>Transform Type 1 – Encryption Algorithm Transform IDs (IANA).</summary>
public enum EncrId : ushort
{
    ENCR_AES_CBC = 12,
    ENCR_AES_GCM_16 = 20,
}

/// <summary>Transform Type 2 – Pseudorandom Function Transform IDs (IANA).</summary>
public enum PrfId : ushort
{
    PRF_HMAC_SHA2_256 = 5,
    PRF_HMAC_SHA2_384 = 6,
    PRF_HMAC_SHA2_512 = 7,
}

/// <summary>Transform Type 3 – Integrity Algorithm Transform IDs (IANA).</summary>
public enum IntegId : ushort
{
    NONE = 0,
    AUTH_HMAC_SHA2_256_128 = 12,
    AUTH_HMAC_SHA2_384_192 = 13,
    AUTH_HMAC_SHA2_512_256 = 14,
}

/// <summary>Transform Type 4 – Diffie-Hellman Group Transform IDs (IANA).</summary>
public enum DhGroup : ushort
{
    NONE = 0,

    /// <summary>2048-bit MODP Group (RFC 3526).</summary>
    MODP_2048 = 14,

    /// <summary>256-bit random ECP group (RFC 5903).</summary>
    ECP_256 = 19,

    /// <summary>384-bit random ECP group (RFC 5903).</summary>
    ECP_384 = 20,

    /// <summary>521-bit random ECP group (RFC 5903).</summary>
    ECP_521 = 21,
}

/// <summary>IKEv2 Hash Algorithms of SIGNATURE_HASH_ALGORITHMS (IANA, RFC 7427 §4).</summary>
public enum SignatureHash : ushort
{
    SHA1 = 1,
    SHA2_256 = 2,
    SHA2_384 = 3,
    SHA2_512 = 4,
}

/// <summary>IKEv2 Identification Payload ID Types (IANA, RFC 7296 §3.5).</summary>
public enum IdType : byte
{
    ID_IPV4_ADDR = 1,
    ID_FQDN = 2,
    ID_RFC822_ADDR = 3,
    ID_IPV6_ADDR = 5,
    ID_DER_ASN1_DN = 9,
}
