using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Crypto;

/// <summary>
/// SK protection of whole messages (RFC 7296 §3.14) with RFC 7383 fragmentation on top of <see cref="SkCipher"/>:
/// an outgoing message as one SK datagram or its Encrypted Fragments, an incoming one opened or, fragment by
/// fragment, reassembled (bounded by <see cref="FragmentReassembler"/>) before its payloads are read.
/// </summary>
internal static class SkProtection
{
    /// <summary>
    /// The message as datagrams: one SK message, or — fragmentation negotiated and the message larger than the
    /// configured fragment size allows — its Encrypted Fragments (RFC 7383 §2.5).
    /// </summary>
    internal static IReadOnlyList<byte[]> Protect(SkCipher cipher, bool fragment, int fragmentSize, IkeCounters? counters, IPEndPoint to, bool encapsulated,
        IkeHeader header, IReadOnlyList<(PayloadType, ReadOnlyMemory<byte>)> inner)
    {
        if (!fragment)
        {
            return [cipher.Seal(header, inner)];
        }
        // The fragment size counts the whole IP datagram, as strongSwan's does: IP header, UDP header, non-ESP marker.
        int ipHeader = to.Address.AddressFamily == AddressFamily.InterNetworkV6 && !to.Address.IsIPv4MappedToIPv6 ? 40 : 20;
        int maxMessage = fragmentSize - ipHeader - 8 - (encapsulated ? 4 : 0);
        IReadOnlyList<byte[]> datagrams = cipher.SealFragments(header, inner, maxMessage);
        if (datagrams.Count > 1)
        {
            counters?.Fragmented(datagrams.Count);
        }
        return datagrams;
    }

    /// <summary>
    /// The inner payloads of a protected message: an SK message is opened at once; an Encrypted Fragment (only with
    /// fragmentation negotiated, else dropped) has its own ICV checked and is kept until all of its message's
    /// fragments are there (RFC 7383 §2.6) — null until then. A fragment whose ICV fails is dropped, not fatal.
    /// </summary>
    /// <exception cref="CryptographicException">An SK message's ICV does not verify.</exception>
    /// <exception cref="IkeFormatException">An SK message or a reassembled chain is malformed.</exception>
    internal static IReadOnlyList<RawPayload>? Open(SkCipher cipher, FragmentReassembler? fragments, IkeMessage message, IkeCounters? counters, string role)
    {
        if (!message.Payloads.Any(p => p.Type == PayloadType.EncryptedFragment))
        {
            return cipher.Open(message);
        }
        if (fragments is null)
        {
            // RFC 7383 §2.3: without both announcements no fragments are exchanged; one that comes anyway is ignored.
            counters?.FragmentDropped();
            return null;
        }
        DecryptedFragment piece;
        try
        {
            piece = cipher.OpenFragment(message);
        }
        catch (Exception e) when (e is CryptographicException or IkeFormatException)
        {
            // §2.6: a fragment that fails its integrity check is discarded; the genuine one may still come.
            counters?.FragmentDropped();
            return null;
        }
        counters?.FragmentReceived();
        if (fragments.Add(piece, out FragmentOutcome outcome) is not { } whole)
        {
            if (outcome is not FragmentOutcome.Stored)
            {
                counters?.FragmentDropped();
            }
            return null;
        }
        counters?.Reassembled();
        try
        {
            return IkeMessage.ParseChain(whole.Chain, 0, whole.FirstInner, allowEncrypted: false);
        }
        catch (IkeFormatException e)
        {
            throw new IkeFormatException($"the {role}'s reassembled message: {e.Message}");
        }
    }
}
