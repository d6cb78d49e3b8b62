using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Certgate.Esp.Tun;

/// <summary>
/// A Linux TUN device (layer 3, no packet-information header): every read returns one IP packet routed into the
/// interface, every write injects one (with <see cref="Offloads"/>, behind a virtio header, and a read may be a
/// TCP super-packet). Opened with <c>TUNSETIFF</c> on <c>/dev/net/tun</c>; needs CAP_NET_ADMIN.
/// The interface disappears when the device is disposed (it is not made persistent).
/// </summary>
/// <remarks>
/// Why non-blocking: closing a descriptor does not wake a thread blocked in read(2) on it, so a blocking reader kept
/// a disposed device (and its interface) alive until the next packet arrived. Reads are read(2) while packets are
/// queued and poll(2) with a short timeout when none are, so <see cref="Dispose"/> ends a waiting reader within
/// <see cref="IdlePollMilliseconds"/>; the handle's reference count keeps the descriptor open during a call.
/// </remarks>
public sealed partial class TunDevice : IDisposable
{
    private const uint TunSetIff = 0x400454ca;
    private const short IffTun = 0x0001;
    private const short IffNoPi = 0x1000;
    private const short IffVnetHdr = 0x4000;
    private const uint TunSetOffload = 0x400454d0;
    private const uint SiocGifMtu = 0x8921;
    private const uint SiocSifMtu = 0x8922;
    private const nint TunFCsum = 0x01;
    private const nint TunFTso4 = 0x02;
    private const nint TunFTso6 = 0x04;
    private const int OpenReadWrite = 2;
    private const int OpenNonBlocking = 0x800;
    private const int OpenCloseOnExec = 0x80000;
    private const int EAgain = 11;
    private const int EIntr = 4;
    private const short PollIn = 0x1;
    private const short PollOut = 0x4;
    private const int IdlePollMilliseconds = 200;
    private readonly SafeFileHandle _handle;
    private volatile bool _closed;

    private TunDevice(SafeFileHandle handle, string name, bool offloads)
    {
        _handle = handle;
        Name = name;
        Offloads = offloads;
    }

    /// <summary>The interface name the kernel gave (the one asked for, or tunN).</summary>
    public string Name { get; }

    /// <summary>
    /// Every packet read or written carries a 10-octet <c>virtio_net_hdr</c> first (<c>IFF_VNET_HDR</c>), and the
    /// kernel may hand over TCP super-packets (TSO) and packets with the checksum left to finish
    /// (<c>TUNSETOFFLOAD</c> TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6); see <see cref="TcpSegmentation"/> and
    /// <see cref="TcpCoalescer"/>.
    /// </summary>
    public bool Offloads { get; }

    /// <summary>Creates (or attaches to) TUN interface <paramref name="name"/> (at most 15 characters).</summary>
    /// <exception cref="IOException">The device cannot be opened or configured (permission, name in use by another kind).</exception>
    public static TunDevice Open(string name) => Open(name, offloads: false);

