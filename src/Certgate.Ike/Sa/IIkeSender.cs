using System.Net;

namespace Certgate.Ike.Sa;

/// <summary>
/// Where an established IKE SA's messages leave: UDP 500, or UDP 4500 with the non-ESP marker when
/// encapsulated (RFC 3948 §2.2, RFC 7296 §2.23). Sockets live behind this; tests capture.
/// </summary>
public interface IIkeSender
{
    /// <summary>Sends one IKE message (header onwards) to <paramref name="to"/>.</summary>
    void Send(ReadOnlyMemory<byte> message, IPEndPoint to, bool encapsulated);
}
