using System.Reflection;
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
        TextReader input = ctx.In;
        if (file is not null)
        {
            try
            {
                input = new StringReader(File.ReadAllText(file));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UserException($"configure: cannot read '{file}': {e.Message}");
            }
        }
        ConfigurationSession session = Open(store, ctx.Out, interactive ? ctx.Out : ctx.Error);
        return interactive ? RunInteractive(session, store, ctx) : RunScript(session, input, file ?? "stdin", ctx);
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
            session.Execute(line);
        }
        return 0;
    }

    /// <summary>One command a line; blank lines and <c>#</c> comments are skipped. Every line runs; the exit code is 1
    /// when any failed.</summary>
    private static int RunScript(ConfigurationSession session, TextReader input, string source, CommandContext ctx)
    {
        session.AutoSave = false;
        int failures = 0;
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
            if (!session.Execute(trimmed))
            {
                failures++;
                ctx.Error.WriteLine($"  ({source} line {number}: {trimmed})");
            }
        }
        session.Flush();
        if (!session.Exited && session.Changed)
        {
            ctx.Out.WriteLine("The configuration has been changed but not committed");
        }
        return failures > 0 ? 1 : 0;
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
            throw new UserException("configure load: expected 'merge FILE', 'override FILE' or 'set FILE'", 2);
        }
        var store = new ConfigurationStore(ctx.StateDirectory);
        if (store.HasCandidate)
        {
            throw new UserException("configure load: the configuration has uncommitted changes; commit or 'rollback 0' them in 'certgate configure' first");
        }
        ConfigurationSession session = Open(store, ctx.Out, ctx.Error);
        bool ok = session.Execute($"load {mode} \"{file.Replace("\"", "\\\"", StringComparison.Ordinal)}\"")
            && session.Execute($"commit comment \"load {mode} {Path.GetFileName(file).Replace("\"", "", StringComparison.Ordinal)}\"");
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
