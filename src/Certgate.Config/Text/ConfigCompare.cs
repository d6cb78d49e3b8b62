using System.Text;
using Certgate.Config.Schema;
using Certgate.Config.Tree;

namespace Certgate.Config.Text;

/// <summary>
/// <c>show | compare</c>: the differences between two trees in the Junos shape — a <c>[edit a b]</c> header for each
/// level that changed, then the removed statements with <c>-</c> and the added ones with <c>+</c>.
/// </summary>
public static class ConfigCompare
{
    /// <summary>The difference from <paramref name="from"/> (e.g. active) to <paramref name="to"/> (e.g. candidate);
    /// empty when they are equal.</summary>
    public static string Compare(ConfigNode from, ConfigNode to)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        var state = new DiffState();
        Diff(from, to, state);
        return state.Output.ToString();
    }

    private sealed class DiffState
    {
        public StringBuilder Output { get; } = new();

        public string? LastHeader { get; set; }
    }

    private static void Diff(ConfigNode a, ConfigNode b, DiffState state)
    {
        string header = ConfigEditor.At(b.Path);
        foreach (ConfigNode old in a.Children)
        {
            if (Match(b, old) is null)
            {
                Emit(state, header, '-', old);
            }
        }
        foreach (ConfigNode now in b.Children)
        {
            ConfigNode? old = Match(a, now);
            if (old is null)
            {
                Emit(state, header, '+', now);
            }
            else if (now.Statement.Kind is StatementKind.Leaf or StatementKind.LeafList)
            {
                if (old.Value != now.Value || !old.Values.SequenceEqual(now.Values))
                {
                    Emit(state, header, '-', old);
                    Emit(state, header, '+', now);
                }
            }
            else if (now.Statement.Kind is StatementKind.Container or StatementKind.List && !old.StructurallyEquals(now))
            {
                Diff(old, now, state);
            }
        }
    }

    private static ConfigNode? Match(ConfigNode parent, ConfigNode like) =>
        like.Key is null ? parent.Child(like.Name) : parent.Entry(like.Name, like.Key);

    private static void Emit(DiffState state, string header, char sign, ConfigNode node)
    {
        if (state.LastHeader != header)
        {
            state.Output.Append(header).Append('\n');
            state.LastHeader = header;
        }
        foreach (string line in ConfigText.WriteStatement(node).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            state.Output.Append(sign).Append("  ").Append(line).Append('\n');
        }
    }
}
