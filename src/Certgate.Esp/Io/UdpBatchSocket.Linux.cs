using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Certgate.Esp.Io;

/// <summary>
/// Batched datagram I/O on a bound UDP <see cref="Socket"/> (Linux): <c>recvmmsg(2)</c> fills up to
/// <see cref="ReceiveSlots"/> datagrams per call and <c>sendmmsg(2)</c> sends a whole batch per call, over pinned
/// buffers allocated once. Where the kernel allows, UDP GSO (<c>UDP_SEGMENT</c>: one message carries a run of
/// equal-sized datagrams to one peer, the kernel cuts them) and UDP GRO (<c>UDP_GRO</c>: the kernel hands over a
/// run of equal-sized datagrams of one flow as one buffer plus the segment size) cut the system calls further;
/// without them every message is one datagram.
/// </summary>
/// <remarks>
/// One thread receives and one thread sends (each side owns its buffers). The descriptor belongs to the caller, who
/// closes it; this object holds only buffers. The socket stays blocking for other
/// users (IKE's <c>SendTo</c>); the receive side asks with <c>MSG_DONTWAIT</c> and waits in <c>poll(2)</c> with a
/// short timeout, so disposing the socket ends a waiting receiver within <see cref="IdlePollMilliseconds"/>.
/// </remarks>
internal sealed partial class UdpBatchSocket
{
    /// <summary>Datagrams (or GRO runs) one receive call can return.</summary>
    public const int ReceiveSlots = 32;

    /// <summary>Messages one send call can carry.</summary>
    public const int SendMessages = 64;

    /// <summary>Octets the send side holds before it must be flushed (packets are appended back to back).</summary>
    public const int SendBufferLength = 512 * 1024;

    /// <summary>The kernel's limit on segments in one GSO send (UDP_MAX_SEGMENTS was 64 before Linux 5.5).</summary>
    private const int MaxGsoSegments = 64;

    /// <summary>One GSO send is one UDP datagram before it is cut: its payload stays below 65,507 octets.</summary>
    private const int MaxGsoBytes = 65_000;

    /// <summary>
    /// The kernel buffer asked for each direction of a data-plane socket (the kernel doubles it for its bookkeeping).
    /// The default (~208 KiB) holds ~150 full-size ESP packets, 1.5 ms at 1 Gbit/s: a receive thread that loses the CPU
    /// for longer (two cores shared with TUN writers and the application) lost ~15% of a TCP stream's ESP packets.
    /// 4 MiB holds ~30 ms, per socket (one UDP and one raw socket per local-gateway address, not per tunnel).
    /// </summary>
    public const int KernelBufferLength = 4 * 1024 * 1024;

    private const int SlotLength = 65_536;
    private const int SolSocket = 1;
    private const int SoSndBuf = 7;
    private const int SoRcvBuf = 8;
    private const int SoSndBufForce = 32;
    private const int SoRcvBufForce = 33;
    private const int SoRxqOvfl = 40;
    private const int NameLength = 28;
    private const int ControlLength = 64;
    private const int SolUdp = 17;
    private const int UdpSegment = 103;
    private const int UdpGro = 104;
    private const int MsgDontWait = 0x40;
    private const int EAgain = 11;
    private const int EIntr = 4;
    private const int EInval = 22;
    private const int EOpNotSupp = 95;
    private const int EConnReset = 104;
    private const int EConnRefused = 111;
    private const short PollIn = 0x1;
    private const int IdlePollMilliseconds = 200;
    private const ushort AfInet = 2;
    private const ushort AfInet6 = 10;
    private const int SockRaw = 3;
    private const int SockCloexec = 0x80000;

    private readonly SafeHandle _handle;
    private readonly bool _ipv6;
    private readonly bool _overflowCounted;

