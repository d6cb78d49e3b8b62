using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Certgate.Gateway.Control;

/// <summary>Runs one command for the control socket: arguments, a line reader for questions, and the two output streams.</summary>
public delegate int ControlCommandHandler(IReadOnlyList<string> args, TextReader input, TextWriter output, TextWriter error);

/// <summary>
/// The daemon's end of the control socket. Commands run one at a time (the state directory has one writer);
/// a client that sends garbage or disappears only ends its own connection.
/// </summary>
public sealed class ControlServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly ControlCommandHandler _handler;
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly string _path;

    private ControlServer(Socket listener, string path, ControlCommandHandler handler)
    {
        _listener = listener;
        _path = path;
        _handler = handler;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Listens on <c>STATE/certgate.sock</c> (mode 0600), replacing a stale socket file.</summary>
    /// <exception cref="IOException">Another daemon is already listening there.</exception>
    public static ControlServer Start(string stateDirectory, ControlCommandHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        string path = ControlProtocol.SocketPath(stateDirectory);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (File.Exists(path))
        {
            if (ControlClient.IsListening(stateDirectory))
            {
                throw new IOException($"a gateway is already running on {path}");
            }
            File.Delete(path);
        }
        Socket listener = ControlProtocol.NewSocket();
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(16);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        return new ControlServer(listener, path, handler);
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
            try
            {
                JsonObject? request = await ControlProtocol.ReadFrameAsync(reader, _stop.Token).ConfigureAwait(false);
                if (request?["args"] is not JsonArray array || array.Any(a => a is not JsonValue))
                {
                    await ControlProtocol.WriteFrameAsync(stream, new JsonObject { ["err"] = "error: control request without \"args\"\n" }, _stop.Token).ConfigureAwait(false);
                    await ControlProtocol.WriteFrameAsync(stream, new JsonObject { ["exit"] = 2 }, _stop.Token).ConfigureAwait(false);
                    return;
                }
                string[] args = [.. array.Select(a => a!.GetValue<string>())];
                await _oneAtATime.WaitAsync(_stop.Token).ConfigureAwait(false);
                try
                {
                    var output = new FrameWriter(stream, "out");
                    var error = new FrameWriter(stream, "err");
                    var input = new FrameReader(stream, reader, output, error);
                    // The handler is synchronous (the CLI); run it off the socket's thread.
                    int code = await Task.Run(() => _handler(args, input, output, error)).ConfigureAwait(false);
                    output.Flush();
                    error.Flush();
                    await ControlProtocol.WriteFrameAsync(stream, new JsonObject { ["exit"] = code }, _stop.Token).ConfigureAwait(false);
                }
                finally
                {
                    _oneAtATime.Release();
                }
            }
            catch (Exception e) when (e is IOException or InvalidDataException or OperationCanceledException or SocketException or FormatException or InvalidOperationException)
            {
                // The client went away or spoke nonsense: only this connection ends.
            }
        }
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

    /// <summary>A reader whose ReadLine asks the client for a line (after flushing what the question printed).</summary>
    private sealed class FrameReader(Stream stream, StreamReader reader, TextWriter output, TextWriter error) : TextReader
    {
        public override string? ReadLine()
        {
            output.Flush();
            error.Flush();
            ControlProtocol.WriteFrameAsync(stream, new JsonObject { ["read"] = true }, CancellationToken.None).GetAwaiter().GetResult();
            // A client that never answers must not hold the daemon: give up on the question after ten minutes.
            using var patience = new CancellationTokenSource(TimeSpan.FromMinutes(10));
            JsonObject? answer = ControlProtocol.ReadFrameAsync(reader, patience.Token).GetAwaiter().GetResult();
            return answer?["line"]?.GetValue<string>();
        }

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
