using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Certgate.Gateway.Control;

/// <summary>
/// Who is at the other end of a Unix socket (<c>SO_PEERCRED</c>, unix(7)) and who owns a file (<c>statx(2)</c>,
/// whose layout is the same on every Linux architecture, unlike <c>struct stat</c>).
/// </summary>
internal static partial class PeerCredentials
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;
    private const int AtFdCwd = -100;
    private const uint StatxUid = 0x8;

    /// <summary>The process id and user id of the peer of a connected Unix socket.</summary>
    /// <exception cref="SocketException">The kernel would not say.</exception>
    public static (uint Pid, uint Uid) Of(Socket socket)
    {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        Span<byte> ucred = stackalloc byte[12];
        int length = socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
        if (length < 8)
        {
            throw new SocketException((int)SocketError.ProtocolNotSupported);
        }
        return (BinaryPrimitives.ReadUInt32LittleEndian(ucred), BinaryPrimitives.ReadUInt32LittleEndian(ucred[4..]));
    }

    /// <summary>The user id that owns <paramref name="path"/>.</summary>
    /// <exception cref="IOException">The file cannot be looked at.</exception>
    public static uint OwnerOf(string path)
    {
        // struct statx: stx_mask (u32), stx_blksize (u32), stx_attributes (u64), stx_nlink (u32), stx_uid (u32), … 256 bytes.
        byte[] statx = new byte[256];
        if (StatX(AtFdCwd, path, 0, StatxUid, ref statx[0]) != 0)
        {
            throw new IOException($"{path}: cannot read its owner (errno {Marshal.GetLastPInvokeError()})");
        }
        return BinaryPrimitives.ReadUInt32LittleEndian(statx.AsSpan(20));
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatX(int directoryFd, string path, int flags, uint mask, ref byte buffer);
}
