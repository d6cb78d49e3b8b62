namespace Certgate.Esp.Dataplane;

/// <summary>Why the data plane did not carry a packet. Counted per reason; the packet path never throws.</summary>
public enum EspDrop
{
    /// <summary>Outbound: the inner packet is not IPv4/IPv6 or too short to read.</summary>
    NotIp,

    /// <summary>Outbound: no policy covers the packet.</summary>
    NoPolicy,

    /// <summary>Outbound: a policy covers it but has no SA yet (IKE is asked to negotiate one).</summary>
    NoSa,

    /// <summary>Inbound: no SA has this SPI.</summary>
    UnknownSpi,

    /// <summary>Inbound: too short, or a length the cipher cannot produce.</summary>
    Malformed,

    /// <summary>Inbound: the sequence number was received already.</summary>
    Replayed,

    /// <summary>Inbound: the sequence number is left of the window.</summary>
    TooOld,

    /// <summary>Inbound: the ICV did not verify.</summary>
    AuthenticationFailed,

    /// <summary>Inbound: the trailer's padding is inconsistent.</summary>
    BadPadding,

    /// <summary>Inbound: the inner packet is not the IP version the next header announced (RFC 4303 §3.4.4.1).</summary>
    InnerMismatch,

    /// <summary>Inbound: the decrypted packet is outside the SA's traffic selectors (RFC 4301 §5.2 step 4).</summary>
    PolicyMismatch,

    /// <summary>Outbound: the SA's sequence numbers are used up or its hard lifetime is reached; it needs a rekey.</summary>
    Expired,

    /// <summary>The packet does not fit the buffers (larger than 64 KiB with ESP overhead).</summary>
    TooBig,

    /// <summary>
    /// Inbound: raw ESP (IP protocol 50) for an SA negotiated in UDP, or UDP-encapsulated ESP for a raw one
    /// (RFC 3948 §3.1: the encapsulation is part of the SA).
    /// </summary>
    WrongEncapsulation,

    /// <summary>Inbound: the device the SA's service set used is gone (removed by a commit while packets were in flight).</summary>
    NoDevice,

    /// <summary>
    /// Inbound: lost in the kernel before the data plane read it, because the socket's receive queue was full (the
    /// receive thread fell behind); the kernel's count (<c>SO_RXQ_OVFL</c>), so SA and cause are unknown.
    /// </summary>
    ReceiveQueueOverflow,
}
