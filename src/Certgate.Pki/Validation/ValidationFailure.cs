using System.Security.Cryptography.X509Certificates;

namespace Certgate.Pki.Validation;

/// <summary>Exactly which check failed, on which certificate, in a sentence for the operator.</summary>
public sealed class ValidationFailure
{
    internal ValidationFailure(ValidationFailureKind kind, X509Certificate2 certificate, string message)
    {
        Kind = kind;
        Certificate = certificate;
        Message = message;
    }

    /// <summary>The check that failed.</summary>
    public ValidationFailureKind Kind { get; }

    /// <summary>The certificate the check failed on.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The certificate's subject as displayed in messages.</summary>
    public string Subject => Certificate.Subject;

    /// <summary>A sentence such as "certificate 'CN=gw1' expired at 2026-01-01 00:00 UTC".</summary>
    public string Message { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Kind}: {Message}";
}
