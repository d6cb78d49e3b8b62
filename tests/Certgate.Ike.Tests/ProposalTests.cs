using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sa;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec;
using Certgate.Pki.Identity;

namespace Certgate.Ike.Tests;

/// <summary>
/// Configured proposals (issue 5): what is configured is exactly what is offered and accepted, in the configured
/// order, at IKE_SA_INIT, IKE_AUTH and in CREATE_CHILD_SA rekeys; and the SHA-384/512 and ECP-521 algorithms.
/// </summary>
public sealed class ProposalTests
{
    private static readonly SaSuite CbcSha384Ecp384 = new(EncryptionAlgorithm.ENCR_AES_CBC, 128, IntegrityAlgorithm.AUTH_HMAC_SHA2_384_192, DhGroup.ECP_384, PseudorandomFunction.PRF_HMAC_SHA2_384);
    private static readonly SaSuite GcmEcp256 = new(EncryptionAlgorithm.ENCR_AES_GCM_16, 256, IntegrityAlgorithm.NONE, DhGroup.ECP_256);
    private static readonly SaSuite EspCbcSha512 = new(EncryptionAlgorithm.ENCR_AES_CBC, 256, IntegrityAlgorithm.AUTH_HMAC_SHA2_512_256, DhGroup.NONE);
    private static readonly SaSuite EspGcm128 = new(EncryptionAlgorithm.ENCR_AES_GCM_16, 128, IntegrityAlgorithm.NONE, DhGroup.NONE);

    [Fact]
    public void ConfiguredOffer_HasOneProposalPerSuite_AndAnAeadProposalHasNoIntegrity()
    {
        IReadOnlyList<Proposal> offer = Negotiation.IkeOffer([GcmEcp256, CbcSha384Ecp384]);
        Assert.Equal(2, offer.Count);
        Assert.Equal([1, 2], offer.Select(p => (int)p.Number));
        Assert.DoesNotContain(offer[0].Transforms, t => t.Type == TransformType.Integrity);
        Assert.Equal([(TransformType.Encryption, (ushort)12, (int?)128), (TransformType.Prf, (ushort)6, null), (TransformType.Integrity, (ushort)13, null), (TransformType.DiffieHellman, (ushort)20, null)],
            offer[1].Transforms.Select(t => (t.Type, t.Id, t.KeyLength)));
        IReadOnlyList<Proposal> esp = Negotiation.EspOffer(new byte[4], [EspGcm128, EspCbcSha512]);
        // Both ESN transforms (RFC 7296 §3.3.2), ESN first.
        Assert.Equal([(TransformType.Encryption, (ushort)20), (TransformType.ExtendedSequenceNumbers, (ushort)1), (TransformType.ExtendedSequenceNumbers, (ushort)0)],
            esp[0].Transforms.Select(t => (t.Type, t.Id)));
        Assert.Equal((ushort)14, esp[1].Transforms.Single(t => t.Type == TransformType.Integrity).Id);
    }

    [Fact]
    public void Responder_TakesTheFirstConfiguredSuiteThePeerOffers_NotThePeersFirst()
    {
        // The peer prefers GCM; the responder's configuration lists CBC/SHA-384 first, so CBC/SHA-384 wins.
        IReadOnlyList<Proposal> peer = Negotiation.IkeOffer([GcmEcp256, CbcSha384Ecp384]);
        (SaSuite suite, Proposal reply) = Negotiation.Choose(peer, Proposal.Ike, [CbcSha384Ecp384, GcmEcp256])!.Value;
        Assert.Equal(CbcSha384Ecp384, suite);
        Assert.Equal(2, reply.Number);
        Assert.Equal("AES_CBC-128/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/ECP_384", suite.IkeName);
        Assert.Equal((16, 48), (suite.EncryptionKeyLength, suite.IntegrityKeyLength));
        // The initiator reads the answer back against its own configuration.
        Assert.Equal(CbcSha384Ecp384, Negotiation.Accept([reply], Proposal.Ike, "IKE_SA_INIT", [GcmEcp256, CbcSha384Ecp384]));
        Assert.Throws<IkeException>(() => Negotiation.Accept([reply], Proposal.Ike, "IKE_SA_INIT", [GcmEcp256]));
    }

