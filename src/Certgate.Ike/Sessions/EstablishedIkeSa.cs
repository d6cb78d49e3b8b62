using System.Net;
using Certgate.Ike.Crypto;
using Certgate.Ike.Wire;

namespace Certgate.Ike.Sessions;

/// <summary>
/// What IKE_SA_INIT and IKE_AUTH leave behind for the long-lived IKE SA (<see cref="Sa.IkeConnection"/>): the SPIs,
/// keys and suite, the IKE_SA_INIT nonces, where the peer is, and the message IDs each side uses next (RFC 7296 §2.2).
/// </summary>
/// <param name="InitiatorSpi">SPIi of the IKE header.</param>
/// <param name="ResponderSpi">SPIr of the IKE header.</param>
/// <param name="IsOriginalInitiator">Whether this side sent IKE_SA_INIT (its messages carry the I flag and use SK_ei/SK_ai, §2.14).</param>
/// <param name="Suite">The IKE SA's algorithms.</param>
/// <param name="Keys">SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr.</param>
/// <param name="Ni">The initiator's IKE_SA_INIT nonce.</param>
/// <param name="Nr">The responder's IKE_SA_INIT nonce.</param>
/// <param name="Local">This side's IKE endpoint (port 4500 after floating).</param>
/// <param name="Remote">The peer's IKE endpoint (port 4500 after floating).</param>
/// <param name="Encapsulated">Whether IKE runs on 4500 with the non-ESP marker (§2.23).</param>
/// <param name="NextRequestId">The Message ID of this side's next request.</param>
/// <param name="NextExpectedRequestId">The Message ID the peer's next request must carry.</param>
/// <param name="LastResponse">This side's last response (the IKE_AUTH response on the responder), resent when the request is retransmitted: its datagrams, several when it went as RFC 7383 fragments.</param>
/// <param name="LocalTs">This side's configured traffic selectors (new CHILD_SAs are offered and narrowed with them; the
/// first CHILD_SA's negotiated ones are <see cref="ChildSa.LocalTs"/>).</param>
/// <param name="RemoteTs">The peer side's configured traffic selectors.</param>
public sealed record EstablishedIkeSa(ulong InitiatorSpi, ulong ResponderSpi, bool IsOriginalInitiator, SaSuite Suite, IkeSaKeys Keys,
    byte[] Ni, byte[] Nr, IPEndPoint Local, IPEndPoint Remote, bool Encapsulated, uint NextRequestId, uint NextExpectedRequestId,
    IReadOnlyList<byte[]>? LastResponse, IReadOnlyList<Payloads.TrafficSelector> LocalTs, IReadOnlyList<Payloads.TrafficSelector> RemoteTs)
{
    /// <summary>Whether both sides announced RFC 7383 fragmentation in IKE_SA_INIT (later exchanges are fragmented too).</summary>
    public bool Fragmentation { get; init; }
}
