namespace Certgate.Pki.Encoding;

/// <summary>
/// Broken or hostile PKI input: a file that is not the certificate, key, request or CRL it should be.
/// Every parser in <c>Certgate.Pki</c> raises this (and only this) for bad input, so callers translate it
/// once. The message says what is wrong in the operator's terms and never contains key material or passwords.
/// </summary>
public class PkiFormatException : Exception
{
    public PkiFormatException(string message)
        : base(message)
    {
    }

    public PkiFormatException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>The input is encrypted and the passphrase given is wrong, or none was given.</summary>
public sealed class PkiPasswordException : PkiFormatException
{
    public PkiPasswordException(string message)
        : base(message)
    {
    }

    public PkiPasswordException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
