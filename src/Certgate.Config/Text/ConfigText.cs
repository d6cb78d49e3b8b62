using System.Text;
using Certgate.Config.Schema;
using Certgate.Config.Tree;

namespace Certgate.Config.Text;

/// <summary>
/// Reading and writing configuration text in both Junos formats: the curly-brace form that <c>show</c> prints
/// (4-space indentation, <c>;</c> after leaves, <c>[ a b ]</c> leaf-lists, <c>## SECRET-DATA</c> after secrets) and
/// the set form of <c>show | display set</c>. <c>Parse*(Write*(tree))</c> gives back an equal tree.
/// </summary>
public static class ConfigText
{
    /// <summary>The longest configuration text read or parsed, in characters (a hostile file cannot make us allocate without bound).</summary>
    public const int MaxTextLength = Tokenizer.MaxLength;

    /// <summary>Reads <paramref name="reader"/> to its end, refusing more than <see cref="MaxTextLength"/> characters.</summary>
    /// <exception cref="ConfigException">The text is longer; the message names <paramref name="source"/>.</exception>
    public static string ReadBounded(TextReader reader, string source)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var sb = new StringBuilder();
        char[] buffer = new char[64 * 1024];
        int n;
        while ((n = reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            if (sb.Length + n > MaxTextLength)
            {
                throw new ConfigException($"error: {source}: the text is longer than {MaxTextLength} characters");
            }
            sb.Append(buffer, 0, n);
        }
        return sb.ToString();
    }

