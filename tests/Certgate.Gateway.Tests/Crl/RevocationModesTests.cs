using Certgate.Config.Pki;
using Certgate.Gateway.Crl;
using Certgate.Pki.Validation;

namespace Certgate.Gateway.Tests.Crl;

/// <summary>The one table from a CA profile's revocation words to the validator's mode (issue #13).</summary>
public sealed class RevocationModesTests
{
    private static CaProfile Profile(RevocationCheck check, bool disableOnDownloadFailure) => new(
        "p", null, null, null, null, null, 10, TimeSpan.FromSeconds(900), check, [], TimeSpan.FromHours(24),
        disableOnDownloadFailure, null, null);

    [Theory]
    [InlineData(RevocationCheck.Crl, false, RevocationMode.Check)]
    [InlineData(RevocationCheck.Crl, true, RevocationMode.SkipWhenUnavailable)]
    [InlineData(RevocationCheck.Ocsp, false, RevocationMode.SkipWhenUnavailable)]
    [InlineData(RevocationCheck.Ocsp, true, RevocationMode.SkipWhenUnavailable)]
    [InlineData(RevocationCheck.Disabled, false, RevocationMode.Disabled)]
    [InlineData(RevocationCheck.Disabled, true, RevocationMode.Disabled)]
    public void Junos_words_map_to_one_mode(RevocationCheck check, bool disableOnDownloadFailure, RevocationMode expected) =>
        Assert.Equal(expected, RevocationModes.For(Profile(check, disableOnDownloadFailure)));

    [Fact]
    public void Null_profile_is_refused_by_name() =>
        Assert.Equal("profile", Assert.Throws<ArgumentNullException>(() => RevocationModes.For(null!)).ParamName);
}
