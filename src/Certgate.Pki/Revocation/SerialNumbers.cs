using System.Globalization;

namespace Certgate.Pki.Revocation;

/// <summary>Serial-number normalisation shared by the CRL reader, the writer and the lookup table.</summary>
internal static class SerialNumbers
{
    /// <summary>
    /// Strips leading zero octets so that 00 8F and 8F (the same serial written with and without the sign octet,
    /// as different tools do) compare equal. A serial of only zeros normalises to one zero octet.
    /// </summary>
    public static ReadOnlySpan<byte> Normalize(ReadOnlySpan<byte> serial)
    {
        int i = 0;
        while (i < serial.Length - 1 && serial[i] == 0)
        {
            i++;
        }
        return serial[i..];
    }

    public static string ToHex(ReadOnlySpan<byte> serial) => Convert.ToHexString(Normalize(serial));

    /// <summary>Parses hex (optional 0x, colons or spaces between octets, odd length allowed).</summary>
    /// <exception cref="ArgumentException">The text is not hex.</exception>
    public static byte[] ParseHex(string hex, string paramName)
    {
        ArgumentNullException.ThrowIfNull(hex, paramName);
        ReadOnlySpan<char> s = hex.AsSpan().Trim();
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            s = s[2..];
        }
        Span<char> digits = s.Length <= 256 ? stackalloc char[s.Length + 1] : new char[s.Length + 1];
        int n = 0;
        foreach (char c in s)
        {
            if (c is ':' or ' ' or '-')
            {
                continue;
            }
            if (!char.IsAsciiHexDigit(c))
            {
                throw new ArgumentException($"'{hex}' is not a hexadecimal serial number.", paramName);
            }
            digits[1 + n++] = c;
        }
        if (n == 0)
        {
            throw new ArgumentException("The serial number is empty.", paramName);
        }
        ReadOnlySpan<char> text = n % 2 == 0 ? digits.Slice(1, n) : digits[..(n + 1)];
        if (n % 2 == 1)
        {
            digits[0] = '0';
        }
        byte[] result = new byte[text.Length / 2];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = byte.Parse(text.Slice(2 * i, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }
        return result;
    }
}