    // Receive side: ReceiveSlots buffers of 64 KiB (a GRO run can fill one), each with its address and control room;
    // none for a send-only instance (a data plane's device sends through one of its own).
    private readonly byte[] _rx;
    private readonly byte[] _rxNames = GC.AllocateArray<byte>(ReceiveSlots * NameLength, pinned: true);
    private readonly byte[] _rxControl = GC.AllocateArray<byte>(ReceiveSlots * ControlLength, pinned: true);
    private readonly IoVec[] _rxIov = GC.AllocateArray<IoVec>(ReceiveSlots, pinned: true);
    private readonly MMsgHdr[] _rxMsgs = GC.AllocateArray<MMsgHdr>(ReceiveSlots, pinned: true);

    // Send side: packets appended back to back into _tx; runs of them become messages.
    private readonly byte[] _tx = GC.AllocateArray<byte>(SendBufferLength, pinned: true);
    private readonly byte[] _txNames = GC.AllocateArray<byte>(SendMessages * NameLength, pinned: true);
    private readonly byte[] _txControl = GC.AllocateArray<byte>(SendMessages * ControlLength, pinned: true);
    private readonly IoVec[] _txIov = GC.AllocateArray<IoVec>(SendMessages, pinned: true);
    private readonly MMsgHdr[] _txMsgs = GC.AllocateArray<MMsgHdr>(SendMessages, pinned: true);
    private readonly TxMessage[] _pending = new TxMessage[SendMessages];
    private readonly byte[] _oneName = GC.AllocateArray<byte>(NameLength, pinned: true);
    private readonly IoVec[] _oneIov = GC.AllocateArray<IoVec>(1, pinned: true);
    private readonly MMsgHdr[] _oneMsg = GC.AllocateArray<MMsgHdr>(1, pinned: true);
    private int _txUsed;
    private int _pendingCount;

    public UdpBatchSocket(Socket socket, bool allowOffloads = true, bool sendOnly = false)
        : this((socket ?? throw new ArgumentNullException(nameof(socket))).SafeHandle, socket.AddressFamily, allowOffloads, sendOnly)
    {
    }

    /// <summary>
    /// Over any bound datagram descriptor (a raw ESP socket, say); UDP offloads are probed and fail there. A
    /// <paramref name="sendOnly"/> instance has no receive buffers (2 MiB less) and refuses <see cref="Receive"/>.
    /// </summary>
    public UdpBatchSocket(SafeHandle handle, AddressFamily family, bool allowOffloads, bool sendOnly = false)
    {
        _rx = sendOnly ? [] : GC.AllocateArray<byte>(ReceiveSlots * SlotLength, pinned: true);
        _handle = handle ?? throw new ArgumentNullException(nameof(handle));
        _ipv6 = family == AddressFamily.InterNetworkV6;
        int fd = (int)handle.DangerousGetHandle();
        if (allowOffloads)
        {
            // Probed, not assumed: getsockopt(UDP_SEGMENT) fails on kernels before 4.18; UDP_GRO needs 5.0.
            int value = 0;
            int size = sizeof(int);
            Gso = GetSockOpt(fd, SolUdp, UdpSegment, ref value, ref size) == 0;
            int one = 1;
            Gro = SetSockOpt(fd, SolUdp, UdpGro, ref one, sizeof(int)) == 0;
        }
        if (!sendOnly)
        {
            // The kernel then reports, with each datagram, how many it dropped on this socket so far (full queue).
            int one = 1;
            _overflowCounted = SetSockOpt(fd, SolSocket, SoRxqOvfl, ref one, sizeof(int)) == 0;
        }
        for (int i = 0; i < ReceiveSlots && !sendOnly; i++)
        {
            _rxIov[i] = new IoVec { Base = Address(_rx, i * SlotLength), Length = SlotLength };
        }
        for (int i = 0; i < SendMessages; i++)
        {
            _txMsgs[i].Header.Name = Address(_txNames, i * NameLength);
            _txMsgs[i].Header.Iov = Address(_txIov, i);
            _txMsgs[i].Header.IovLength = 1;
        }
    }

    /// <summary>Sends use UDP GSO (<c>UDP_SEGMENT</c>).</summary>
    public bool Gso { get; private set; }

    /// <summary>Receives use UDP GRO (<c>UDP_GRO</c>).</summary>
    public bool Gro { get; }

