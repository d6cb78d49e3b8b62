using System.Globalization;
using System.Text;

namespace Certgate.Ca.Http.Ldap;

/// <summary>The little of RFC 4514 DN syntax the publisher needs: the first RDN and the parent DN.</summary>
internal static class LdapDn
{
    /// <summary>Splits <paramref name="dn"/> into its first RDN's attribute type and (unescaped) value and the parent DN.</summary>
    /// <returns>False when the first RDN is multi-valued or not <c>type=value</c>.</returns>
    public static bool TrySplitFirstRdn(string dn, out string type, out string value, out string parent)
    {
        type = value = parent = "";
        int end = FindUnescaped(dn, ',');
        string rdn = end < 0 ? dn : dn[..end];
        parent = end < 0 ? "" : dn[(end + 1)..].Trim();
        if (FindUnescaped(rdn, '+') >= 0)
        {
            return false;
        }
        int eq = rdn.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
        {
            return false;
        }
        type = rdn[..eq].Trim();
        return TryUnescape(rdn[(eq + 1)..].Trim(), out value) && value.Length > 0;
    }

    private static int FindUnescaped(string s, char c)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\')
            {
                i++;
            }
            else if (s[i] == c)
            {
                return i;
            }
        }
        return -1;
    }

    // RFC 4514 §2.4: a backslash escapes one special character or introduces two hex digits (a UTF-8 octet).
    private static bool TryUnescape(string s, out string value)
    {
        value = "";
        var bytes = new List<byte>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] != '\\')
            {
                int n = char.IsHighSurrogate(s[i]) && i + 1 < s.Length ? 2 : 1;
                bytes.AddRange(Encoding.UTF8.GetBytes(s.Substring(i, n)));
                i += n - 1;
                continue;
            }
            if (i + 1 >= s.Length)
            {
                return false;
            }
            if (i + 2 < s.Length && byte.TryParse(s.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b))
            {
                bytes.Add(b);
                i += 2;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(s[i + 1].ToString()));
                i++;
            }
        }
        value = Encoding.UTF8.GetString(bytes.ToArray());
        return true;
    }
}