    [Fact]
    public void Mismatch_IsRefused_AndTheLogLineNamesBothSides()
    {
        IReadOnlyList<Proposal> peer = Negotiation.IkeOffer([CbcSha384Ecp384]);
        Assert.Null(Negotiation.Choose(peer, Proposal.Ike, [GcmEcp256]));
        // Same cipher and group but another PRF is no match either: every transform must be the configured one.
        Assert.Null(Negotiation.Choose(peer, Proposal.Ike, [CbcSha384Ecp384 with { Prf = PseudorandomFunction.PRF_HMAC_SHA2_512 }]));
        Assert.Null(Negotiation.Choose(Negotiation.EspOffer(new byte[4], [EspCbcSha512]), Proposal.Esp, [EspCbcSha512 with { Integrity = IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128 }]));
        string line = Negotiation.Mismatch(peer, Proposal.Ike, [GcmEcp256]);
        Assert.Contains("Encryption 12/128, Prf 6, Integrity 13, DiffieHellman 20", line);
        Assert.Contains("configured [AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256]", line);
    }

    [Fact]
    public void AeadSuite_RefusesAProposalWithARealIntegrityTransform()
    {
        var withInteg = new Proposal(1, Proposal.Ike, ReadOnlyMemory<byte>.Empty,
            [new Transform(TransformType.Encryption, 20, 256), new Transform(TransformType.Prf, 5), new Transform(TransformType.Integrity, 12), new Transform(TransformType.DiffieHellman, 19)]);
        Assert.Null(Negotiation.Choose([withInteg], Proposal.Ike, [GcmEcp256]));
    }

    [Fact]
    public void Ecp521_BothSidesAgree_On66OctetCoordinates()
    {
        using KeyExchange a = KeyExchange.Create(DhGroup.ECP_521);
        using KeyExchange b = KeyExchange.Create(DhGroup.ECP_521);
        Assert.Equal(132, a.PublicValue.Length);
        byte[] s = a.SharedSecret(b.PublicValue);
        Assert.Equal(66, s.Length);
        Assert.Equal(s, b.SharedSecret(a.PublicValue));
        Assert.True(KeyExchange.IsSupported(21));
    }

    /// <summary>RFC 4231 test case 2 ("Jefe", "what do ya want for nothing?"): HMAC-SHA-512 as PRF_HMAC_SHA2_512.</summary>
    [Fact]
    public void PrfHmacSha512_KnownAnswer()
    {
        var kd = new KeyDerivation(new SaSuite(EncryptionAlgorithm.ENCR_AES_CBC, 128, IntegrityAlgorithm.AUTH_HMAC_SHA2_512_256, DhGroup.ECP_256, PseudorandomFunction.PRF_HMAC_SHA2_512).PrfHash);
        Assert.Equal(Convert.FromHexString("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"),
            kd.Prf("Jefe"u8, "what do ya want for nothing?"u8));
        Assert.Equal(64, kd.PrfLength);
    }

    /// <summary>
    /// SK with AUTH_HMAC_SHA2_384_192 / _512_256 (RFC 4868 §2.1): 48/64-octet keys, the ICV the first 24/32 octets of
    /// the HMAC over the message up to the ICV; a flipped ICV bit is refused.
    /// </summary>
    [Theory]
    [InlineData(IntegrityAlgorithm.AUTH_HMAC_SHA2_384_192, 48, 24)]
    [InlineData(IntegrityAlgorithm.AUTH_HMAC_SHA2_512_256, 64, 32)]
    public void SkCbc_WithSha384And512_TruncatesTheHmac(IntegrityAlgorithm integ, int keyLength, int icvLength)
    {
        var suite = new SaSuite(EncryptionAlgorithm.ENCR_AES_CBC, 256, integ, DhGroup.ECP_384, PseudorandomFunction.PRF_HMAC_SHA2_384);
        Assert.Equal(keyLength, suite.IntegrityKeyLength);
        byte[] ek = RandomNumberGenerator.GetBytes(32), ik = RandomNumberGenerator.GetBytes(keyLength);
        using SkCipher sealer = IkeSa.Cipher(suite, ek, ik);
        using SkCipher opener = IkeSa.Cipher(suite, ek, ik);
        byte[] message = sealer.Seal(new IkeHeader(1, 2, PayloadType.None, ExchangeType.Informational, false, true, 5, 0), [(PayloadType.Nonce, new byte[] { 1, 2, 3 })]);
        using IncrementalHash hmac = IncrementalHash.CreateHMAC(suite.IntegrityHash, ik);
        hmac.AppendData(message.AsSpan(0, message.Length - icvLength));
        byte[] mac = hmac.GetHashAndReset();
        Assert.Equal(mac[..icvLength], message[^icvLength..]);
        Assert.Equal(PayloadType.Nonce, Assert.Single(opener.Open(IkeMessage.Parse(message))).Type);
        message[^1] ^= 1;
        Assert.ThrowsAny<CryptographicException>(() => opener.Open(IkeMessage.Parse(message)));
    }

