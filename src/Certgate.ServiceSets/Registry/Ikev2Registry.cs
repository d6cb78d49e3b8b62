// IANA "Internet Key Exchange Version 2 (IKEv2) Parameters" registry values the plan uses, with the IANA/RFC
// spellings so that they grep against RFC 7296 and peer logs. The IKE project keeps its own wire enums; the
// gateway maps these numbers onto them (the values are the registry's, so the mapping is a cast).
#pragma warning disable CA1707 // IANA names keep their underscores.
namespace Certgate.ServiceSets.Registry;

/// <summary>Transform Type 1 — Encryption Algorithm Transform IDs.</summary>
public enum EncryptionTransformId : ushort
{
    /// <summary>RFC 3602; key length attribute 128/192/256.</summary>
    ENCR_AES_CBC = 12,

    /// <summary>AES-GCM with a 16-octet ICV (RFC 4106, RFC 5282).</summary>
    ENCR_AES_GCM_16 = 20,
}

/// <summary>Transform Type 2 — Pseudorandom Function Transform IDs (RFC 4868).</summary>
public enum PrfTransformId : ushort
{
    PRF_HMAC_SHA2_256 = 5,
    PRF_HMAC_SHA2_384 = 6,
    PRF_HMAC_SHA2_512 = 7,
}

/// <summary>Transform Type 3 — Integrity Algorithm Transform IDs (RFC 4868).</summary>
public enum IntegrityTransformId : ushort
{
    NONE = 0,
    AUTH_HMAC_SHA2_256_128 = 12,
    AUTH_HMAC_SHA2_384_192 = 13,
    AUTH_HMAC_SHA2_512_256 = 14,
}

/// <summary>Transform Type 4 — Key Exchange Method Transform IDs (the Junos group number is the id).</summary>
public enum KeyExchangeMethodId : ushort
{
    /// <summary>2048-bit MODP Group (RFC 3526).</summary>
    MODP_2048 = 14,

    /// <summary>256-bit random ECP group (RFC 5903).</summary>
    ECP_256 = 19,

    /// <summary>384-bit random ECP group.</summary>
    ECP_384 = 20,

    /// <summary>521-bit random ECP group.</summary>
    ECP_521 = 21,
}

/// <summary>IKEv2 Authentication Method (RFC 7296 §3.8, RFC 4754).</summary>
public enum AuthMethod : byte
{
    RSA_DIGITAL_SIGNATURE = 1,
    SHARED_KEY_MESSAGE_INTEGRITY_CODE = 2,
    ECDSA_SHA_256_P256 = 9,
    ECDSA_SHA_384_P384 = 10,
}

/// <summary>IKEv2 Identification Payload ID Types (RFC 7296 §3.5).</summary>
public enum IdType : byte
{
    ID_IPV4_ADDR = 1,
    ID_FQDN = 2,
    ID_RFC822_ADDR = 3,
    ID_IPV6_ADDR = 5,
    ID_DER_ASN1_DN = 9,
    ID_KEY_ID = 11,
}
