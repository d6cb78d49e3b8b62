using System.Net;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Identity;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Pki.Tests.Identity;

public sealed class IdentityTests
{
    private static X500DistinguishedName Dn(string s) => new(s);

    private const string Peer = "CN=gw1.example.net, OU=VPN, O=Internet Inc, L=Moscow, ST=RU, C=RU";

    [Theory]
    [InlineData("C=RU, ST=RU, L=Moscow, O=Internet Inc", true)]            // DER order, run at the top
    [InlineData("O=Internet Inc, L=Moscow, ST=RU, C=RU", true)]            // LDAP order of the same run
    [InlineData("OU=VPN, O=Internet Inc", true)]                            // a run in the middle
    [InlineData("o = internet   inc , ou=vpn", true)]                       // case and whitespace insensitive
    [InlineData("C=RU, L=Moscow", false)]                                   // not contiguous
    [InlineData("O=Internet Inc, OU=VPN, L=Moscow", false)]                 // out of order
    [InlineData("C=RU, ST=RU, L=Moscow, O=Other Inc", false)]
    public void Container(string pattern, bool expected) =>
        Assert.Equal(expected, DistinguishedNamePattern.Parse(pattern, DistinguishedNameMatch.Container).Matches(Dn(Peer)));

    [Theory]
    [InlineData("C=RU, ST=RU, L=Moscow, O=Internet Inc", true)]            // the Junos example
    [InlineData("O=Internet Inc, C=RU", true)]                              // any order, gaps allowed
    [InlineData("CN=gw1.example.net; C=RU", true)]
    [InlineData("O=Internet Inc, OU=Sales", false)]
    [InlineData("O=Internet Inc, E=a@b", false)]                            // a type the peer lacks
    public void Wildcard(string pattern, bool expected) =>
        Assert.Equal(expected, DistinguishedNamePattern.Parse(pattern, DistinguishedNameMatch.Wildcard).Matches(Dn(Peer)));

    [Theory]
    [InlineData(Peer, true)]
    [InlineData("C=RU, ST=RU, L=Moscow, O=Internet Inc, OU=VPN, CN=gw1.example.net", true)]
    [InlineData("cn=GW1.example.net,ou=vpn,o=internet inc,l=moscow,st=ru,c=ru", true)]
    [InlineData("OU=VPN, O=Internet Inc, L=Moscow, ST=RU, C=RU", false)]
    [InlineData("CN=gw1.example.net, O=Internet Inc, OU=VPN, L=Moscow, ST=RU, C=RU", false)]
    public void ExactMatch(string pattern, bool expected) =>
        Assert.Equal(expected, DistinguishedNamePattern.Parse(pattern, DistinguishedNameMatch.ExactMatch).Matches(Dn(Peer)));

