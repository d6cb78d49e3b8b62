using System.Net.Sockets;
using System.Text;
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
}
