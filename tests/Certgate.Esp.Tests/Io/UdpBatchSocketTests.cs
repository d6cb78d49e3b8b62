using System.Net;
using System.Net.Sockets;
using Certgate.Esp.Io;

namespace Certgate.Esp.Tests.Io;

/// <summary>
/// Batched datagram I/O over loopback: every datagram of a batch arrives once, in order, with its octets and length,
/// whether the batch goes as GSO runs and comes back as GRO runs (offloads) or one datagram per message.
/// </summary>
public sealed class UdpBatchSocketTests
{
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void ABatch_ArrivesWhole_AndInOrder(bool offloads, bool sendOnly)
    {
        using var receiving = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        using var sending = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        receiving.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        // Room for the whole test (the kernel doubles the request up to twice rmem_max, 416 KiB by default): it is
        // sent before it is read.
        receiving.ReceiveBufferSize = 1 << 20;
        sending.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var rx = new UdpBatchSocket(receiving, offloads);
        // A data plane's devices send through send-only instances on the shared socket.
        var tx = new UdpBatchSocket(sending, offloads, sendOnly);
        if (sendOnly)
        {
            Assert.Throws<InvalidOperationException>(() => tx.Receive());
        }
        // Kernels since 4.18 (GSO) and 5.0 (GRO) have both; where they are asked for they must be in use.
        Assert.Equal(offloads, tx.Gso);
        Assert.Equal(offloads, rx.Gro);
        var to = (IPEndPoint)receiving.LocalEndPoint!;
        // Runs of equal sizes with shorter ones between (a short datagram ends a GSO run), and more than one batch.
        int[] lengths = [.. Enumerable.Range(0, 150).Select(i => i % 50 == 49 ? 300 : 1000)];
        for (int i = 0; i < lengths.Length; i++)
        {
            Span<byte> room = tx.SendBuffer(lengths[i]);
            room[..lengths[i]].Fill((byte)i);
            tx.Commit(lengths[i], to);
            if (i == 99)
            {
                Assert.Equal(0, tx.Flush());
            }
        }
        Assert.Equal(0, tx.Flush());

        var got = new List<byte[]>();
        var reader = new Thread(() =>
        {
            while (got.Count < lengths.Length)
            {
                int messages = rx.Receive();
                if (messages == 0)
                {
                    return;
                }
                for (int m = 0; m < messages; m++)
                {
                    ReadOnlySpan<byte> run = rx.Received(m, out int segment);
                    Assert.Equal(sending.LocalEndPoint, rx.ReceivedFrom(m));
                    for (int at = 0; at < run.Length; at += segment)
                    {
                        got.Add(run.Slice(at, Math.Min(segment, run.Length - at)).ToArray());
                    }
                }
            }
        });
        reader.Start();
        if (!reader.Join(TimeSpan.FromSeconds(10)))
        {
            receiving.Dispose();
            reader.Join();
            Assert.Fail($"only {got.Count} of {lengths.Length} datagrams arrived");
        }
        Assert.Equal(lengths, got.Select(d => d.Length).ToArray());
        for (int i = 0; i < got.Count; i++)
        {
            Assert.All(got[i], b => Assert.Equal((byte)i, b));
        }
    }
}
