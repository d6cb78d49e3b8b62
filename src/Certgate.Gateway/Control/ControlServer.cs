using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Certgate.Gateway.Control;

/// <summary>Runs one command for the control socket: the request, a line reader for questions, and the two output streams.</summary>
public delegate int ControlCommandHandler(ControlRequest request, TextReader input, TextWriter output, TextWriter error);

/// <summary>
/// The daemon's end of the control socket. Commands run one at a time (the state directory has one writer), but a
/// command waiting for the answer to a question gives its turn up until the answer comes (so an operator who walks
/// away from a <c>[yes,no]</c> stalls neither <c>show</c> nor the daemon's renewals). Only root and the owner of the
/// state directory may connect (<c>SO_PEERCRED</c>); a client that sends garbage or disappears only ends its own
/// connection.
/// </summary>
public sealed class ControlServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly ControlCommandHandler _handler;
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly string _path;
    private readonly uint _owner;
    private readonly Action<string> _log;

    private ControlServer(Socket listener, string path, uint owner, ControlCommandHandler handler, Action<string> log)
    {
        _listener = listener;
        _path = path;
        _owner = owner;
        _handler = handler;
        _log = log;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>How long a question waits for its answer before the command goes on as if told no (default 10 minutes).</summary>
    public TimeSpan QuestionTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Listens on <c>STATE/certgate.sock</c>, replacing a stale socket file. The socket is bound inside a fresh 0700
    /// directory, made 0600 there and only then renamed into place, so it never exists under its name with a looser
    /// mode. Connections from anyone but root and the state directory's owner are refused (and logged to
    /// <paramref name="log"/>).
    /// </summary>
    /// <exception cref="IOException">Another daemon is already listening there.</exception>
    public static ControlServer Start(string stateDirectory, ControlCommandHandler handler, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        string path = ControlProtocol.SocketPath(stateDirectory);
        string directory = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (File.Exists(path) && ControlClient.IsListening(stateDirectory))
        {
            throw new IOException($"a gateway is already running on {path}");
        }
        uint owner = PeerCredentials.OwnerOf(directory);
        // A private room for the bind: whatever the umask, nobody else can reach the socket before its chmod.
        // Its name is short: a socket path has at most 107 bytes, and ".cXXXXXXXX/s" is no longer than "certgate.sock".
        string room = Path.Combine(directory, $".c{Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))}");
        Directory.CreateDirectory(room, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Socket listener = ControlProtocol.NewSocket();
        try
        {
            string bound = Path.Combine(room, "s");
            listener.Bind(new UnixDomainSocketEndPoint(bound));
            File.SetUnixFileMode(bound, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(16);
            // rename(2) replaces a stale socket file atomically; the bound socket follows its inode.
            File.Move(bound, path, overwrite: true);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        finally
        {
            Directory.Delete(room, recursive: true);
        }
        return new ControlServer(listener, path, owner, handler, log ?? (_ => { }));
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        await using (var stream = new NetworkStream(client, ownsSocket: false))
        using (var reader = new StreamReader(stream, Encoding.UTF8))
        {
            var turn = new Turn(_oneAtATime, _stop.Token);
            try
            {
                (uint pid, uint uid) = PeerCredentials.Of(client);
                if (uid != 0 && uid != _owner)
                {
                    _log($"control connection refused: pid {pid} runs as uid {uid}, which is neither root nor the owner of the state directory (uid {_owner})");
                    // Read the request first (briefly), so the refusal is not lost to a reset of unread data.
                    using (var brief = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
                    {
                        brief.CancelAfter(TimeSpan.FromSeconds(5));
                        await ControlProtocol.ReadFrameAsync(reader, brief.Token).ConfigureAwait(false);
                    }
                    await RefuseAsync(stream, $"error: the gateway daemon refuses uid {uid}: only root and the owner of the state directory (uid {_owner}) may use its control socket", 1).ConfigureAwait(false);
                    return;
                }
                JsonObject? frame = await ControlProtocol.ReadFrameAsync(reader, _stop.Token).ConfigureAwait(false);
                if (ControlProtocol.FromFrame(frame, out string problem) is not { } request)
                {
                    await RefuseAsync(stream, "error: " + problem, 2).ConfigureAwait(false);
                    return;
                }
                await turn.TakeAsync().ConfigureAwait(false);
                var output = new FrameWriter(stream, "out");
                var error = new FrameWriter(stream, "err");
                var input = new FrameReader(stream, reader, output, error, turn, QuestionTimeout);
                // The handler is synchronous (the CLI); run it off the socket's thread.
                int code = await Task.Run(() => _handler(request, input, output, error)).ConfigureAwait(false);
                output.Flush();
                error.Flush();
                await ControlProtocol.WriteFrameAsync(stream, new JsonObject { ["exit"] = code }, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or OperationCanceledException or SocketException or FormatException or InvalidOperationException)
            {
                // The client went away or spoke nonsense: only this connection ends.
            }
            finally
            {
                turn.GiveUp();
            }
        }
    }

    private async Task RefuseAsync(Stream stream, string line, int code)
    {
        await ControlProtocol.WriteFrameAsync(stream, new JsonObject { ["err"] = line + "\n" }, _stop.Token).ConfigureAwait(false);
        await ControlProtocol.WriteFrameAsync(stream, new JsonObject { ["exit"] = code }, _stop.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="work"/> while no command runs: the daemon's own writes to the state directory (an installed
    /// renewal, a certificate picked up by a poll) take the same turn as the commands, so the store has one writer.
    /// </summary>
    public async Task RunExclusiveAsync(Action work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        await _oneAtATime.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            work();
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        try
        {
            File.Delete(_path);
        }
        catch (IOException)
        {
            // Already gone.
        }
        _stop.Dispose();
        _oneAtATime.Dispose();
    }

    /// <summary>Sends what a command writes as frames, a line at a time (and on flush).</summary>
    private sealed class FrameWriter(Stream stream, string kind) : TextWriter
    {
        private readonly StringBuilder _pending = new();

        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value)
        {
            _pending.Append(value);
            if (value == '\n' && _pending.Length > 4096)
            {
                Flush();
            }
        }

        public override void Write(string? value)
        {
            _pending.Append(value);
            if (_pending.Length > 4096)
            {
                Flush();
            }
        }

        public override void Flush()
        {
            if (_pending.Length == 0)
            {
                return;
            }
            string text = _pending.ToString();
            _pending.Clear();
            ControlProtocol.WriteFrameAsync(stream, new JsonObject { [kind] = text }, CancellationToken.None).GetAwaiter().GetResult();
        }
    }

    /// <summary>A connection's turn at the command lock: taken to run, given up while a question waits for its answer.</summary>
    private sealed class Turn(SemaphoreSlim lockObject, CancellationToken stopping)
    {
        private bool _held;

        public async Task TakeAsync()
        {
            await lockObject.WaitAsync(stopping).ConfigureAwait(false);
            _held = true;
        }

        public void Take()
        {
            lockObject.Wait(stopping);
            _held = true;
        }

        public void GiveUp()
        {
            if (_held)
            {
                _held = false;
                lockObject.Release();
            }
        }
    }

    /// <summary>
    /// A reader whose ReadLine asks the client for a line (after flushing what the question printed). While it waits,
    /// the command's turn is given up; it is taken again when the answer came, so the command acts in its turn. A
    /// question left unanswered for <c>timeout</c> reads as end of input (a no), with one line saying so.
    /// </summary>
    private sealed class FrameReader(Stream stream, StreamReader reader, TextWriter output, TextWriter error, Turn turn, TimeSpan timeout) : TextReader
    {
        private bool _closed;

        public override string? ReadLine()
        {
            if (_closed)
            {
                return null;
            }
            output.Flush();
            error.Flush();
            turn.GiveUp();
            JsonObject? answer = null;
            bool timedOut = false;
            try
            {
                ControlProtocol.WriteFrameAsync(stream, new JsonObject { ["read"] = true }, CancellationToken.None).GetAwaiter().GetResult();
                using var patience = new CancellationTokenSource(timeout);
                answer = ControlProtocol.ReadFrameAsync(reader, patience.Token).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                timedOut = true;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or SocketException)
            {
                // The client went away or answered nonsense: no answer (a no).
            }
            finally
            {
                // Whatever happened, the command goes on only in its turn.
                turn.Take();
            }
            if (timedOut)
            {
                _closed = true;
                output.WriteLine();
                error.WriteLine($"error: no answer within {Describe(timeout)}; taken as no");
                return null;
            }
            string? line = answer?["line"]?.GetValue<string>();
            _closed = line is null;
            return line;
        }

        private static string Describe(TimeSpan t) =>
            t.TotalMinutes >= 1 && t.Seconds == 0 ? $"{t.TotalMinutes:0} minute{(t.TotalMinutes == 1 ? "" : "s")}" : $"{t.TotalSeconds:0.#} seconds";

        public override int Read() => -1;

        public override string ReadToEnd()
        {
            var all = new StringBuilder();
            while (ReadLine() is { } line)
            {
                all.Append(line).Append('\n');
            }
            return all.ToString();
        }
    }
}
