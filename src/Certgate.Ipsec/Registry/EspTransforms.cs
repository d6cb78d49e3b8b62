namespace Certgate.Ipsec.Registry;

// IANA "Internet Key Exchange Version 2 (IKEv2) Parameters", Transform Type 1 and 3: the ESP transforms the data
// plane implements. The IANA spelling is kept so the names grep against RFC 7296, RFC 4106, RFC 4868 and peer logs.
#pragma warning disable CA1707 // IANA names

/// <summary>Transform Type 1 (Encryption Algorithm) IDs the data plane implements.</summary>
public enum EncryptionAlgorithm : ushort
{
    /// <summary>AES-CBC (RFC 3602), with a separate integrity algorithm.</summary>
    ENCR_AES_CBC = 12,

    /// <summary>AES-GCM with a 16-octet ICV (RFC 4106): combined mode, no integrity algorithm.</summary>
    ENCR_AES_GCM_16 = 20,
}

/// <summary>Transform Type 3 (Integrity Algorithm) IDs the data plane implements.</summary>
public enum IntegrityAlgorithm : ushort
{
    /// <summary>No separate integrity algorithm (combined-mode ciphers).</summary>
    NONE = 0,

    /// <summary>HMAC-SHA-256 truncated to 128 bits (RFC 4868).</summary>
    AUTH_HMAC_SHA2_256_128 = 12,

    /// <summary>HMAC-SHA-384 truncated to 192 bits (RFC 4868).</summary>
    AUTH_HMAC_SHA2_384_192 = 13,

    /// <summary>HMAC-SHA-512 truncated to 256 bits (RFC 4868).</summary>
    AUTH_HMAC_SHA2_512_256 = 14,
}
