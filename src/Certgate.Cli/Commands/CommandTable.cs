using System.Diagnostics.CodeAnalysis;

namespace Certgate.Cli.Commands;

/// <summary>A command module registers its command paths (e.g. <c>show security pki crl</c>) in the table.</summary>
public interface ICommandModule
{
    void Register(CommandTable table);
}

/// <summary>Commands by their fixed leading words; resolution takes the longest registered path.</summary>
public sealed class CommandTable
{
    private readonly List<Entry> _entries = [];

    /// <summary>One command: its words, its handler and a one-line synopsis for help.</summary>
    public sealed record Entry(IReadOnlyList<string> Path, Func<CommandContext, Arguments, int> Handler, string Synopsis);

    public IReadOnlyList<Entry> Entries => _entries;

    /// <summary>Registers <paramref name="path"/> (space separated words).</summary>
    public void Add(string path, string synopsis, Func<CommandContext, Arguments, int> handler)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(handler);
        string[] words = path.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (_entries.Any(e => e.Path.SequenceEqual(words)))
        {
            throw new ArgumentException($"command '{path}' is registered twice", nameof(path));
        }
        _entries.Add(new Entry(words, handler, synopsis));
    }

    /// <summary>Finds the entry whose path is the longest prefix of <paramref name="words"/>.</summary>
    public bool TryResolve(IReadOnlyList<string> words, [NotNullWhen(true)] out Entry? entry, out IReadOnlyList<string> rest)
    {
        entry = null;
        foreach (Entry candidate in _entries)
        {
            if (candidate.Path.Count <= words.Count
                && (entry is null || candidate.Path.Count > entry.Path.Count)
                && candidate.Path.Select((w, i) => w == words[i]).All(x => x))
            {
                entry = candidate;
            }
        }
        rest = entry is null ? [] : words.Skip(entry.Path.Count).ToList();
        return entry is not null;
    }

    /// <summary>The commands that share the longest run of leading words with <paramref name="words"/>.</summary>
    public string? Suggest(IReadOnlyList<string> words)
    {
        int best = 0;
        var hits = new List<string>();
        foreach (Entry e in _entries)
        {
            int common = 0;
            while (common < e.Path.Count && common < words.Count && e.Path[common] == words[common])
            {
                common++;
            }
            if (common > best)
            {
                best = common;
                hits.Clear();
            }
            if (common == best && common > 0)
            {
                hits.Add(string.Join(' ', e.Path));
            }
        }
        return hits.Count == 0 ? null : string.Join(" | ", hits.Take(6));
    }
}
