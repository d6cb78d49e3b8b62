using System.Net;
using System.Net.Sockets;
using Certgate.Ike.Sa;
using Certgate.Ike.Sa.Tasks;
using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Sessions;

/// <summary>
/// One-shot IKEv2 (RFC 7296) initiator and responder on given sockets, one child SA: a façade over an
/// <see cref="IkeConnection"/> that only negotiates (its <see cref="Sa.Tasks.IkeInit"/> and
/// <see cref="Sa.Tasks.IkeAuth"/> tasks do the work; the result's <see cref="ChildSa.IkeSa"/> is for a long-lived
/// connection to take over).
/// <code>
/// IKE_SA_INIT  I: SA(offer), KE, Ni, N(NAT_DETECTION_*)?, N(SIGNATURE_HASH_ALGORITHMS), N(IKEV2_FRAGMENTATION_SUPPORTED)?
///              R: SA(choice), KE, Nr, N(NAT_DETECTION_*)?, N(SIGNATURE_HASH_ALGORITHMS), N(IKEV2_FRAGMENTATION_SUPPORTED)?, CERTREQ
///                 (or N(INVALID_KE_PAYLOAD): the initiator retries once with the group named there)
///                 (or, with IkeCookies.Threshold half-open SAs, N(COOKIE): the initiator repeats its request with the
///                 cookie first, RFC 7296 §2.6; the responder keeps no state until a valid cookie comes)
///   NAT detected and a 4500 socket given: IKE moves to UDP 4500 with the non-ESP marker (§2.23)
/// IKE_AUTH     I: IDi, CERT, CERTREQ, AUTH, SA(ESP offer), TSi, TSr
///              R: IDr, CERT, AUTH, SA(ESP choice), TSi, TSr      (or N(AUTHENTICATION_FAILED))
/// </code>
/// When both announced fragmentation, an IKE_AUTH message larger than <see cref="IkePeerConfig.FragmentSize"/> goes as
/// Encrypted Fragments (RFC 7383), each with its own ICV, and incoming fragments are reassembled (bounded) before the
/// payloads are checked. Algorithms are those of <see cref="Negotiation"/>. The peer's certificate is validated (chain, validity,
/// revocation, identity) before its AUTH is checked. Retransmits requests (3 tries at <see cref="IkePeerConfig.RetransmitTimeout"/>),
/// answers a retransmitted IKE_SA_INIT; the responder waits 4 timeouts for IKE_AUTH.
/// </summary>
public static class IkeHandshake
{
    /// <summary>Initiates to <paramref name="remote"/> from <paramref name="socket"/> (no NAT traversal) and returns the child SA.</summary>
    public static Task<ChildSa> InitiateAsync(UdpClient socket, IPEndPoint remote, IkePeerConfig config, CancellationToken cancellationToken = default) =>
        InitiateAsync(socket, null, remote, config, cancellationToken);

    /// <summary>
    /// Initiates to <paramref name="remote"/> from <paramref name="socket"/>; with <paramref name="natTraversal"/> (a
    /// socket on port 4500 of the same address) NAT detection is announced and IKE floats to 4500 when a NAT is seen.
    /// </summary>
    /// <exception cref="IkeException">The exchange failed; the message says where and why.</exception>
    public static async Task<ChildSa> InitiateAsync(UdpClient socket, UdpClient? natTraversal, IPEndPoint remote, IkePeerConfig config, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(remote);
        IkePeerConfig.Check(config);
        try
        {
            return await InitiateCoreAsync(socket, natTraversal, remote, config, cancellationToken).ConfigureAwait(false);
        }
        catch (IkeFormatException e)
        {
            // Format errors are translated once, here, into the session's error.
            throw new IkeException($"the responder sent a malformed message: {e.Message}");
        }
    }

