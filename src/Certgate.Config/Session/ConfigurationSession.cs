using System.Globalization;
using Certgate.Config.Schema;
using Certgate.Config.Storage;
using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Config.Session;

/// <summary>
/// Junos configuration mode over a <see cref="ConfigurationStore"/>: <c>set</c>, <c>delete</c>, <c>show</c>
/// (<c>| display set</c>, <c>| compare [rollback N]</c>), <c>edit</c>/<c>up</c>/<c>top</c>, <c>commit</c>
/// (<c>check</c>, <c>comment "…"</c>, <c>and-quit</c>), <c>rollback N</c>, <c>load merge|override|set FILE</c>,
/// <c>exit</c>/<c>quit</c>. Each change is saved to the stored candidate at once, so the candidate survives the process.
/// Results go to the output writer, errors to the error writer; nothing here reads the terminal.
/// </summary>
public sealed class ConfigurationSession
{
    private readonly ConfigurationStore _store;
    private readonly TextWriter _out;
    private readonly TextWriter _err;
    private readonly string _user;
    private readonly List<string[]> _edit = [];
    private ConfigNode _active;
    private ConfigNode _candidate;

    /// <exception cref="ConfigException">The stored active or candidate configuration is damaged.</exception>
    public ConfigurationSession(ConfigurationStore store, TextWriter output, TextWriter error, string? user = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        _store = store;
        _out = output;
        _err = error;
        _user = string.IsNullOrWhiteSpace(user) ? "root" : user;
        _active = store.LoadActive();
        _candidate = store.LoadCandidate();
    }

    /// <summary>
    /// True (the default): every change is written to the stored candidate at once. Scripts set it to false and call
    /// <see cref="Flush"/> at the end, which avoids rewriting (and fsyncing) the candidate after every line.
    /// </summary>
    public bool AutoSave { get; set; } = true;

    /// <summary>Writes the candidate to the store if it changed since the last write.</summary>
    public void Flush()
    {
        if (_dirty)
        {
            _store.SaveCandidate(_candidate, _active);
            _dirty = false;
        }
    }

    private bool _dirty;

    /// <summary>The candidate configuration being edited.</summary>
    public ConfigNode Candidate => _candidate;

    /// <summary>True after <c>exit</c>/<c>quit</c> at the top level or <c>commit and-quit</c>.</summary>
    public bool Exited { get; private set; }

    /// <summary>True when the candidate differs from the active configuration.</summary>
    public bool Changed => !_candidate.StructurallyEquals(_active);

    /// <summary>The current edit level as words (<c>security pki ca-profile foo</c>).</summary>
    public IReadOnlyList<string> EditPath => _edit.SelectMany(s => s).ToList();

    /// <summary>The <c>[edit …]</c> banner Junos prints above the prompt.</summary>
    public string Banner
    {
        get
        {
            // Shown as Junos does: a keyless list's keyword ("interfaces interface eth0") is left out.
            var words = new List<string>();
            Statement s = _candidate.Statement;
            foreach (string[] seg in _edit)
            {
                s = s.Find(seg[0])!;
                words.AddRange(s.IsKeyless ? seg[1..] : seg);
            }
            return ConfigEditor.At(words);
        }
    }

    /// <summary>The prompt, <c>user@certgate# </c>.</summary>
    public string Prompt => $"{_user}@certgate# ";

    /// <summary>Runs one command line. Returns false (after writing the error) when it failed; a failed command changes nothing.</summary>
    public bool Execute(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        List<Token> tokens;
        try
        {
            tokens = Tokenizer.Tokenize(line);
        }
        catch (ConfigException e)
        {
            _err.WriteLine(e.Message);
            return false;
        }
        if (tokens.Count == 0)
        {
            return true;
        }
        if (tokens.Any(t => t.Kind != TokenKind.Word))
        {
            _err.WriteLine("syntax error: '{', '}' and ';' are not allowed in a command (use 'load merge FILE' for curly-brace text)");
            return false;
        }
        int pipe = tokens.FindIndex(t => t.Text == "|" && !t.Quoted);
        List<string> words = tokens.Take(pipe < 0 ? tokens.Count : pipe).Select(t => t.Text).ToList();
        List<string> pipeWords = pipe < 0 ? [] : tokens.Skip(pipe + 1).Select(t => t.Text).ToList();
        try
        {
            Dispatch(words, pipeWords);
            return true;
        }
        catch (ConfigException e)
        {
            _err.WriteLine(e.Message);
            return false;
        }
        catch (CommitCheckException e)
        {
            _err.WriteLine(e.Message);
            return false;
        }
        catch (IOException e)
        {
            _err.WriteLine($"error: {e.Message}");
            return false;
        }
        catch (UnauthorizedAccessException e)
        {
            _err.WriteLine($"error: {e.Message}");
            return false;
        }
    }

