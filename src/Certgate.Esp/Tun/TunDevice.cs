using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Certgate.Esp.Tun;

/// <summary>
/// A Linux TUN device (layer 3, no packet-information header): every read returns one IP packet routed into the
/// interface, every write injects one. Opened with <c>TUNSETIFF</c> on <c>/dev/net/tun</c>; needs CAP_NET_ADMIN.
/// The interface disappears when the device is disposed (it is not made persistent).
/// </summary>
public sealed partial class TunDevice : IDisposable
{
    private const uint TunSetIff = 0x400454ca;
    private const short IffTun = 0x0001;
    private const short IffNoPi = 0x1000;
    private const int OpenReadWrite = 2;
    private const int OpenCloseOnExec = 0x80000;
    private readonly SafeFileHandle _handle;
    private readonly FileStream _stream;

    private TunDevice(SafeFileHandle handle, string name)
    {
        _handle = handle;
        Name = name;
        // bufferSize 0: every Read/Write is one read(2)/write(2), i.e. one packet.
        _stream = new FileStream(handle, FileAccess.ReadWrite, 0, isAsync: false);
    }

    /// <summary>The interface name the kernel gave (the one asked for, or tunN).</summary>
    public string Name { get; }

    /// <summary>Creates (or attaches to) TUN interface <paramref name="name"/> (at most 15 characters).</summary>
    /// <exception cref="IOException">The device cannot be opened or configured (permission, name in use by another kind).</exception>
    public static TunDevice Open(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        byte[] nameBytes = Encoding.ASCII.GetBytes(name);
        if (nameBytes.Length > 15)
        {
            throw new ArgumentException("interface names are at most 15 characters", nameof(name));
        }
        int fd = OpenNative("/dev/net/tun", OpenReadWrite | OpenCloseOnExec);
        if (fd < 0)
        {
            throw new IOException($"cannot open /dev/net/tun: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        // struct ifreq: char ifr_name[16]; short ifr_flags; (padding to 40 bytes)
        byte[] ifreq = new byte[40];
        nameBytes.CopyTo(ifreq, 0);
        BitConverter.TryWriteBytes(ifreq.AsSpan(16), (short)(IffTun | IffNoPi));
        if (Ioctl(fd, TunSetIff, ifreq) < 0)
        {
            string error = Marshal.GetLastPInvokeErrorMessage();
            handle.Dispose();
            throw new IOException($"cannot create TUN interface {name}: {error}");
        }
        int end = Array.IndexOf(ifreq, (byte)0, 0, 16);
        return new TunDevice(handle, Encoding.ASCII.GetString(ifreq, 0, end < 0 ? 16 : end));
    }

    /// <summary>Blocks until a packet arrives; returns its length (0 when the device is closed).</summary>
    public int Read(Span<byte> buffer)
    {
        try
        {
            return _stream.Read(buffer);
        }
        catch (ObjectDisposedException)
        {
            return 0;
        }
    }

    /// <summary>Injects one IP packet.</summary>
    public void Write(ReadOnlySpan<byte> packet) => _stream.Write(packet);

    public void Dispose()
    {
        _stream.Dispose();
        _handle.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenNative(string path, int flags);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, uint request, byte[] argument);
}
