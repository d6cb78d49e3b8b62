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

    /// <summary>The request as far as it could be read (SCEP attributes and signer certificate) when the failure came
    /// later (signature, decryption, payload): the server can then answer a CertRep FAILURE with <see cref="FailInfo"/>
    /// (RFC 8894 §3.3.2) instead of an HTTP error. Null when the message is too broken to answer.</summary>
    public ScepPkiMessage? Request { get; init; }

    /// <summary>The failInfo a CertRep answering <see cref="Request"/> carries.</summary>
    public ScepFailInfo FailInfo { get; init; } = ScepFailInfo.BadRequest;

    /// <summary>
    /// The pkcsPKIEnvelope could not be decrypted, or what it decrypted to could not be read (wrong recipient, bad
    /// key transport, bad CBC padding, garbage, a payload that does not parse). A server answers every such failure
    /// with the same CertRep (<see cref="UndecryptableText"/>, badMessageCheck): telling them apart would make it a
    /// padding oracle for the CA key and for captured requests. <see cref="Exception.Message"/> keeps the detail for
    /// the operator's log.
    /// </summary>
    public bool EnvelopeUndecryptable { get; init; }

    /// <summary>The one failInfoText a server sends for every <see cref="EnvelopeUndecryptable"/> failure.</summary>
    public const string UndecryptableText = "pkcsPKIEnvelope cannot be decrypted";
}