    private void Dispatch(List<string> words, List<string> pipe)
    {
        string verb = words[0];
        List<string> rest = words[1..];
        if (verb != "show" && pipe.Count > 0)
        {
            throw new ConfigException($"syntax error: '|' is only supported after 'show'");
        }
        switch (verb)
        {
            case "set":
                Mutate(c => ConfigEditor.Set(c, [.. EditPath, .. Require(rest, "set")]));
                break;
            case "delete" when rest.Count == 0 && _edit.Count > 0:
                // "delete" alone empties the current level (the level itself stays while we edit it).
                Mutate(c =>
                {
                    if (c.Find([.. EditPath]) is { } level)
                    {
                        ConfigEditor.Delete(level, []);
                    }
                });
                break;
            case "delete":
                Mutate(c => ConfigEditor.Delete(c, [.. EditPath, .. rest]));
                break;
            case "insert":
                Mutate(c => ConfigEditor.Insert(c.Find([.. EditPath]) ?? throw new ConfigException("warning: statement not found"), rest));
                break;
            case "show":
                Show(rest, pipe);
                break;
            case "edit":
                Edit(rest);
                break;
            case "up":
                Up(rest.Count == 0 ? 1 : ParseCount(rest[0], "up"));
                break;
            case "top":
                _edit.Clear();
                if (rest.Count > 0)
                {
                    Dispatch(rest, pipe);
                }
                break;
            case "exit" or "quit":
                if (rest is ["configuration-mode"] || _edit.Count == 0)
                {
                    Exit();
                }
                else
                {
                    Up(1);
                }
                break;
            case "commit":
                Commit(rest);
                break;
            case "rollback":
                Rollback(rest);
                break;
            case "load":
                Load(rest);
                break;
            case "run":
                throw new ConfigException("error: 'run' is not available in configuration mode here; run 'certgate " + string.Join(' ', rest) + "' instead");
            case "help" or "?":
                _out.WriteLine("Possible completions:");
                foreach ((string c, string d) in Help)
                {
                    _out.WriteLine($"  {c,-12} {d}");
                }
                break;
            default:
                throw new ConfigException($"syntax error at '{verb}', expecting one of: {string.Join(' ', Help.Select(h => h.Command))}");
        }
    }

    private static readonly (string Command, string Description)[] Help =
    [
        ("set", "Set a parameter"),
        ("delete", "Delete a data element"),
        ("insert", "Insert a list entry before or after another (ordered-by-user lists)"),
        ("show", "Show a parameter (| display set, | compare)"),
        ("edit", "Edit a sub-element"),
        ("up", "Exit one level of configuration hierarchy"),
        ("top", "Exit to top level of configuration"),
        ("commit", "Commit current set of changes (check, comment, and-quit)"),
        ("rollback", "Roll back to previous committed configuration"),
        ("load", "Load configuration from a file (merge, override, set)"),
        ("exit", "Exit from this level"),
        ("quit", "Quit from this level"),
    ];

    private static List<string> Require(List<string> rest, string verb) =>
        rest.Count > 0 ? rest : throw new ConfigException($"syntax error: '{verb}' needs a statement");

    private void Mutate(Action<ConfigNode> change)
    {
        // Work on a copy so that a failed command changes nothing.
        ConfigNode copy = _candidate.Clone();
        change(copy);
        _candidate = copy;
        _dirty = true;
        if (AutoSave)
        {
            Flush();
        }
    }

    private void Show(List<string> words, List<string> pipe)
    {
        string pipeText = string.Join(' ', pipe);
        if (pipeText.StartsWith("compare", StringComparison.Ordinal))
        {
            ConfigNode from = _active;
            if (pipe.Count == 3 && pipe[1] == "rollback")
            {
                from = _store.LoadRollback(ParseRollback(pipe[2]));
            }
            else if (pipe.Count != 1)
            {
                throw new ConfigException($"syntax error: '| {pipeText}' (expected '| compare' or '| compare rollback N')");
            }
            _out.Write(ConfigCompare.Compare(from, _candidate));
            return;
        }
        if (pipe.Count > 0 && pipeText != "display set")
        {
            throw new ConfigException($"syntax error: '| {pipeText}' (expected '| display set' or '| compare')");
        }
        IReadOnlyList<string> path = ConfigEditor.Canonicalize(_candidate.Statement, [], [.. EditPath, .. words], out Statement last);
        List<ConfigNode> nodes;
        if (last.Kind == StatementKind.List && !EndsWithKey(path, last))
        {
            // "show security pki ca-profile": every entry of the list.
            nodes = _candidate.Find([.. path.Take(path.Count - 1)])?.Entries(last.Name).ToList() ?? [];
        }
        else
        {
            nodes = _candidate.Find([.. path]) is { } n ? [n] : [];
        }
        foreach (ConfigNode node in nodes)
        {
            if (pipe.Count > 0)
            {
                _out.Write(ConfigText.WriteSet(node));
            }
            else if (node.IsRoot || node.Statement.Kind == StatementKind.Container || (node.Key is not null && nodes.Count == 1))
            {
                _out.Write(ConfigText.WriteCurly(node));
            }
            else
            {
                _out.Write(ConfigText.WriteStatement(node));
            }
        }
    }

