using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Certgate.Gateway.Control;

namespace Certgate.Gateway.Tests.Control;

/// <summary>The control socket: commands, streamed output, questions answered by the client, bad clients.</summary>
public sealed class ControlSocketTests : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("certgate-ctl-").FullName;

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private static int Handler(ControlRequest request, TextReader input, TextWriter output, TextWriter error)
    {
        IReadOnlyList<string> args = request.Args;
        switch (args[0])
        {
            case "echo":
                output.WriteLine(string.Join(' ', args.Skip(1)));
                return 0;
            case "ask":
                output.Write("Do you want to? [yes,no] (no) ");
                string? answer = input.ReadLine();
                output.WriteLine(answer == "yes" ? "done" : "not done");
                return answer == "yes" ? 0 : 1;
            case "big":
                output.Write(new string('x', 200_000));
                return 0;
            default:
                error.WriteLine("error: unknown");
                return 2;
        }
    }

    [Fact]
    public async Task NoDaemon_TryRunReturnsNull()
    {
        Assert.Null(ControlClient.TryRun(_state, ["echo", "hi"], TextReader.Null, TextWriter.Null, TextWriter.Null));
        Assert.False(ControlClient.IsListening(_state));

        // A stale socket file from a crashed daemon is not mistaken for a daemon, and a new one replaces it.
        await using (ControlServer.Start(_state, Handler))
        {
        }
        File.WriteAllText(ControlProtocol.SocketPath(_state), "");
        Assert.Null(ControlClient.TryRun(_state, ["echo"], TextReader.Null, TextWriter.Null, TextWriter.Null));
        await using ControlServer again = ControlServer.Start(_state, Handler);
        Assert.True(ControlClient.IsListening(_state));
    }

    [Fact]
    public async Task Commands_OutputExitCodesAndQuestions_CrossTheSocket()
    {
        await using ControlServer server = ControlServer.Start(_state, Handler);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(ControlProtocol.SocketPath(_state)));

        var o = new StringWriter();
        var e = new StringWriter();
        Assert.Equal(0, ControlClient.TryRun(_state, ["echo", "hello", "world"], TextReader.Null, o, e));
        Assert.Equal("hello world\n", o.ToString().ReplaceLineEndings("\n"));

        o = new StringWriter();
        Assert.Equal(0, ControlClient.TryRun(_state, ["ask"], new StringReader("yes\n"), o, e));
        Assert.Equal("Do you want to? [yes,no] (no) done\n", o.ToString().ReplaceLineEndings("\n"));
        o = new StringWriter();
        Assert.Equal(1, ControlClient.TryRun(_state, ["ask"], new StringReader(""), o, e));
        Assert.EndsWith("not done\n", o.ToString().ReplaceLineEndings("\n"));

        o = new StringWriter();
        Assert.Equal(0, ControlClient.TryRun(_state, ["big"], TextReader.Null, o, e));
        Assert.Equal(200_000, o.ToString().Length);

        e = new StringWriter();
        Assert.Equal(2, ControlClient.TryRun(_state, ["nope"], TextReader.Null, TextWriter.Null, e));
        Assert.Contains("unknown", e.ToString());

        Assert.Throws<IOException>(() => ControlServer.Start(_state, Handler));
    }

    [Fact]
    public async Task GarbageAndVanishingClients_DoNotStopTheServer()
    {
        await using ControlServer server = ControlServer.Start(_state, Handler);
        foreach (string garbage in new[] { "not json\n", "{\"args\": 5}\n", "[1,2]\n", "{\"args\":[\"ask\"]}\n" })
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.Connect(new UnixDomainSocketEndPoint(ControlProtocol.SocketPath(_state)));
            s.Send(Encoding.UTF8.GetBytes(garbage));
            // Leave without answering the "ask" question, or at once.
        }
        var o = new StringWriter();
        Assert.Equal(0, ControlClient.TryRun(_state, ["echo", "still", "here"], TextReader.Null, o, TextWriter.Null));
        Assert.Equal("still here\n", o.ToString().ReplaceLineEndings("\n"));
    }

    /// <summary>A raw client: sends the request frame and reads frames until a "read" or "exit" frame.</summary>
    private sealed class RawClient : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        private readonly NetworkStream _stream;
        private readonly StreamReader _reader;

        public RawClient(string state, JsonObject request)
        {
            _socket.Connect(new UnixDomainSocketEndPoint(ControlProtocol.SocketPath(state)));
            _stream = new NetworkStream(_socket, ownsSocket: false);
            _reader = new StreamReader(_stream, Encoding.UTF8);
            Send(request);
        }

        public StringBuilder Out { get; } = new();

        public StringBuilder Err { get; } = new();

        public void Send(JsonObject frame) => _stream.Write(Encoding.UTF8.GetBytes(frame.ToJsonString() + "\n"));

        /// <summary>Reads until the daemon asks (null) or the command ends (its exit code).</summary>
        public async Task<int?> ReadUntilQuestionOrExitAsync()
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            while (await ControlProtocol.ReadFrameAsync(_reader, deadline.Token) is { } frame)
            {
                if (frame["out"] is { } o)
                {
                    Out.Append(o.GetValue<string>());
                }
                else if (frame["err"] is { } e)
                {
                    Err.Append(e.GetValue<string>());
                }
                else if (frame["read"] is not null)
                {
                    return null;
                }
                else if (frame["exit"] is { } x)
                {
                    return x.GetValue<int>();
                }
            }
            throw new IOException("the daemon closed the connection without an exit frame");
        }

        public void Dispose()
        {
            _reader.Dispose();
            _stream.Dispose();
            _socket.Dispose();
        }
    }

    private JsonObject Request(params string[] args) => new()
    {
        ["args"] = new JsonArray([.. args.Select(a => (JsonNode?)a)]),
        ["state"] = _state,
        ["cwd"] = _state,
    };

    [Fact]
    public async Task UnansweredQuestion_DoesNotHoldTheCommandLock()
    {
        await using ControlServer server = ControlServer.Start(_state, Handler);
        using var asking = new RawClient(_state, Request("ask"));
        Assert.Null(await asking.ReadUntilQuestionOrExitAsync());
        Assert.Contains("[yes,no]", asking.Out.ToString());

        // While the question is open, another client's command and the daemon's own work both get their turn.
        var o = new StringWriter();
        Task<int?> other = Task.Run(() => ControlClient.TryRun(_state, ["echo", "meanwhile"], TextReader.Null, o, TextWriter.Null));
        Assert.Equal(0, await other.WaitAsync(TimeSpan.FromMinutes(2)));
        Assert.Equal("meanwhile\n", o.ToString().ReplaceLineEndings("\n"));
        bool renewed = false;
        await server.RunExclusiveAsync(() => renewed = true, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(renewed);

        // The answer still arrives and the command finishes in its turn.
        asking.Send(new JsonObject { ["line"] = "yes" });
        Assert.Equal(0, await asking.ReadUntilQuestionOrExitAsync());
        Assert.EndsWith("done\n", asking.Out.ToString());
    }

    [Fact]
    public async Task UnansweredQuestion_TimesOutWithAClearMessage_AsNo()
    {
        await using ControlServer server = ControlServer.Start(_state, Handler);
        server.QuestionTimeout = TimeSpan.FromMilliseconds(300);
        using var asking = new RawClient(_state, Request("ask"));
        Assert.Null(await asking.ReadUntilQuestionOrExitAsync());
        // Never answered: the command goes on as if told no, and says why.
        Assert.Equal(1, await asking.ReadUntilQuestionOrExitAsync());
        Assert.Contains("error: no answer within 0.3 seconds; taken as no", asking.Err.ToString());
        Assert.EndsWith("not done\n", asking.Out.ToString());
        var o = new StringWriter();
        Assert.Equal(0, ControlClient.TryRun(_state, ["echo", "after"], TextReader.Null, o, TextWriter.Null));
    }

    [Fact]
    public async Task Requests_CarryTheClientsAbsoluteStateAndWorkingDirectory()
    {
        ControlRequest? seen = null;
        await using ControlServer server = ControlServer.Start(_state, (r, i, o, e) =>
        {
            seen = r;
            return 0;
        });
        string here = Environment.CurrentDirectory;
        Assert.Equal(0, ControlClient.TryRun(Path.GetRelativePath(here, _state), ["x"], TextReader.Null, TextWriter.Null, TextWriter.Null));
        Assert.NotNull(seen);
        Assert.Equal(Path.GetFullPath(_state), seen.StateDirectory);
        Assert.Equal(here, seen.WorkingDirectory);

        // A request without them, or with relative ones, is refused in one line (nothing runs).
        seen = null;
        foreach (JsonObject bad in new[]
        {
            new JsonObject { ["args"] = new JsonArray("x") },
            new JsonObject { ["args"] = new JsonArray("x"), ["state"] = "state", ["cwd"] = "/" },
            new JsonObject { ["args"] = new JsonArray("x"), ["state"] = _state, ["cwd"] = "." },
        })
        {
            using var raw = new RawClient(_state, bad);
            Assert.Equal(2, await raw.ReadUntilQuestionOrExitAsync());
            Assert.StartsWith("error: control request without an absolute", raw.Err.ToString());
        }
        Assert.Null(seen);
    }

    [Fact]
    public async Task Socket_IsBoundPrivately_InA0700StateDirectory()
    {
        string state = Path.Combine(_state, "new-state");
        await using ControlServer server = ControlServer.Start(state, Handler);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(state));
        string socket = ControlProtocol.SocketPath(state);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket));
        // The private room the socket was bound in is gone; only the socket remains.
        Assert.Equal([socket], Directory.GetFileSystemEntries(state));
        Assert.True(ControlClient.IsListening(state));
    }
}
