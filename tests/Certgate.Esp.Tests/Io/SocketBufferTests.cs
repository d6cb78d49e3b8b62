using System.Net;
using System.Net.Sockets;
using Certgate.Esp.Dataplane;
using Certgate.Esp.Io;

namespace Certgate.Esp.Tests.Io;

/// <summary>
/// The data plane's sockets: enlarged kernel buffers, and the kernel's count of datagrams lost to a full receive
/// queue (<c>SO_RXQ_OVFL</c>) read back, so losses before the data plane are visible among its drops.
/// </summary>
public sealed class SocketBufferTests
{
    [Fact]
    public void EnlargeKernelBuffers_GivesAtLeastTheDefaultAndReportsIt()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        int before = socket.ReceiveBufferSize;
        int got = UdpBatchSocket.EnlargeKernelBuffers(socket.SafeHandle);
        Assert.Equal(socket.ReceiveBufferSize, got);
        // Without CAP_NET_ADMIN the kernel caps at rmem_max, which may be what the socket had already.
        Assert.True(got >= before, $"receive buffer {got} < default {before}");
        if (Environment.UserName == "root")
        {
            // SO_RCVBUFFORCE: past rmem_max; the kernel reports twice the request.
            Assert.Equal(2 * UdpBatchSocket.KernelBufferLength, got);
            Assert.Equal(2 * UdpBatchSocket.KernelBufferLength, socket.SendBufferSize);
        }
    }

    [Fact]
    public void FullReceiveQueue_TheKernelsDropCountArrivesWithTheNextDatagrams()
    {
        using var receiving = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        using var sending = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        receiving.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var rx = new UdpBatchSocket(receiving, allowOffloads: false);
        // The smallest queue the kernel allows (it rounds up to ~4.6 KiB): a few 1000-octet datagrams fill it.
        receiving.ReceiveBufferSize = 1;
        var to = (IPEndPoint)receiving.LocalEndPoint!;
        byte[] datagram = new byte[1000];
        for (int i = 0; i < 50; i++)
        {
            sending.SendTo(datagram, to);
        }
        int received = 0;
        while (receiving.Available > 0)
        {
            received += rx.Receive();
        }
        Assert.True(received is > 0 and < 50, $"received {received} of 50");
        // The count travels with datagrams queued after the drops (each carries the socket's total so far).
        sending.SendTo(datagram, to);
        Assert.Equal(1, rx.Receive());
        Assert.Equal(50 - received, (int)rx.Overflows);
    }

    [Theory]
    [InlineData(1500, AddressFamily.InterNetwork, 1399)]
    [InlineData(1500, AddressFamily.InterNetworkV6, 1379)]
    [InlineData(9000, AddressFamily.InterNetwork, 8899)]
    [InlineData(1400, AddressFamily.InterNetworkV6, 1280)]
    public void InnerMtu_LeavesRoomForTheWorstTransform(int outer, AddressFamily family, int expected)
    {
        int inner = EspDataPlane.InnerMtu(outer, family);
        Assert.Equal(expected, inner);
        if (inner == EspDataPlane.MinimumDefaultInnerMtu)
        {
            return;
        }
        // Every transform the data plane has, at every inner length up to the MTU: the ESP-in-UDP packet fits.
        foreach (EspCipher cipher in Enum.GetValues<EspCipher>())
        {
            using var sa = new EspSa(new EspSaParameters
            {
                Spi = 0x1000,
                Cipher = cipher,
                EncryptionKey = new byte[32],
                Salt = cipher == EspCipher.AesGcm16 ? new byte[4] : null,
                IntegrityKey = cipher == EspCipher.AesGcm16 ? null : new byte[EspSa.IntegrityKeyLength(cipher)],
            });
            int ip = family == AddressFamily.InterNetworkV6 ? 40 : 20;
            int largest = Enumerable.Range(inner - 16, 17).Max(sa.MaxPacketLength) + ip + 8;
            Assert.True(largest <= outer, $"{cipher}: a {inner}-octet inner packet makes {largest} octets over a {outer} MTU");
        }
    }
}
