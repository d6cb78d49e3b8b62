using System.ComponentModel;
using System.Diagnostics;

namespace Certgate.Gateway.Tunnels;

/// <summary>How the runtime changes the host's addresses, links and routes.</summary>
internal interface ILinkConfigurator
{
    /// <summary>Gives <paramref name="device"/> the address <paramref name="cidr"/> (idempotent).</summary>
    void AddAddress(string device, string cidr);

    /// <summary>Sets <paramref name="device"/> up.</summary>
    void SetUp(string device);

    /// <summary>Routes <paramref name="destination"/> into <paramref name="device"/> (replacing an existing route).</summary>
    void ReplaceRoute(string destination, string device);

    /// <summary>Deletes the interface <paramref name="device"/>; false when there was none.</summary>
    bool DeleteLink(string device);

    /// <summary>Removes the route to <paramref name="destination"/> through <paramref name="device"/>; false when there was none.</summary>
    bool DeleteRoute(string destination, string device);

    /// <summary>Adds the policy-routing rule <paramref name="rule"/> (<c>ip rule add</c>).</summary>
    void AddRule(PolicyRule rule);

    /// <summary>Deletes exactly <paramref name="rule"/>; false when there was none.</summary>
    bool DeleteRule(PolicyRule rule);

    /// <summary>Routes into a service set's table (replacing an existing route).</summary>
    void ReplaceRoute(TableRoute route);

    /// <summary>Removes <paramref name="route"/>; false when there was none.</summary>
    bool DeleteRoute(TableRoute route);

    /// <summary>Deletes every rule (both families) whose priority lies in [<paramref name="first"/>, <paramref name="last"/>]:
    /// those a gateway that ended without cleaning up left behind. Returns how many.</summary>
    int DeleteRules(int first, int last);
}

/// <summary>
/// iproute2's <c>ip</c> command. Deliberately the command rather than rtnetlink: a handful of changes per commit,
/// not per packet, and the command's error text is what an operator would see typing the same line. The packet
/// path never comes here.
/// </summary>
internal sealed class IpCommand : ILinkConfigurator
{
    public void AddAddress(string device, string cidr) => Run("addr", "replace", cidr, "dev", device);

    public void SetUp(string device) => Run("link", "set", device, "up");

    public void ReplaceRoute(string destination, string device) => Run("route", "replace", destination, "dev", device);

    public bool DeleteLink(string device)
    {
        try
        {
            Run("link", "delete", device);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public bool DeleteRoute(string destination, string device)
    {
        try
        {
            Run("route", "del", destination, "dev", device);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public void AddRule(PolicyRule rule) => Run([.. Family(rule.IPv6), "rule", "add", .. rule.Arguments()]);

    public bool DeleteRule(PolicyRule rule) => TryRun([.. Family(rule.IPv6), "rule", "del", .. rule.Arguments()]);

    public void ReplaceRoute(TableRoute route) => Run([.. Family(route.IPv6), "route", "replace", .. route.Arguments()]);

    public bool DeleteRoute(TableRoute route) => TryRun([.. Family(route.IPv6), "route", "del", .. route.Arguments()]);

    public int DeleteRules(int first, int last)
    {
        int n = 0;
        foreach (string family in new[] { "-4", "-6" })
        {
            using var rules = System.Text.Json.JsonDocument.Parse(Run(family, "-j", "rule", "show"));
            foreach (System.Text.Json.JsonElement r in rules.RootElement.EnumerateArray())
            {
                if (r.TryGetProperty("priority", out System.Text.Json.JsonElement p) && p.GetInt32() is int priority && priority >= first && priority <= last
                    && TryRun(family, "rule", "del", "priority", priority.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                {
                    n++;
                }
            }
        }
        return n;
    }

    private static string[] Family(bool v6) => v6 ? ["-6"] : [];

    private static bool TryRun(params string[] args)
    {
        try
        {
            Run(args);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <exception cref="IOException">ip is missing or refused the change (its message included).</exception>
    private static string Run(params string[] args)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new IOException("ip could not be started");
        }
        catch (Win32Exception e)
        {
            throw new IOException($"'ip' (iproute2) cannot be run: {e.Message}", e);
        }
        using (p)
        {
            Task<string> stderr = p.StandardError.ReadToEndAsync();
            string stdout = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(10_000))
            {
                p.Kill();
                throw new IOException($"ip {string.Join(' ', args)} did not finish in 10 s");
            }
            if (p.ExitCode != 0)
            {
                throw new IOException($"ip {string.Join(' ', args)}: {stderr.GetAwaiter().GetResult().Trim()}");
            }
            return stdout;
        }
    }
}
