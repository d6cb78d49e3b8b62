using System.Diagnostics;
using System.Text;
using Certgate.Config.Session;
using Certgate.Config.Storage;
using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Config.Tests.Fuzz;

/// <summary>
/// A seeded mutation fuzzer for the configuration reader (issue #13). Seeds: every file of docs/examples, the
/// reference's worked configurations (§1.7, copied into Fuzz/Seeds so the test needs nothing outside the repository)
/// and the golden curly-brace and set-style files. Each mutant (byte flips, deletions, duplications, splices with
/// another seed, deep nesting, huge tokens, unbalanced braces and quotes, control characters, very long lines) goes
/// through tokenize + parse, <c>load merge|override|set</c> into a session over a store with an active and a
/// candidate configuration, and <c>commit check</c>. Oracles: only <see cref="ConfigException"/> (or a commit check's
/// <see cref="CommitCheckException"/>, which a session reports as a refused command) comes out; a refused load leaves the
/// candidate as it was and the stored files byte-identical; an accepted candidate reads back equal from both its
/// curly-brace and set forms (so it can be stored and committed without losing anything); an error stays short even
/// when the text holds a megabyte-long word. What it found is kept as named cases in <see cref="ConfigReaderRegressionTests"/>.
/// </summary>
public sealed class ConfigReaderFuzzTests
{
    private const int Seed = 13;
    private const int MutantsPerSeed = 350;

    /// <summary>An error quotes at most one word (8 KiB) and a short excerpt of what was typed.</summary>
    private const int MaxErrorLength = 20_000;

    private static readonly string[] Modes = ["merge", "override", "set"];

    private static List<(string Name, string Text)> Seeds()
    {
        string root = AppContext.BaseDirectory;
        var files = new List<string>();
        files.AddRange(Directory.GetFiles(Path.Combine(root, "Examples"), "*.set"));
        files.AddRange(Directory.GetFiles(Path.Combine(root, "Fuzz", "Seeds")));
        files.AddRange(Directory.GetFiles(Path.Combine(root, "Golden")));
        files.Sort(StringComparer.Ordinal);
        Assert.True(files.Count >= 10, $"expected the fuzzer's seed files beside the tests, found {files.Count}");
        return files.Select(f => (Path.GetRelativePath(root, f), File.ReadAllText(f))).ToList();
    }

