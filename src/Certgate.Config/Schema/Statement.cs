namespace Certgate.Config.Schema;

/// <summary>What kind of statement a schema node declares.</summary>
public enum StatementKind
{
    /// <summary><c>name { ... }</c>; presence containers stay when empty.</summary>
    Container,

    /// <summary><c>name KEY { ... }</c>, entries kept in the order the operator created them (ordered-by-user).</summary>
    List,

    /// <summary><c>name VALUE;</c></summary>
    Leaf,

    /// <summary><c>name [ V1 V2 ];</c></summary>
    LeafList,

    /// <summary><c>name;</c> (an empty leaf).</summary>
    Flag,
}

/// <summary>
/// One node of the declarative configuration schema. A subsystem declares its hierarchy with the fluent
/// methods (<see cref="Container"/>, <see cref="List"/>, <see cref="Leaf"/>, <see cref="LeafList"/>,
/// <see cref="Flag"/>, <see cref="Choice"/>); the engine (parsers, writers, set/delete, compare) needs nothing else.
/// </summary>
public sealed class Statement
{
    private readonly List<Statement> _children = [];
    private readonly List<string[]> _choices = [];
    private readonly List<string> _aliases = [];

    private Statement(string name, StatementKind kind, ValueSyntax? type, Statement? parent)
    {
        Name = name;
        Kind = kind;
        Type = type;
        Parent = parent;
    }

    /// <summary>A new, empty root (the <c>[edit]</c> level).</summary>
    public static Statement CreateRoot() => new("", StatementKind.Container, null, null);

    public string Name { get; }

    public StatementKind Kind { get; }

    /// <summary>The value type of a leaf or leaf-list, or the key type of a list; null otherwise.</summary>
    public ValueSyntax? Type { get; }

    public Statement? Parent { get; }

    /// <summary>Other spellings accepted on input; output always uses <see cref="Name"/>.</summary>
    public IReadOnlyList<string> Aliases => _aliases;

    /// <summary>A container that stays (and means something) when empty, e.g. <c>security pki</c>.</summary>
    public bool Presence { get; private set; }

    /// <summary>The default of a leaf (the value consumers see when it is not configured), or null.</summary>
    public string? Default { get; private set; }

    /// <summary>Most entries of a list / values of a leaf-list; 0 for no limit.</summary>
    public int MaxElements { get; private set; }

    public string? Description { get; private set; }

    /// <summary>A list whose entries are written without its keyword (<c>interfaces { ge-0/0/0 { ... } }</c>, <c>set
    /// interfaces ge-0/0/0 ...</c>): any word that is not a keyword of the parent is a key of this list.</summary>
    public bool IsKeyless { get; private set; }

    /// <summary>The keyless list child, or null.</summary>
    internal Statement? KeylessList => _children.FirstOrDefault(c => c.IsKeyless);

    /// <summary>This statement's child spelled <paramref name="word"/>, else its keyless list (the word is then a key).</summary>
    internal Statement? Resolve(string word, out bool keyless)
    {
        Statement? s = Find(word);
        keyless = s is null && KeylessList is not null;
        return s ?? KeylessList;
    }

    /// <summary>A list entry rendered on one line with its leaves (<c>file pki.log files 3 size 1m;</c>).</summary>
    public bool IsInline { get; private set; }

    public IReadOnlyList<Statement> Children => _children;

    /// <summary>Groups of child names of which at most one may be configured (setting one deletes the others).</summary>
    public IReadOnlyList<IReadOnlyList<string>> Choices => _choices;

    /// <summary>True for the root.</summary>
    public bool IsRoot => Parent is null;

    /// <summary>The child statement spelled <paramref name="word"/> (its name or an alias), or null.</summary>
    public Statement? Find(string word)
    {
        foreach (Statement c in _children)
        {
            if (c.Name == word || c._aliases.Contains(word))
            {
                return c;
            }
        }
        return null;
    }

    /// <summary>The child named <paramref name="name"/>; throws <see cref="ArgumentException"/> when the schema lacks it.</summary>
    public Statement this[string name] =>
        Find(name) ?? throw new ArgumentException($"schema has no statement '{name}' under '{SchemaPath}'", nameof(name));

    /// <summary>The statement names from the root, e.g. <c>security pki ca-profile</c>.</summary>
    public string SchemaPath => Parent is null ? "" : (Parent.IsRoot ? Name : Parent.SchemaPath + " " + Name);

    internal int IndexOf(Statement child) => _children.IndexOf(child);

