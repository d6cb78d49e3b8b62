using System.Text;

namespace Certgate.Pki.Encoding;

/// <summary>One labelled PEM block (RFC 7468): <c>-----BEGIN LABEL-----</c> base64 <c>-----END LABEL-----</c>.</summary>
public sealed record PemBlock(string Label, byte[] Data, bool HasHeaders);

/// <summary>
/// A tolerant PEM reader and a strict writer (RFC 7468). Reading accepts CRLF, blank lines, leading/trailing
/// whitespace and text between blocks (OpenSSL's "Bag Attributes", explanatory text), and reports headers
/// (<c>Proc-Type:</c>, legacy encrypted keys) instead of silently misreading them.
/// </summary>
public static class Pem
{
    private const string BeginMarker = "-----BEGIN ";
    private const string EndMarker = "-----END ";
    private const string Dashes = "-----";

    /// <summary>Whether <paramref name="data"/> looks like PEM text (a BEGIN marker near the start, ASCII only).</summary>
    public static bool LooksLikePem(ReadOnlySpan<byte> data)
    {
        int limit = Math.Min(data.Length, 64 * 1024);
        return data[..limit].IndexOf("-----BEGIN "u8) >= 0;
    }

    /// <summary>Every block in <paramref name="text"/>, in order.</summary>
    /// <exception cref="PkiFormatException">A block has no END line, a mismatched END label, or bad base64.</exception>
    public static IReadOnlyList<PemBlock> ReadAll(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var blocks = new List<PemBlock>();
        int pos = 0;
        while (true)
        {
            int begin = text.IndexOf(BeginMarker, pos, StringComparison.Ordinal);
            if (begin < 0)
            {
                break;
            }
            int labelStart = begin + BeginMarker.Length;
            int labelEnd = text.IndexOf(Dashes, labelStart, StringComparison.Ordinal);
            int lineEnd = text.IndexOf('\n', labelStart);
            if (labelEnd < 0 || (lineEnd >= 0 && labelEnd > lineEnd))
            {
                throw new PkiFormatException("malformed PEM BEGIN line");
            }
            string label = text[labelStart..labelEnd];
            string endLine = EndMarker + label + Dashes;
            int bodyStart = labelEnd + Dashes.Length;
            int end = text.IndexOf(endLine, bodyStart, StringComparison.Ordinal);
            if (end < 0)
            {
                throw new PkiFormatException($"PEM block '{label}' has no matching END line (truncated file?)");
            }
            string body = text[bodyStart..end];
            bool headers = body.Contains(':', StringComparison.Ordinal);
            byte[] data;
            if (headers)
            {
                data = [];
            }
            else
            {
                try
                {
                    // Convert.FromBase64String skips spaces, tabs, CR and LF.
                    data = Convert.FromBase64String(body);
                }
                catch (FormatException e)
                {
                    throw new PkiFormatException($"PEM block '{label}' does not contain valid base64", e);
                }
                if (data.Length == 0)
                {
                    throw new PkiFormatException($"PEM block '{label}' is empty");
                }
            }
            blocks.Add(new PemBlock(label, data, headers));
            pos = end + endLine.Length;
        }
        return blocks;
    }

    /// <summary>Blocks from bytes (ASCII/UTF-8 text).</summary>
    public static IReadOnlyList<PemBlock> ReadAll(ReadOnlySpan<byte> data) => ReadAll(System.Text.Encoding.UTF8.GetString(data));

    /// <summary>Encodes <paramref name="data"/> as a PEM block with 64-column lines and LF line ends.</summary>
    public static string Write(string label, ReadOnlySpan<byte> data)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(label);
        string b64 = Convert.ToBase64String(data);
        var sb = new StringBuilder(b64.Length + (b64.Length / 64) + 64);
        sb.Append(BeginMarker).Append(label).Append(Dashes).Append('\n');
        for (int i = 0; i < b64.Length; i += 64)
        {
            sb.Append(b64, i, Math.Min(64, b64.Length - i)).Append('\n');
        }
        sb.Append(EndMarker).Append(label).Append(Dashes).Append('\n');
        return sb.ToString();
    }
}
