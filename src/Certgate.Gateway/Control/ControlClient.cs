using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Certgate.Gateway.Control;

/// <summary>
/// The <c>certgate</c> command's end of the control socket: when a gateway daemon runs on the state directory,
/// commands run inside it (so <c>show</c> reflects live state and writes are serialized); otherwise the command
/// works on the directory itself.
/// </summary>
public static class ControlClient
{
    /// <summary>Whether a daemon accepts connections on the state directory's socket.</summary>
    public static bool IsListening(string stateDirectory)
    {
        string path = ControlProtocol.SocketPath(stateDirectory);
        if (!File.Exists(path))
        {
            return false;
        }
        using Socket socket = ControlProtocol.NewSocket();
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// Runs <paramref name="args"/> in the daemon of <paramref name="stateDirectory"/>. Returns null when no daemon
    /// listens (the caller then runs the command itself); otherwise the command's exit code.
    /// </summary>
    public static int? TryRun(string stateDirectory, IReadOnlyList<string> args, TextReader input, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        string path = ControlProtocol.SocketPath(stateDirectory);
        if (!File.Exists(path))
        {
            return null;
        }
        using Socket socket = ControlProtocol.NewSocket();
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            return null;
        }
        using var stream = new NetworkStream(socket, ownsSocket: false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        // The state and the working directory as THIS process sees them: the daemon may run elsewhere.
        var request = new ControlRequest(args, Path.GetFullPath(stateDirectory), Environment.CurrentDirectory);
        try
        {
            ControlProtocol.WriteFrameAsync(stream, ControlProtocol.ToFrame(request), CancellationToken.None).GetAwaiter().GetResult();
            while (ControlProtocol.ReadFrameAsync(reader, CancellationToken.None).GetAwaiter().GetResult() is { } frame)
            {
                if (frame["out"] is { } o)
                {
                    output.Write(o.GetValue<string>());
                }
                else if (frame["err"] is { } e)
                {
                    error.Write(e.GetValue<string>());
                }
                else if (frame["read"] is not null)
                {
                    output.Flush();
                    string? line = input.ReadLine();
                    JsonObject answer = line is null ? new JsonObject { ["eof"] = true } : new JsonObject { ["line"] = line };
                    ControlProtocol.WriteFrameAsync(stream, answer, CancellationToken.None).GetAwaiter().GetResult();
                }
                else if (frame["exit"] is { } x)
                {
                    return x.GetValue<int>();
                }
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or SocketException)
        {
            error.WriteLine($"error: the gateway daemon's control connection failed: {e.Message}");
            return 1;
        }
        error.WriteLine("error: the gateway daemon closed the control connection before the command finished");
        return 1;
    }
}
