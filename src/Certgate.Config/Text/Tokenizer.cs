using System.Text;

namespace Certgate.Config.Text;

internal enum TokenKind
{
    Word,
    OpenBrace,
    CloseBrace,
    Semicolon,
}

/// <summary>A token and the 1-based line it starts on. Quoted words keep <see cref="Quoted"/> so that a quoted
/// <c>"["</c> is a value, not a bracket.</summary>
internal readonly record struct Token(TokenKind Kind, string Text, int Line, bool Quoted);

/// <summary>
/// Splits Junos configuration text into words, <c>{ } ;</c>, and <c>[ ]</c> (as words), dropping comments
/// (<c>/* ... */</c>, and <c>#</c> at the start of a token up to the end of the line, e.g. <c>## SECRET-DATA</c>).
/// </summary>
internal static class Tokenizer
{
    /// <summary>Longest accepted input, so that a hostile file cannot make us allocate without bound.</summary>
    internal const int MaxLength = 16 * 1024 * 1024;

    /// <summary>Longest word (bare or quoted). Every value the schema takes is far shorter (at most 1024 characters);
    /// the limit keeps a hostile megabyte-long word out of the error messages, which quote the offending word.</summary>
    internal const int MaxWordLength = 8 * 1024;

    public static List<Token> Tokenize(string text)
    {
        if (text.Length > MaxLength)
        {
            throw new ConfigException($"configuration text is {text.Length} characters (at most {MaxLength})");
        }
        var tokens = new List<Token>();
        int line = 1;
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            if (c == '\n')
            {
                line++;
                i++;
            }
            else if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (c == '#')
            {
                while (i < text.Length && text[i] != '\n')
                {
                    i++;
                }
            }
            else if (c == '/' && i + 1 < text.Length && text[i + 1] == '*')
            {
                int start = line;
                int end = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                if (end < 0)
                {
                    throw new ConfigException($"line {start}: unterminated comment '/*'");
                }
                line += text.AsSpan(i, end - i).Count('\n');
                i = end + 2;
            }
            else if (c is '{' or '}' or ';')
            {
                tokens.Add(new Token(c == '{' ? TokenKind.OpenBrace : c == '}' ? TokenKind.CloseBrace : TokenKind.Semicolon, c.ToString(), line, false));
                i++;
            }
            else if (c is '[' or ']')
            {
                tokens.Add(new Token(TokenKind.Word, c.ToString(), line, false));
                i++;
            }
            else if (c == '"')
            {
                int start = line;
                var sb = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= text.Length)
                    {
                        throw new ConfigException($"line {start}: missing closing '\"'");
                    }
                    char q = text[i++];
                    if (q == '"')
                    {
                        break;
                    }
                    if (q == '\\' && i < text.Length)
                    {
                        q = text[i++];
                    }
                    if (q == '\n')
                    {
                        line++;
                    }
                    sb.Append(q);
                }
                CheckWordLength(sb.Length, start);
                tokens.Add(new Token(TokenKind.Word, sb.ToString(), start, true));
            }
            else
            {
                int start = i;
                while (i < text.Length && !char.IsWhiteSpace(text[i]) && text[i] is not ('{' or '}' or ';' or '[' or ']' or '"'))
                {
                    i++;
                }
                CheckWordLength(i - start, line);
                tokens.Add(new Token(TokenKind.Word, text[start..i], line, false));
            }
        }
        return tokens;
    }

    private static void CheckWordLength(int length, int line)
    {
        if (length > MaxWordLength)
        {
            throw new ConfigException($"line {line}: a word of {length} characters is too long (at most {MaxWordLength})");
        }
    }

    /// <summary>At most 200 characters of <paramref name="words"/>, for an error message that quotes what was typed.</summary>
    public static string Excerpt(IEnumerable<string> words)
    {
        string joined = string.Join(' ', words);
        return joined.Length <= 200 ? joined : joined[..200] + $"… ({joined.Length} characters)";
    }

    /// <summary>The words of one command line (no braces or semicolons expected).</summary>
    public static List<string> Words(string line)
    {
        var words = new List<string>();
        foreach (Token t in Tokenize(line))
        {
            words.Add(t.Text);
        }
        return words;
    }

    /// <summary>Whether <paramref name="value"/> must be quoted to read back as one word.</summary>
    public static bool NeedsQuotes(string value) =>
        value.Length == 0 || value.Any(c => char.IsWhiteSpace(c) || c is '{' or '}' or ';' or '[' or ']' or '"' or '\\' or '#')
        || value.Contains("/*", StringComparison.Ordinal);

    public static string Quote(string value) =>
        NeedsQuotes(value) ? "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"" : value;
}
