using Certgate.Config.Pki;
using Certgate.Pki.Validation;

namespace Certgate.Gateway.Crl;

/// <summary>
/// The one table from a CA profile's Junos revocation words to the validator's <see cref="RevocationMode"/>, used by
/// the <c>verify</c> commands, the daemon's CRL refresh and the tunnels' peer validation.
/// </summary>
/// <remarks>
/// | configuration (ca-profile P …)                          | <see cref="RevocationMode"/> |
/// |---------------------------------------------------------|------------------------------|
/// | <c>revocation-check disable</c>                         | Disabled                     |
/// | <c>revocation-check crl disable on-download-failure</c> | SkipWhenUnavailable          |
/// | <c>revocation-check use-ocsp</c>                        | SkipWhenUnavailable (OCSP is not implemented offline: a loaded CRL is used when there is one) |
/// | <c>revocation-check crl</c>, or nothing (the default)   | Check                        |
/// </remarks>
public static class RevocationModes
{
    /// <summary>How certificates of <paramref name="profile"/>'s CA are checked for revocation.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="profile"/> is null.</exception>
    public static RevocationMode For(CaProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return profile.Revocation switch
        {
            RevocationCheck.Disabled => RevocationMode.Disabled,
            _ when profile.DisableOnDownloadFailure => RevocationMode.SkipWhenUnavailable,
            RevocationCheck.Ocsp => RevocationMode.SkipWhenUnavailable,
            _ => RevocationMode.Check,
        };
    }
}
