using Certgate.Config.Schema;

namespace Certgate.Config.Tree;

/// <summary>
/// One configured statement: a container, a list entry (with <see cref="Key"/>), a leaf (with <see cref="Value"/>),
/// a leaf-list (with <see cref="Values"/>) or a flag. Children are kept in schema order; entries of one list in
/// the order they were created. Build and change trees with <see cref="ConfigEditor"/> or the parsers.
/// </summary>
public sealed class ConfigNode
{
    private readonly List<ConfigNode> _children = [];
    private readonly List<string> _values = [];

    internal ConfigNode(Statement statement, string? key, ConfigNode? parent)
    {
        Statement = statement;
        Key = key;
        Parent = parent;
    }

    /// <summary>An empty configuration for <paramref name="schema"/>.</summary>
    public static ConfigNode CreateRoot(ConfigSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        return new ConfigNode(schema.Root, null, null);
    }

    public Statement Statement { get; }

    /// <summary>The statement keyword (canonical spelling).</summary>
    public string Name => Statement.Name;

    /// <summary>The name of a list entry; null for other statements.</summary>
    public string? Key { get; }

    /// <summary>The value of a leaf (secrets in their stored <c>$9$</c> form); null for other statements.</summary>
    public string? Value { get; internal set; }

    /// <summary>The values of a leaf-list, in the order given.</summary>
    public IReadOnlyList<string> Values => _values;

    public ConfigNode? Parent { get; private set; }

    public IReadOnlyList<ConfigNode> Children => _children;

    public bool IsRoot => Parent is null;

    /// <summary>The words from the root to this node, e.g. <c>security pki ca-profile foo</c>.</summary>
    public IReadOnlyList<string> Path
    {
        get
        {
            var words = new List<string>();
            for (ConfigNode? n = this; n is not null && !n.IsRoot; n = n.Parent)
            {
                if (n.Key is not null)
                {
                    words.Insert(0, n.Key);
                }
                if (!n.Statement.IsKeyless)
                {
                    words.Insert(0, n.Name);
                }
            }
            return words;
        }
    }

    /// <summary>The non-list child named <paramref name="name"/> (container, leaf, leaf-list, flag), or null.</summary>
    public ConfigNode? Child(string name) => _children.FirstOrDefault(c => c.Name == name && c.Key is null);

    /// <summary>The entries of list <paramref name="name"/>, in configured order.</summary>
    public IEnumerable<ConfigNode> Entries(string name) => _children.Where(c => c.Name == name && c.Key is not null);

    /// <summary>The entry <paramref name="key"/> of list <paramref name="name"/>, or null.</summary>
    public ConfigNode? Entry(string name, string key) => _children.FirstOrDefault(c => c.Name == name && c.Key == key);

    /// <summary>The value of leaf <paramref name="name"/>, or null when it is not configured.</summary>
    public string? Leaf(string name) => Child(name)?.Value;

    /// <summary>The value of leaf <paramref name="name"/>, or its schema default.</summary>
    public string? LeafOrDefault(string name) => Child(name)?.Value ?? Statement.Find(name)?.Default;

    /// <summary>Whether the flag (or any non-list child) <paramref name="name"/> is configured.</summary>
    public bool Has(string name) => Child(name) is not null;

    /// <summary>Follows <paramref name="words"/> (keywords and list keys) down from this node; null when absent.</summary>
    public ConfigNode? Find(params string[] words)
    {
        ConfigNode? n = this;
        for (int i = 0; i < words.Length && n is not null; i++)
        {
            Statement? s = n.Statement.Resolve(words[i], out bool keyless);
            if (s is null)
            {
                return null;
            }
            if (keyless)
            {
                n = n.Entry(s.Name, words[i]);
            }
            else if (s.Kind == StatementKind.List)
            {
                if (++i >= words.Length)
                {
                    return null;
                }
                n = n.Entry(s.Name, words[i]);
            }
            else
            {
                n = n.Child(s.Name);
            }
        }
        return n;
    }

    /// <summary>A deep copy (the copy's root has no parent).</summary>
    public ConfigNode Clone() => CloneInto(null);

    /// <summary>True when both trees hold the same statements, values and order.</summary>
    public bool StructurallyEquals(ConfigNode other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (Name != other.Name || Key != other.Key || Value != other.Value || !_values.SequenceEqual(other._values)
            || _children.Count != other._children.Count)
        {
            return false;
        }
        for (int i = 0; i < _children.Count; i++)
        {
            if (!_children[i].StructurallyEquals(other._children[i]))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The path and kind, for debugging (never a value: it could be a secret).</summary>
    public override string ToString() => $"[{string.Join(' ', Path)}] ({Statement.Kind})";

    private ConfigNode CloneInto(ConfigNode? parent)
    {
        var copy = new ConfigNode(Statement, Key, parent) { Value = Value };
        copy._values.AddRange(_values);
        foreach (ConfigNode c in _children)
        {
            copy._children.Add(c.CloneInto(copy));
        }
        return copy;
    }

    // ---- mutation, used by ConfigEditor ----

    /// <summary>Gets or creates the non-list child for <paramref name="s"/>, honouring choices.</summary>
    internal ConfigNode GetOrAdd(Statement s)
    {
        ConfigNode? existing = Child(s.Name);
        if (existing is not null)
        {
            return existing;
        }
        var n = new ConfigNode(s, null, this);
        Insert(n);
        return n;
    }

    internal ConfigNode GetOrAddEntry(Statement s, string key, out bool created)
    {
        ConfigNode? existing = Entry(s.Name, key);
        created = existing is null;
        if (existing is not null)
        {
            return existing;
        }
        var n = new ConfigNode(s, key, this);
        Insert(n);
        return n;
    }

    internal void AddValue(string v)
    {
        if (!_values.Contains(v))
        {
            _values.Add(v);
        }
    }

    internal bool RemoveValue(string v) => _values.Remove(v);

    internal void Remove(ConfigNode child)
    {
        if (_children.Remove(child))
        {
            child.Parent = null;
        }
    }

    /// <summary>Moves <paramref name="entry"/> just before or after <paramref name="anchor"/> (entries of one list).</summary>
    internal void Move(ConfigNode entry, ConfigNode anchor, bool before)
    {
        if (ReferenceEquals(entry, anchor))
        {
            return;
        }
        _children.Remove(entry);
        int at = _children.IndexOf(anchor);
        _children.Insert(before ? at : at + 1, entry);
    }

    private void Insert(ConfigNode n)
    {
        // At most one member of a choice group: configuring one removes the others.
        IReadOnlyList<string>? group = Statement.ChoiceOf(n.Name);
        if (group is not null)
        {
            _children.RemoveAll(c => c.Name != n.Name && group.Contains(c.Name));
        }
        int order = Statement.IndexOf(n.Statement);
        int at = _children.Count;
        for (int i = 0; i < _children.Count; i++)
        {
            if (Statement.IndexOf(_children[i].Statement) > order)
            {
                at = i;
                break;
            }
        }
        _children.Insert(at, n);
    }
}