    /// <summary>Parses curly-brace text (comments allowed) into a new tree.</summary>
    /// <exception cref="ConfigException">The text is malformed or a statement is invalid; the message gives the line.</exception>
    public static ConfigNode ParseCurly(ConfigSchema schema, string text)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(text);
        ConfigNode root = ConfigNode.CreateRoot(schema);
        var stack = new Stack<ConfigNode>();
        stack.Push(root);
        var words = new List<string>();
        int line = 1;
        foreach (Token t in Tokenizer.Tokenize(text))
        {
            if (words.Count == 0)
            {
                line = t.Line;
            }
            try
            {
                switch (t.Kind)
                {
                    case TokenKind.Word:
                        words.Add(t.Text);
                        break;
                    case TokenKind.Semicolon:
                        if (words.Count > 0)
                        {
                            ConfigEditor.Set(stack.Peek(), words);
                        }
                        words.Clear();
                        break;
                    case TokenKind.OpenBrace:
                    {
                        ConfigNode node = ConfigEditor.Set(stack.Peek(), words, out bool block);
                        if (!block)
                        {
                            throw new ConfigException($"syntax error at {ConfigEditor.At(node)} '{Tokenizer.Excerpt(words)}': a leaf cannot have a '{{' block");
                        }
                        stack.Push(node);
                        words.Clear();
                        break;
                    }
                    case TokenKind.CloseBrace:
                        if (words.Count > 0)
                        {
                            throw new ConfigException($"syntax error: missing ';' after '{Tokenizer.Excerpt(words)}'");
                        }
                        if (stack.Count == 1)
                        {
                            throw new ConfigException("syntax error: unexpected '}'");
                        }
                        stack.Pop();
                        break;
                }
            }
            catch (ConfigException e)
            {
                throw new ConfigException($"line {line}: {e.Message}", e);
            }
        }
        if (words.Count > 0)
        {
            throw new ConfigException($"line {line}: syntax error: missing ';' after '{Tokenizer.Excerpt(words)}'");
        }
        if (stack.Count > 1)
        {
            throw new ConfigException($"syntax error: missing '}}' at end of text (still inside {ConfigEditor.At(stack.Peek())})");
        }
        return root;
    }

    /// <summary>Applies set-style lines (<c>set ...</c>, <c>delete ...</c>, blank lines and <c>#</c> comments) to <paramref name="root"/>.</summary>
    /// <exception cref="ConfigException">A line is not <c>set</c>/<c>delete</c> or a statement is invalid; the message gives the line.</exception>
    public static void ApplySet(ConfigNode root, string text)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(text);
        string[] lines = text.Split('\n');
        for (int n = 0; n < lines.Length; n++)
        {
            string l = lines[n].Trim();
            if (l.Length == 0 || l.StartsWith('#'))
            {
                continue;
            }
            try
            {
                List<string> words = Tokenizer.Words(l);
                if (words.Count == 0)
                {
                    continue;
                }
                switch (words[0])
                {
                    case "set":
                        ConfigEditor.Set(root, words[1..]);
                        break;
                    case "delete":
                        ConfigEditor.Delete(root, words[1..]);
                        break;
                    default:
                        throw new ConfigException($"syntax error: '{words[0]}' (expected 'set' or 'delete')");
                }
            }
            catch (ConfigException e)
            {
                // The tokenizer saw this one line as its line 1; the line that counts is the text's.
                string message = e.Message.StartsWith("line 1: ", StringComparison.Ordinal) ? e.Message["line 1: ".Length..] : e.Message;
                throw new ConfigException($"line {n + 1}: {message}", e);
            }
        }
    }

    /// <summary>Parses set-style lines into a new tree.</summary>
    public static ConfigNode ParseSet(ConfigSchema schema, string text)
    {
        ConfigNode root = ConfigNode.CreateRoot(schema);
        ApplySet(root, text);
        return root;
    }

    /// <summary>Parses either format: set-style when the first statement line starts with <c>set</c> or <c>delete</c>.</summary>
    public static ConfigNode Parse(ConfigSchema schema, string text) =>
        IsSetFormat(text) ? ParseSet(schema, text) : ParseCurly(schema, text);

    /// <summary>True when the first non-comment line starts with <c>set </c> or <c>delete </c>.</summary>
    public static bool IsSetFormat(string text)
    {
        foreach (string raw in text.Split('\n'))
        {
            string l = raw.Trim();
            if (l.Length == 0 || l.StartsWith('#') || l.StartsWith("/*", StringComparison.Ordinal))
            {
                continue;
            }
            return l.StartsWith("set ", StringComparison.Ordinal) || l.StartsWith("delete ", StringComparison.Ordinal) || l is "set" or "delete";
        }
        return false;
    }

    /// <summary>The children of <paramref name="node"/> in curly-brace form (what <c>show</c> prints at that level).</summary>
    public static string WriteCurly(ConfigNode node, int depth = 0)
    {
        ArgumentNullException.ThrowIfNull(node);
        var sb = new StringBuilder();
        foreach (ConfigNode c in node.Children)
        {
            WriteStatement(c, depth, sb);
        }
        return sb.ToString();
    }

    /// <summary>One statement (with its block) in curly-brace form.</summary>
    public static string WriteStatement(ConfigNode node, int depth = 0)
    {
        ArgumentNullException.ThrowIfNull(node);
        var sb = new StringBuilder();
        WriteStatement(node, depth, sb);
        return sb.ToString();
    }

    /// <summary>The statements below <paramref name="node"/> as <c>set</c> lines with full paths.</summary>
    public static string WriteSet(ConfigNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var sb = new StringBuilder();
        string prefix = string.Join(' ', node.Path.Select(Tokenizer.Quote));
        if (node.IsRoot || node.Statement.Kind is StatementKind.Container or StatementKind.List)
        {
            if (!node.IsRoot && node.Children.Count == 0)
            {
                sb.Append("set ").Append(prefix).Append('\n');
            }
            foreach (ConfigNode c in node.Children)
            {
                WriteSetLines(c, prefix, sb);
            }
        }
        else
        {
            WriteSetLines(node, string.Join(' ', node.Parent!.Path.Select(Tokenizer.Quote)), sb);
        }
        return sb.ToString();
    }

    private static void WriteSetLines(ConfigNode n, string prefix, StringBuilder sb)
    {
        string path = (prefix.Length > 0 ? prefix + " " : "") + Head(n);
        switch (n.Statement.Kind)
        {
            case StatementKind.Leaf:
                sb.Append("set ").Append(path).Append(' ').Append(LeafValue(n)).Append('\n');
                break;
            case StatementKind.LeafList:
                sb.Append("set ").Append(path).Append(' ').Append(ListValue(n)).Append('\n');
                break;
            case StatementKind.Flag:
                sb.Append("set ").Append(path).Append('\n');
                break;
            default:
                if (n.Children.Count == 0)
                {
                    sb.Append("set ").Append(path).Append('\n');
                }
                foreach (ConfigNode c in n.Children)
                {
                    WriteSetLines(c, path, sb);
                }
                break;
        }
    }

    private static void WriteStatement(ConfigNode n, int depth, StringBuilder sb)
    {
        sb.Append(' ', 4 * depth).Append(Head(n));
        switch (n.Statement.Kind)
        {
            case StatementKind.Leaf:
                sb.Append(' ').Append(LeafValue(n)).Append(';');
                if (n.Statement.Type!.IsSecret)
                {
                    sb.Append(" ## SECRET-DATA");
                }
                sb.Append('\n');
                break;
            case StatementKind.LeafList:
                sb.Append(' ').Append(ListValue(n)).Append(";\n");
                break;
            case StatementKind.Flag:
                sb.Append(";\n");
                break;
            default:
                if (n.Children.Count == 0)
                {
                    sb.Append(";\n");
                }
                else if (n.Statement.IsInline)
                {
                    foreach (ConfigNode c in n.Children)
                    {
                        sb.Append(' ').Append(c.Name);
                        if (c.Statement.Kind == StatementKind.Leaf)
                        {
                            sb.Append(' ').Append(LeafValue(c));
                        }
                    }
                    sb.Append(";\n");
                }
                else
                {
                    sb.Append(" {\n");
                    foreach (ConfigNode c in n.Children)
                    {
                        WriteStatement(c, depth + 1, sb);
                    }
                    sb.Append(' ', 4 * depth).Append("}\n");
                }
                break;
        }
    }

    private static string Head(ConfigNode n) =>
        n.Key is null ? n.Name : n.Statement.IsKeyless ? Tokenizer.Quote(n.Key) : n.Name + " " + Tokenizer.Quote(n.Key);

    // Secrets are always quoted, as Junos prints "$9$...".
    private static string LeafValue(ConfigNode n) =>
        n.Statement.Type!.IsSecret ? "\"" + n.Value + "\"" : Tokenizer.Quote(n.Value!);

    private static string ListValue(ConfigNode n) =>
        n.Values.Count == 1 ? Tokenizer.Quote(n.Values[0]) : "[ " + string.Join(' ', n.Values.Select(Tokenizer.Quote)) + " ]";
}