    private void Edit(List<string> words)
    {
        if (words.Count == 0)
        {
            throw new ConfigException("syntax error: 'edit' needs a hierarchy level");
        }
        Statement s = _candidate.Statement;
        foreach (string[] seg in _edit)
        {
            s = s.Find(seg[0])!;
        }
        IReadOnlyList<string> path = ConfigEditor.Canonicalize(s, EditPath, words, out Statement last);
        // Split the canonical words into levels: "name" or "name key".
        var levels = new List<string[]>();
        for (int i = 0; i < path.Count; i++)
        {
            s = s.Find(path[i])!;
            if (s.Kind is StatementKind.Leaf or StatementKind.LeafList or StatementKind.Flag || (s.Kind == StatementKind.List && i + 1 >= path.Count))
            {
                throw new ConfigException($"syntax error: cannot edit '{string.Join(' ', words)}' (expected a container or a list entry such as '{last.Name} NAME')");
            }
            levels.Add(s.Kind == StatementKind.List ? [path[i], path[++i]] : [path[i]]);
        }
        _edit.AddRange(levels);
    }

    private static bool EndsWithKey(IReadOnlyList<string> path, Statement last) =>
        path.Count >= 2 && path[^2] == last.Name;

    private void Up(int n)
    {
        if (_edit.Count == 0)
        {
            _out.WriteLine("warning: already at the top of the configuration");
            return;
        }
        _edit.RemoveRange(Math.Max(0, _edit.Count - n), Math.Min(n, _edit.Count));
    }

    private void Exit()
    {
        Flush();
        if (Changed)
        {
            _out.WriteLine("The configuration has been changed but not committed");
        }
        _out.WriteLine("Exiting configuration mode");
        Exited = true;
    }

    private void Commit(List<string> words)
    {
        bool check = false;
        bool andQuit = false;
        string? comment = null;
        for (int i = 0; i < words.Count; i++)
        {
            switch (words[i])
            {
                case "check":
                    check = true;
                    break;
                case "and-quit":
                    andQuit = true;
                    break;
                case "comment" when i + 1 < words.Count:
                    comment = words[++i];
                    break;
                case "comment":
                    throw new ConfigException("syntax error: 'commit comment' needs a text");
                default:
                    throw new ConfigException($"syntax error at '{words[i]}', expecting one of: check comment and-quit");
            }
        }
        if (check)
        {
            IReadOnlyList<CommitError> errors = _store.Check(_candidate);
            if (errors.Count > 0)
            {
                throw new CommitCheckException(errors);
            }
            _out.WriteLine("configuration check succeeds");
            return;
        }
        _store.Commit(_candidate, comment, _user);
        _dirty = false;
        _active = _store.LoadActive();
        _candidate = _active.Clone();
        _out.WriteLine("commit complete");
        if (andQuit)
        {
            Exit();
        }
    }

    private void Rollback(List<string> words)
    {
        if (words.Count > 1)
        {
            throw new ConfigException($"syntax error at '{words[1]}': 'rollback' takes one number 0..{ConfigurationStore.MaxRollback}");
        }
        int n = words.Count == 0 ? 0 : ParseRollback(words[0]);
        ConfigNode loaded = _store.LoadRollback(n);
        _candidate = loaded;
        _dirty = true;
        if (AutoSave)
        {
            Flush();
        }
        _out.WriteLine("load complete");
    }

    private void Load(List<string> words)
    {
        if (words.Count != 2 || words[0] is not ("merge" or "override" or "set"))
        {
            throw new ConfigException("syntax error: expected 'load merge FILE', 'load override FILE' or 'load set FILE'");
        }
        if (words[1] == "terminal")
        {
            // The caller reads the terminal (see TerminalLoadMode); this class never does.
            throw new ConfigException($"error: 'load {words[0]} terminal' needs text from a terminal or standard input; give a FILE instead");
        }
        string file = words[1];
        string text;
        try
        {
            text = ReadBounded(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"error: could not read '{file}': {e.Message}", e);
        }
        LoadCore(words[0], text, file);
    }

    private static string ReadBounded(string file)
    {
        using var reader = new StreamReader(file);
        return ConfigText.ReadBounded(reader, file);
    }

