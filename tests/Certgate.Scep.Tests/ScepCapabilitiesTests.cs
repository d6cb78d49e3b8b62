using System.Security.Cryptography;

namespace Certgate.Scep.Tests;

/// <summary>
/// GetCACaps as RFC 8894 §3.5.2 has it: one keyword per line, case-insensitive; and the algorithm choice made from it
/// (AES-256 and SHA-256 or better when offered, DES3/SHA-1 only when not, with a warning).
/// </summary>
public sealed class ScepCapabilitiesTests
{
    [Theory]
    [InlineData("AES\nPOSTPKIOperation\nRenewal\nSHA-256\nSHA-512\n")]
    [InlineData("aes\npostpkioperation\nrenewal\nsha-256\nsha-512\n")]
    [InlineData("AES\r\nPOSTPKIOperation\r\nRenewal\r\nSHA-256\r\nSHA-512\r\n")]
    [InlineData("aes\r\npostpkioperation\r\nrenewal\r\nsha-256\r\nsha-512")]
    [InlineData("  Aes \r\n\r\nPostPKIOperation\nRENEWAL\r\nSha-256\t\nsHA-512")]
    public void Keywords_are_lines_compared_without_case(string text)
    {
        ScepCapabilities caps = ScepCapabilities.Parse(text);
        Assert.True(caps.Aes);
        Assert.True(caps.PostPkiOperation);
        Assert.True(caps.Renewal);
        Assert.True(caps.Sha256);
        Assert.True(caps.Sha512);
        Assert.False(caps.Des3);
        Assert.Equal(5, caps.Keywords.Count);
        ScepAlgorithms chosen = ScepAlgorithms.Choose(caps);
        Assert.Equal(HashAlgorithmName.SHA512, chosen.Digest);
        Assert.Equal(ScepCipher.Aes256Cbc, chosen.Cipher);
        Assert.Empty(chosen.Warnings);
    }

    [Theory]
    [InlineData("NOAES\nSHA-2560\nXSHA-512\nRenewalReq\nDES\nAES SHA-256")]
    [InlineData("AES-128\nSHA-256-ish\nGetNextCACert")]
    public void A_keyword_is_never_found_inside_another_word(string text)
    {
        ScepCapabilities caps = ScepCapabilities.Parse(text);
        Assert.False(caps.Aes);
        Assert.False(caps.Sha256);
        Assert.False(caps.Sha512);
        Assert.False(caps.Renewal);
        Assert.False(caps.Des3);
        Assert.True(caps.Has(caps.Keywords[0])); // unknown words are kept as the CA spelled them, and mean nothing
    }

    [Fact]
    public void ScepStandard_implies_AES_SHA256_and_POST()
    {
        ScepCapabilities caps = ScepCapabilities.Parse("scepstandard\r\n");
        Assert.True(caps.Aes);
        Assert.True(caps.Sha256);
        Assert.True(caps.PostPkiOperation);
        ScepAlgorithms chosen = ScepAlgorithms.Choose(caps);
        Assert.Equal(HashAlgorithmName.SHA256, chosen.Digest);
        Assert.Equal(ScepCipher.Aes256Cbc, chosen.Cipher);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\r\n\n")]
    [InlineData("DES3\nSHA-1\n")]
    public void Without_AES_or_SHA2_the_choice_is_DES3_and_SHA1_with_warnings(string text)
    {
        ScepAlgorithms chosen = ScepAlgorithms.Choose(ScepCapabilities.Parse(text));
        Assert.Equal(HashAlgorithmName.SHA1, chosen.Digest);
        Assert.Equal(ScepCipher.TripleDesCbc, chosen.Cipher);
        Assert.Equal(2, chosen.Warnings.Count);
        Assert.Contains("using SHA-1", chosen.Warnings[0], StringComparison.Ordinal);
        Assert.Contains("using DES3", chosen.Warnings[1], StringComparison.Ordinal);
    }

    [Fact]
    public void SHA256_is_chosen_when_SHA512_is_not_offered()
    {
        ScepAlgorithms chosen = ScepAlgorithms.Choose(ScepCapabilities.Parse("AES\nSHA-256\nSHA-1\nDES3\n"));
        Assert.Equal(HashAlgorithmName.SHA256, chosen.Digest);
        Assert.Equal(ScepCipher.Aes256Cbc, chosen.Cipher);
        Assert.Equal("sha-256", chosen.DigestName);
        Assert.Equal("aes256", chosen.CipherName);
        Assert.Empty(chosen.Warnings);
    }

    [Fact]
    public void The_operators_choice_wins_without_a_warning()
    {
        ScepAlgorithms chosen = ScepAlgorithms.Choose(ScepCapabilities.Parse("AES\nSHA-512\n"), HashAlgorithmName.SHA1, ScepCipher.TripleDesCbc);
        Assert.Equal(HashAlgorithmName.SHA1, chosen.Digest);
        Assert.Equal(ScepCipher.TripleDesCbc, chosen.Cipher);
        Assert.Empty(chosen.Warnings);
    }

    [Fact]
    public void An_oversized_answer_is_refused_in_one_line()
    {
        Assert.Contains("more than the limit", Assert.Throws<ScepFormatException>(() => ScepCapabilities.Parse(new string('A', ScepCapabilities.MaxTextLength + 1))).Message,
            StringComparison.Ordinal);
        string many = string.Join('\n', Enumerable.Range(0, ScepCapabilities.MaxKeywords + 1).Select(i => $"X{i}"));
        Assert.Contains("keywords", Assert.Throws<ScepFormatException>(() => ScepCapabilities.Parse(many)).Message, StringComparison.Ordinal);
    }
}
