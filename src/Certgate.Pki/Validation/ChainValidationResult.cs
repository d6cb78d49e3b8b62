using System.Security.Cryptography.X509Certificates;

namespace Certgate.Pki.Validation;

/// <summary>The outcome of <see cref="ChainValidator.Validate"/>.</summary>
public sealed class ChainValidationResult
{
    internal ChainValidationResult(IReadOnlyList<X509Certificate2> chain, ValidationFailure? failure, IReadOnlyList<string> warnings)
    {
        Chain = chain;
        Failure = failure;
        Warnings = warnings;
    }

    /// <summary>True when every check passed.</summary>
    public bool IsValid => Failure is null;

    /// <summary>
    /// The path from the end-entity certificate (index 0) to the trust anchor (last). On failure: as far as it
    /// was built.
    /// </summary>
    public IReadOnlyList<X509Certificate2> Chain { get; }

    /// <summary>The first failed check, or null when valid.</summary>
    public ValidationFailure? Failure { get; }

    /// <summary>Checks that were skipped by policy (e.g. "no CRL for 'CN=CA'; revocation check skipped").</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <inheritdoc/>
    public override string ToString() => Failure?.Message ?? "certificate chain is valid";
}
