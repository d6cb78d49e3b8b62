using Certgate.Ike.Auth;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Tests;

public sealed class AuthMethodNamesTests
{
    [Theory]
    [InlineData(AuthMethod.SHARED_KEY_MESSAGE_INTEGRITY_CODE, "SharedKey")]
    [InlineData(AuthMethod.DIGITAL_SIGNATURE, "DigitalSignature")]
    [InlineData(AuthMethod.RSA_DIGITAL_SIGNATURE, "RsaSignature")]
    [InlineData((AuthMethod)200, "200")]
    public void Display_names_are_the_ones_show_and_debug_ike_tunnel_always_printed(AuthMethod method, string expected) =>
        Assert.Equal(expected, AuthMethodNames.Of(method));

    [Fact]
    public void Every_registry_method_has_a_name() =>
        Assert.All(Enum.GetValues<AuthMethod>(), m => Assert.False(char.IsDigit(AuthMethodNames.Of(m)[0])));
}
