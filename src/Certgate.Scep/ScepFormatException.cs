namespace Certgate.Scep;

/// <summary>A SCEP message (pkiMessage, CertRep, envelope or payload) is malformed, fails its signature check,
/// cannot be decrypted, or breaks an RFC 8894 rule. The message says which part and what was expected.</summary>
public sealed class ScepFormatException : Exception
{
    public ScepFormatException(string message)
        : base(message)
    {
    }

    public ScepFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
