using Certgate.Config.Schema;

namespace Certgate.Config.Tree;

/// <summary>
/// <c>set</c> and <c>delete</c> over a <see cref="ConfigNode"/> tree, driven only by the schema. Words are the
/// tokens of a statement path (<c>ca-profile foo enrollment retry 10</c>); <c>[</c> and <c>]</c> are tokens of
/// their own. After a leaf or flag the remaining words continue at the same level
/// (<c>file pki.log files 3 size 1m</c>), as Junos accepts.
/// </summary>
public static class ConfigEditor
{
    /// <summary>Applies <c>set</c> <paramref name="words"/> below <paramref name="context"/>.</summary>
    /// <returns>The deepest container or list entry the path entered (where a following <c>{</c> block belongs).</returns>
    /// <exception cref="ConfigException">An unknown keyword, a missing or invalid value, or a full list.</exception>
    public static ConfigNode Set(ConfigNode context, IReadOnlyList<string> words) => Set(context, words, out _);

    /// <summary>As <see cref="Set(ConfigNode, IReadOnlyList{string})"/>; <paramref name="endsInBlock"/> tells whether the
    /// last statement was a container or list entry (so a <c>{</c> may follow).</summary>
    public static ConfigNode Set(ConfigNode context, IReadOnlyList<string> words, out bool endsInBlock)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(words);
        if (words.Count == 0)
        {
            throw new ConfigException($"syntax error at {At(context)}: missing statement, expecting one of: {Keywords(context.Statement)}");
        }
        ConfigNode node = context;
        endsInBlock = true;
        int i = 0;
        while (i < words.Count)
        {
            string word = words[i++];
            Statement s = node.Statement.Resolve(word, out bool keyless)
                ?? throw new ConfigException($"syntax error at {At(node)} '{word}', expecting one of: {Keywords(node.Statement)}");
            switch (s.Kind)
            {
                case StatementKind.Container:
                    node = node.GetOrAdd(s);
                    endsInBlock = true;
                    break;
                case StatementKind.List:
                {
                    string key = Normalize(node, s, keyless ? word : i < words.Count ? words[i] : null);
                    if (!keyless)
                    {
                        i++;
                    }
                    if (node.Entry(s.Name, key) is null && s.MaxElements > 0 && node.Entries(s.Name).Count() >= s.MaxElements)
                    {
                        throw new ConfigException($"error: {At(node)} '{s.Name} {key}': at most {s.MaxElements} '{s.Name}' entries may be configured");
                    }
                    node = node.GetOrAddEntry(s, key, out _);
                    endsInBlock = true;
                    break;
                }
                case StatementKind.Leaf:
                {
                    string value = Normalize(node, s, i < words.Count ? words[i] : null);
                    i++;
                    node.GetOrAdd(s).Value = value;
                    endsInBlock = false;
                    break;
                }
                case StatementKind.LeafList:
                {
                    var values = new List<string>();
                    if (i < words.Count && words[i] == "[")
                    {
                        i++;
                        while (i < words.Count && words[i] != "]")
                        {
                            values.Add(Normalize(node, s, words[i++]));
                        }
                        if (i >= words.Count)
                        {
                            throw new ConfigException($"syntax error at {At(node)} '{s.Name} [': missing ']'");
                        }
                        i++;
                    }
                    else
                    {
                        values.Add(Normalize(node, s, i < words.Count ? words[i] : null));
                        i++;
                    }
                    ConfigNode list = node.Child(s.Name) ?? node.GetOrAdd(s);
                    int total = list.Values.Union(values).Count();
                    if (s.MaxElements > 0 && total > s.MaxElements)
                    {
                        if (list.Values.Count == 0)
                        {
                            node.Remove(list);
                        }
                        throw new ConfigException($"error: {At(node)} '{s.Name}': at most {s.MaxElements} values may be configured");
                    }
                    foreach (string v in values)
                    {
                        list.AddValue(v);
                    }
                    endsInBlock = false;
                    break;
                }
                case StatementKind.Flag:
                    node.GetOrAdd(s);
                    endsInBlock = false;
                    break;
            }
        }
        return node;
    }

    /// <summary>Applies <c>delete</c> <paramref name="words"/> below <paramref name="context"/> and prunes emptied
    /// non-presence containers above it. A leaf may be followed by its value; a leaf-list by the values to remove.</summary>
    /// <exception cref="ConfigException">An unknown keyword, or the statement is not configured (<c>warning: statement not found</c>).</exception>
    public static void Delete(ConfigNode context, IReadOnlyList<string> words)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(words);
        if (words.Count == 0)
        {
            // "delete" alone at a level empties that level (Junos asks for confirmation; callers do that).
            foreach (ConfigNode c in context.Children.ToList())
            {
                context.Remove(c);
            }
            Prune(context);
            return;
        }
        ConfigNode node = context;
        int i = 0;
        while (true)
        {
            string word = words[i++];
            Statement s = node.Statement.Resolve(word, out bool keyless)
                ?? throw new ConfigException($"syntax error at {At(node)} '{word}', expecting one of: {Keywords(node.Statement)}");
            ConfigNode? target;
            if (keyless)
            {
                target = node.Entry(s.Name, Normalize(node, s, word));
            }
            else if (s.Kind == StatementKind.List)
            {
                if (i >= words.Count)
                {
                    // "delete ca-profile" removes every entry.
                    List<ConfigNode> all = node.Entries(s.Name).ToList();
                    if (all.Count == 0)
                    {
                        throw NotFound();
                    }
                    all.ForEach(node.Remove);
                    Prune(node);
                    return;
                }
                string key = Normalize(node, s, words[i++]);
                target = node.Entry(s.Name, key);
            }
            else
            {
                target = node.Child(s.Name);
            }
            if (target is null)
            {
                throw NotFound();
            }
            bool last = i >= words.Count;
            switch (s.Kind)
            {
                case StatementKind.Leaf when !last && i + 1 == words.Count:
                    last = true; // "delete ... retry 10": the value is optional
                    break;
                case StatementKind.LeafList when !last:
                {
                    var values = words.Skip(i).Where(w => w is not ("[" or "]")).Select(w => Normalize(node, s, w)).ToList();
                    if (values.Any(v => !target.Values.Contains(v)))
                    {
                        throw NotFound();
                    }
                    values.ForEach(v => target.RemoveValue(v));
                    if (target.Values.Count == 0)
                    {
                        node.Remove(target);
                    }
                    Prune(node);
                    return;
                }
                case StatementKind.Leaf or StatementKind.LeafList or StatementKind.Flag when !last:
                    throw new ConfigException($"syntax error at {At(node)} '{words[i]}': unexpected word after '{s.Name}'");
            }
            if (last)
            {
                node.Remove(target);
                Prune(node);
                return;
            }
            node = target;
        }

        static ConfigException NotFound() => new("warning: statement not found");
    }

    /// <summary>
    /// Checks <paramref name="words"/> against the schema below <paramref name="level"/> without changing anything and
    /// returns them in canonical spelling (aliases replaced, keys and values normalized).
    /// </summary>
    /// <param name="level">Where the words start (a schema statement at a container or list-entry level).</param>
    /// <param name="words">The path words.</param>
    /// <param name="last">The last statement named (the level itself when <paramref name="words"/> is empty).</param>
    /// <param name="levelPath">The configuration path of <paramref name="level"/>, for messages.</param>
    /// <exception cref="ConfigException">An unknown keyword or an invalid key.</exception>
    public static IReadOnlyList<string> Canonicalize(Statement level, IReadOnlyList<string> levelPath, IReadOnlyList<string> words, out Statement last)
    {
        ArgumentNullException.ThrowIfNull(level);
        ArgumentNullException.ThrowIfNull(words);
        var result = new List<string>();
        last = level;
        Statement s = level;
        int i = 0;
        while (i < words.Count)
        {
            string word = words[i++];
            List<string> here = [.. levelPath, .. result];
            Statement next = s.Resolve(word, out bool keyless)
                ?? throw new ConfigException($"syntax error at {At(here)} '{word}', expecting one of: {Keywords(s)}");
            // A keyless entry is canonically "LIST KEY" (the keyword is accepted on input), so that levels stay pairs.
            result.Add(next.Name);
            last = next;
            if (keyless)
            {
                result.Add(Normalize(here, next, word));
            }
            else if (next.Kind == StatementKind.List && i < words.Count)
            {
                result.Add(Normalize(here, next, words[i++]));
            }
            else if (next.Kind is StatementKind.Leaf or StatementKind.LeafList or StatementKind.Flag)
            {
                if (i < words.Count)
                {
                    throw new ConfigException($"syntax error at {At([.. here, next.Name])} '{words[i]}': '{next.Name}' has no statements below it");
                }
            }
            s = next;
        }
        return result;
    }

    /// <summary>
    /// <c>insert PATH-TO-ENTRY (before|after) LIST-NAME KEY</c>: moves an existing entry of an ordered-by-user list
    /// (for example a CRL URL, tried in order) next to another entry of the same list.
    /// </summary>
    /// <exception cref="ConfigException">The words do not name two entries of the same list.</exception>
    public static void Insert(ConfigNode context, IReadOnlyList<string> words)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(words);
        int where = words.ToList().FindIndex(w => w is "before" or "after");
        if (where < 2 || words.Count != where + 3)
        {
            throw new ConfigException("syntax error: expected 'insert LIST NAME (before|after) LIST OTHER-NAME'");
        }
        IReadOnlyList<string> path = Canonicalize(context.Statement, context.Path, words.Take(where).ToList(), out Statement list);
        ConfigNode? entry = context.Find([.. path]);
        if (list.Kind != StatementKind.List || entry is null || entry.Key is null)
        {
            throw new ConfigException($"error: {At([.. context.Path, .. path])}: not an existing list entry");
        }
        ConfigNode parent = entry.Parent!;
        if (list.Parent!.Find(words[where + 1]) != list)
        {
            throw new ConfigException($"syntax error at {At(parent)} '{words[where + 1]}': expected '{list.Name}'");
        }
        string otherKey = Normalize(parent, list, words[where + 2]);
        ConfigNode other = parent.Entry(list.Name, otherKey)
            ?? throw new ConfigException($"error: {At(parent)} '{list.Name} {otherKey}': statement not found");
        parent.Move(entry, other, words[where] == "before");
    }

    /// <summary>Removes emptied non-presence containers from <paramref name="node"/> upwards.</summary>
    internal static void Prune(ConfigNode node)
    {
        while (node.Parent is not null && node.Statement.Kind == StatementKind.Container && !node.Statement.Presence && node.Children.Count == 0)
        {
            ConfigNode parent = node.Parent;
            parent.Remove(node);
            node = parent;
        }
    }

    /// <summary><c>[edit a b c]</c> for a node (just <c>[edit]</c> at the root).</summary>
    public static string At(ConfigNode node) => At(node.Path);

    public static string At(IReadOnlyList<string> path) => path.Count == 0 ? "[edit]" : $"[edit {string.Join(' ', path)}]";

    /// <summary>The keywords valid below <paramref name="s"/>, space separated, in schema order.</summary>
    public static string Keywords(Statement s) => string.Join(' ', s.Children.Select(c => c.Name));

    private static string Normalize(ConfigNode node, Statement s, string? text) => Normalize(node.Path, s, text);

    private static string Normalize(IReadOnlyList<string> at, Statement s, string? text)
    {
        ValueSyntax type = s.Type!;
        if (text is null || text is "[" or "]")
        {
            string what = s.Kind == StatementKind.List ? "name" : "value";
            throw new ConfigException($"syntax error at {At(at)} '{s.Name}': missing {what} (expected {type.Expected})");
        }
        if (!type.TryNormalize(text, out string normalized, out string problem))
        {
            string shown = type.IsSecret ? s.Name : $"{s.Name} {text}";
            throw new ConfigException($"syntax error at {At(at)} '{shown}': {problem}");
        }
        return normalized;
    }
}
