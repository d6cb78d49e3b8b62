using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Certgate.Gateway.Control;

/// <summary>
/// The control socket's protocol: one JSON object per line over a Unix stream socket (<c>STATE/certgate.sock</c>,
/// mode 0600). The client sends <c>{"args":[…]}</c>; the daemon streams <c>{"out":"…"}</c> and <c>{"err":"…"}</c>,
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

    internal static Socket NewSocket() => new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
}
