using System.Security.Cryptography;

namespace Certgate.Pki.Revocation;

/// <summary>
/// A CRL could not be read: it is not DER/PEM, is truncated, breaks the RFC 5280 structure, or carries a critical
/// extension this implementation does not understand (RFC 5280 §5.2: "If a CRL contains a critical extension that
/// the application cannot process, then the application MUST NOT use that CRL to determine the status of
/// certificates").
/// </summary>
public sealed class CrlFormatException : CryptographicException
{
    /// <summary>Creates the exception with a message in the user's terms (which field, what was expected).</summary>
    public CrlFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception wrapping the decoder's error.</summary>
    public CrlFormatException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
