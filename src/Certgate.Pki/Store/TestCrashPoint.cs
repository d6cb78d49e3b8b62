using System.Diagnostics;

namespace Certgate.Pki.Store;

/// <summary>
/// A test-only hook (issue #14 §4): when the environment variable <c>CERTGATE_TEST_CRASH_AT</c> names a step, the
/// process kills itself with SIGKILL on reaching it, as a power cut or an OOM kill would stop it there. Crash tests
/// (<c>ReEnrollmentCrashTests</c>) start the daemon with it set to each step of a certificate install in turn and
/// check the store after a restart. Unset (always, outside those tests) it does nothing: the variable is read once.
/// Steps: <c>pki-staged</c> (new files written as temporaries), <c>pki-journal-written</c> (the switch is
/// committed), <c>pki-first-renamed</c> (one object of several in place), <c>pki-renamed</c> (all in place, journal
/// not yet removed), <c>agent-state-staged</c> (the agent's state file written, not yet renamed).
/// </summary>
public static class TestCrashPoint
{
    /// <summary>The environment variable that arms the hook.</summary>
    public const string EnvironmentVariable = "CERTGATE_TEST_CRASH_AT";

    private static readonly string? Armed = Environment.GetEnvironmentVariable(EnvironmentVariable);

    /// <summary>Kills this process with SIGKILL when the hook is armed for <paramref name="step"/>; otherwise nothing.</summary>
    public static void Reached(string step)
    {
        if (Armed is not null && string.Equals(Armed, step, StringComparison.Ordinal))
        {
            using Process self = Process.GetCurrentProcess();
            self.Kill(); // SIGKILL on Linux: no finally block, no flush, no dispose runs
        }
    }
}
