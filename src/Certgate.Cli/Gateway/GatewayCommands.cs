using System.Runtime.InteropServices;
using Certgate.Cli.Commands;
using Certgate.Gateway;
using Certgate.Gateway.Control;

namespace Certgate.Cli.Gateway;

/// <summary>
/// <c>certgate gateway run</c> (the daemon, in the foreground: systemd runs it as a simple service; see
/// docs/certgate-gateway.service) and <c>certgate gateway status</c>.
/// </summary>
internal sealed class GatewayCommands : ICommandModule
{
    public void Register(CommandTable table)
    {
        table.Add("gateway run", "run the gateway daemon on the state directory until SIGTERM/SIGINT", Run);
        table.Add("gateway status", "say whether a gateway daemon runs on the state directory", Status);
    }

    private static int Run(CommandContext ctx, Arguments args)
    {
        args.EnsureAllUsed();
        using var stop = new CancellationTokenSource();
        void OnSignal(PosixSignalContext signal)
        {
            signal.Cancel = true;
            stop.Cancel();
        }
        using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        GatewayDaemon daemon;
        // Commands arrive only once Start returned and the variable is set; show/clear of SAs read the daemon.
        GatewayDaemon? running = null;
        try
        {
            daemon = GatewayDaemon.Start(ctx.StateDirectory, (r, i, o, e) =>
            {
                int code = CertgateCli.RunInDaemon(running, r, i, o, e);
                lock (ctx.Out)
                {
                    ctx.Out.WriteLine($"{DateTimeOffset.UtcNow:yyyy-MM-dd'T'HH:mm:ss'Z'} command (exit {code}): {Redacted(r.Args)}");
                    ctx.Out.Flush();
                }
                return code;
            }, ctx.Out);
        }
        catch (IOException e)
        {
            throw new UserException($"gateway run: {e.Message}");
        }
        running = daemon;
        try
        {
            daemon.RunAsync(stop.Token).GetAwaiter().GetResult();
        }
        finally
        {
            daemon.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        ctx.Out.WriteLine("gateway stopped");
        return 0;
    }

    /// <summary>The command line for the log, with every secret value replaced by <c>****</c>.</summary>
    internal static string Redacted(IReadOnlyList<string> args)
    {
        var words = new List<string>(args.Count);
        for (int i = 0; i < args.Count; i++)
        {
            words.Add(i > 0 && args[i - 1] is "passphrase" or "challenge-password" or "password" or "ca-secret" ? "****" : args[i]);
        }
        return string.Join(' ', words);
    }

    private static int Status(CommandContext ctx, Arguments args)
    {
        args.EnsureAllUsed();
        bool up = ControlClient.IsListening(ctx.StateDirectory);
        ctx.Out.WriteLine(up
            ? $"gateway running on {Path.GetFullPath(ctx.StateDirectory)} (control socket {ControlProtocol.SocketPath(ctx.StateDirectory)})"
            : $"no gateway running on {Path.GetFullPath(ctx.StateDirectory)}; commands work on the directory directly");
        return up ? 0 : 3;
    }
}
