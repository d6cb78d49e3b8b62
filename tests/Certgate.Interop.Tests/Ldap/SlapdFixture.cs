using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Ldap;

/// <summary>
/// A private OpenLDAP server for one test class: a slapd.conf in a temporary directory (mdb backend, suffix
/// <see cref="Suffix"/>, the core and cosine schemas from /etc/ldap/schema, rootdn <see cref="RootDn"/> whose
/// random password is stored only as an {SSHA} hash made by <c>slappasswd</c>), run in the foreground as a child
/// process (<c>slapd -h ldap://127.0.0.1:PORT/ -f slapd.conf -d 0</c>), listening on loopback only, waited for
/// (bounded), seeded with the suffix entry, and killed by its PID on dispose. A system slapd, if any, is never
/// touched. Missing binaries (Debian packages slapd and ldap-utils) make every test using the fixture FAIL.
/// </summary>
public sealed class SlapdFixture : IDisposable
{
    public const string Suffix = "dc=certgate,dc=test";
    public const string RootDn = "cn=admin," + Suffix;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _dir = new("certgate-slapd-");
    private Process? _slapd;

    public SlapdFixture()
    {
        try
        {
            string slapd = FindSlapd();
            ExternalTool.Require("ldapsearch");
            ExternalTool.Require("ldapadd");
            ExternalTool.Require("slappasswd");
            string schema = "/etc/ldap/schema";
            Assert.True(File.Exists(Path.Combine(schema, "core.schema")), $"{schema}/core.schema is missing (Debian package slapd)");

            PasswordFile = _dir.File("rootpw");
            // slappasswd -T hashes the whole file, so the password is written without a newline.
            File.WriteAllText(PasswordFile, Convert.ToHexString(RandomNumberGenerator.GetBytes(16)));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(PasswordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            string hash = ExternalTool.Check("slappasswd", "-T", PasswordFile, "-h", "{SSHA}").StdOut.Trim();

            string db = _dir.File("db");
            Directory.CreateDirectory(db);
            string modules = Directory.Exists("/usr/lib/ldap") ? "/usr/lib/ldap" : "/usr/lib/x86_64-linux-gnu/ldap";
            string conf = _dir.File("slapd.conf");
            File.WriteAllText(conf, $"""
                include {schema}/core.schema
                include {schema}/cosine.schema
                pidfile {_dir.File("slapd.pid")}
                argsfile {_dir.File("slapd.args")}
                modulepath {modules}
                moduleload back_mdb
                database mdb
                maxsize 16777216
                suffix "{Suffix}"
                rootdn "{RootDn}"
                rootpw {hash}
                directory {db}

                """);

            // The free port may be taken between probing and binding; try a few.
            Exception? last = null;
            for (int attempt = 0; attempt < 3 && _slapd is null; attempt++)
            {
                int port = FreePort();
                try
                {
                    _slapd = Start(slapd, $"ldap://127.0.0.1:{port}/", conf, port);
                    Url = $"ldap://127.0.0.1:{port}";
                }
                catch (InvalidOperationException e)
                {
                    last = e;
                }
            }
            if (_slapd is null)
            {
                throw last!;
            }
            Ldap("ldapadd", [], $"dn: {Suffix}\nobjectClass: dcObject\nobjectClass: organization\ndc: certgate\no: Certgate test\n");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary><c>ldap://127.0.0.1:PORT</c>.</summary>
    public string Url { get; } = "";

    /// <summary>The file holding <see cref="RootDn"/>'s password (no trailing newline, mode 0600).</summary>
    public string PasswordFile { get; } = "";

    /// <summary>A scratch file path in the fixture's directory.</summary>
    public string ScratchFile(string name) => _dir.File(name);

    /// <summary>Runs an ldap-utils client (ldapadd, ldapmodify, ldapsearch …) bound as the root DN; asserts success.</summary>
    internal ExternalTool.Result Ldap(string tool, string[] args, string? stdin = null)
    {
        string[] all = ["-x", "-H", Url, "-D", RootDn, "-y", PasswordFile, .. args];
        ExternalTool.Result r = ExternalTool.Run(tool, all, stdin: stdin, timeout: TimeSpan.FromSeconds(30));
        Assert.True(r.ExitCode == 0, $"{tool} {string.Join(' ', args)} exited {r.ExitCode}:\n{r.Combined}");
        return r;
    }

    /// <summary>
    /// Every value of <paramref name="attribute"/> on <paramref name="entryDn"/>, as <c>ldapsearch -LLL</c> prints
    /// them (binary values base64-encoded in LDIF, decoded here); anonymous read, as a relying party does.
    /// </summary>
    public IReadOnlyList<byte[]> SearchValues(string entryDn, string attribute)
    {
        ExternalTool.Result r = ExternalTool.Run("ldapsearch",
            ["-x", "-H", Url, "-LLL", "-o", "ldif-wrap=no", "-b", entryDn, "-s", "base", "(objectClass=*)", attribute],
            timeout: TimeSpan.FromSeconds(30));
        Assert.True(r.ExitCode == 0, $"ldapsearch -b '{entryDn}' {attribute} exited {r.ExitCode}:\n{r.Combined}");
        var values = new List<byte[]>();
        foreach (string line in r.StdOut.Split('\n'))
        {
            string l = line.TrimEnd('\r');
            if (l.StartsWith(attribute + ":: ", StringComparison.OrdinalIgnoreCase))
            {
                values.Add(Convert.FromBase64String(l[(attribute.Length + 3)..]));
            }
            else if (l.StartsWith(attribute + ": ", StringComparison.OrdinalIgnoreCase))
            {
                values.Add(System.Text.Encoding.UTF8.GetBytes(l[(attribute.Length + 2)..]));
            }
        }
        return values;
    }

    /// <summary>Whether <paramref name="entryDn"/> exists (ldapsearch exit 0) or not (exit 32, noSuchObject).</summary>
    public bool EntryExists(string entryDn)
    {
        ExternalTool.Result r = ExternalTool.Run("ldapsearch", ["-x", "-H", Url, "-LLL", "-b", entryDn, "-s", "base", "1.1"], timeout: TimeSpan.FromSeconds(30));
        Assert.True(r.ExitCode is 0 or 32, $"ldapsearch -b '{entryDn}' exited {r.ExitCode}:\n{r.Combined}");
        return r.ExitCode == 0;
    }

    public void Dispose()
    {
        if (_slapd is not null)
        {
            try
            {
                if (!_slapd.HasExited)
                {
                    _slapd.Kill();
                    _slapd.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
            _slapd.Dispose();
            _slapd = null;
        }
        _dir.Dispose();
    }

    private static string FindSlapd()
    {
        foreach (string candidate in (string[])["/usr/sbin/slapd", "/usr/local/sbin/slapd", "/usr/libexec/slapd"])
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return ExternalTool.Require("slapd");
    }

    private Process Start(string slapd, string listen, string conf, int port)
    {
        var psi = new ProcessStartInfo(slapd)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _dir.Path,
        };
        // -d 0 keeps slapd in the foreground (a child we can kill by PID) without debug output.
        foreach (string a in (string[])["-h", listen, "-f", conf, "-d", "0"])
        {
            psi.ArgumentList.Add(a);
        }
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {slapd}");
        var log = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < StartTimeout)
        {
            if (process.HasExited)
            {
                process.WaitForExit();
                string text;
                lock (log) { text = log.ToString(); }
                int code = process.ExitCode;
                process.Dispose();
                throw new InvalidOperationException($"slapd exited with {code} before listening on {listen}:\n{text}");
            }
            if (CanConnect(port))
            {
                return process;
            }
            Thread.Sleep(50);
        }
        process.Kill();
        process.WaitForExit(5_000);
        process.Dispose();
        throw new TimeoutException($"slapd did not listen on {listen} within {StartTimeout.TotalSeconds:0} s");
    }

    private static bool CanConnect(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
