using System.Runtime.InteropServices;
using Certgate.Ca.Http;
using Certgate.Ca.Storage;
using Certgate.Cli.Commands;

namespace Certgate.Cli.Ca;

/// <summary>
/// <c>certgate ca serve --dir DIR [--listen URL] [--db SPEC]</c>: runs the CA's HTTP server (SCEP, CRLs, CA certificate)
/// until SIGINT or SIGTERM — or, when the standard input is a pipe (a supervisor or test feeding it), until that pipe
/// closes. A terminal, <c>/dev/null</c> (systemd, nohup) or a regular file as stdin is not watched, so a daemon does
/// not stop at once. Meanwhile it issues a new CRL whenever the settings' schedule says one is due.
/// </summary>
internal static class CaServe
{
    public static int Serve(CommandContext ctx, Arguments args)
    {
        CaDir dir = CaCommands.Dir(args);
        string? db = args.Optional("--db");
        string listenText = args.Optional("--listen") ?? "http://127.0.0.1:8080";
        args.EnsureAllUsed();
        Uri listen = ParseListen(args, listenText);
        return CaSession.Run(args, dir, db, s => RunAsync(ctx, args, s, listen));
    }

    internal static Uri ParseListen(Arguments args, string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) || uri.Scheme != Uri.UriSchemeHttp
            || (uri.AbsolutePath != "/" && uri.AbsolutePath.Length > 0) || uri.Query.Length > 0 || uri.Host.Length == 0)
        {
            throw new UserException($"{args.Command}: --listen '{text}': expected http://ADDRESS:PORT (e.g. http://0.0.0.0:8080; port 0 picks a free one)", 2);
        }
        return uri;
    }

    private static async Task<int> RunAsync(CommandContext ctx, Arguments args, CaSession s, Uri listen)
    {
        TextWriter log = TextWriter.Synchronized(ctx.Error);
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSignal(PosixSignalContext c)
        {
            c.Cancel = true; // we shut down ourselves, cleanly
            log.WriteLine($"{c.Signal}: stopping");
            stop.TrySetResult();
        }
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        if (ShouldWatchInput(ctx.In))
        {
            TextReader input = ctx.In;
            _ = Task.Run(() =>
            {
                try
                {
                    while (input.ReadLine() is not null)
                    {
                    }
                }
                catch (Exception e) when (e is IOException or ObjectDisposedException)
                {
                    // A broken pipe is a closed pipe.
                }
                stop.TrySetResult();
            });
        }

        // A CRL before the first client asks, so a fresh CA serves one at once (and a broken key fails here, not later).
        try
        {
            await s.Ca.GetCurrentCrlAsync("serve").ConfigureAwait(false);
        }
        catch (Exception e) when (e is not UserException)
        {
            throw new UserException($"{args.Command}: cannot issue the CRL: {e.Message}", e);
        }

        // LDAP publishing (settings "ldap"): at start and whenever the CRL number changes; a directory outage is logged, never fatal.
        Certgate.Ca.Http.Ldap.LdapCrlPublisher? ldap = null;
        try
        {
            ldap = Certgate.Ca.Http.Ldap.LdapCrlPublisher.FromSettings(s.Ca, s.Material.Path, log);
        }
        catch (ArgumentException e)
        {
            throw new UserException($"{args.Command}: ldap settings: {e.Message.Split(" (Parameter")[0]}", e);
        }
        await PublishAsync(ldap, s, log).ConfigureAwait(false);

        CaHttpServer server;
        try
        {
            server = await CaHttpServer.StartAsync(s.Ca, new CaHttpOptions { Listen = listen, Log = log }).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new UserException($"{args.Command}: --listen '{listen.OriginalString}': cannot listen: {e.Message}", e);
        }
        await using (server.ConfigureAwait(false))
        {
            Uri b = server.BaseAddress;
            ctx.Out.WriteLine($"Listening on {b}");
            ctx.Out.WriteLine($"  SCEP:            {b}scep");
            ctx.Out.WriteLine($"  CRL:             {b}crl/ca.crl (and .pem)");
            ctx.Out.WriteLine($"  CA certificate:  {b}ca.crt");
            ctx.Out.Flush();
            log.WriteLine($"CA {s.Ca.Certificate.Subject}, database {CaSession.Redact(s.Store.Description)}; CRL checked every {s.Ca.Settings.Crl.CheckInterval.TotalMinutes:0.##} min");
            if (NoDistributionPointWarning(s.Material.Path, s.Ca.Settings, b) is { } warning)
            {
                log.WriteLine(warning);
            }
            if (!s.Ca.Settings.UsesRa)
            {
                // An older CA keeps its mode; say once what it costs (docs/security.md, the SCEP oracle row).
                log.WriteLine($"note: SCEP requests are decrypted with the CA key (ca.json getCaCert \"ca\"); a CA made by `ca init` now answers "
                    + "with an RA, so that the CA key only signs");
            }

            TimeSpan interval = s.Ca.Settings.Crl.CheckInterval;
            while (!stop.Task.IsCompleted)
            {
                Task tick = Task.Delay(interval);
                if (await Task.WhenAny(stop.Task, tick).ConfigureAwait(false) == stop.Task)
                {
                    break;
                }
                await RegenerateIfDueAsync(s, log).ConfigureAwait(false);
                await PublishAsync(ldap, s, log).ConfigureAwait(false);
            }
            await server.StopAsync().ConfigureAwait(false);
        }
        log.WriteLine("stopped");
        return 0;
    }

    /// <summary>
    /// The one warning <c>ca serve</c> gives at start when <c>ca.json</c> has no <c>baseUrl</c>: the certificates it
    /// issues then carry no CRL distribution point, so gateways cannot find the CRL by themselves.
    /// </summary>
    internal static string? NoDistributionPointWarning(string dir, Certgate.Ca.Settings.CaSettings settings, Uri listening) =>
        settings.BaseUrl is not null
            ? null
            : $"warning: certificates are issued without a CRL distribution point (ca.json has no baseUrl), so gateways cannot find this CA's CRL; "
              + $"set \"baseUrl\" in {Path.Combine(dir, Certgate.Ca.Settings.CaSettingsFile.FileName)} to the address gateways reach this CA at "
              + $"(e.g. \"http://ca.example.net:{listening.Port}\"; `certgate ca init --url` sets it for a new CA) and restart";

    /// <summary>Publishes the current CRL to LDAP when its number changed since the last publication.</summary>
    private static async Task PublishAsync(Certgate.Ca.Http.Ldap.LdapCrlPublisher? ldap, CaSession s, TextWriter log)
    {
        if (ldap is null)
        {
            return;
        }
        try
        {
            if (await ldap.PublishCurrentAsync(s.Ca).ConfigureAwait(false))
            {
                log.WriteLine($"CRL {ldap.LastPublishedNumber} published to {ldap.Server} ({ldap.EntryDn})");
            }
        }
        catch (Certgate.Ca.Http.Ldap.LdapPublishException e)
        {
            log.WriteLine($"LDAP: publishing failed, retrying at the next check: {e.Message}");
        }
    }

    /// <summary>Issues a new CRL when the schedule says so; a failure is logged and retried at the next tick.</summary>
    private static async Task RegenerateIfDueAsync(CaSession s, TextWriter log)
    {
        try
        {
            CrlRecord? before = await s.Store.GetLatestCrlAsync().ConfigureAwait(false);
            CrlRecord now = await s.Ca.GetCurrentCrlAsync("serve").ConfigureAwait(false);
            if (now.Number != before?.Number)
            {
                log.WriteLine($"CRL {now.Number} issued on schedule, next update {CaText.Time(now.NextUpdate)}");
            }
        }
        catch (Exception e)
        {
            log.WriteLine($"CRL: scheduled issue failed, retrying at the next check: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Watch stdin only when it is a pipe or socket someone holds open (or a reader handed in by a caller).</summary>
    private static bool ShouldWatchInput(TextReader input)
    {
        if (!ReferenceEquals(input, Console.In))
        {
            return true;
        }
        if (!Console.IsInputRedirected || OperatingSystem.IsWindows())
        {
            return false;
        }
        try
        {
            string? target = new FileInfo("/proc/self/fd/0").LinkTarget;
            return target is not null && (target.StartsWith("pipe:", StringComparison.Ordinal) || target.StartsWith("socket:", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false;
        }
    }
}
