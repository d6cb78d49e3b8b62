using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ike.Crypto;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;
using Certgate.Pki.Identity;
using Certgate.Pki.Validation;

namespace Certgate.Ike.Auth;

/// <summary>
/// Who the peer is and what this side proves (RFC 7296 §2.15, RFC 7427, RFC 4945): this side's AUTH, the peer's
/// certificate (chain, validity, revocation, usage), its identity and its AUTH, checked in that order; the CERTREQ
/// this side sends and the signature hashes both announce in IKE_SA_INIT. Used by the IKE_SA_INIT and IKE_AUTH tasks.
/// </summary>
internal static class PeerAuthentication
{
    /// <summary>Certificate Encoding 4, "X.509 Certificate - Signature" (§3.6), the only one Certgate sends or takes.</summary>
    internal const byte CertX509Signature = 4;

    /// <summary>What the peer proved: its validated certificate (null with a pre-shared key), its AUTH method and identity.</summary>
    internal sealed record PeerProof(X509Certificate2? Certificate, AuthMethod Method, IkeIdentity Identity);

    internal static (AuthMethod Method, byte[] Data) Authenticate(IkePeerConfig config, KeyDerivation kd, byte[] signedOctets, IReadOnlyCollection<SignatureHash>? peerHashes)
    {
        (AuthMethod method, byte[] data) = config.PreSharedKey is { } psk
            ? (AuthMethod.SHARED_KEY_MESSAGE_INTEGRITY_CODE, AuthPayload.SharedKeyMic(kd, psk, signedOctets))
            : AuthPayload.Sign(PrivateKey(config.Certificate!), signedOctets, peerHashes);
        if (config.TestHookCorruptAuth)
        {
            // The last octet: for RFC 7427 AUTH data it lies in the signature, not in the AlgorithmIdentifier before it.
            data[^1] ^= 0x01;
        }
        return (method, data);
    }

    /// <summary>Checks the peer's identity (<see cref="IkeIdentities.CheckPeer"/>) and AUTH the way this side authenticates (certificate or pre-shared key).</summary>
    internal static PeerProof VerifyPeer(IReadOnlyList<RawPayload> inner, byte[] idBody, IkePeerConfig config, string role, IPAddress peerAddress, KeyDerivation kd, byte[] signedOctets)
    {
        (byte authMethod, ReadOnlyMemory<byte> authData) = Payloads.ReadTyped4(MessagePayloads.Find(inner, PayloadType.Authentication, $"the {role}'s IKE_AUTH").Body, "AUTH");
        var method = (AuthMethod)authMethod;
        IkeIdentity identity = IkeIdentities.Decode(idBody, role);
        if (config.PreSharedKey is { } psk)
        {
            // §2.15: the MIC is compared in constant time so that a wrong key leaks nothing about the right one. It is
            // checked before the identity, so only a peer that knows the key learns which identity was refused.
            if (method != AuthMethod.SHARED_KEY_MESSAGE_INTEGRITY_CODE || !CryptographicOperations.FixedTimeEquals(authData.Span, AuthPayload.SharedKeyMic(kd, psk, signedOctets)))
            {
                throw new IkeException(method != AuthMethod.SHARED_KEY_MESSAGE_INTEGRITY_CODE
                    ? $"the {role} used AUTH method {authMethod}, but this side is configured for a pre-shared key (2)"
                    : $"the {role}'s shared-key AUTH does not verify (a different pre-shared key)");
            }
            IkeIdentities.CheckPeer(identity, null, config, peerAddress, role);
            return new PeerProof(null, method, identity);
        }
        X509Certificate2 peer = ValidatePeer(inner, config, role);
        IkeIdentities.CheckPeer(identity, peer, config, peerAddress, role);
        if (AuthPayload.Verify(peer, method, authData.Span, signedOctets, config.AllowSha1Signatures) is { } why)
        {
            throw new IkeException($"the {role}'s AUTH does not verify: {why}");
        }
        return new PeerProof(peer, method, identity);
    }

    /// <summary>
    /// The peer's CERT must be an X.509 certificate that chains to a trust anchor, is valid now and not revoked; its
    /// ID is then checked against it (RFC 4945 §3.1: "the ID MUST match ... the certificate", <see cref="IkeIdentities.CheckPeer"/>).
    /// </summary>
    internal static X509Certificate2 ValidatePeer(IReadOnlyList<RawPayload> inner, IkePeerConfig config, string role)
    {
        (byte encoding, ReadOnlyMemory<byte> der) = Payloads.ReadCert(MessagePayloads.Find(inner, PayloadType.Certificate, $"the {role}'s IKE_AUTH").Body);
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
            AllowSha1Signatures = config.AllowSha1Signatures,
        });
        if (!result.IsValid)
        {
            throw new IkeException($"the {role}'s certificate ({peer.Subject}) is not accepted: {result.Failure!.Message}");
        }
        if (PeerCertificatePolicy.UsageProblem(peer) is { } usage)
        {
            throw new IkeException($"the {role}'s certificate is not accepted for IKE: {usage}");
        }
        return peer;
    }

    internal static IReadOnlyCollection<SignatureHash>? SignatureHashesOf(IReadOnlyList<RawPayload> payloads)
    {
        if (MessagePayloads.FindNotify(payloads, NotifyType.SIGNATURE_HASH_ALGORITHMS) is not { } n)
        {
            return null;
        }
        var hashes = new HashSet<SignatureHash>();
        for (int i = 0; i + 1 < n.Data.Length; i += 2)
        {
            hashes.Add((SignatureHash)BinaryPrimitives.ReadUInt16BigEndian(n.Data.Span[i..]));
        }
        return hashes;
    }

    /// <summary>RFC 7427 §4: the hashes Certgate verifies, announced in IKE_SA_INIT.</summary>
    internal static (PayloadType, ReadOnlyMemory<byte>) SignatureHashes() =>
        MessagePayloads.Notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, new byte[] { 0, (byte)SignatureHash.SHA2_256, 0, (byte)SignatureHash.SHA2_384, 0, (byte)SignatureHash.SHA2_512 });

    /// <summary>CERTREQ (§3.7): encoding 4 and the SHA-1 hashes of the trust anchors' SubjectPublicKeyInfo.</summary>
    internal static byte[] CertificateRequest(IkePeerConfig config)
    {
        var hashes = new List<byte>();
        foreach (X509Certificate2 anchor in config.TrustAnchors)
        {
#pragma warning disable CA5350 // SHA-1 is the CA identifier RFC 7296 §3.7 prescribes.
            hashes.AddRange(SHA1.HashData(anchor.PublicKey.ExportSubjectPublicKeyInfo()));
#pragma warning restore CA5350
        }
        return Payloads.WriteCert(CertX509Signature, [.. hashes]);
    }

    internal static AsymmetricAlgorithm PrivateKey(X509Certificate2 certificate) =>
        (AsymmetricAlgorithm?)certificate.GetRSAPrivateKey() ?? certificate.GetECDsaPrivateKey()
        ?? throw new ArgumentException("the local certificate has no RSA or ECDSA private key", nameof(certificate));
}
