using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Auth;
using Certgate.Ike.Crypto;
using Certgate.Ike.Wire;
using Certgate.Pki.Validation;

namespace Certgate.Ike.Sessions;

/// <summary>What one side of a certificate-authenticated IKEv2 SA needs.</summary>
/// <param name="Certificate">The local certificate with its private key (RSA or ECDSA).</param>
/// <param name="TrustAnchors">CA certificates the peer's certificate must chain to.</param>
/// <param name="Crls">Revocation information (null: revocation not checked).</param>
/// <param name="LocalTs">This side's traffic selector.</param>
/// <param name="RemoteTs">The peer side's traffic selector.</param>
public sealed record IkePeerConfig(X509Certificate2 Certificate, IReadOnlyList<X509Certificate2> TrustAnchors, ICrlSource? Crls,
    Payloads.TrafficSelector LocalTs, Payloads.TrafficSelector RemoteTs)
{
    /// <summary>How long to wait for each answer before retransmitting (3 tries).</summary>
    public TimeSpan RetransmitTimeout { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>The child SA both sides agreed on: AES-GCM-16-256 ESP, keys per direction (key ‖ salt).</summary>
public sealed record ChildSa(uint InboundSpi, uint OutboundSpi, byte[] InboundKeymat, byte[] OutboundKeymat, X509Certificate2 PeerCertificate);

/// <summary>IKE failed; the message says which step and why (e.g. the peer certificate is revoked).</summary>
public sealed class IkeException(string message) : Exception(message);

/// <summary>
/// A minimal IKEv2 (RFC 7296) initiator and responder for certificate authentication: IKE_SA_INIT with
/// AES-GCM-16-256 / PRF-HMAC-SHA-256 / ECP-256, then IKE_AUTH with ID_DER_ASN1_DN, CERT, RFC 7427 signatures and
/// one ESP child SA (AES-GCM-16-256, no ESN). Retransmits requests, answers retransmitted requests with the same
/// response. The peer's certificate is validated (chain, validity, revocation) before its AUTH is checked.
/// </summary>
public static class IkeSession
{
    private const ushort EncrAesGcm16 = 20;
    private const ushort PrfHmacSha256 = 5;
    private const ushort Ecp256 = 19;
    private const byte IdDerAsn1Dn = 9;
    private const byte CertX509Signature = 4;
    private const ushort AuthenticationFailed = 24;
    private const ushort NoProposalChosen = 14;
    private const int EspKeymat = 36;

    private static readonly IReadOnlyList<Proposal> IkeOffer =
        [new Proposal(1, Proposal.Ike, ReadOnlyMemory<byte>.Empty, [new Transform(TransformType.Encryption, EncrAesGcm16, 256), new Transform(TransformType.Prf, PrfHmacSha256), new Transform(TransformType.DiffieHellman, Ecp256)])];

    private static Proposal EspOffer(uint spi) =>
        new(1, Proposal.Esp, Spi(spi), [new Transform(TransformType.Encryption, EncrAesGcm16, 256), new Transform(TransformType.ExtendedSequenceNumbers, 0)]);

    /// <summary>Initiates to <paramref name="remote"/> from <paramref name="socket"/> and returns the child SA.</summary>
    public static async Task<ChildSa> InitiateAsync(UdpClient socket, IPEndPoint remote, IkePeerConfig config, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(config);
        ulong spiI = BinaryPrimitives.ReadUInt64BigEndian(RandomNumberGenerator.GetBytes(8)) | 1;
        byte[] ni = RandomNumberGenerator.GetBytes(32);
        using ECDiffieHellman dh = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        byte[] msg1 = IkeMessage.Build(new IkeHeader(spiI, 0, PayloadType.None, ExchangeType.IkeSaInit, false, true, 0, 0), [
            (PayloadType.SecurityAssociation, Payloads.WriteSa(IkeOffer)),
            (PayloadType.KeyExchange, Payloads.WriteKe(Ecp256, PublicValue(dh))),
            (PayloadType.Nonce, ni),
        ]);
        IkeMessage reply1 = await RequestAsync(socket, remote, msg1, spiI, 0, config, cancellationToken).ConfigureAwait(false);
        FailOnErrorNotify(reply1.Payloads, "IKE_SA_INIT");
        ulong spiR = reply1.Header.ResponderSpi;
        byte[] nr = Payloads.ReadNonce(Find(reply1.Payloads, PayloadType.Nonce, "IKE_SA_INIT response").Body).ToArray();
        (ushort group, ReadOnlyMemory<byte> keData) = Payloads.ReadKe(Find(reply1.Payloads, PayloadType.KeyExchange, "IKE_SA_INIT response").Body);
        if (group != Ecp256)
        {
            throw new IkeException($"the responder chose Diffie-Hellman group {group}, not 19 (ECP-256)");
        }
        var kd = new KeyDerivation(HashAlgorithmName.SHA256);
        IkeSaKeys keys = kd.DeriveIkeSa(ni, nr, SharedSecret(dh, keData.Span), spiI, spiR, 0, 36);
        using SkCipher toResponder = SkCipher.Gcm(keys.Skei);
        using SkCipher fromResponder = SkCipher.Gcm(keys.Sker);

        uint inboundSpi = NewEspSpi();
        byte[] idi = Payloads.WriteTyped4(IdDerAsn1Dn, config.Certificate.SubjectName.RawData);
        (AuthMethod method, byte[] auth) = AuthPayload.Sign(PrivateKey(config.Certificate), AuthPayload.SignedOctets(kd, msg1, nr, keys.Skpi, idi), peerSupportsRfc7427: true);
        byte[] msg3 = toResponder.Seal(new IkeHeader(spiI, spiR, PayloadType.None, ExchangeType.IkeAuth, false, true, 1, 0), [
            (PayloadType.IdInitiator, idi),
            (PayloadType.Certificate, Payloads.WriteCert(CertX509Signature, config.Certificate.RawData)),
            (PayloadType.Authentication, Payloads.WriteTyped4((byte)method, auth)),
            (PayloadType.SecurityAssociation, Payloads.WriteSa([EspOffer(inboundSpi)])),
            (PayloadType.TsInitiator, Payloads.WriteTs([config.LocalTs])),
            (PayloadType.TsResponder, Payloads.WriteTs([config.RemoteTs])),
        ]);
        IkeMessage reply3 = await RequestAsync(socket, remote, msg3, spiI, 1, config, cancellationToken).ConfigureAwait(false);
        IReadOnlyList<RawPayload> inner = Open(fromResponder, reply3);
        FailOnErrorNotify(inner, "IKE_AUTH");
        byte[] idr = Find(inner, PayloadType.IdResponder, "IKE_AUTH response").Body.ToArray();
        X509Certificate2 peer = ValidatePeer(inner, config, "responder");
        (byte authMethod, ReadOnlyMemory<byte> authData) = Payloads.ReadTyped4(Find(inner, PayloadType.Authentication, "IKE_AUTH response").Body, "AUTH");
        if (AuthPayload.Verify(peer, (AuthMethod)authMethod, authData.Span, AuthPayload.SignedOctets(kd, reply1.Raw.Span, ni, keys.Skpr, idr)) is { } why)
        {
            throw new IkeException($"the responder's AUTH does not verify: {why}");
        }
        Proposal chosen = Payloads.ReadSa(Find(inner, PayloadType.SecurityAssociation, "IKE_AUTH response").Body.Span).Single();
        uint outboundSpi = BinaryPrimitives.ReadUInt32BigEndian(chosen.Spi.Span);
        byte[] keymat = kd.ChildKeymat(keys.Skd, [], ni, nr, 2 * EspKeymat);
        return new ChildSa(inboundSpi, outboundSpi, keymat[EspKeymat..], keymat[..EspKeymat], peer);
    }

    /// <summary>Waits for one initiator on <paramref name="socket"/>, completes IKE_SA_INIT and IKE_AUTH, returns the child SA.</summary>
    public static async Task<ChildSa> RespondAsync(UdpClient socket, IkePeerConfig config, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(config);
        IPEndPoint from;
        IkeMessage msg1;
        while (true)
        {
            (msg1, from) = await ReceiveAsync(socket, cancellationToken).ConfigureAwait(false);
            if (msg1.Header.Exchange == ExchangeType.IkeSaInit && !msg1.Header.IsResponse && msg1.Header.ResponderSpi == 0)
            {
                break;
            }
        }
        ulong spiI = msg1.Header.InitiatorSpi;
        ulong spiR = BinaryPrimitives.ReadUInt64BigEndian(RandomNumberGenerator.GetBytes(8)) | 1;
        byte[] ni = Payloads.ReadNonce(Find(msg1.Payloads, PayloadType.Nonce, "IKE_SA_INIT request").Body).ToArray();
        (ushort group, ReadOnlyMemory<byte> keData) = Payloads.ReadKe(Find(msg1.Payloads, PayloadType.KeyExchange, "IKE_SA_INIT request").Body);
        IReadOnlyList<Proposal> offered = Payloads.ReadSa(Find(msg1.Payloads, PayloadType.SecurityAssociation, "IKE_SA_INIT request").Body.Span);
        Proposal? acceptable = offered.FirstOrDefault(p => p.ProtocolId == Proposal.Ike
            && p.Transforms.Any(t => t is { Type: TransformType.Encryption, Id: EncrAesGcm16, KeyLength: 256 })
            && p.Transforms.Any(t => t is { Type: TransformType.Prf, Id: PrfHmacSha256 })
            && p.Transforms.Any(t => t is { Type: TransformType.DiffieHellman, Id: Ecp256 }));
        if (acceptable is null || group != Ecp256)
        {
            byte[] refuse = IkeMessage.Build(new IkeHeader(spiI, 0, PayloadType.None, ExchangeType.IkeSaInit, true, false, 0, 0),
                [(PayloadType.Notify, Payloads.WriteNotify(new Payloads.Notify(0, NoProposalChosen, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty)))]);
            await socket.SendAsync(refuse, from, cancellationToken).ConfigureAwait(false);
            throw new IkeException("the initiator offered no acceptable IKE proposal (this gateway needs AES-GCM-16-256, PRF-HMAC-SHA-256, ECP-256)");
        }
        byte[] nr = RandomNumberGenerator.GetBytes(32);
        using ECDiffieHellman dh = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        byte[] msg2 = IkeMessage.Build(new IkeHeader(spiI, spiR, PayloadType.None, ExchangeType.IkeSaInit, true, false, 0, 0), [
            (PayloadType.SecurityAssociation, Payloads.WriteSa([acceptable with { Transforms = [.. acceptable.Transforms.Where(t => t.Type != TransformType.Integrity)] }])),
            (PayloadType.KeyExchange, Payloads.WriteKe(Ecp256, PublicValue(dh))),
            (PayloadType.Nonce, nr),
        ]);
        await socket.SendAsync(msg2, from, cancellationToken).ConfigureAwait(false);
        var kd = new KeyDerivation(HashAlgorithmName.SHA256);
        IkeSaKeys keys = kd.DeriveIkeSa(ni, nr, SharedSecret(dh, keData.Span), spiI, spiR, 0, 36);
        using SkCipher fromInitiator = SkCipher.Gcm(keys.Skei);
        using SkCipher toInitiator = SkCipher.Gcm(keys.Sker);

        IkeMessage msg3;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(config.RetransmitTimeout * 4);
        while (true)
        {
            (IkeMessage m, _) = await ReceiveAsync(socket, deadline.Token).ConfigureAwait(false);
            if (m.Header.InitiatorSpi != spiI)
            {
                continue;
            }
            if (m.Header.Exchange == ExchangeType.IkeSaInit && !m.Header.IsResponse)
            {
                await socket.SendAsync(msg2, from, cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (m.Header.Exchange == ExchangeType.IkeAuth && !m.Header.IsResponse && m.Header.MessageId == 1)
            {
                msg3 = m;
                break;
            }
        }
        IReadOnlyList<RawPayload> inner = Open(fromInitiator, msg3);
        byte[] idi = Find(inner, PayloadType.IdInitiator, "IKE_AUTH request").Body.ToArray();
        X509Certificate2 peer;
        try
        {
            peer = ValidatePeer(inner, config, "initiator");
            (byte authMethod, ReadOnlyMemory<byte> authData) = Payloads.ReadTyped4(Find(inner, PayloadType.Authentication, "IKE_AUTH request").Body, "AUTH");
            if (AuthPayload.Verify(peer, (AuthMethod)authMethod, authData.Span, AuthPayload.SignedOctets(kd, msg1.Raw.Span, nr, keys.Skpi, idi)) is { } why)
            {
                throw new IkeException($"the initiator's AUTH does not verify: {why}");
            }
        }
        catch (IkeException)
        {
            byte[] fail = toInitiator.Seal(new IkeHeader(spiI, spiR, PayloadType.None, ExchangeType.IkeAuth, true, false, 1, 0),
                [(PayloadType.Notify, Payloads.WriteNotify(new Payloads.Notify(0, AuthenticationFailed, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty)))]);
            await socket.SendAsync(fail, from, cancellationToken).ConfigureAwait(false);
            throw;
        }
        Proposal childOffer = Payloads.ReadSa(Find(inner, PayloadType.SecurityAssociation, "IKE_AUTH request").Body.Span)
            .FirstOrDefault(p => p.ProtocolId == Proposal.Esp && p.Spi.Length == 4 && p.Transforms.Any(t => t is { Type: TransformType.Encryption, Id: EncrAesGcm16, KeyLength: 256 }))
            ?? throw new IkeException("the initiator offered no acceptable ESP proposal (AES-GCM-16-256)");
        uint outboundSpi = BinaryPrimitives.ReadUInt32BigEndian(childOffer.Spi.Span);
        uint inboundSpi = NewEspSpi();
        byte[] idr = Payloads.WriteTyped4(IdDerAsn1Dn, config.Certificate.SubjectName.RawData);
        (AuthMethod method, byte[] auth) = AuthPayload.Sign(PrivateKey(config.Certificate), AuthPayload.SignedOctets(kd, msg2, ni, keys.Skpr, idr), peerSupportsRfc7427: true);
        byte[] msg4 = toInitiator.Seal(new IkeHeader(spiI, spiR, PayloadType.None, ExchangeType.IkeAuth, true, false, 1, 0), [
            (PayloadType.IdResponder, idr),
            (PayloadType.Certificate, Payloads.WriteCert(CertX509Signature, config.Certificate.RawData)),
            (PayloadType.Authentication, Payloads.WriteTyped4((byte)method, auth)),
            (PayloadType.SecurityAssociation, Payloads.WriteSa([EspOffer(inboundSpi) with { Number = childOffer.Number }])),
            (PayloadType.TsInitiator, Payloads.WriteTs([config.RemoteTs])),
            (PayloadType.TsResponder, Payloads.WriteTs([config.LocalTs])),
        ]);
        await socket.SendAsync(msg4, from, cancellationToken).ConfigureAwait(false);
        byte[] keymat = kd.ChildKeymat(keys.Skd, [], ni, nr, 2 * EspKeymat);
        return new ChildSa(inboundSpi, outboundSpi, keymat[..EspKeymat], keymat[EspKeymat..], peer);
    }

    private static X509Certificate2 ValidatePeer(IReadOnlyList<RawPayload> inner, IkePeerConfig config, string role)
    {
        (byte encoding, ReadOnlyMemory<byte> der) = Payloads.ReadCert(Find(inner, PayloadType.Certificate, $"the {role}'s IKE_AUTH").Body);
        if (encoding != CertX509Signature)
        {
            throw new IkeException($"the {role} sent certificate encoding {encoding}, expected 4 (X.509 signature)");
        }
        X509Certificate2 peer;
        try
        {
            peer = X509CertificateLoader.LoadCertificate(der.Span);
        }
        catch (CryptographicException)
        {
            throw new IkeException($"the {role}'s CERT payload is not a certificate");
        }
        ChainValidationResult result = new ChainValidator().Validate(peer, new ChainValidationPolicy
        {
            TrustAnchors = config.TrustAnchors,
            CrlSource = config.Crls,
            RevocationMode = config.Crls is null ? RevocationMode.Disabled : RevocationMode.Check,
        });
        return result.IsValid ? peer : throw new IkeException($"the {role}'s certificate ({peer.Subject}) is not accepted: {result.Failure!.Message}");
    }

    private static async Task<IkeMessage> RequestAsync(UdpClient socket, IPEndPoint remote, byte[] request, ulong spiI, uint messageId, IkePeerConfig config, CancellationToken cancellationToken)
    {
        for (int attempt = 0; attempt < 3; attempt++)
        {
            await socket.SendAsync(request, remote, cancellationToken).ConfigureAwait(false);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(config.RetransmitTimeout);
            try
            {
                while (true)
                {
                    (IkeMessage m, _) = await ReceiveAsync(socket, wait.Token).ConfigureAwait(false);
                    if (m.Header.IsResponse && m.Header.InitiatorSpi == spiI && m.Header.MessageId == messageId)
                    {
                        return m;
                    }
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Retransmit.
            }
        }
        throw new IkeException($"no answer from {remote} after 3 tries");
    }

    /// <summary>The next datagram that parses as an IKE message (anything else on the port is dropped).</summary>
    private static async Task<(IkeMessage Message, IPEndPoint From)> ReceiveAsync(UdpClient socket, CancellationToken cancellationToken)
    {
        while (true)
        {
            UdpReceiveResult r = await socket.ReceiveAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                return (IkeMessage.Parse(r.Buffer), r.RemoteEndPoint);
            }
            catch (IkeFormatException)
            {
                // Not an IKE message: drop it and keep listening; a forged datagram must not end the exchange.
            }
        }
    }

    private static IReadOnlyList<RawPayload> Open(SkCipher cipher, IkeMessage message)
    {
        try
        {
            return cipher.Open(message);
        }
        catch (CryptographicException)
        {
            throw new IkeException("the peer's encrypted payload does not verify (different keys: a man in the middle, or a bug)");
        }
    }

    private static void FailOnErrorNotify(IReadOnlyList<RawPayload> payloads, string exchange)
    {
        foreach (RawPayload p in payloads.Where(p => p.Type == PayloadType.Notify))
        {
            Payloads.Notify n = Payloads.ReadNotify(p.Body);
            if (n.IsError)
            {
                throw new IkeException($"the peer refused {exchange}: {n.Type switch { AuthenticationFailed => "AUTHENTICATION_FAILED", NoProposalChosen => "NO_PROPOSAL_CHOSEN", _ => "error " + n.Type }}");
            }
        }
    }

    private static RawPayload Find(IReadOnlyList<RawPayload> payloads, PayloadType type, string where) =>
        payloads.FirstOrDefault(p => p.Type == type) ?? throw new IkeException($"{where} has no {type} payload");

    private static byte[] PublicValue(ECDiffieHellman dh)
    {
        ECParameters p = dh.ExportParameters(false);
        return [.. p.Q.X!, .. p.Q.Y!];
    }

    private static byte[] SharedSecret(ECDiffieHellman dh, ReadOnlySpan<byte> peer)
    {
        if (peer.Length != 64)
        {
            throw new IkeException($"an ECP-256 key exchange value is 64 octets, not {peer.Length}");
        }
        try
        {
            using ECDiffieHellman other = ECDiffieHellman.Create(new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                Q = new ECPoint { X = peer[..32].ToArray(), Y = peer[32..].ToArray() },
            });
            return dh.DeriveRawSecretAgreement(other.PublicKey);
        }
        catch (CryptographicException)
        {
            throw new IkeException("the peer's ECP-256 public value is not a point on the curve");
        }
    }

    private static AsymmetricAlgorithm PrivateKey(X509Certificate2 certificate) =>
        (AsymmetricAlgorithm?)certificate.GetRSAPrivateKey() ?? certificate.GetECDsaPrivateKey()
        ?? throw new ArgumentException("the local certificate has no RSA or ECDSA private key", nameof(certificate));

    private static uint NewEspSpi() => BinaryPrimitives.ReadUInt32BigEndian(RandomNumberGenerator.GetBytes(4)) | 0x1000;

    private static byte[] Spi(uint spi)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, spi);
        return b;
    }
}
