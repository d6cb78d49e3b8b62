using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Gateway.Crl;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Interop.Tests.Ldap;

/// <summary>
/// The gateway's LDAP CRL client against a real OpenLDAP slapd, which plays a directory an attacker controls: an
/// entry whose CRL attribute is larger than the gateway's limit is refused from the message length alone, and the
/// honest path reads back exactly the bytes stored.
/// </summary>
public sealed class LdapCrlDownloaderTests(SlapdFixture slapd) : IClassFixture<SlapdFixture>
{
    private static int _entries;

    /// <summary>Stores <paramref name="value"/> as certificateRevocationList;binary of a new pkiCA entry with ldapadd.</summary>
    private string Entry(byte[] value)
    {
        string dn = $"cn=downloader {Interlocked.Increment(ref _entries)},{SlapdFixture.Suffix}";
        string file = slapd.ScratchFile($"value-{_entries}.der");
        File.WriteAllBytes(file, value);
        slapd.Ldap("ldapadd", [], $"dn: {dn}\nobjectClass: applicationProcess\nobjectClass: pkiCA\ncn: downloader {_entries}\ncertificateRevocationList;binary:< file://{file}\n");
        return dn;
    }

    /// <summary>A signed CRL of about <paramref name="bytes"/> octets (slapd checks the certificateList syntax).</summary>
    private static byte[] CrlOfSize(int bytes)
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using TestCa ca = TestCa.CreateRoot("CN=Downloader Test CA", new CertOptions { KeyType = TestKeyType.EcdsaP256 }, now);
        var serials = new List<byte[]>();
        for (int i = 0; i < bytes / 36 + 1; i++)
        {
            byte[] serial = RandomNumberGenerator.GetBytes(16);
            serial[0] = (byte)(0x40 | (serial[0] & 0x3F));   // positive, no redundant leading octet
            serials.Add(serial);
        }
        return ca.CrlBytes(thisUpdate: now.AddHours(-1), nextUpdate: now.AddDays(1), number: 1, reason: null, serials: serials, revokedAt: now.AddHours(-1));
    }

    private Uri Url(string dn) => new($"{slapd.Url}/{Uri.EscapeDataString(dn)}?certificateRevocationList;binary");

    [Fact]
    public async Task Reads_back_the_stored_value_byte_for_byte()
    {
        byte[] value = CrlOfSize(300_000);
        string dn = Entry(value);
        byte[] read = await new LdapCrlDownloader(TimeSpan.FromSeconds(30)).DownloadAsync(Url(dn), CancellationToken.None);
        Assert.Equal(value, read);
    }

    [Fact]
    public async Task An_answer_over_the_limit_is_refused_from_its_length_before_it_is_read()
    {
        string dn = Entry(CrlOfSize(2 * 1024 * 1024));
        var downloader = new LdapCrlDownloader(TimeSpan.FromSeconds(30), maxBytes: 1024 * 1024);
        var e = await Assert.ThrowsAsync<CrlDownloadException>(() => downloader.DownloadAsync(Url(dn), CancellationToken.None));
        Assert.Matches(@"the LDAP answer is \d+ bytes, more than the limit of 1048576$", e.Message);
        Assert.StartsWith(slapd.Url, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_entry_and_a_missing_value_are_named()
    {
        var downloader = new LdapCrlDownloader(TimeSpan.FromSeconds(30));
        string missing = $"cn=nobody,{SlapdFixture.Suffix}";
        var e = await Assert.ThrowsAsync<CrlDownloadException>(() => downloader.DownloadAsync(Url(missing), CancellationToken.None));
        Assert.EndsWith($"the entry {missing} does not exist", e.Message, StringComparison.Ordinal);

        string dn = $"cn=no crl,{SlapdFixture.Suffix}";
        slapd.Ldap("ldapadd", [], $"dn: {dn}\nobjectClass: applicationProcess\nobjectClass: pkiCA\ncn: no crl\n");
        e = await Assert.ThrowsAsync<CrlDownloadException>(() => downloader.DownloadAsync(Url(dn), CancellationToken.None));
        Assert.EndsWith($"the entry {dn} has no certificateRevocationList;binary value", e.Message, StringComparison.Ordinal);
    }
}
