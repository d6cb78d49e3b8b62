namespace Certgate.Cli.Commands;

/// <summary>What every command handler gets: where state lives, the streams, and the output mode.</summary>
public sealed class CommandContext
{
    private CommandContext(string stateDirectory, string workingDirectory, bool json, bool assumeYes, TextReader input, TextWriter output, TextWriter error)
    {
        StateDirectory = stateDirectory;
        WorkingDirectory = workingDirectory;
        Json = json;
        AssumeYes = assumeYes;
        In = input;
        Out = output;
        Error = error;
    }

    /// <summary>The gateway state directory: <c>--state DIR</c>, else <c>$CERTGATE_STATE</c>, else <c>./state</c>.</summary>
    public string StateDirectory { get; }

    /// <summary>
    /// The directory relative file names resolve against: the working directory of the <c>certgate</c> process that
    /// the operator ran, which is not the daemon's when the command was forwarded to it.
    /// </summary>
    public string WorkingDirectory { get; }

    /// <summary>An operator's file name as an absolute path (relative names resolve against <see cref="WorkingDirectory"/>).</summary>
    public string ResolvePath(string path) => Path.GetFullPath(path, WorkingDirectory);

    /// <summary>True with <c>--json</c> or <c>| display json</c>.</summary>
    public bool Json { get; }

    /// <summary>True with <c>--yes</c>: confirmation prompts are answered yes (for scripts).</summary>
    public bool AssumeYes { get; }

    public TextReader In { get; }

    public TextWriter Out { get; }

    public TextWriter Error { get; }

    /// <summary>Asks a Junos-style <c>[yes,no] (no)</c> question. Anything but yes/y is no.</summary>
    public bool Confirm(string question)
    {
        Out.Write($"{question} [yes,no] (no) ");
        if (AssumeYes)
        {
            Out.WriteLine("yes");
            return true;
        }
        string? answer = In.ReadLine()?.Trim();
        if (answer is null)
        {
            Out.WriteLine();
        }
        return answer is not null && (answer.Equals("yes", StringComparison.OrdinalIgnoreCase) || answer.Equals("y", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Splits global options (<c>--state DIR</c>, <c>--state=DIR</c>, <c>--json</c>, <c>--yes</c>) from command words.
    /// They may come before or after the command words (<c>certgate show security pki local-certificate --state DIR</c>),
    /// with two exceptions so that values that look like options still reach the command: the word after a command's
    /// own dash option (<c>-f --json</c>, <c>--reason --yes</c>; every dash option of a command takes a value) is that
    /// option's value, and after <c>--</c> every word is a command word. <c>--state</c> given twice with different
    /// directories is a usage error. A command forwarded by the control socket passes <paramref name="forwarded"/>:
    /// the state directory and working directory the client resolved, which win over the daemon's own.
    /// </summary>
    internal static (CommandContext Context, List<string> Words) Parse(IReadOnlyList<string> args, TextReader input, TextWriter output, TextWriter error,
        Certgate.Gateway.Control.ControlRequest? forwarded = null)
    {
        string? state = null;
        bool json = false;
        bool yes = false;
        var words = new List<string>();
        var values = new HashSet<int>();
        bool endOfOptions = false;
        bool valueFollows = false;
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (valueFollows)
            {
                // The value of the command's dash option just before, whatever it looks like.
                values.Add(words.Count);
                words.Add(a);
                valueFollows = false;
            }
            else if (endOfOptions)
            {
                words.Add(a);
            }
            else if (a == "--")
            {
                endOfOptions = true;
            }
            else if (a == "--state")
            {
                if (i + 1 >= args.Count)
                {
                    throw new UserException("--state needs a directory", 2);
                }
                state = SetOnce(state, args[++i]);
            }
            else if (a.StartsWith("--state=", StringComparison.Ordinal))
            {
                state = SetOnce(state, a["--state=".Length..]);
            }
            else if (a == "--json")
            {
                json = true;
            }
            else if (a == "--yes")
            {
                yes = true;
            }
            else
            {
                valueFollows = a.Length > 1 && a[0] == '-';
                words.Add(a);
            }
        }

        // "| display json" as three words, or "|display json", or one quoted argument.
        // A dash option's value that starts with '|' is a value, not a pipe.
        int pipe = -1;
        for (int k = 0; k < words.Count && pipe < 0; k++)
        {
            if (words[k].StartsWith('|') && !values.Contains(k))
            {
                pipe = k;
            }
        }
        if (pipe >= 0)
        {
            string tail = string.Join(' ', words.Skip(pipe)).TrimStart('|').Trim();
            if (tail is "display json")
            {
                json = true;
            }
            else if (tail is not ("display text" or ""))
            {
                throw new UserException($"unsupported pipe: '| {tail}' (expected '| display json')", 2);
            }
            words.RemoveRange(pipe, words.Count - pipe);
        }

        if (forwarded is not null)
        {
            // The client resolved --state, $CERTGATE_STATE or ./state in ITS directory and environment.
            return (new CommandContext(forwarded.StateDirectory, forwarded.WorkingDirectory, json, yes, input, output, error), words);
        }
        state ??= Environment.GetEnvironmentVariable("CERTGATE_STATE");
        if (string.IsNullOrEmpty(state))
        {
            state = "state";
        }
        return (new CommandContext(Path.GetFullPath(state), Environment.CurrentDirectory, json, yes, input, output, error), words);
    }

    private static string SetOnce(string? current, string value)
    {
        if (value.Length == 0)
        {
            throw new UserException("--state needs a directory", 2);
        }
        if (current is not null && current != value)
        {
            throw new UserException($"--state is given twice with different directories ('{current}' and '{value}')", 2);
        }
        return value;
    }
}