    private static async Task<ChildSa> InitiateCoreAsync(UdpClient socket, UdpClient? natTraversal, IPEndPoint remote, IkePeerConfig config, CancellationToken cancellationToken)
    {
        using var transport = new IkeTransport(socket, natTraversal);
        using IkeConnection connection = IkeConnection.Initiate(config, null, new TransportSender(transport), NegotiateOnly(config), transport.LocalIke, remote, transport.CanFloat);
        return await NegotiateAsync(transport, connection, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for one initiator on <paramref name="socket"/> (no NAT traversal), completes IKE_SA_INIT and IKE_AUTH.</summary>
    public static Task<ChildSa> RespondAsync(UdpClient socket, IkePeerConfig config, CancellationToken cancellationToken = default) =>
        RespondAsync(socket, null, config, cancellationToken);

    /// <summary>
    /// Waits for one initiator on <paramref name="socket"/>, completes IKE_SA_INIT and IKE_AUTH, returns the child SA.
    /// With <paramref name="natTraversal"/> (port 4500 of the same address) NAT detection is answered and IKE_AUTH
    /// is also accepted there, answered where it came from.
    /// </summary>
    /// <exception cref="IkeException">The exchange failed; the message says where and why.</exception>
    public static async Task<ChildSa> RespondAsync(UdpClient socket, UdpClient? natTraversal, IkePeerConfig config, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        IkePeerConfig.Check(config);
        try
        {
            return await RespondCoreAsync(socket, natTraversal, config, cancellationToken).ConfigureAwait(false);
        }
        catch (IkeFormatException e)
        {
            throw new IkeException($"the initiator sent a malformed message: {e.Message}");
        }
    }

    private static async Task<ChildSa> RespondCoreAsync(UdpClient socket, UdpClient? natTraversal, IkePeerConfig config, CancellationToken cancellationToken)
    {
        using var transport = new IkeTransport(socket, natTraversal);
        var sender = new TransportSender(transport);
        while (true)
        {
            (IkeMessage request, IPEndPoint from, bool encapsulated) = await transport.ReceiveAsync(cancellationToken).ConfigureAwait(false);
            if (request.Header.Exchange != ExchangeType.IkeSaInit || request.Header.IsResponse || request.Header.ResponderSpi != 0 || encapsulated)
            {
                continue;
            }
            // A refusal keeps no state (INVALID_SYNTAX, COOKIE, INVALID_KE_PAYLOAD) and the wait for a real initiator
            // goes on; only NO_PROPOSAL_CHOSEN ends it (the configurations cannot agree).
            try
            {
                IkeInit.Screen(request, from, config);
            }
            catch (IkeException refused)
            {
                sender.Send(IkeInit.Refusal(request.Header, refused), from, false);
                if (refused.Notify == NotifyType.NO_PROPOSAL_CHOSEN)
                {
                    throw;
                }
                continue;
            }
            using IkeConnection connection = IkeConnection.Respond(config, null, sender, NegotiateOnly(config), request, from, transport.LocalIke, transport.CanFloat);
            return await NegotiateAsync(transport, connection, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The one-shot calls' IKE SA settings: the configured retransmit timeout, 3 tries at that fixed interval, IKE_AUTH
    /// awaited for 4 timeouts; no data plane (the caller hands <see cref="ChildSa.IkeSa"/> to its own connection).
    /// </summary>
    private static IkeSaOptions NegotiateOnly(IkePeerConfig config) => new()
    {
        ReqId = 0,
        EspLocal = new IPEndPoint(IPAddress.Any, 0),
        EspRemote = new IPEndPoint(IPAddress.Any, 0),
        RetransmitTimeout = config.RetransmitTimeout,
        RetransmitBase = 1,
        RetransmitTries = 2,
        HalfOpenTimeout = config.RetransmitTimeout * 4,
        FragmentSize = config.FragmentSize,
        Counters = config.Counters,
        IkeProposals = config.IkeProposals,
        EspProposals = config.EspProposals,
    };

    /// <summary>Feeds <paramref name="connection"/> what arrives on the transport until IKE_AUTH is done (its first CHILD_SA) or it closes (why, as the exception).</summary>
    private static async Task<ChildSa> NegotiateAsync(IkeTransport transport, IkeConnection connection, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<ChildSa>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Established += child => done.TrySetResult(child);
        connection.Closed += reason => done.TrySetException(new IkeException(reason));
        if (connection.FirstChild is { } already)
        {
            done.TrySetResult(already);
        }
        else if (connection.CloseReason is { } reason)
        {
            done.TrySetException(new IkeException(reason));
        }
        using var receiving = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        while (!done.Task.IsCompleted)
        {
            Task<(IkeMessage Message, IPEndPoint From, bool Encapsulated)> receive = transport.ReceiveAsync(receiving.Token);
            if (await Task.WhenAny(receive, done.Task).ConfigureAwait(false) == done.Task)
            {
                await receiving.CancelAsync().ConfigureAwait(false);
                try
                {
                    await receive.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // The exchange ended first.
                }
                break;
            }
            (IkeMessage m, IPEndPoint from, bool encapsulated) = await receive.ConfigureAwait(false);
            connection.Receive(m.Raw, from, encapsulated);
        }
        return await done.Task.ConfigureAwait(false);
    }

    /// <summary>The one-shot calls' messages leave from their sockets: 500, or 4500 with the non-ESP marker.</summary>
    private sealed class TransportSender(IkeTransport transport) : Sa.IIkeSender
    {
        public void Send(ReadOnlyMemory<byte> message, IPEndPoint to, bool encapsulated) => transport.Send(message.Span, to, encapsulated);
    }
}
