// The one copy of the IANA "Internet Key Exchange Version 2 (IKEv2) Parameters" registry values Certgate uses (issue
// #13): IKE (wire format, negotiation, AUTH), ESP (the data plane's transforms), the service-set plan and the gateway
// all name these enums, so a value is never cast from one copy to another. Members keep the IANA spelling so the code
// greps against RFC 7296 and peer logs (STYLE.md, rule 6); tests/Certgate.Architecture.Tests fails when a second
// enum with these members appears in any Certgate assembly.
#pragma warning disable CA1707 // IANA names keep their underscores.
namespace Certgate.Ipsec.Registry;

/// <summary>IKEv2 Exchange Types (IANA, RFC 7296 §3.1).</summary>
public enum ExchangeType : byte
{
    IkeSaInit = 34,
    IkeAuth = 35,
    CreateChildSa = 36,
    Informational = 37,
}

/// <summary>IKEv2 Payload Types (IANA, RFC 7296 §3.2, RFC 7383).</summary>
public enum PayloadType : byte
{
    None = 0,
    SecurityAssociation = 33,
    KeyExchange = 34,
    IdInitiator = 35,
    IdResponder = 36,
    Certificate = 37,
    CertificateRequest = 38,
    Authentication = 39,
    Nonce = 40,
    Notify = 41,
    Delete = 42,
    VendorId = 43,
    TsInitiator = 44,
    TsResponder = 45,
    Encrypted = 46,
    Configuration = 47,
    Eap = 48,
    EncryptedFragment = 53,
}

/// <summary>IKEv2 Transform Types (IANA, RFC 7296 §3.3.2).</summary>
public enum TransformType : byte
{
    Encryption = 1,
    Prf = 2,
    Integrity = 3,
    DiffieHellman = 4,
    ExtendedSequenceNumbers = 5,
}

/// <summary>Transform Type 1 — Encryption Algorithm Transform IDs (IANA).</summary>
public enum EncryptionAlgorithm : ushort
{
    /// <summary>AES-CBC (RFC 3602), with a separate integrity algorithm; key length attribute 128/192/256.</summary>
    ENCR_AES_CBC = 12,

    /// <summary>AES-GCM with a 16-octet ICV (RFC 4106, RFC 5282): combined mode, no integrity algorithm.</summary>
    ENCR_AES_GCM_16 = 20,
}

/// <summary>Transform Type 2 — Pseudorandom Function Transform IDs (IANA, RFC 4868).</summary>
public enum PseudorandomFunction : ushort
{
    PRF_HMAC_SHA2_256 = 5,
    PRF_HMAC_SHA2_384 = 6,
    PRF_HMAC_SHA2_512 = 7,
}

/// <summary>Transform Type 3 — Integrity Algorithm Transform IDs (IANA, RFC 4868).</summary>
public enum IntegrityAlgorithm : ushort
{
    /// <summary>No separate integrity algorithm (combined-mode ciphers).</summary>
    NONE = 0,

    /// <summary>HMAC-SHA-256 truncated to 128 bits.</summary>
    AUTH_HMAC_SHA2_256_128 = 12,

    /// <summary>HMAC-SHA-384 truncated to 192 bits.</summary>
    AUTH_HMAC_SHA2_384_192 = 13,

    /// <summary>HMAC-SHA-512 truncated to 256 bits.</summary>
    AUTH_HMAC_SHA2_512_256 = 14,
}

/// <summary>Transform Type 4 — Diffie-Hellman Group (Key Exchange Method) Transform IDs (IANA); the Junos group number is the id.</summary>
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

/// <summary>IKEv2 Identification Payload ID Types (IANA, RFC 7296 §3.5).</summary>
public enum IdType : byte
{
    ID_IPV4_ADDR = 1,
    ID_FQDN = 2,
    ID_RFC822_ADDR = 3,
    ID_IPV6_ADDR = 5,
    ID_DER_ASN1_DN = 9,
    ID_DER_ASN1_GN = 10,
    ID_KEY_ID = 11,
}

/// <summary>IKEv2 Authentication Method (IANA, RFC 7296 §3.8, RFC 4754, RFC 7427).</summary>
public enum AuthMethod : byte
{
    RSA_DIGITAL_SIGNATURE = 1,
    SHARED_KEY_MESSAGE_INTEGRITY_CODE = 2,
    ECDSA_SHA_256_P256 = 9,
    ECDSA_SHA_384_P384 = 10,
    ECDSA_SHA_512_P521 = 11,

    /// <summary>RFC 7427 Digital Signature: the AUTH data names its signature algorithm.</summary>
    DIGITAL_SIGNATURE = 14,
}

/// <summary>IKEv2 Hash Algorithms of SIGNATURE_HASH_ALGORITHMS (IANA, RFC 7427 §4).</summary>
public enum SignatureHash : ushort
{
    SHA1 = 1,
    SHA2_256 = 2,
    SHA2_384 = 3,
    SHA2_512 = 4,
}

/// <summary>IKEv2 Notify Message Types (IANA, RFC 7296 §3.10.1) that Certgate uses.</summary>
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
