using Certgate.Config.Ipsec;
using Certgate.Ipsec.Registry;
using Certgate.ServiceSets.Registry;
using DhGroup = Certgate.Ipsec.Registry.DhGroup;
using EncryptionAlgorithm = Certgate.Ipsec.Registry.EncryptionAlgorithm;

namespace Certgate.ServiceSets.Tests.Registry;

public sealed class JunosNamesTests
{
    [Fact]
    public void Every_value_of_the_configuration_view_has_exactly_one_row()
    {
        Assert.All(Enum.GetValues<Config.Ipsec.EncryptionAlgorithm>(), v => Assert.Single(JunosNames.Encryptions, r => r.Config == v));
        Assert.All(Enum.GetValues<IkeHashAlgorithm>(), v => Assert.Single(JunosNames.IkeHashes, r => r.Config == v));
        Assert.All(Enum.GetValues<EspIntegrityAlgorithm>(), v => Assert.Single(JunosNames.EspIntegrities, r => r.Config == v));
        Assert.All(Enum.GetValues<Config.Ipsec.DhGroup>(), v => Assert.Single(JunosNames.Groups, r => r.Config == v));
        Assert.All(Enum.GetValues<IkeAuthenticationMethod>(), v => Assert.Single(JunosNames.Methods, r => r.Config == v));
    }

    [Fact]
    public void The_names_are_the_ones_the_schema_accepts()
    {
        Assert.Equal(IpsecVpnSchema.SupportedEncryption, JunosNames.Encryptions.Select(r => r.Name));
        Assert.Equal(IpsecVpnSchema.SupportedIkeHashes, JunosNames.IkeHashes.Select(r => r.Name));
        Assert.Equal(IpsecVpnSchema.SupportedEspIntegrity, JunosNames.EspIntegrities.Select(r => r.Name));
        Assert.Equal(IpsecVpnSchema.SupportedDhGroups, JunosNames.Groups.Select(r => r.Name));
        Assert.Equal(IpsecVpnSchema.IkeAuthenticationMethods, JunosNames.Methods.Select(r => r.Name));
    }

    [Theory]
    [InlineData("group14", DhGroup.MODP_2048)]
    [InlineData("group19", DhGroup.ECP_256)]
    [InlineData("group21", DhGroup.ECP_521)]
    public void Group_names_map_to_IANA_Transform_Type_4(string name, DhGroup expected) =>
        Assert.Equal(expected, JunosNames.Find(JunosNames.Groups, name)?.Id);

    [Fact]
    public void Names_map_to_IANA_values()
    {
        Assert.Equal((EncryptionAlgorithm.ENCR_AES_GCM_16, 256), JunosNames.Find(JunosNames.Encryptions, "aes-256-gcm") is { } e ? (e.Id, e.KeyBits) : default);
        Assert.Equal(IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128, JunosNames.Find(JunosNames.EspIntegrities, "hmac-sha-256-128")?.Id);
        Assert.Equal(PseudorandomFunction.PRF_HMAC_SHA2_256, JunosNames.Find(JunosNames.IkeHashes, "sha-256")?.Prf);
        Assert.Equal(AuthMethod.RSA_DIGITAL_SIGNATURE, JunosNames.Find(JunosNames.Methods, "rsa-signatures")?.Id);
        Assert.Null(JunosNames.Find(JunosNames.Groups, "group5"));
    }

    [Fact]
    public void Expected_lists_the_names_as_an_error_says_them() =>
        Assert.Equal("group14, group19, group20 or group21", JunosNames.Expected(JunosNames.Groups));
}
