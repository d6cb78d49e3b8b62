namespace Certgate.Cli.Commands;

/// <summary>
/// The words after a command's path, read the Junos way: <c>keyword value</c> pairs and bare flags
/// (<c>certificate-id gw1 size 2048 detail</c>). Every word must be consumed, so a typo is an error.
/// </summary>
public sealed class Arguments
{
    private readonly List<string> _words;
    private readonly bool[] _used;

    public Arguments(IReadOnlyList<string> path, IReadOnlyList<string> words)
    {
        Command = string.Join(' ', path);
        _words = [.. words];
        _used = new bool[_words.Count];
    }

    /// <summary>The command path, for messages.</summary>
    public string Command { get; }

    /// <summary>The value after <paramref name="keyword"/>, or null when the keyword is absent.</summary>
    public string? Optional(string keyword)
    {
        for (int i = 0; i < _words.Count; i++)
        {
            if (!_used[i] && _words[i] == keyword)
            {
                if (i + 1 >= _words.Count)
                {
                    throw new UserException($"{Command}: '{keyword}' needs a value", 2);
                }
                _used[i] = _used[i + 1] = true;
                return _words[i + 1];
            }
        }
        return null;
    }

    /// <summary>Every value given after <paramref name="keyword"/> (it may repeat).</summary>
    public IReadOnlyList<string> All(string keyword)
    {
        var values = new List<string>();
        while (Optional(keyword) is { } v)
        {
            values.Add(v);
        }
        return values;
    }

    /// <summary>
    /// Every occurrence of <paramref name="keyword"/> with the words after it, Junos style (<c>remote-id fqdn gw2.example</c>,
    /// <c>remote-id distinguished-name wildcard "O=Example"</c>): the first word is a kind, and
    /// <paramref name="valuesAfterKind"/> says how many values follow it (it throws for an unknown kind).
    /// </summary>
    public IReadOnlyList<string[]> AllPhrases(string keyword, Func<string, int> valuesAfterKind)
    {
        ArgumentNullException.ThrowIfNull(valuesAfterKind);
        var phrases = new List<string[]>();
        for (int i = 0; i < _words.Count; i++)
        {
            if (_used[i] || _words[i] != keyword)
            {
                continue;
            }
            if (i + 1 >= _words.Count)
            {
                throw new UserException($"{Command}: '{keyword}' needs a value", 2);
            }
            int n = 1 + valuesAfterKind(_words[i + 1]);
            if (i + n >= _words.Count)
            {
                throw new UserException($"{Command}: '{keyword} {_words[i + 1]}' needs {n - 1} more value{(n == 2 ? "" : "s")}", 2);
            }
            for (int k = i; k <= i + n; k++)
            {
                _used[k] = true;
            }
            phrases.Add(_words.GetRange(i + 1, n).ToArray());
            i += n;
        }
        return phrases;
    }

    /// <summary>The value after <paramref name="keyword"/>; a usage error naming it when absent.</summary>
    public string Required(string keyword) =>
        Optional(keyword) ?? throw new UserException($"{Command}: missing '{keyword} <value>'", 2);

    /// <summary>Whether the bare word <paramref name="flag"/> is present.</summary>
    public bool Flag(string flag)
    {
        for (int i = 0; i < _words.Count; i++)
        {
            if (!_used[i] && _words[i] == flag)
            {
                _used[i] = true;
                return true;
            }
        }
        return false;
    }

    /// <summary>One of <paramref name="choices"/> given as a bare word, or <paramref name="fallback"/>.</summary>
    public string Choice(string fallback, params string[] choices)
    {
        string? found = null;
        foreach (string c in choices)
        {
            if (Flag(c))
            {
                if (found is not null)
                {
                    throw new UserException($"{Command}: '{found}' and '{c}' cannot be combined", 2);
                }
                found = c;
            }
        }
        return found ?? fallback;
    }

    /// <summary>The words nobody consumed yet, marked used (positional operands such as a peer address).</summary>
    public IReadOnlyList<string> TakeRest()
    {
        var rest = new List<string>();
        for (int i = 0; i < _words.Count; i++)
        {
            if (!_used[i])
            {
                _used[i] = true;
                rest.Add(_words[i]);
            }
        }
        return rest;
    }

    /// <summary>Fails on any word nobody consumed.</summary>
    public void EnsureAllUsed()
    {
        for (int i = 0; i < _words.Count; i++)
        {
            if (!_used[i])
            {
                throw new UserException($"{Command}: unexpected '{_words[i]}'", 2);
            }
        }
    }
}
