using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;

namespace Certgate.Ike.Tests;

/// <summary>Proposal selection (RFC 7296 §3.3.6) and the Diffie-Hellman groups of issue 5.</summary>
public sealed class NegotiationTests
{
    private static Transform T(TransformType type, ushort id, int? bits = null) => new(type, id, bits);

    private static Proposal Ike(byte number, params Transform[] transforms) => new(number, Proposal.Ike, ReadOnlyMemory<byte>.Empty, transforms);

    [Fact]
    public void OwnOffer_IsAccepted_AndTheResponderPrefersEcp256()
    {
        (SaSuite suite, Proposal reply) = Negotiation.Choose(Negotiation.IkeOffer(), Proposal.Ike)!.Value;
        Assert.Equal(new SaSuite(EncryptionAlgorithm.ENCR_AES_GCM_16, 256, IntegrityAlgorithm.NONE, DhGroup.ECP_256), suite);
        Assert.Equal(3, reply.Transforms.Count);
        Assert.Equal("AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256", suite.IkeName);
    }

    [Fact]
    public void CbcProposal_NeedsIntegrity_AndPicksTheOfferedGroup()
    {
        Proposal cbc = Ike(1, T(TransformType.Encryption, 12, 128), T(TransformType.Prf, 5), T(TransformType.Integrity, 12), T(TransformType.DiffieHellman, 14));
        (SaSuite suite, Proposal reply) = Negotiation.Choose([cbc], Proposal.Ike)!.Value;
        Assert.Equal(new SaSuite(EncryptionAlgorithm.ENCR_AES_CBC, 128, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128, DhGroup.MODP_2048), suite);
        Assert.Equal(4, reply.Transforms.Count);
        Assert.Equal(16, suite.EncryptionKeyLength);
        Assert.Equal(32, suite.IntegrityKeyLength);
        Proposal noInteg = Ike(1, T(TransformType.Encryption, 12, 128), T(TransformType.Prf, 5), T(TransformType.DiffieHellman, 14));
        Assert.Null(Negotiation.Choose([noInteg], Proposal.Ike));
    }

    [Theory]
    [InlineData(3, 12, 5, 19)] // 3DES is not spoken
    [InlineData(20, 0, 2, 19)] // PRF-HMAC-SHA1 is not spoken
    [InlineData(20, 0, 5, 2)] // MODP-1024 is not spoken
    public void UnsupportedTransforms_AreNotChosen(ushort encr, ushort integ, ushort prf, ushort group)
    {
        List<Transform> t = [T(TransformType.Encryption, encr, 256), T(TransformType.Prf, prf), T(TransformType.DiffieHellman, group)];
        if (integ != 0)
        {
            t.Add(T(TransformType.Integrity, integ));
        }
        Assert.Null(Negotiation.Choose([Ike(1, [.. t])], Proposal.Ike));
    }

    [Fact]
    public void EspProposal_WithPfs_OrWithoutAnEsnTransform_IsRefused()
    {
        byte[] spi = [1, 2, 3, 4];
        var pfs = new Proposal(1, Proposal.Esp, spi, [T(TransformType.Encryption, 20, 256), T(TransformType.DiffieHellman, 19), T(TransformType.ExtendedSequenceNumbers, 0)]);
        // §3.3.3: ESN is a mandatory transform type of an ESP proposal.
        var noEsnType = new Proposal(1, Proposal.Esp, spi, [T(TransformType.Encryption, 20, 256)]);
        Assert.Null(Negotiation.Choose([pfs], Proposal.Esp));
        Assert.Null(Negotiation.Choose([noEsnType], Proposal.Esp));
        (SaSuite suite, Proposal reply) = Negotiation.Choose(Negotiation.EspOffer(spi), Proposal.Esp)!.Value;
        Assert.Equal("AES_GCM_16-256", suite.CipherName);
        Assert.Equal(spi, reply.Spi.ToArray());
    }

    [Fact]
    public void Accept_RefusesAnAnswerWithMoreThanOneTransformPerType()
    {
        IkeException e = Assert.Throws<IkeException>(() => Negotiation.Accept(Negotiation.IkeOffer().Take(1).ToList(), Proposal.Ike, "IKE_SA_INIT"));
        Assert.Contains("not one Certgate offered", e.Message);
        Assert.Throws<IkeException>(() => Negotiation.Accept(Negotiation.IkeOffer(), Proposal.Ike, "IKE_SA_INIT"));
    }

    [Theory]
    [InlineData(DhGroup.MODP_2048, 256)]
    [InlineData(DhGroup.ECP_256, 64)]
    [InlineData(DhGroup.ECP_384, 96)]
    public void BothSidesOfAGroup_AgreeOnTheSharedSecret(DhGroup group, int publicLength)
    {
        using KeyExchange a = KeyExchange.Create(group);
        using KeyExchange b = KeyExchange.Create(group);
        Assert.Equal(publicLength, a.PublicValue.Length);
        Assert.Equal(a.SharedSecret(b.PublicValue), b.SharedSecret(a.PublicValue));
    }

    [Fact]
    public void Modp2048_RefusesDegeneratePublicValues()
    {
        using KeyExchange a = KeyExchange.Create(DhGroup.MODP_2048);
        byte[] one = new byte[256];
        one[^1] = 1;
        Assert.Contains("out of range", Assert.Throws<IkeException>(() => a.SharedSecret(one)).Message);
        Assert.Contains("256 octets", Assert.Throws<IkeException>(() => a.SharedSecret(new byte[255])).Message);
    }
}