    [Fact]
    public void Quoted_escaped_oid_and_multivalued_rdns_parse()
    {
        var peer = new X500DistinguishedName("CN=\"Smith, John\", O=A+B, C=US");
        Assert.True(DistinguishedNamePattern.Parse("CN=Smith\\, John", DistinguishedNameMatch.Wildcard).Matches(peer));
        Assert.True(DistinguishedNamePattern.Parse("CN=\"Smith, John\"", DistinguishedNameMatch.Wildcard).Matches(peer));
        Assert.True(DistinguishedNamePattern.Parse("2.5.4.3=Smith\\2C John", DistinguishedNameMatch.Wildcard).Matches(peer));
        Assert.True(DistinguishedNamePattern.Parse("OID.2.5.4.6=us", DistinguishedNameMatch.Container).Matches(peer));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("CN")]
    [InlineData("=x")]
    [InlineData("XX=1")]
    [InlineData("CN=\"open")]
    [InlineData("CN=a\\")]
    public void Bad_patterns_are_format_errors(string text)
    {
        Assert.Throws<FormatException>(() => DistinguishedNamePattern.Parse(text, DistinguishedNameMatch.Container));
        Assert.False(DistinguishedNamePattern.TryParse(text, DistinguishedNameMatch.Container, out _, out string? error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Names_compare_per_rfc5280_section_7_1()
    {
        // PrintableString vs UTF8String, case and spacing differences are the same name.
        var utf8 = new X500DistinguishedName("CN=Test  CA, O=Acme", X500DistinguishedNameFlags.UseUTF8Encoding | X500DistinguishedNameFlags.Reversed);
        var printable = new X500DistinguishedName("CN=test ca, O=ACME");
        Assert.True(DistinguishedNames.Equal(utf8, printable));
        Assert.False(DistinguishedNames.Equal(printable, new X500DistinguishedName("CN=test ca, O=ACME, C=US")));
    }

    [Fact]
    public void Ike_identity_must_be_in_the_certificate()
    {
        using TestCa ca = TestCa.CreateRoot();
        X509Certificate2 cert = ca.Issue("CN=gw1, O=Acme", new CertOptions
        {
            DnsNames = ["gw1.example.net"],
            IpAddresses = [IPAddress.Parse("192.0.2.1"), IPAddress.Parse("2001:db8::1")],
            Emails = ["vpn@example.net"],
        });
        Assert.True(CertificateIdentity.IsConsistent(IkeIdentity.FromFqdn("GW1.Example.NET."), cert, out _));
        Assert.True(CertificateIdentity.IsConsistent(IkeIdentity.FromAddress(IPAddress.Parse("192.0.2.1")), cert, out _));
        Assert.True(CertificateIdentity.IsConsistent(IkeIdentity.FromAddress(IPAddress.Parse("2001:db8::1")), cert, out _));
        Assert.True(CertificateIdentity.IsConsistent(IkeIdentity.FromEmail("VPN@example.net"), cert, out _));
        Assert.True(CertificateIdentity.IsConsistent(IkeIdentity.FromDistinguishedName(new X500DistinguishedName("CN=GW1, O=acme")), cert, out _));

        Assert.False(CertificateIdentity.IsConsistent(IkeIdentity.FromFqdn("gw2.example.net"), cert, out string why));
        Assert.Contains("subjectAltName", why);
        Assert.False(CertificateIdentity.IsConsistent(IkeIdentity.FromFqdn("example.net"), cert, out _));
        Assert.False(CertificateIdentity.IsConsistent(IkeIdentity.FromAddress(IPAddress.Parse("192.0.2.2")), cert, out _));
        Assert.False(CertificateIdentity.IsConsistent(IkeIdentity.FromDistinguishedName(new X500DistinguishedName("CN=gw2, O=Acme")), cert, out _));
        Assert.False(CertificateIdentity.IsConsistent(IkeIdentity.FromKeyId([1, 2, 3]), cert, out _));
        // The CN is not a subjectAltName.
        Assert.False(CertificateIdentity.IsConsistent(IkeIdentity.FromFqdn("gw1"), cert, out _));
    }

    [Fact]
    public void Remote_id_matching()
    {
        IkeIdentity dn = IkeIdentity.FromDistinguishedName(new X500DistinguishedName(Peer));
        IkeIdentity fqdn = IkeIdentity.FromFqdn("gw1.example.net");
        IkeIdentity ip = IkeIdentity.FromAddress(IPAddress.Parse("192.0.2.1"));

        Assert.True(RemoteIdentity.DistinguishedName("O=Internet Inc, C=RU", DistinguishedNameMatch.Wildcard).Matches(dn));
        Assert.False(RemoteIdentity.DistinguishedName("O=Internet Inc, C=RU", DistinguishedNameMatch.Wildcard).Matches(fqdn));
        Assert.True(RemoteIdentity.Fqdn("GW1.example.net.").Matches(fqdn));
        Assert.False(RemoteIdentity.Fqdn("gw1.example.net").Matches(dn));
        Assert.True(RemoteIdentity.Address(IPAddress.Parse("192.0.2.1")).Matches(ip));
        Assert.False(RemoteIdentity.Address(IPAddress.Parse("192.0.2.2")).Matches(ip));
        Assert.True(RemoteIdentity.KeyId([1, 2]).Matches(IkeIdentity.FromKeyId([1, 2])));
        Assert.True(RemoteIdentity.Any.Matches(ip));
        Assert.True(RemoteIdentity.MatchesAny([RemoteIdentity.Fqdn("x.example"), RemoteIdentity.Address(IPAddress.Parse("192.0.2.1"))], ip));
        Assert.False(RemoteIdentity.MatchesAny([], ip));
        Assert.Equal("fqdn gw1.example.net", fqdn.ToString());
    }
}
