namespace Certgate.Scep;

/// <summary>
/// A CA's answer to GetCACaps (RFC 8894 §3.5.2): one keyword per line.
/// </summary>
/// <remarks>
/// RFC 8894 §3.5.2: "A client that receives an empty message or an HTTP error SHOULD interpret the response as if none
/// of the capabilities listed are supported by the CA" and "the keywords are case-insensitive". The text is read line
/// by line (<c>\n</c> or <c>\r\n</c>), each line trimmed and compared whole, ignoring case; unknown keywords are kept
/// but mean nothing. A keyword is never looked for as a substring (micromdm's client once took "AES" out of a longer
/// word), so <c>SHA-2560</c> is not <c>SHA-256</c> and <c>DES3</c> is not <c>DES</c>.
/// </remarks>
public sealed class ScepCapabilities
{
    /// <summary>The largest GetCACaps answer read (real ones are under 200 octets).</summary>
    public const int MaxTextLength = 16 * 1024;

    /// <summary>The most keywords kept (RFC 8894 defines about ten).</summary>
    public const int MaxKeywords = 64;

    private readonly HashSet<string> _keywords;

    private ScepCapabilities(List<string> keywords)
    {
        Keywords = keywords;
        _keywords = new HashSet<string>(keywords, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>No capabilities (what an empty answer means).</summary>
    public static ScepCapabilities None { get; } = new([]);

    /// <summary>The keywords as the CA spelled them, in order, without duplicates (ignoring case).</summary>
    public IReadOnlyList<string> Keywords { get; }

    /// <summary>Reads a GetCACaps answer.</summary>
    /// <exception cref="ScepFormatException">The answer is longer than <see cref="MaxTextLength"/> or holds more than
    /// <see cref="MaxKeywords"/> keywords.</exception>
    public static ScepCapabilities Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > MaxTextLength)
        {
            throw new ScepFormatException($"GetCACaps: the answer is {text.Length} characters, more than the limit of {MaxTextLength}");
        }
        var keywords = new List<string>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in text.Split('\n'))
        {
            string keyword = line.Trim(); // also drops the '\r' of "\r\n"
            if (keyword.Length == 0 || !seen.Add(keyword))
            {
                continue;
            }
            if (keywords.Count == MaxKeywords)
            {
                throw new ScepFormatException($"GetCACaps: more than {MaxKeywords} keywords");
            }
            keywords.Add(keyword);
        }
        return new ScepCapabilities(keywords);
    }

    /// <summary>Whether the CA listed <paramref name="keyword"/> (a whole line, ignoring case).</summary>
    public bool Has(string keyword)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyword);
        return _keywords.Contains(keyword);
    }

    /// <summary>RFC 8894 §3.5.2: "SCEPStandard" means AES, POSTPKIOperation and SHA-256 (and RFC 8894 itself).</summary>
    public bool ScepStandard => Has("SCEPStandard");

    /// <summary>AES content encryption (listed, or implied by SCEPStandard).</summary>
    public bool Aes => Has("AES") || ScepStandard;

    /// <summary>Triple-DES content encryption.</summary>
    public bool Des3 => Has("DES3");

    /// <summary>SHA-256 (listed, or implied by SCEPStandard).</summary>
    public bool Sha256 => Has("SHA-256") || ScepStandard;

    /// <summary>SHA-512.</summary>
    public bool Sha512 => Has("SHA-512");

    /// <summary>RenewalReq (RFC 8894 §3.3.1.2).</summary>
    public bool Renewal => Has("Renewal");

    /// <summary>PKIOperation by POST (listed, or implied by SCEPStandard).</summary>
    public bool PostPkiOperation => Has("POSTPKIOperation") || ScepStandard;

    public override string ToString() => Keywords.Count == 0 ? "(none)" : string.Join(' ', Keywords);
}
