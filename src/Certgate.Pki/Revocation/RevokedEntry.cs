using System.Numerics;

namespace Certgate.Pki.Revocation;

/// <summary>
/// One revoked certificate: an entry read from a CRL, or one the CA's store lists for the next CRL (the one type
/// for both, issue #13).
/// </summary>
/// <remarks>
/// Read from a CRL, <see cref="SerialNumber"/> is a view into the CRL's buffer (the INTEGER content octets as
/// encoded, big-endian two's complement); it stays valid as long as the <see cref="CertificateRevocationList"/> is alive.
/// </remarks>
public readonly struct RevokedEntry
{
    /// <summary>An entry for <paramref name="serialNumber"/> (INTEGER content octets, big-endian).</summary>
    /// <param name="serialNumber">The serial number's octets; the entry keeps this memory, it does not copy it.</param>
    /// <param name="revocationDate">When the CA revoked the certificate.</param>
    /// <param name="reason">The reasonCode, or null for none.</param>
    public RevokedEntry(ReadOnlyMemory<byte> serialNumber, DateTimeOffset revocationDate, CrlReason? reason)
    {
        SerialNumber = serialNumber;
        RevocationDate = revocationDate;
        Reason = reason;
    }

    /// <summary>The serial number's INTEGER content octets as they appear in the CRL.</summary>
    public ReadOnlyMemory<byte> SerialNumber { get; }

    /// <summary>When the CA revoked the certificate.</summary>
    public DateTimeOffset RevocationDate { get; }

    /// <summary>The reasonCode entry extension, or null when absent (RFC 5280: absent means unspecified).</summary>
    public CrlReason? Reason { get; }

    /// <summary>The serial as upper-case hex without leading zero octets (the form <c>openssl</c> prints).</summary>
    public string SerialNumberHex => SerialNumbers.ToHex(SerialNumber.Span);

    /// <summary>The serial as a non-negative integer.</summary>
    public BigInteger SerialNumberValue => new(SerialNumber.Span, isUnsigned: true, isBigEndian: true);
}