    [Fact]
    public async Task Mutants_OnlyConfigErrors_RefusedLoadsChangeNothing_AcceptedOnesRoundTrip()
    {
        List<(string Name, string Text)> seeds = Seeds();
        using var dir = new TempDir();
        var store = new ConfigurationStore(dir.Path);
        store.Commit(Cfg.FromSet(Cfg.Representative));
        ConfigNode stored = store.LoadActive();
        ConfigEditor.Set(stored, Cfg.Words("security pki ca-profile pending ca-identity pending"));
        store.SaveCandidate(stored);
        byte[] active = File.ReadAllBytes(store.ActivePath);
        byte[] candidate = File.ReadAllBytes(store.CandidatePath);
        string candidateText = ConfigText.WriteCurly(store.LoadCandidate());

        var failures = new List<string>();
        int mutants = 0;
        int accepted = 0;
        var slowest = (Ticks: 0L, What: "");
        // A hang fails the test instead of stalling the run; the work runs on a pool thread (1 MiB stack), so deep
        // recursion would show here first.
        var err = new StringWriter();
        var byOp = new Dictionary<string, long>();
        ConfigurationSession? session = null;
        var work = Task.Run(() =>
        {
            for (int s = 0; s < seeds.Count; s++)
            {
                var rng = new Random(Seed * 7919 + s);
                for (int m = 0; m < MutantsPerSeed; m++)
                {
                    string what = $"seed {seeds[s].Name} mutant {m}";
                    string text = Mutate(rng, seeds[s].Text, seeds[rng.Next(seeds.Count)].Text, out string ops);
                    string mode = Modes[m % Modes.Length];
                    long start = Stopwatch.GetTimestamp();
                    string? failure = RunOne(store, err, ref session, text, mode, candidateText, ref accepted);
                    long ticks = Stopwatch.GetTimestamp() - start;
                    foreach (string op in ops.Split('+'))
                    {
                        byOp[op] = byOp.GetValueOrDefault(op) + ticks;
                    }
                    if (ticks > slowest.Ticks)
                    {
                        slowest = (ticks, $"{what} ({ops}, {text.Length} chars)");
                    }
                    if (failure is not null)
                    {
                        failures.Add($"{what} ({ops}, load {mode}): {failure}\n    text: {Show(text)}");
                    }
                    mutants++;
                }
                if (!File.ReadAllBytes(store.ActivePath).AsSpan().SequenceEqual(active) || !File.ReadAllBytes(store.CandidatePath).AsSpan().SequenceEqual(candidate))
                {
                    failures.Add($"seed {seeds[s].Name}: the stored active or candidate configuration changed");
                }
            }
        });
        Task done = await Task.WhenAny(work, Task.Delay(TimeSpan.FromMinutes(3)));
        Assert.True(done == work, $"the fuzzer did not finish within 3 minutes (at {mutants} mutants)");
        await work;
        Console.WriteLine($"config fuzzer: {mutants} mutants, {accepted} accepted, slowest {Stopwatch.GetElapsedTime(0, slowest.Ticks).TotalMilliseconds:F1} ms: {slowest.What}");
        Console.WriteLine("config fuzzer time by mutation: " + string.Join(", ", byOp.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {Stopwatch.GetElapsedTime(0, kv.Value).TotalSeconds:F1} s")));
        Assert.True(mutants >= 4000, $"only {mutants} mutants");
        Assert.True(failures.Count == 0, $"{failures.Count} of {mutants} mutants failed:\n" + string.Join("\n", failures.Take(15)));
    }

    /// <summary>One mutant through the reader, a load and a commit check; null when every oracle holds.</summary>
    /// <remarks>A refused load leaves <paramref name="session"/> as it was, so it serves the next mutant; after an accepted
    /// one the next mutant gets a new session over the (unchanged) store.</remarks>
    private static string? RunOne(ConfigurationStore store, StringWriter err, ref ConfigurationSession? session, string text, string mode, string candidateText, ref int accepted)
    {
        try
        {
            try
            {
                Tokenizer.Tokenize(text);
                ConfigText.Parse(store.Schema, text);
                ConfigurationSession.IsCurlyText(text);
            }
            catch (ConfigException)
            {
            }
            err.GetStringBuilder().Clear();
            session ??= new ConfigurationSession(store, TextWriter.Null, err) { AutoSave = false };
            if (!session.LoadText(mode, text, "fuzz"))
            {
                string after = ConfigText.WriteCurly(session.Candidate);
                if (after != candidateText)
                {
                    return "a refused load changed the candidate";
                }
                if (err.ToString().Length == 0)
                {
                    return "a refused load printed no error";
                }
                if (err.ToString().Length > MaxErrorLength)
                {
                    return $"the error is {err.ToString().Length} characters long: {Show(err.ToString())}";
                }
                return null;
            }
            accepted++;
            session.Execute("commit check");
            ConfigNode c = session.Candidate;
            session = null;
            ConfigNode curly = ConfigText.ParseCurly(store.Schema, ConfigText.WriteCurly(c));
            ConfigNode set = ConfigText.ParseSet(store.Schema, ConfigText.WriteSet(c));
            if (!curly.StructurallyEquals(c) || !set.StructurallyEquals(c))
            {
                return "the accepted candidate does not read back equal";
            }
            return null;
        }
        catch (Exception e)
        {
            return $"{e.GetType().Name}: {Show(e.Message)}\n{e.StackTrace?.Split('\n').Take(6).Aggregate((a, b) => a + "\n" + b)}";
        }
    }

    private const string Alphabet = "{};[]\"\\#/* \t\r\n\0\u0001\u0004\u001b\u007f\u00a0\u2028\u200bé𝄞az09-_.:=|$";

    /// <summary>One to three mutations of <paramref name="text"/>; <paramref name="ops"/> names them (for the report).</summary>
    internal static string Mutate(Random rng, string text, string other, out string ops)
    {
        var sb = new StringBuilder(text);
        var names = new List<string>();
        int count = 1 + rng.Next(3);
        for (int k = 0; k < count; k++)
        {
            int at = sb.Length == 0 ? 0 : rng.Next(sb.Length + 1);
            int len = sb.Length - at == 0 ? 0 : rng.Next(Math.Min(64, sb.Length - at) + 1);
            switch (rng.Next(15))
            {
                case 12 or 13 or 14:
                {
                    // Changes that keep the meaning, so that part of the mutants get through to commit check.
                    names.Add("benign");
                    int line = at == 0 ? 0 : sb.ToString(0, at).LastIndexOf('\n') + 1;
                    switch (rng.Next(4))
                    {
                        case 0:
                            sb.Replace("\n", "\r\n");
                            break;
                        case 1:
                            sb.Insert(line, "/* fuzz */ ");
                            break;
                        case 2:
                            sb.Insert(line, "# fuzz { ; \" }\n");
                            break;
                        default:
                            sb.Insert(line, " \t ");
                            break;
                    }
                    break;
                }
                case 0:
                    names.Add("flip");
                    if (sb.Length > 0)
                    {
                        int i = rng.Next(sb.Length);
                        sb[i] = (char)(sb[i] ^ (1 << rng.Next(8)));
                    }
                    break;
                case 1:
                    names.Add("delete");
                    sb.Remove(at, len);
                    break;
                case 2:
                    names.Add("duplicate");
                    sb.Insert(at, sb.ToString(at, len));
                    break;
                case 3:
                {
                    names.Add("splice");
                    int from = rng.Next(other.Length + 1);
                    int n = rng.Next(Math.Min(400, other.Length - from) + 1);
                    if (rng.Next(2) == 0)
                    {
                        sb.Remove(at, len);
                    }
                    sb.Insert(at, other.Substring(from, n));
                    break;
                }
                case 4:
                {
                    names.Add("nest");
                    int depth = rng.Next(8) == 0 ? 5_000 : 50;
                    string open = rng.Next(3) switch { 0 => "{ ", 1 => "security { ", _ => "security { pki { ca-profile a { " };
                    sb.Insert(at, new StringBuilder().Insert(0, open, depth).Append(rng.Next(2) == 0 ? new string('}', depth) : "").ToString());
                    break;
                }
                case 5:
                    names.Add("huge-token");
                    sb.Insert(at, (rng.Next(2) == 0 ? "\"" : "") + new string((char)('a' + rng.Next(26)), rng.Next(16) == 0 ? 1_000_000 : 5_000));
                    break;
                case 6:
                    names.Add("unbalance");
                    sb.Insert(at, "{}\"[]"[rng.Next(5)]);
                    break;
                case 7:
                    names.Add("control");
                    for (int i = 0; i < 1 + rng.Next(8); i++)
                    {
                        sb.Insert(rng.Next(sb.Length + 1), Alphabet[rng.Next(Alphabet.Length)]);
                    }
                    break;
                case 8:
                    names.Add("long-line");
                    sb.Replace('\n', ' ', at, len == 0 ? 0 : sb.Length - at);
                    break;
                case 9:
                {
                    names.Add("many-words");
                    var words = new StringBuilder(" [");
                    int n = rng.Next(16) == 0 ? 20_000 : 200;
                    for (int i = 0; i < n; i++)
                    {
                        words.Append(' ').Append(rng.Next(3) == 0 ? "a" : "w" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    }
                    sb.Insert(at, words.Append(rng.Next(2) == 0 ? " ]" : "").ToString());
                    break;
                }
                case 10:
                {
                    names.Add("many-lines");
                    string line = "set security pki ca-profile p" + rng.Next(1000) + " ca-identity x\n";
                    sb.Insert(at, new StringBuilder().Insert(0, line, rng.Next(16) == 0 ? 5_000 : 50).ToString());
                    break;
                }
                case 11:
                    names.Add("replace-char");
                    if (sb.Length > 0)
                    {
                        sb[rng.Next(sb.Length)] = Alphabet[rng.Next(Alphabet.Length)];
                    }
                    break;
            }
        }
        ops = string.Join('+', names);
        return sb.ToString();
    }

    private static string Show(string s)
    {
        string head = s.Length > 160 ? s[..160] + $"…({s.Length} chars)" : s;
        var sb = new StringBuilder();
        foreach (char c in head)
        {
            sb.Append(c is < ' ' or '\u007f' ? $"\\u{(int)c:x4}" : c.ToString());
        }
        return sb.ToString();
    }
}
