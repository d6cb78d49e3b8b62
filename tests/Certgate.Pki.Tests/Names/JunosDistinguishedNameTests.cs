using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Names;

namespace Certgate.Pki.Tests.Names;

public sealed class JunosDistinguishedNameTests
{
    [Fact]
    public void Parse_keeps_the_given_order_and_formats_back()
    {
        X500DistinguishedName dn = JunosDistinguishedName.Parse("DC=juniper,CN=router2,OU=eng,O=Example,L=Sunnyvale,ST=CA,C=US");
        Assert.Equal("DC=juniper, CN=router2, OU=eng, O=Example, L=Sunnyvale, ST=CA, C=US", JunosDistinguishedName.Format(dn));
        var attrs = JunosDistinguishedName.Attributes(dn);
        Assert.Equal("DC", attrs[0].Key); // first RDN in the DER
        Assert.Equal("Organization: Example, Organizational unit: eng, Country: US, State: CA, Locality: Sunnyvale, Common name: router2, Domain component: juniper",
            JunosDistinguishedName.FormatFields(dn));
        Assert.Equal("router2", JunosDistinguishedName.CommonName(dn));
    }

    [Fact]
    public void Escaped_and_quoted_commas_and_aliases()
    {
        X500DistinguishedName dn = JunosDistinguishedName.Parse("CN=a\\,b, O=\"Example, Inc\", emailAddress=x@y.z, SN=1234");
        var attrs = JunosDistinguishedName.Attributes(dn);
        Assert.Equal(["a,b", "Example, Inc", "x@y.z", "1234"], attrs.Select(a => a.Value));
        Assert.Equal(["CN", "O", "E", "SN"], attrs.Select(a => a.Key));
        Assert.Equal("CN=a\\,b, O=Example\\, Inc, E=x@y.z, SN=1234", JunosDistinguishedName.Format(dn));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("XX=1", "unknown subject key 'XX'")]
    [InlineData("CN=", "empty value for CN")]
    [InlineData("CN=a,O=", "empty value for O")]
    [InlineData("C=USA", "two-letter")]
    [InlineData("CN=\"open", "unterminated")]
    [InlineData("justtext", "not KEY=value")]
    public void Bad_subjects_say_why(string subject, string reason)
    {
        var e = Assert.Throws<FormatException>(() => JunosDistinguishedName.Parse(subject));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }
}