    /// <summary>The choice group that contains <paramref name="name"/>, or null.</summary>
    internal IReadOnlyList<string>? ChoiceOf(string name) => _choices.FirstOrDefault(g => g.Contains(name));

    /// <summary>Declares a container child; <paramref name="body"/> declares its children. Returns this statement.</summary>
    public Statement Container(string name, Action<Statement>? body = null, bool presence = false, string? description = null)
    {
        Statement c = Add(name, StatementKind.Container, null);
        c.Presence = presence;
        c.Description = description;
        body?.Invoke(c);
        return this;
    }

    /// <summary>Declares a list keyed by a name of type <paramref name="key"/>. Returns this statement.</summary>
    public Statement List(string name, ValueSyntax key, Action<Statement>? body = null, int maxElements = 0, string? description = null, params string[] aliases)
    {
        ArgumentNullException.ThrowIfNull(key);
        Statement c = Add(name, StatementKind.List, key);
        c.MaxElements = maxElements;
        c.Description = description;
        c._aliases.AddRange(aliases);
        body?.Invoke(c);
        return this;
    }

    /// <summary>Declares a leaf with an optional default. Returns this statement.</summary>
    public Statement Leaf(string name, ValueSyntax type, string? defaultValue = null, string? description = null, params string[] aliases)
    {
        ArgumentNullException.ThrowIfNull(type);
        Statement c = Add(name, StatementKind.Leaf, type);
        if (defaultValue is not null && !type.TryNormalize(defaultValue, out _, out string problem))
        {
            throw new ArgumentException($"default of '{name}' is invalid: {problem}", nameof(defaultValue));
        }
        c.Default = defaultValue;
        c.Description = description;
        c._aliases.AddRange(aliases);
        return this;
    }

    /// <summary>Declares a leaf-list (<c>name [ a b ];</c>). Returns this statement.</summary>
    public Statement LeafList(string name, ValueSyntax type, int maxElements = 0, string? description = null, params string[] aliases)
    {
        ArgumentNullException.ThrowIfNull(type);
        Statement c = Add(name, StatementKind.LeafList, type);
        c.MaxElements = maxElements;
        c.Description = description;
        c._aliases.AddRange(aliases);
        return this;
    }

    /// <summary>Declares an empty leaf (<c>name;</c>). Returns this statement.</summary>
    public Statement Flag(string name, string? description = null, params string[] aliases)
    {
        Statement c = Add(name, StatementKind.Flag, null);
        c.Description = description;
        c._aliases.AddRange(aliases);
        return this;
    }

    /// <summary>Makes the named children mutually exclusive. Returns this statement.</summary>
    public Statement Choice(params string[] names)
    {
        foreach (string n in names)
        {
            _ = this[n];
        }
        _choices.Add(names);
        return this;
    }

    /// <summary>Renders entries of the list child <paramref name="name"/> on one line. Returns this statement.</summary>
    public Statement Inline(string name)
    {
        Statement c = this[name];
        if (c.Kind != StatementKind.List || c.Children.Any(x => x.Kind is StatementKind.Container or StatementKind.List))
        {
            throw new ArgumentException($"'{name}' must be a list of leaves and flags to be rendered inline", nameof(name));
        }
        c.IsInline = true;
        return this;
    }

    /// <summary>Makes the list child <paramref name="name"/> keyless (see <see cref="IsKeyless"/>); one per statement.
    /// The keyword is still accepted on input. Returns this statement.</summary>
    public Statement Keyless(string name)
    {
        Statement c = this[name];
        if (c.Kind != StatementKind.List || KeylessList is not null)
        {
            throw new ArgumentException($"'{name}' must be a list, and the only keyless list under '{SchemaPath}'", nameof(name));
        }
        c.IsKeyless = true;
        return this;
    }

    /// <summary>Adds another accepted spelling to the child <paramref name="name"/>. Returns this statement.</summary>
    public Statement Alias(string name, string alias)
    {
        this[name]._aliases.Add(alias);
        return this;
    }

    private Statement Add(string name, StatementKind kind, ValueSyntax? type)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (Kind is not (StatementKind.Container or StatementKind.List))
        {
            throw new InvalidOperationException($"'{Name}' is a {Kind} and cannot have children");
        }
        if (Find(name) is not null)
        {
            throw new ArgumentException($"'{name}' is declared twice under '{SchemaPath}'", nameof(name));
        }
        var s = new Statement(name, kind, type, this);
        _children.Add(s);
        return s;
    }
}
