using Certgate.Config.Tree;

namespace Certgate.Config.Schema;

/// <summary>One commit-check failure: the configuration path it concerns and the message.</summary>
public sealed record CommitError(IReadOnlyList<string> Path, string Message)
{
    /// <summary>The Junos form: <c>[edit a b c]</c>, then the message quoted on the next line.</summary>
    public override string ToString() => $"[edit {string.Join(' ', Path)}]{Environment.NewLine}  '{Message}'";
}

/// <summary>A check over the whole candidate tree, run by <c>commit</c> and <c>commit check</c>.</summary>
public delegate IEnumerable<CommitError> CommitCheck(ConfigNode root);

/// <summary>A schema: the statement tree plus the commit checks of every subsystem that declared statements.</summary>
public sealed class ConfigSchema
{
    private readonly List<CommitCheck> _checks = [];

    public ConfigSchema()
    {
        Root = Statement.CreateRoot();
    }

    public Statement Root { get; }

    public IReadOnlyList<CommitCheck> Checks => _checks;

    /// <summary>Adds a commit check. Returns this schema.</summary>
    public ConfigSchema AddCheck(CommitCheck check)
    {
        ArgumentNullException.ThrowIfNull(check);
        _checks.Add(check);
        return this;
    }

    /// <summary>Runs every check plus the generic ones (list and leaf-list sizes) and returns all failures.</summary>
    public IReadOnlyList<CommitError> Check(ConfigNode root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var errors = new List<CommitError>();
        CheckSizes(root, errors);
        foreach (CommitCheck c in _checks)
        {
            errors.AddRange(c(root));
        }
        return errors;
    }

    private static void CheckSizes(ConfigNode node, List<CommitError> errors)
    {
        foreach (IGrouping<Statement, ConfigNode> g in node.Children.GroupBy(c => c.Statement))
        {
            int max = g.Key.MaxElements;
            if (max > 0 && g.Key.Kind == StatementKind.List && g.Count() > max)
            {
                errors.Add(new CommitError([.. node.Path, g.Key.Name], $"At most {max} '{g.Key.Name}' entries may be configured"));
            }
            foreach (ConfigNode c in g)
            {
                if (max > 0 && c.Statement.Kind == StatementKind.LeafList && c.Values.Count > max)
                {
                    errors.Add(new CommitError(c.Path, $"At most {max} values may be configured"));
                }
                CheckSizes(c, errors);
            }
        }
    }
}
