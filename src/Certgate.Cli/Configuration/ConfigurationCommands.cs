using System.Reflection;
using System.Text;
using Certgate.Cli.Commands;
using Certgate.Config;
using Certgate.Config.Schema;
using Certgate.Config.Session;
using Certgate.Config.Storage;
using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Cli.Configuration;

/// <summary>
/// <c>certgate configure</c> (Junos configuration mode: from a terminal, from stdin, or <c>-f FILE</c>),
/// <c>certgate configure load merge|override|set FILE</c> (load and commit in one step), and the operational
/// <c>certgate show configuration [PATH] [display set]</c> (the active configuration).
/// </summary>
internal sealed class ConfigurationCommands : ICommandModule
{
    public void Register(CommandTable table)
    {
        table.Add("configure", "enter configuration mode (commands from the terminal, stdin, or -f FILE)", Configure);
        table.Add("configure load", "load merge|override|set FILE into the configuration and commit it", ConfigureLoad);
        table.Add("show configuration", "show the active configuration [PATH] [display set]", ShowConfiguration);
    }

    private static int Configure(CommandContext ctx, Arguments args)
    {
        string? file = args.Optional("-f");
        args.EnsureAllUsed();
        var store = new ConfigurationStore(ctx.StateDirectory);
        bool interactive = file is null && ReferenceEquals(ctx.In, Console.In) && !Console.IsInputRedirected;
        if (interactive)
        {
            return RunInteractive(Open(store, ctx.Out, ctx.Out), store, ctx);
        }
        string text;
        try
        {
            if (file is null)
            {
                text = ConfigText.ReadBounded(ctx.In, "stdin");
            }
            else
            {
                using var reader = new StreamReader(file);
                text = ConfigText.ReadBounded(reader, file);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserException($"configure: cannot read '{file}': {e.Message}");
        }
        catch (ConfigException e)
        {
            throw new UserException($"configure: {e.Message}");
        }
        return RunScript(Open(store, ctx.Out, ctx.Error), text, file ?? "stdin", ctx);
    }

    private static ConfigurationSession Open(ConfigurationStore store, TextWriter output, TextWriter error)
    {
        try
        {
            return new ConfigurationSession(store, output, error, Environment.UserName);
        }
        catch (ConfigException e)
        {
            throw new UserException(e.Message);
        }
    }

    /// <summary>What Junos prints after <c>load … terminal</c>.</summary>
    private const string TerminalPrompt = "[Type ^D at a new line to end input]";

    private static int RunInteractive(ConfigurationSession session, ConfigurationStore store, CommandContext ctx)
    {
        ctx.Out.WriteLine("Entering configuration mode");
        if (store.HasCandidate)
        {
            ctx.Out.WriteLine("The configuration has been changed but not committed");
        }
        while (!session.Exited)
        {
            ctx.Out.WriteLine();
            ctx.Out.WriteLine(session.Banner);
            ctx.Out.Write(session.Prompt);
            ctx.Out.Flush();
            string? line = ctx.In.ReadLine();
            if (line is null)
            {
                ctx.Out.WriteLine();
                session.Execute("exit configuration-mode");
                break;
            }
            // Interactive errors are shown inline, as Junos does; they do not change the exit code.
            if (ConfigurationSession.TerminalLoadMode(line) is { } mode)
            {
                ctx.Out.WriteLine(TerminalPrompt);
                ctx.Out.Flush();
                string? text = ReadUntilEndMarker(ctx.In, out _);
                if (text is null)
                {
                    ctx.Out.WriteLine(TooLong("terminal"));
                }
                else
                {
                    session.LoadText(mode, text, "terminal");
                }
                continue;
            }
            session.Execute(line);
        }
        return 0;
    }

    /// <summary>
    /// The text after <c>load … terminal</c>, up to the end marker: a line that is only <c>^D</c> (the two characters,
    /// which is how a script spells it), a Ctrl-D character (what a terminal in raw mode passes on; text before it on
    /// its line is kept), or the end of the input (Ctrl-D at a new line on a terminal). Null when the text is longer
    /// than <see cref="ConfigText.MaxTextLength"/>: the rest up to the marker is still read (and dropped), so that it is
    /// not taken for commands. <paramref name="lines"/> counts the lines consumed, the marker line included.
    /// </summary>
    private static string? ReadUntilEndMarker(TextReader input, out int lines)
    {
        var sb = new StringBuilder();
        bool tooLong = false;
        lines = 0;
        string? line;
        while ((line = input.ReadLine()) is not null)
        {
            lines++;
            if (line.Trim() == "^D")
            {
                break;
            }
            int eot = line.IndexOf('\u0004', StringComparison.Ordinal);
            string part = eot >= 0 ? line[..eot] : line;
            tooLong |= sb.Length + part.Length + 1 > ConfigText.MaxTextLength;
            if (!tooLong)
            {
                sb.Append(part).Append('\n');
            }
            if (eot >= 0)
            {
                break;
            }
        }
        return tooLong ? null : sb.ToString();
    }

    private static string TooLong(string source) => $"error: {source}: the text is longer than {ConfigText.MaxTextLength} characters";

    /// <summary>
    /// A script (stdin or <c>-f FILE</c>). Curly-brace text, recognised as a whole (<see cref="ConfigurationSession.IsCurlyText"/>),
    /// is merged into the candidate like <c>load merge terminal</c>. Otherwise one command a line (blank lines and
    /// <c>#</c> comments skipped; <c>load merge|override|set terminal</c> takes the lines up to its end marker). The script
    /// stops at the first error: its line is named, nothing after it runs (so a later <c>commit</c> commits nothing),
    /// the changes the script made since its last <c>commit</c> are not saved, and the exit code is 1.
    /// </summary>
    private static int RunScript(ConfigurationSession session, string text, string source, CommandContext ctx)
    {
        session.AutoSave = false;
        if (ConfigurationSession.IsCurlyText(text))
        {
            if (!session.LoadText("merge", text, source))
            {
                ctx.Error.WriteLine($"configure: {source} was refused as curly-brace configuration text; nothing changed");
                return 1;
            }
            return Finish(session, ctx);
        }
        var input = new StringReader(text);
        int number = 0;
        string? line;
        while (!session.Exited && (line = input.ReadLine()) is not null)
        {
            number++;
            string trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed.StartsWith('#'))
            {
                continue;
            }
            bool ok;
            int at = number;
            if (ConfigurationSession.TerminalLoadMode(trimmed) is { } mode)
            {
                string? body = ReadUntilEndMarker(input, out int lines);
                number += lines;
                // Blank lines in front, so that the loader's "line N" is the line of the script.
                if (body is null)
                {
                    ctx.Error.WriteLine(TooLong(source));
                }
                ok = body is not null && session.LoadText(mode, new string('\n', at) + body, source);
            }
            else
            {
                ok = session.Execute(trimmed);
            }
            if (!ok)
            {
                ctx.Error.WriteLine($"  ({source} line {at}: {trimmed})");
                ctx.Error.WriteLine($"configure: stopped at {source} line {at}: the lines after it did not run, and the changes since the last commit were not saved");
                return 1;
            }
        }
        return Finish(session, ctx);
    }

