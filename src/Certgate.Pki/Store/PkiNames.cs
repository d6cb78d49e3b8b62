namespace Certgate.Pki.Store;

/// <summary>
/// Name rules for certificate-ids and CA profile names (Junos: 1–32 characters, no <c>/ % .</c> or space).
/// Certgate also refuses control characters and a leading <c>-</c> or <c>~</c>, since the names become file names.
/// </summary>
public static class PkiNames
{
    public const int MaxLength = 32;

    /// <summary>Why <paramref name="name"/> is not a valid certificate-id / ca-profile name, or null when it is.</summary>
    public static string? Problem(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "must not be empty";
        }
        if (name.Length > MaxLength)
        {
            return $"must be at most {MaxLength} characters";
        }
        foreach (char c in name)
        {
            if (c is '/' or '%' or '.' or ' ' or '\\')
            {
                return $"must not contain '{c}'";
            }
            if (char.IsControl(c) || char.IsWhiteSpace(c))
            {
                return "must not contain control or space characters";
            }
        }
        if (name[0] is '-' or '~')
        {
            return $"must not start with '{name[0]}'";
        }
        return null;
    }

    /// <summary>Throws when <paramref name="name"/> is not valid.</summary>
    /// <exception cref="ArgumentException">Invalid name; the message names <paramref name="what"/>.</exception>
    public static void Validate(string name, string what)
    {
        if (Problem(name) is { } why)
        {
            throw new ArgumentException($"{what} '{name}' {why}", nameof(name));
        }
    }
}
