namespace Certgate.Config;

/// <summary>
/// A configuration statement or file the engine refuses, with a Junos-style message that names the hierarchy
/// level, what was typed and what was expected, e.g.
/// <c>syntax error at [edit security pki ca-profile foo enrollment] 'retry 2000': value 2000 is outside the range 0..1080</c>.
/// Never carries a secret's value.
/// </summary>
public sealed class ConfigException : Exception
{
    public ConfigException(string message)
        : base(message)
    {
    }

    public ConfigException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>A commit (or commit check) refused by the schema's checks; the configuration was not changed.</summary>
public sealed class CommitCheckException : Exception
{
    public CommitCheckException(IReadOnlyList<Schema.CommitError> errors)
        : base(Format(errors))
    {
        Errors = errors;
    }

    public IReadOnlyList<Schema.CommitError> Errors { get; }

    /// <summary>Every error in the Junos shape, then <c>error: configuration check-out failed</c>.</summary>
    public static string Format(IReadOnlyList<Schema.CommitError> errors) =>
        string.Join(Environment.NewLine, errors.Select(e => e.ToString()).Append("error: configuration check-out failed"));
}
