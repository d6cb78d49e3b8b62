namespace Certgate.Cli;

/// <summary>
/// A failure to report to the operator as one line, in the operator's terms (which command, which field or
/// file, what was expected). Never carries key material or passwords.
/// </summary>
public sealed class UserException : Exception
{
    public UserException(string message, int exitCode = 1)
        : base(message)
    {
        ExitCode = exitCode;
    }

    public UserException(string message, Exception inner, int exitCode = 1)
        : base(message, inner)
    {
        ExitCode = exitCode;
    }

    /// <summary>The process exit code: 1 for a failed operation, 2 for a usage error.</summary>
    public int ExitCode { get; }
}