    /// <summary>
    /// Creates (or attaches to) TUN interface <paramref name="name"/>; with <paramref name="offloads"/>, asks for
    /// TCP segmentation offload and falls back to a plain device where the kernel refuses (see <see cref="Offloads"/>).
    /// </summary>
    /// <exception cref="IOException">The device cannot be opened or configured (permission, name in use by another kind).</exception>
    public static TunDevice Open(string name, bool offloads)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        byte[] nameBytes = Encoding.ASCII.GetBytes(name);
        if (nameBytes.Length > 15)
        {
            throw new ArgumentException("interface names are at most 15 characters", nameof(name));
        }
        if (offloads)
        {
            TunDevice? device = TryOpen(name, nameBytes, withOffloads: true, out _);
            if (device is not null)
            {
                return device;
            }
        }
        return TryOpen(name, nameBytes, withOffloads: false, out string? error) ?? throw new IOException(error);
    }

    private static TunDevice? TryOpen(string name, byte[] nameBytes, bool withOffloads, out string? error)
    {
        int fd = OpenNative("/dev/net/tun", OpenReadWrite | OpenNonBlocking | OpenCloseOnExec);
        if (fd < 0)
        {
            error = $"cannot open /dev/net/tun: {Marshal.GetLastPInvokeErrorMessage()}";
            return null;
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        // struct ifreq: char ifr_name[16]; short ifr_flags; (padding to 40 bytes)
        byte[] ifreq = new byte[40];
        nameBytes.CopyTo(ifreq, 0);
        BitConverter.TryWriteBytes(ifreq.AsSpan(16), (short)(IffTun | IffNoPi | (withOffloads ? IffVnetHdr : 0)));
        if (Ioctl(fd, TunSetIff, ifreq) < 0)
        {
            error = $"cannot create TUN interface {name}: {Marshal.GetLastPInvokeErrorMessage()}";
            handle.Dispose();
            return null;
        }
        // TUNSETOFFLOAD takes the flags as the ioctl argument itself, not through a pointer.
        if (withOffloads && IoctlValue(fd, TunSetOffload, TunFCsum | TunFTso4 | TunFTso6) < 0)
        {
            error = $"TUN interface {name}: offloads refused: {Marshal.GetLastPInvokeErrorMessage()}";
            handle.Dispose();
            return null;
        }
        error = null;
        int end = Array.IndexOf(ifreq, (byte)0, 0, 16);
        return new TunDevice(handle, Encoding.ASCII.GetString(ifreq, 0, end < 0 ? 16 : end), withOffloads);
    }

    /// <summary>The interface's MTU: what the kernel routes into it at most (and the TCP MSS it advertises).</summary>
    /// <exception cref="IOException">The kernel refused the value (below the family's minimum for a set address, say).</exception>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside 68..65535 (RFC 791 §3.1 minimum).</exception>
    public int Mtu
    {
        get => InterfaceMtu(SiocGifMtu, 0);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 68);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 65535);
            InterfaceMtu(SiocSifMtu, value);
        }
    }

    /// <summary>SIOCGIFMTU / SIOCSIFMTU: interface ioctls, which go through any socket (the TUN descriptor does not take them).</summary>
    private int InterfaceMtu(uint request, int value)
    {
        // struct ifreq: char ifr_name[16]; int ifr_mtu; (padding to 40 bytes)
        byte[] ifreq = new byte[40];
        Encoding.ASCII.GetBytes(Name, ifreq);
        BitConverter.TryWriteBytes(ifreq.AsSpan(16), value);
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        if (Ioctl((int)socket.Handle, request, ifreq) < 0)
        {
            throw new IOException($"TUN interface {Name}: {(request == SiocSifMtu ? $"MTU {value}" : "MTU")}: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        return BitConverter.ToInt32(ifreq, 16);
    }

    /// <summary>Blocks until a packet arrives; returns its length (0 once the device is disposed).</summary>
    /// <exception cref="IOException">The read failed (the interface was deleted, for example).</exception>
    public int Read(Span<byte> buffer)
    {
        while (!_closed)
        {
            bool added = false;
            try
            {
                _handle.DangerousAddRef(ref added);
                int fd = (int)_handle.DangerousGetHandle();
                nint n = ReadNative(fd, ref MemoryMarshal.GetReference(buffer), buffer.Length);
                if (n >= 0)
                {
                    return (int)n;
                }
                int errno = Marshal.GetLastPInvokeError();
                if (errno is not (EAgain or EIntr))
                {
                    throw new IOException($"reading TUN interface {Name}: {Marshal.GetPInvokeErrorMessage(errno)}");
                }
                var wait = new PollFd { Fd = fd, Events = PollIn };
                PollNative(ref wait, 1, IdlePollMilliseconds);
            }
            catch (ObjectDisposedException)
            {
                return 0;
            }
            finally
            {
                if (added)
                {
                    _handle.DangerousRelease();
                }
            }
        }
        return 0;
    }

    /// <summary>
    /// Returns the next queued packet's length without waiting: 0 when none is queued (or the device is disposed).
    /// A reader drains a burst with this after one <see cref="Read"/>, so a batch is sent in one system call.
    /// </summary>
    /// <exception cref="IOException">The read failed (the interface was deleted, for example).</exception>
    public int ReadQueued(Span<byte> buffer)
    {
        if (_closed)
        {
            return 0;
        }
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            nint n = ReadNative((int)_handle.DangerousGetHandle(), ref MemoryMarshal.GetReference(buffer), buffer.Length);
            if (n >= 0)
            {
                return (int)n;
            }
            int errno = Marshal.GetLastPInvokeError();
            return errno is EAgain or EIntr ? 0 : throw new IOException($"reading TUN interface {Name}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        catch (ObjectDisposedException)
        {
            return 0;
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    /// <summary>Injects one IP packet.</summary>
    /// <exception cref="IOException">The write failed.</exception>
    /// <exception cref="ObjectDisposedException">The device is disposed.</exception>
    public void Write(ReadOnlySpan<byte> packet)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            int fd = (int)_handle.DangerousGetHandle();
            for (int attempt = 0; ; attempt++)
            {
                nint n = WriteNative(fd, ref MemoryMarshal.GetReference(packet), packet.Length);
                if (n >= 0)
                {
                    return;
                }
                int errno = Marshal.GetLastPInvokeError();
                if (errno is not (EAgain or EIntr) || attempt >= 10)
                {
                    throw new IOException($"writing TUN interface {Name}: {Marshal.GetPInvokeErrorMessage(errno)}");
                }
                var wait = new PollFd { Fd = fd, Events = PollOut };
                PollNative(ref wait, 1, IdlePollMilliseconds);
            }
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    public void Dispose()
    {
        _closed = true;
        // Closes the descriptor now, or when a reader or writer inside a call releases it (within one poll).
        _handle.Dispose();
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint ReadNative(int fd, ref byte buffer, nint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint WriteNative(int fd, ref byte buffer, nint count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int PollNative(ref PollFd fds, nuint count, int timeoutMilliseconds);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenNative(string path, int flags);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, uint request, byte[] argument);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlValue(int fd, nuint request, nint argument);
}