    /// <summary>
    /// <c>load merge|override|set terminal</c>: loads <paramref name="text"/> (read by the caller up to its end marker)
    /// into the candidate. Returns false (after writing the error, which names <paramref name="source"/> and the line)
    /// when the text is refused; a refused text changes nothing.
    /// </summary>
    /// <param name="mode"><c>merge</c>, <c>override</c> or <c>set</c>.</param>
    /// <param name="text">Curly-brace or set-style text (<c>set</c> mode: set-style only).</param>
    /// <param name="source">What to call the text in messages (<c>terminal</c>, <c>stdin</c>, a file name).</param>
    public bool LoadText(string mode, string text, string source)
    {
        ArgumentNullException.ThrowIfNull(mode);
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(source);
        if (mode is not ("merge" or "override" or "set"))
        {
            throw new ArgumentException($"'{mode}' is not merge, override or set", nameof(mode));
        }
        try
        {
            LoadCore(mode, text, source);
            return true;
        }
        catch (ConfigException e)
        {
            _err.WriteLine(e.Message);
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _err.WriteLine($"error: {e.Message}");
            return false;
        }
    }

    private void LoadCore(string mode, string text, string source)
    {
        try
        {
            if (text.Length > ConfigText.MaxTextLength)
            {
                throw new ConfigException($"the text is longer than {ConfigText.MaxTextLength} characters");
            }
            switch (mode)
            {
                case "override":
                    _candidate = ConfigText.Parse(_store.Schema, text);
                    _dirty = true;
                    if (AutoSave)
                    {
                        Flush();
                    }
                    break;
                case "merge":
                {
                    ConfigNode incoming = ConfigText.Parse(_store.Schema, text);
                    Mutate(c => ConfigText.ApplySet(c, ConfigText.WriteSet(incoming)));
                    break;
                }
                default:
                    Mutate(c => ConfigText.ApplySet(c, text));
                    break;
            }
        }
        catch (ConfigException e)
        {
            throw new ConfigException($"error: {source}: {e.Message}", e);
        }
        _out.WriteLine("load complete");
    }

    /// <summary>
    /// The mode of a <c>load merge|override|set terminal</c> command line (Junos reads the text that follows up to an
    /// end marker), or null when <paramref name="line"/> is anything else.
    /// </summary>
    public static string? TerminalLoadMode(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        List<string> words;
        try
        {
            words = Tokenizer.Words(line);
        }
        catch (ConfigException)
        {
            return null;
        }
        return words is ["load", "merge" or "override" or "set", "terminal"] ? words[1] : null;
    }

    /// <summary>Whether <paramref name="word"/> is a configuration-mode command (<c>set</c>, <c>commit</c>, …).</summary>
    public static bool IsCommand(string word) =>
        word is "run" or "?" || Help.Any(h => h.Command == word) || word == "help";

    /// <summary>
    /// Whether <paramref name="text"/>, taken as a whole, is curly-brace configuration (what <c>show</c> prints) rather
    /// than configuration-mode commands: its first word (after comments) is not a command, and it has a <c>{</c>,
    /// <c>}</c> or <c>;</c> outside quotes. Commands never contain those, so set-style scripts stay commands, and a
    /// typo in a command's first word stays a command error.
    /// </summary>
    public static bool IsCurlyText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > ConfigText.MaxTextLength)
        {
            return false;
        }
        List<Token> tokens;
        try
        {
            tokens = Tokenizer.Tokenize(text);
        }
        catch (ConfigException)
        {
            // Unterminated quote or comment: decide by the first word of the first statement line, so that the
            // curly-brace parser reports the error with its line.
            foreach (string raw in text.Split('\n'))
            {
                string l = raw.Trim();
                if (l.Length == 0 || l.StartsWith('#') || l.StartsWith("/*", StringComparison.Ordinal))
                {
                    continue;
                }
                int end = l.IndexOfAny([' ', '\t', '{', ';']);
                string first = end < 0 ? l : l[..end];
                return !IsCommand(first) && l.IndexOfAny(['{', ';', '}']) >= 0;
            }
            return false;
        }
        if (tokens.Count == 0)
        {
            return false;
        }
        if (tokens[0].Kind != TokenKind.Word)
        {
            return true;
        }
        return !IsCommand(tokens[0].Text) && tokens.Any(t => t.Kind != TokenKind.Word);
    }

    private static int ParseRollback(string s) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n <= ConfigurationStore.MaxRollback
            ? n
            : throw new ConfigException($"syntax error: 'rollback {s}': value is outside the range 0..{ConfigurationStore.MaxRollback}");

    private static int ParseCount(string s, string verb) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 1
            ? n
            : throw new ConfigException($"syntax error: '{verb} {s}' (expected a positive number of levels)");
}