    /// <summary>
    /// Datagrams the kernel dropped on this socket because its receive queue was full, as of the last
    /// <see cref="Receive"/> (<c>SO_RXQ_OVFL</c>: a 32-bit count that wraps; 0 where the kernel does not report it).
    /// </summary>
    public uint Overflows { get; private set; }

    /// <summary>Which offloads are in use, for the log.</summary>
    public string Describe() => $"recvmmsg/sendmmsg, UDP GSO {(Gso ? "on" : "off")}, UDP GRO {(Gro ? "on" : "off")}";

    /// <summary>
    /// Waits for datagrams and receives up to <see cref="ReceiveSlots"/> messages; returns how many (0 when the socket
    /// was disposed). Read each with <see cref="Received"/>.
    /// </summary>
    /// <exception cref="SocketException">The receive failed for a reason other than a pending ICMP error.</exception>
    /// <exception cref="InvalidOperationException">The instance is send-only.</exception>
    public int Receive()
    {
        if (_rx.Length == 0)
        {
            throw new InvalidOperationException("a send-only UdpBatchSocket does not receive");
        }
        while (true)
        {
            bool added = false;
            try
            {
                _handle.DangerousAddRef(ref added);
                int fd = (int)_handle.DangerousGetHandle();
                for (int i = 0; i < ReceiveSlots; i++)
                {
                    ref MsgHdr h = ref _rxMsgs[i].Header;
                    h.Name = Address(_rxNames, i * NameLength);
                    h.NameLength = NameLength;
                    h.Iov = Address(_rxIov, i);
                    h.IovLength = 1;
                    h.Control = Gro || _overflowCounted ? Address(_rxControl, i * ControlLength) : 0;
                    h.ControlLength = Gro || _overflowCounted ? (nuint)ControlLength : 0;
                    h.Flags = 0;
                    _rxMsgs[i].Length = 0;
                }
                int n = RecvMMsg(fd, ref _rxMsgs[0], ReceiveSlots, MsgDontWait, 0);
                if (n > 0)
                {
                    if (_overflowCounted)
                    {
                        ReadOverflows(n - 1);
                    }
                    return n;
                }
                int errno = Marshal.GetLastPInvokeError();
                if (n == 0 || errno is EAgain or EIntr)
                {
                    var wait = new PollFd { Fd = fd, Events = PollIn };
                    Poll(ref wait, 1, IdlePollMilliseconds);
                    continue;
                }
                // ICMP port unreachable for an earlier send surfaces on the next receive: not this socket's failure.
                if (errno is EConnRefused or EConnReset)
                {
                    continue;
                }
                throw new SocketException(errno);
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
    }

    /// <summary>
    /// Message <paramref name="index"/> of the last <see cref="Receive"/>: its octets (a GRO run of datagrams of
    /// <paramref name="segmentLength"/> octets each, the last maybe shorter; otherwise one datagram and
    /// <paramref name="segmentLength"/> is its length).
    /// </summary>
    public ReadOnlySpan<byte> Received(int index, out int segmentLength)
    {
        int length = (int)_rxMsgs[index].Length;
        segmentLength = length;
        if (Gro && _rxMsgs[index].Header.ControlLength >= 16)
        {
            // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } then the data, 8-aligned.
            ReadOnlySpan<byte> control = _rxControl.AsSpan(index * ControlLength, (int)_rxMsgs[index].Header.ControlLength);
            while (control.Length >= 16)
            {
                int cmsgLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(control);
                if (cmsgLength < 16 || cmsgLength > control.Length)
                {
                    break;
                }
                if (BinaryPrimitives.ReadInt32LittleEndian(control[8..]) == SolUdp && BinaryPrimitives.ReadInt32LittleEndian(control[12..]) == UdpGro)
                {
                    int size = BinaryPrimitives.ReadInt32LittleEndian(control[16..]);
                    if (size > 0)
                    {
                        segmentLength = size;
                    }
                    break;
                }
                control = control[Math.Min(control.Length, (cmsgLength + 7) & ~7)..];
            }
        }
        return _rx.AsSpan(index * SlotLength, length);
    }

    /// <summary>The kernel's drop count from message <paramref name="index"/>'s control data (sent only once it is not 0).</summary>
    private void ReadOverflows(int index)
    {
        ReadOnlySpan<byte> control = _rxControl.AsSpan(index * ControlLength, (int)Math.Min((nuint)ControlLength, _rxMsgs[index].Header.ControlLength));
        while (control.Length >= 20)
        {
            int cmsgLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(control);
            if (cmsgLength < 16 || cmsgLength > control.Length)
            {
                return;
            }
            if (BinaryPrimitives.ReadInt32LittleEndian(control[8..]) == SolSocket && BinaryPrimitives.ReadInt32LittleEndian(control[12..]) == SoRxqOvfl)
            {
                Overflows = BinaryPrimitives.ReadUInt32LittleEndian(control[16..]);
                return;
            }
            control = control[Math.Min(control.Length, (cmsgLength + 7) & ~7)..];
        }
    }

    /// <summary>The sender of message <paramref name="index"/> of the last <see cref="Receive"/>.</summary>
    public IPEndPoint ReceivedFrom(int index) => ReadAddress(_rxNames.AsSpan(index * NameLength, NameLength));

    /// <summary>Room for the next packet to send (at least <paramref name="length"/> octets), flushing first if needed.</summary>
    public Span<byte> SendBuffer(int length)
    {
        if (length > SendBufferLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"a datagram is at most {SendBufferLength} octets here");
        }
        if (_txUsed + length > SendBufferLength || _pendingCount == SendMessages)
        {
            Flush();
        }
        return _tx.AsSpan(_txUsed, length);
    }

    /// <summary>Queues the <paramref name="length"/> octets just written at the start of <see cref="SendBuffer"/> for <paramref name="to"/>.</summary>
    public void Commit(int length, IPEndPoint to)
    {
        if (_pendingCount > 0)
        {
            ref TxMessage last = ref _pending[_pendingCount - 1];
            // A GSO run: same peer, every datagram but the last of the run the same size, contiguous in _tx.
            if (Gso && (ReferenceEquals(last.To, to) || to.Equals(last.To)) && !last.Closed && length <= last.Segment && last.Count < MaxGsoSegments &&
                last.Length + length <= MaxGsoBytes)
            {
                last.Length += length;
                last.Count++;
                last.Closed = length < last.Segment;
                _txUsed += length;
                return;
            }
            if (_pendingCount == SendMessages)
            {
                throw new InvalidOperationException("SendBuffer must be called before Commit");
            }
        }
        _pending[_pendingCount++] = new TxMessage { Offset = _txUsed, Length = length, Segment = length, Count = 1, To = to };
        _txUsed += length;
    }

    /// <summary>Sends everything queued (best effort, like IP: a datagram the kernel refuses is dropped).</summary>
    /// <returns>Datagrams the kernel refused.</returns>
    public int Flush()
    {
        int refused = 0;
        if (_pendingCount == 0)
        {
            return 0;
        }
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            int fd = (int)_handle.DangerousGetHandle();
            IPEndPoint? lastTo = null;
            int lastName = -1;
            for (int i = 0; i < _pendingCount; i++)
            {
                ref TxMessage m = ref _pending[i];
                ref MsgHdr h = ref _txMsgs[i].Header;
                if (!ReferenceEquals(m.To, lastTo))
                {
                    h.NameLength = (uint)WriteAddress(m.To!, _txNames.AsSpan(i * NameLength, NameLength));
                    lastTo = m.To;
                    lastName = i;
                }
                else
                {
                    _txNames.AsSpan(lastName * NameLength, NameLength).CopyTo(_txNames.AsSpan(i * NameLength, NameLength));
                    h.NameLength = _txMsgs[lastName].Header.NameLength;
                }
                _txIov[i] = new IoVec { Base = Address(_tx, m.Offset), Length = (nuint)m.Length };
                if (m.Count > 1)
                {
                    Span<byte> c = _txControl.AsSpan(i * ControlLength, 24);
                    c.Clear();
                    BinaryPrimitives.WriteUInt64LittleEndian(c, 18);
                    BinaryPrimitives.WriteInt32LittleEndian(c[8..], SolUdp);
                    BinaryPrimitives.WriteInt32LittleEndian(c[12..], UdpSegment);
                    BinaryPrimitives.WriteUInt16LittleEndian(c[16..], (ushort)m.Segment);
                    h.Control = Address(_txControl, i * ControlLength);
                    h.ControlLength = 24;
                }
                else
                {
                    h.Control = 0;
                    h.ControlLength = 0;
                }
                h.Flags = 0;
            }
            int done = 0;
            while (done < _pendingCount)
            {
                int n = SendMMsg(fd, ref _txMsgs[done], (uint)(_pendingCount - done), 0);
                if (n > 0)
                {
                    done += n;
                    continue;
                }
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EIntr)
                {
                    continue;
                }
                ref TxMessage failed = ref _pending[done];
                if (failed.Count > 1)
                {
                    // The kernel would not cut this run (GSO refused on the route, or a segment above the path MTU):
                    // send its datagrams one by one, and stop asking for GSO if the socket refuses it altogether.
                    if (errno is EInval or EOpNotSupp)
                    {
                        Gso = false;
                    }
                    refused += SendOneByOne(fd, in failed);
                }
                else
                {
                    refused++;
                }
                done++;
            }
        }
        catch (ObjectDisposedException)
        {
            refused = _pendingCount;
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
            _pendingCount = 0;
            _txUsed = 0;
        }
        return refused;
    }

    private int SendOneByOne(int fd, in TxMessage run)
    {
        int refused = 0;
        int at = run.Offset;
        int end = run.Offset + run.Length;
        ref MMsgHdr m = ref _oneMsg[0];
        m.Header.Name = Address(_oneName, 0);
        m.Header.NameLength = (uint)WriteAddress(run.To!, _oneName);
        m.Header.Iov = Address(_oneIov, 0);
        m.Header.IovLength = 1;
        m.Header.Control = 0;
        m.Header.ControlLength = 0;
        while (at < end)
        {
            int length = Math.Min(run.Segment, end - at);
            _oneIov[0] = new IoVec { Base = Address(_tx, at), Length = (nuint)length };
            if (SendMMsg(fd, ref m, 1, 0) != 1)
            {
                refused++;
            }
            at += length;
        }
        return refused;
    }

    private int WriteAddress(IPEndPoint to, Span<byte> name)
    {
        name.Clear();
        if (_ipv6)
        {
            // struct sockaddr_in6 { family; port (BE); flowinfo; addr[16]; scope_id; } — IPv4 peers as ::ffff:a.b.c.d.
            IPAddress address = to.AddressFamily == AddressFamily.InterNetwork ? to.Address.MapToIPv6() : to.Address;
            BinaryPrimitives.WriteUInt16LittleEndian(name, AfInet6);
            BinaryPrimitives.WriteUInt16BigEndian(name[2..], (ushort)to.Port);
            address.TryWriteBytes(name[8..24], out _);
            BinaryPrimitives.WriteUInt32LittleEndian(name[24..], (uint)address.ScopeId);
            return 28;
        }
        // struct sockaddr_in { family; port (BE); addr[4]; zero[8]; }
        BinaryPrimitives.WriteUInt16LittleEndian(name, AfInet);
        BinaryPrimitives.WriteUInt16BigEndian(name[2..], (ushort)to.Port);
        to.Address.TryWriteBytes(name[4..8], out _);
        return 16;
    }

    private static IPEndPoint ReadAddress(ReadOnlySpan<byte> name)
    {
        int port = BinaryPrimitives.ReadUInt16BigEndian(name[2..]);
        if (BinaryPrimitives.ReadUInt16LittleEndian(name) == AfInet6)
        {
            var v6 = new IPAddress(name[8..24], BinaryPrimitives.ReadUInt32LittleEndian(name[24..]));
            return new IPEndPoint(v6.IsIPv4MappedToIPv6 ? v6.MapToIPv4() : v6, port);
        }
        return new IPEndPoint(new IPAddress(name[4..8]), port);
    }

    /// <summary>
    /// Sets the kernel's receive and send buffers of <paramref name="handle"/> to <paramref name="length"/> octets:
    /// <c>SO_RCVBUFFORCE</c>/<c>SO_SNDBUFFORCE</c> (CAP_NET_ADMIN, above <c>net.core.rmem_max</c>), else
    /// <c>SO_RCVBUF</c>/<c>SO_SNDBUF</c> (capped at the sysctl). Returns the receive buffer the kernel reports.
    /// </summary>
    public static int EnlargeKernelBuffers(SafeHandle handle, int length = KernelBufferLength)
    {
        ArgumentNullException.ThrowIfNull(handle);
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            foreach ((int force, int plain) in new[] { (SoRcvBufForce, SoRcvBuf), (SoSndBufForce, SoSndBuf) })
            {
                int value = length;
                if (SetSockOpt(fd, SolSocket, force, ref value, sizeof(int)) != 0)
                {
                    value = length;
                    // Best effort: a socket keeps its default buffer where neither is allowed.
                    _ = SetSockOpt(fd, SolSocket, plain, ref value, sizeof(int));
                }
            }
            int got = 0;
            int size = sizeof(int);
            return GetSockOpt(fd, SolSocket, SoRcvBuf, ref got, ref size) == 0 ? got : 0;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Opens a raw socket for IP protocol <paramref name="protocol"/> bound to <paramref name="local"/>'s address
    /// (through libc: .NET's Socket maps only a few protocol numbers for raw sockets). Null, with the reason, where
    /// the process may not (no CAP_NET_RAW).
    /// </summary>
    public static SafeFileHandle? OpenRaw(IPAddress local, int protocol, out string? error)
    {
        bool v6 = local.AddressFamily == AddressFamily.InterNetworkV6;
        int fd = SocketNative(v6 ? AfInet6 : AfInet, SockRaw | SockCloexec, protocol);
        if (fd < 0)
        {
            error = Marshal.GetLastPInvokeErrorMessage();
            return null;
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        byte[] name = new byte[NameLength];
        int length;
        if (v6)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(name, AfInet6);
            local.TryWriteBytes(name.AsSpan(8, 16), out _);
            BinaryPrimitives.WriteUInt32LittleEndian(name.AsSpan(24), (uint)local.ScopeId);
            length = 28;
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(name, AfInet);
            local.TryWriteBytes(name.AsSpan(4, 4), out _);
            length = 16;
        }
        if (BindNative(fd, name, length) < 0)
        {
            error = Marshal.GetLastPInvokeErrorMessage();
            handle.Dispose();
            return null;
        }
        error = null;
        return handle;
    }

    private static nint Address<T>(T[] array, int index) where T : unmanaged => Marshal.UnsafeAddrOfPinnedArrayElement(array, index);

    private struct TxMessage
    {
        public int Offset;
        public int Length;
        public int Segment;
        public int Count;
        public bool Closed;
        public IPEndPoint? To;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public nint Base;
        public nuint Length;
    }

    /// <summary>struct msghdr (LP64).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public nint Name;
        public uint NameLength;
        public nint Iov;
        public nuint IovLength;
        public nint Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>struct mmsghdr: the header and the octets received or sent for it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct MMsgHdr
    {
        public MsgHdr Header;
        public uint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int SocketNative(int family, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    private static partial int BindNative(int fd, byte[] address, int length);

    [LibraryImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    private static partial int RecvMMsg(int fd, ref MMsgHdr messages, uint count, int flags, nint timeout);

    [LibraryImport("libc", EntryPoint = "sendmmsg", SetLastError = true)]
    private static partial int SendMMsg(int fd, ref MMsgHdr messages, uint count, int flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(ref PollFd fds, nuint count, int timeoutMilliseconds);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    private static partial int GetSockOpt(int fd, int level, int name, ref int value, ref int length);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetSockOpt(int fd, int level, int name, ref int value, int length);
}
