using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Certgate.Ike.Wire;

namespace Certgate.Ike.Sessions;

/// <summary>
/// The two UDP ports of one IKE SA: 500, and 4500 when NAT traversal is possible (RFC 7296 §2.23, RFC 3948 §2.2):
/// on 4500 an IKE message is preceded by the four-octet non-ESP marker; datagrams there without it (ESP, NAT
/// keepalives) are not IKE and are dropped. Receives from both ports at once; pending receives end with it.
/// </summary>
internal sealed class IkeTransport : IDisposable
{
    private static readonly byte[] NonEspMarker = [0, 0, 0, 0];
    private readonly UdpClient _ike;
    private readonly UdpClient? _natt;
    private readonly CancellationTokenSource _life = new();
    private Task<UdpReceiveResult>? _pendingIke;
    private Task<UdpReceiveResult>? _pendingNatt;

    public IkeTransport(UdpClient ike, UdpClient? natTraversal)
    {
        _ike = ike;
        _natt = natTraversal;
    }

    /// <summary>Whether the 4500 socket exists, so Certgate may announce NAT detection and float.</summary>
    public bool CanFloat => _natt is not null;

    /// <summary>The local address and port 500 socket (for the NAT_DETECTION hashes).</summary>
    public IPEndPoint LocalIke => (IPEndPoint)_ike.Client.LocalEndPoint!;

    /// <summary>The local port 4500 socket.</summary>
    public IPEndPoint? LocalNatt => (IPEndPoint?)_natt?.Client.LocalEndPoint;

    public async Task SendAsync(byte[] message, IPEndPoint to, bool encapsulated, CancellationToken cancellationToken)
    {
        if (encapsulated)
        {
            await _natt!.SendAsync((byte[])[.. NonEspMarker, .. message], to, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await _ike.SendAsync(message, to, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sends at once (the IKE SA's send path runs under its lock); a datagram the socket refuses is lost like any other, and retransmitted.</summary>
    public void Send(ReadOnlySpan<byte> message, IPEndPoint to, bool encapsulated)
    {
        try
        {
            if (encapsulated)
            {
                _natt!.Send([.. NonEspMarker, .. message], to);
            }
            else
            {
                _ike.Send(message, to);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Lost; the retransmit timer tries again.
        }
    }

    /// <summary>The next datagram on either port that parses as an IKE message; anything else is dropped.</summary>
    public async Task<(IkeMessage Message, IPEndPoint From, bool Encapsulated)> ReceiveAsync(CancellationToken cancellationToken)
    {
        var cancelled = new TaskCompletionSource();
        using CancellationTokenRegistration registration = cancellationToken.Register(() => cancelled.TrySetResult());
        while (true)
        {
            _pendingIke ??= _ike.ReceiveAsync(_life.Token).AsTask();
            if (_natt is not null)
            {
                _pendingNatt ??= _natt.ReceiveAsync(_life.Token).AsTask();
            }
            Task done = await Task.WhenAny(_pendingNatt is null ? [_pendingIke, cancelled.Task] : [_pendingIke, _pendingNatt, cancelled.Task]).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            bool encapsulated = done == _pendingNatt;
            var task = (Task<UdpReceiveResult>)done;
            if (encapsulated)
            {
                _pendingNatt = null;
            }
            else
            {
                _pendingIke = null;
            }
            UdpReceiveResult r;
            try
            {
                r = await task.ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
            {
                // An ICMP error for an earlier send: not a message.
                continue;
            }
            ReadOnlyMemory<byte> datagram = r.Buffer;
            if (encapsulated)
            {
                if (datagram.Length < 4 || BinaryPrimitives.ReadUInt32BigEndian(datagram.Span) != 0)
                {
                    // ESP or a NAT keepalive (RFC 3948 §2.2): not for IKE.
                    continue;
                }
                datagram = datagram[4..];
            }
            try
            {
                return (IkeMessage.Parse(datagram), r.RemoteEndPoint, encapsulated);
            }
            catch (IkeFormatException)
            {
                // Not an IKE message: a forged or broken datagram must not end the exchange.
            }
        }
    }

    /// <summary>
    /// NAT_DETECTION_*_IP data: SHA-1(SPIi | SPIr | IP address | port) (RFC 7296 §2.23). "SPIr is zero in the
    /// IKE_SA_INIT request."
    /// </summary>
    public static byte[] NatHash(ulong spiI, ulong spiR, IPEndPoint endpoint)
    {
        byte[] address = endpoint.Address.IsIPv4MappedToIPv6 ? endpoint.Address.MapToIPv4().GetAddressBytes() : endpoint.Address.GetAddressBytes();
        byte[] input = new byte[16 + address.Length + 2];
        BinaryPrimitives.WriteUInt64BigEndian(input, spiI);
        BinaryPrimitives.WriteUInt64BigEndian(input.AsSpan(8), spiR);
        address.CopyTo(input, 16);
        BinaryPrimitives.WriteUInt16BigEndian(input.AsSpan(16 + address.Length), (ushort)endpoint.Port);
#pragma warning disable CA5350 // SHA-1 is what RFC 7296 §2.23 prescribes for NAT detection (not a security function).
        return SHA1.HashData(input);
#pragma warning restore CA5350
    }

    public void Dispose()
    {
        _life.Cancel();
        _life.Dispose();
    }
}