    private static Payloads.TrafficSelector Ts(string net) =>
        new(0, 0, 65535, IPAddress.Parse(net), IPAddress.Parse(net.Replace(".0.0", ".255.255", StringComparison.Ordinal)));

    private static IkePeerConfig Psk(string me, string local, string remote, IReadOnlyList<SaSuite> ike, IReadOnlyList<SaSuite> esp) =>
        new(null, [], null, Ts(local), Ts(remote))
        {
            RetransmitTimeout = TimeSpan.FromSeconds(1),
            PreSharedKey = "a shared secret for the proposal tests"u8.ToArray(),
            LocalId = IkeIdentity.FromFqdn(me),
            RemoteIds = [RemoteIdentity.Any],
            IkeProposals = ike,
            EspProposals = esp,
        };

    [Fact]
    public async Task Mismatch_OverLoopback_IsNoProposalChosen_AndTheResponderSaysWhatWasOffered()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Task<ChildSa> responder = IkeHandshake.RespondAsync(b, Psk("gw-b.test", "10.2.0.0", "10.1.0.0", [GcmEcp256], [EspGcm128]));
        IkeException initiatorError = await Assert.ThrowsAsync<IkeException>(() =>
            IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Psk("gw-a.test", "10.1.0.0", "10.2.0.0", [CbcSha384Ecp384], [EspCbcSha512])));
        Assert.Contains("NO_PROPOSAL_CHOSEN", initiatorError.Message);
        IkeException responderError = await Assert.ThrowsAsync<IkeException>(() => responder);
        Assert.Contains("peer offered [#1 Encryption 12/128, Prf 6, Integrity 13, DiffieHellman 20]", responderError.Message);
        Assert.Contains("configured [AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256]", responderError.Message);
    }

    /// <summary>
    /// Certgate↔Certgate over loopback with a non-default suite: IKE AES-128-CBC + HMAC-SHA-384 + group 20, ESP
    /// AES-256-CBC + HMAC-SHA-512; then, in memory, a CHILD_SA rekey with PFS group 19, an IKE rekey, and a CHILD_SA
    /// rekey on the new IKE SA (whose keys must agree for any of it to decrypt).
    /// </summary>
    [Fact]
    public async Task NonDefaultSuite_NegotiatesOverLoopback_AndRekeysWithIt()
    {
        using var a = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        // The initiator prefers GCM, the responder CBC/SHA-384; both offer both: the responder's order decides.
        Task<ChildSa> responderTask = IkeHandshake.RespondAsync(b, Psk("gw-b.test", "10.2.0.0", "10.1.0.0", [CbcSha384Ecp384, GcmEcp256], [EspCbcSha512, EspGcm128]));
        ChildSa i = await IkeHandshake.InitiateAsync(a, (IPEndPoint)b.Client.LocalEndPoint!, Psk("gw-a.test", "10.1.0.0", "10.2.0.0", [GcmEcp256, CbcSha384Ecp384], [EspGcm128, EspCbcSha512]));
        ChildSa r = await responderTask;
        Assert.Equal(CbcSha384Ecp384, i.Ike);
        Assert.Equal(CbcSha384Ecp384, r.Ike);
        // Both offer ESN, so the responder takes it.
        Assert.Equal(EspCbcSha512 with { Esn = true }, i.Esp);
        Assert.Equal("AES_CBC-256/HMAC_SHA2_512_256", r.Esp.CipherName);
        Assert.Equal(32 + 64, i.OutboundKeymat.Length);
        Assert.Equal(i.OutboundKeymat, r.InboundKeymat);
        Assert.Equal(48, i.IkeSa!.Keys.Skd.Length);

        var pa = new Peer();
        var pb = new Peer();
        using IkeConnection ca = new(i, pa.Plane, pa, Options(i, [GcmEcp256, CbcSha384Ecp384], [EspGcm128, EspCbcSha512], pa.Log), TimeProvider.System);
        using IkeConnection cb = new(r, pb.Plane, pb, Options(r, [CbcSha384Ecp384, GcmEcp256], [EspCbcSha512, EspGcm128], pb.Log), TimeProvider.System);
        void Pump()
        {
            for (int n = 0; pa.Outbox.Count + pb.Outbox.Count > 0; n++)
            {
                Assert.True(n < 20, "the exchange does not settle");
                if (pa.Outbox.Count > 0)
                {
                    Assert.True(cb.Receive(pa.Take(), i.IkeSa.Local), "B did not take A's message: " + string.Join(" | ", pb.Log));
                }
                if (pb.Outbox.Count > 0)
                {
                    Assert.True(ca.Receive(pb.Take(), r.IkeSa!.Local), "A did not take B's message: " + string.Join(" | ", pa.Log));
                }
            }
        }

        ca.RekeyChild();
        Pump();
        ChildSaInfo child = Assert.Single(ca.Children);
        Assert.True(child.Pfs, string.Join(" | ", pa.Log));
        AssertAgreed(pa, pb, child.InboundSpi);

        // A rekeys the IKE SA; B answers, and B's configured order (CBC/SHA-384 first) decides again.
        ca.RekeyIke();
        Pump();
        Assert.Equal(ca.IkeSa.InitiatorSpi, cb.IkeSa.InitiatorSpi);
        Assert.NotEqual(i.IkeSa.InitiatorSpi, ca.IkeSa.InitiatorSpi);
        Assert.Equal(CbcSha384Ecp384, cb.IkeSa.Suite);
        Assert.Equal(CbcSha384Ecp384, ca.IkeSa.Suite);

        ca.RekeyChild();
        Pump();
        child = Assert.Single(ca.Children);
        Assert.True(child.Pfs);
        AssertAgreed(pa, pb, child.InboundSpi);
        Assert.False(ca.IsClosed || cb.IsClosed, string.Join(" | ", pa.Log.Concat(pb.Log)));
    }

    private static void AssertAgreed(Peer a, Peer b, uint aInbound)
    {
        SaSpec aIn = a.Plane.Sas.Single(s => s.Spi == aInbound && s.Direction == SaDirection.Inbound);
        SaSpec bOut = b.Plane.Sas.Single(s => s.Spi == aInbound && s.Direction == SaDirection.Outbound);
        Assert.Equal(aIn.Keymat, bOut.Keymat);
        Assert.Equal(32 + 64, aIn.Keymat.Length);
        Assert.Equal((EncryptionAlgorithm.ENCR_AES_CBC, IntegrityAlgorithm.AUTH_HMAC_SHA2_512_256, 256), (aIn.Encryption, aIn.Integrity, aIn.KeyBits));
        Assert.True(aIn.ExtendedSequenceNumbers && bOut.ExtendedSequenceNumbers, "the rekeyed SA lost ESN");
    }

    private static IkeSaOptions Options(ChildSa c, IReadOnlyList<SaSuite> ike, IReadOnlyList<SaSuite> esp, List<string> log) => new()
    {
        ReqId = 7,
        EspLocal = new IPEndPoint(c.IkeSa!.Local.Address, 4500),
        EspRemote = new IPEndPoint(c.IkeSa.Remote.Address, 4500),
        PfsGroup = DhGroup.ECP_256,
        IkeProposals = ike,
        EspProposals = esp,
        Log = log.Add,
    };

    private sealed class Peer : IIkeSender
    {
        public MemoryDataPlane Plane { get; } = new();

        public List<byte[]> Outbox { get; } = [];

        public List<string> Log { get; } = [];

        public void Send(ReadOnlyMemory<byte> message, IPEndPoint to, bool encapsulated) => Outbox.Add(message.ToArray());

        public byte[] Take()
        {
            byte[] m = Outbox[0];
            Outbox.RemoveAt(0);
            return m;
        }
    }
}
