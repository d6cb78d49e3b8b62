using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Certgate.Gateway.Control;

/// <summary>
/// The control socket's protocol: one JSON object per line over a Unix stream socket (<c>STATE/certgate.sock</c>,
/// mode 0600 in the 0700 state directory). The client sends <c>{"args":[…],"state":"/abs","cwd":"/abs"}</c> (the
/// state directory it resolved and its working directory, both absolute: the command runs on that state and its file
/// names resolve against that directory, not the daemon's); the daemon streams <c>{"out":"…"}</c> and <c>{"err":"…"}</c>,
/// asks <c>{"read":true}</c> when the command reads a line (a confirmation) and gets <c>{"line":"…"}</c> or
/// <c>{"eof":true}</c> back, and ends with <c>{"exit":N}</c>. Lines are limited to <see cref="MaxLine"/> characters.
/// </summary>
public static class ControlProtocol
{
    /// <summary>The socket's file name inside the state directory.</summary>
    public const string SocketName = "certgate.sock";

    /// <summary>The longest frame accepted (1 MiB: a detailed show of many certificates fits).</summary>
    public const int MaxLine = 1024 * 1024;

    public static string SocketPath(string stateDirectory) => Path.Combine(Path.GetFullPath(stateDirectory), SocketName);

    internal static async Task WriteFrameAsync(Stream stream, JsonObject frame, CancellationToken cancellationToken)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(frame.ToJsonString() + "\n");
        await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads one frame; null at end of stream.</summary>
    /// <exception cref="InvalidDataException">A frame is too long or not a JSON object.</exception>
    internal static async Task<JsonObject?> ReadFrameAsync(StreamReader reader, CancellationToken cancellationToken)
    {
        var line = new StringBuilder();
        char[] one = new char[1];
        while (true)
        {
            int n = await reader.ReadAsync(one.AsMemory(), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return line.Length == 0 ? null : throw new InvalidDataException("the control connection closed in the middle of a frame");
            }
            if (one[0] == '\n')
            {
                break;
            }
            if (line.Length >= MaxLine)
            {
                throw new InvalidDataException($"a control frame is longer than {MaxLine} characters");
            }
            line.Append(one[0]);
        }
        try
        {
            return JsonNode.Parse(line.ToString()) as JsonObject ?? throw new InvalidDataException("a control frame is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException("a control frame is not valid JSON: " + e.Message, e);
        }
    }

    /// <summary>The request's frame.</summary>
    internal static JsonObject ToFrame(ControlRequest request) => new()
    {
        ["args"] = new JsonArray([.. request.Args.Select(a => (JsonNode?)a)]),
        ["state"] = request.StateDirectory,
        ["cwd"] = request.WorkingDirectory,
    };

    /// <summary>The request in a frame; null (with the reason) when the frame is not a well-formed request.</summary>
    internal static ControlRequest? FromFrame(JsonObject? frame, out string problem)
    {
        problem = "";
        if (frame?["args"] is not JsonArray array || array.Any(a => a is not JsonValue v || v.GetValueKind() != JsonValueKind.String))
        {
            problem = "control request without \"args\" (a list of strings)";
            return null;
        }
        string? state = frame["state"] is JsonValue s && s.GetValueKind() == JsonValueKind.String ? s.GetValue<string>() : null;
        string? cwd = frame["cwd"] is JsonValue c && c.GetValueKind() == JsonValueKind.String ? c.GetValue<string>() : null;
        if (state is null || cwd is null || !Path.IsPathFullyQualified(state) || !Path.IsPathFullyQualified(cwd))
        {
            problem = "control request without an absolute \"state\" and \"cwd\" (a client older than the daemon?)";
            return null;
        }
        return new ControlRequest([.. array.Select(a => a!.GetValue<string>())], state, cwd);
    }

    internal static Socket NewSocket() => new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
}

/// <summary>
/// One forwarded command: its arguments as the client got them, the state directory the client resolved and the
/// client's working directory (both absolute). The daemon runs the command on <see cref="StateDirectory"/> and resolves
/// relative file names against <see cref="WorkingDirectory"/>: the daemon's own directory and environment play no part.
/// </summary>
public sealed record ControlRequest(IReadOnlyList<string> Args, string StateDirectory, string WorkingDirectory);