    private static int Finish(ConfigurationSession session, CommandContext ctx)
    {
        session.Flush();
        if (!session.Exited && session.Changed)
        {
            ctx.Out.WriteLine("The configuration has been changed but not committed");
        }
        return 0;
    }

    private static int ConfigureLoad(CommandContext ctx, Arguments args)
    {
        string mode = args.Choice("", "merge", "override", "set");
        string? file = null;
        if (mode.Length > 0)
        {
            file = Rest(args).FirstOrDefault();
        }
        if (mode.Length == 0 || file is null)
        {
            throw new UserException("configure load: expected 'merge FILE', 'override FILE' or 'set FILE' (FILE 'terminal': standard input)", 2);
        }
        var store = new ConfigurationStore(ctx.StateDirectory);
        if (store.HasCandidate)
        {
            throw new UserException("configure load: the configuration has uncommitted changes; commit or 'rollback 0' them in 'certgate configure' first");
        }
        ConfigurationSession session = Open(store, ctx.Out, ctx.Error);
        bool ok;
        if (file == "terminal")
        {
            bool tty = ReferenceEquals(ctx.In, Console.In) && !Console.IsInputRedirected;
            if (tty)
            {
                ctx.Out.WriteLine(TerminalPrompt);
                ctx.Out.Flush();
            }
            string? text = ReadUntilEndMarker(ctx.In, out _)
                ?? throw new UserException($"configure load: the terminal text is longer than {ConfigText.MaxTextLength} characters");
            ok = session.LoadText(mode, text, "terminal");
        }
        else
        {
            ok = session.Execute($"load {mode} \"{file.Replace("\"", "\\\"", StringComparison.Ordinal)}\"");
        }
        ok = ok && session.Execute($"commit comment \"load {mode} {Path.GetFileName(file).Replace("\"", "", StringComparison.Ordinal)}\"");
        if (!ok)
        {
            // A failed load or commit changes nothing: drop what the load put into the candidate.
            store.DiscardCandidate();
            return 1;
        }
        return 0;
    }

    private static int ShowConfiguration(CommandContext ctx, Arguments args)
    {
        List<string> words = Rest(args);
        bool displaySet = false;
        if (words.Count >= 2 && words[^2] == "display" && words[^1] == "set")
        {
            displaySet = true;
            words.RemoveRange(words.Count - 2, 2);
        }
        var store = new ConfigurationStore(ctx.StateDirectory);
        ConfigNode active;
        try
        {
            active = store.LoadActive();
            IReadOnlyList<string> path = ConfigEditor.Canonicalize(active.Statement, [], words, out Statement last);
            ConfigNode? node = active.Find([.. path]);
            if (node is null)
            {
                return 0;
            }
            if (ctx.Json)
            {
                ctx.Out.WriteLine(ConfigJson.Write(node));
            }
            else if (displaySet)
            {
                ctx.Out.Write(ConfigText.WriteSet(node));
            }
            else if (node.IsRoot || node.Statement.Kind is StatementKind.Container || node.Key is not null)
            {
                ctx.Out.Write(ConfigText.WriteCurly(node));
            }
            else
            {
                ctx.Out.Write(ConfigText.WriteStatement(node));
            }
            return 0;
        }
        catch (ConfigException e)
        {
            throw new UserException(e.Message);
        }
    }

    /// <summary>
    /// The unconsumed words of <paramref name="args"/>, in order, marked used. Why reflection: <see cref="Arguments"/>
    /// (owned by the CLI skeleton) reads keyword/value pairs only, and a configuration path is positional. Fails loudly if
    /// the field moves; the skeleton should grow a public <c>Rest()</c>.
    /// </summary>
    private static List<string> Rest(Arguments args)
    {
        FieldInfo words = typeof(Arguments).GetField("_words", BindingFlags.NonPublic | BindingFlags.Instance)
            ?? throw new InvalidOperationException("Arguments no longer has '_words'; add a public Rest() to Arguments");
        FieldInfo used = typeof(Arguments).GetField("_used", BindingFlags.NonPublic | BindingFlags.Instance)
            ?? throw new InvalidOperationException("Arguments no longer has '_used'; add a public Rest() to Arguments");
        var all = (List<string>)words.GetValue(args)!;
        var flags = (bool[])used.GetValue(args)!;
        var rest = new List<string>();
        for (int i = 0; i < all.Count; i++)
        {
            if (!flags[i])
            {
                rest.Add(all[i]);
                flags[i] = true;
            }
        }
        return rest;
    }
}
