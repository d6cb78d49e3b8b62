using Certgate.Cli.Commands;

namespace Certgate.Cli;

/// <summary>
/// The composition root of the <c>certgate</c> executable. Global options (<c>--state DIR</c>, <c>--json</c>,
/// <c>--yes</c>) go before or after the command words (see <see cref="CommandContext"/>); the words choose a command from the
/// <see cref="CommandTable"/> by longest match (<c>request security pki generate-key-pair …</c>).
/// A trailing <c>| display json</c> (one argument or three) is the same as <c>--json</c>.
/// </summary>
public static class CertgateCli
{
    /// <summary>Every command module of the executable. A new subsystem adds one line here.</summary>
    private static readonly ICommandModule[] Modules =
    [
        new HelpCommands(),
        new Demo.DemoCommand(),
        new Configuration.ConfigurationCommands(),
        new Pki.PkiRequestCommands(),
        new Pki.PkiShowCommands(),
        new Pki.PkiEnrollCommands(),
        new Gateway.GatewayCommands(),
        new Diagnostics.EspTunnelCommand(),
        new Diagnostics.IkeTunnelCommand(),
        new Ca.CaCommands(),
        new Services.IpsecVpnMonitorCommands(),
    ];

    /// <summary>The request a command runs for inside the daemon (so it is not forwarded again), or null.</summary>
    private static readonly AsyncLocal<Certgate.Gateway.Control.ControlRequest?> InDaemon = new();

    /// <summary>The daemon a command runs in (for the commands that read its running state, such as SAs).</summary>
    private static readonly AsyncLocal<Certgate.Gateway.GatewayDaemon?> RunningDaemon = new();

    /// <summary>The daemon this command runs inside, or null outside a daemon.</summary>
    internal static Certgate.Gateway.GatewayDaemon? Daemon => RunningDaemon.Value;

    /// <summary>The daemon's handler for commands from the control socket: run here inside <paramref name="daemon"/>, never forward.</summary>
    /// <remarks>
    /// The command runs on the state directory the client resolved and reads and writes files relative to the
    /// client's working directory (<see cref="Certgate.Gateway.Control.ControlRequest"/>), never the daemon's.
    /// </remarks>
    internal static int RunInDaemon(Certgate.Gateway.GatewayDaemon? daemon, Certgate.Gateway.Control.ControlRequest request, TextReader stdin, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(request);
        InDaemon.Value = request;
        RunningDaemon.Value = daemon;
        return Run(request.Args, stdin, stdout, stderr);
    }

    /// <summary>The gateway's operational commands run inside its daemon when one is up on the state directory.</summary>
    private static bool Forwarded(CommandTable.Entry entry) =>
        entry.Path[0] is "request" or "show" or "clear" && !(entry.Path.Count > 1 && entry.Path[1] == "configuration");

    /// <summary>Runs one invocation and returns the process exit code (0 ok, 1 failure, 2 usage error).</summary>
    public static int Run(IReadOnlyList<string> args, TextReader stdin, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        var table = new CommandTable();
        foreach (ICommandModule module in Modules)
        {
            module.Register(table);
        }

        CommandContext context;
        List<string> words;
        try
        {
            (context, words) = CommandContext.Parse(args, stdin, stdout, stderr, InDaemon.Value);
        }
        catch (UserException e)
        {
            stderr.WriteLine("error: " + e.Message);
            return 2;
        }

        if (words.Count == 0)
        {
            HelpCommands.WriteUsage(table, stdout);
            return 0;
        }

        if (!table.TryResolve(words, out CommandTable.Entry? entry, out IReadOnlyList<string> rest))
        {
            stderr.WriteLine($"error: unknown command: {string.Join(' ', words)}");
            string? hint = table.Suggest(words);
            if (hint is not null)
            {
                stderr.WriteLine($"  did you mean: {hint}");
            }
            return 2;
        }

        if (InDaemon.Value is null && Forwarded(entry)
            && Certgate.Gateway.Control.ControlClient.TryRun(context.StateDirectory, args, stdin, stdout, stderr) is int forwarded)
        {
            return forwarded;
        }

        try
        {
            return entry.Handler(context, new Arguments(entry.Path, rest));
        }
        catch (UserException e)
        {
            stderr.WriteLine("error: " + e.Message);
            return e.ExitCode;
        }
    }
}
