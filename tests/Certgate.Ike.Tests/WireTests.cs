using System.Net;
using System.Security.Cryptography;
using Certgate.Ike.Crypto;
using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Tests;

public sealed class WireTests
{
    private static byte[] H(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal));

    private static byte[] SampleInit()
    {
        var sa = Payloads.WriteSa([
            new Proposal(1, Proposal.Ike, ReadOnlyMemory<byte>.Empty, [
                new Transform(TransformType.Encryption, 20, 256),
                new Transform(TransformType.Prf, 5),
                new Transform(TransformType.DiffieHellman, 19),
            ]),
            new Proposal(2, Proposal.Ike, ReadOnlyMemory<byte>.Empty, [
                new Transform(TransformType.Encryption, 12, 128),
                new Transform(TransformType.Prf, 5),
                new Transform(TransformType.Integrity, 12),
                new Transform(TransformType.DiffieHellman, 14),
            ]),
        ]);
        return IkeMessage.Build(new IkeHeader(0x1122334455667788, 0, PayloadType.None, ExchangeType.IkeSaInit, false, true, 0, 0), [
            (PayloadType.SecurityAssociation, sa),
            (PayloadType.KeyExchange, Payloads.WriteKe(19, RandomNumberGenerator.GetBytes(64))),
            (PayloadType.Nonce, RandomNumberGenerator.GetBytes(32)),
            (PayloadType.Notify, Payloads.WriteNotify(new Payloads.Notify(0, 16430, ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty))),
        ]);
    }

    [Fact]
    public void Header_HasTheRfcLayout()
    {
        byte[] m = SampleInit();
        Assert.Equal(H("1122334455667788 0000000000000000 21 20 22 08 00000000"), m[..24]);
        Assert.Equal(m.Length, (m[24] << 24) | (m[25] << 16) | (m[26] << 8) | m[27]);
    }

    [Fact]
    public void BuildThenParse_RoundTrips()
    {
        byte[] m = SampleInit();
        IkeMessage parsed = IkeMessage.Parse(m);
        Assert.Equal(ExchangeType.IkeSaInit, parsed.Header.Exchange);
        Assert.True(parsed.Header.FromOriginalInitiator);
        Assert.False(parsed.Header.IsResponse);
        Assert.Equal([PayloadType.SecurityAssociation, PayloadType.KeyExchange, PayloadType.Nonce, PayloadType.Notify], parsed.Payloads.Select(p => p.Type));
        IReadOnlyList<Proposal> proposals = Payloads.ReadSa(parsed.Payloads[0].Body.Span);
        Assert.Equal(2, proposals.Count);
        Assert.Equal(new Transform(TransformType.Encryption, 20, 256), proposals[0].Transforms[0]);
        Assert.Equal(4, proposals[1].Transforms.Count);
        Assert.Equal(19, Payloads.ReadKe(parsed.Payloads[1].Body).Group);
        Assert.Equal(16430, Payloads.ReadNotify(parsed.Payloads[3].Body).Type);
    }

    [Fact]
    public void KeyLengthAttribute_HasTheRfcWireForm()
    {
        byte[] sa = Payloads.WriteSa([new Proposal(1, Proposal.Esp, new byte[] { 1, 2, 3, 4 }, [new Transform(TransformType.Encryption, 12, 256), new Transform(TransformType.ExtendedSequenceNumbers, 0)])]);
        Assert.Equal(H("00 00 0020 01 03 04 02 01020304 03 00 000c 01 00 000c 800e0100 00 00 0008 05 00 0000"), sa);
    }

    [Fact]
    public void TrafficSelectors_RoundTrip()
    {
        Payloads.TrafficSelector[] ts = [new(0, 0, 65535, IPAddress.Parse("10.1.0.0"), IPAddress.Parse("10.1.255.255")),
            new(17, 500, 500, IPAddress.Parse("2001:db8::"), IPAddress.Parse("2001:db8::ffff"))];
        Assert.Equal(ts, Payloads.ReadTs(Payloads.WriteTs(ts)));
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("length-too-big")]
    [InlineData("version-3")]
    [InlineData("payload-overrun")]
    [InlineData("trailing")]
    public void BrokenMessages_AreRefusedWithAReason(string how)
    {
        byte[] m = SampleInit();
        switch (how)
        {
            case "truncated":
                m = m[..20];
                break;
            case "length-too-big":
                m[27] += 1;
                break;
            case "version-3":
                m[17] = 0x30;
                break;
            case "payload-overrun":
                m[28 + 2] = 0xFF;
                break;
            case "trailing":
                m = [.. m, 0];
                m[27] += 1;
                break;
        }
        IkeFormatException e = Assert.Throws<IkeFormatException>(() => IkeMessage.Parse(m));
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
    }

    [Fact]
    public void Mutations_OnlyEverRaiseIkeFormatException()
    {
        byte[] seed = SampleInit();
        var rng = new Random(11);
        int parsed = 0;
        for (int i = 0; i < 30_000; i++)
        {
            byte[] m = (byte[])seed.Clone();
            for (int e = 1 + rng.Next(3); e > 0; e--)
            {
                m[rng.Next(m.Length)] = (byte)rng.Next(256);
            }
            if (rng.Next(5) == 0)
            {
                m = m[..rng.Next(m.Length)];
            }
            try
            {
                IkeMessage msg = IkeMessage.Parse(m);
                foreach (RawPayload p in msg.Payloads)
                {
                    CapturedMessageFuzzTests.ReadBody(p);
                }
                parsed++;
            }
            catch (IkeFormatException)
            {
            }
        }
        Assert.True(parsed > 0);
    }
}

public sealed class KeyDerivationTests
{
    private static byte[] H(string hex) => Convert.FromHexString(string.Concat(hex.Where(char.IsAsciiHexDigit)));

    [Fact]
    public void Prf_MatchesRfc4868()
    {
        byte[] key = Enumerable.Repeat((byte)0x0b, 20).ToArray();
        byte[] data = "Hi There"u8.ToArray();
        Assert.Equal(H("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"), new KeyDerivation(HashAlgorithmName.SHA256).Prf(key, data));
        Assert.Equal(H("afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"), new KeyDerivation(HashAlgorithmName.SHA384).Prf(key, data));
    }

    [Fact]
    public void PrfPlus_MatchesTheStrongSwanVector()
    {
        byte[] key = Enumerable.Repeat((byte)0x0b, 20).ToArray();
        byte[] expected = H("""
            b9bdc08988b4c2b75aa93e596ac84205fa2ddde1bf7a2572067b00e14b237732830509981ad2f94a8c32a47daa2255b6
            60c436347ae756a6edc023477d809590e682f61d9c04b06b4ad971a34c8147fa66792ff1434b93c722b32e12f48832eb
            c15ce2369ce71fe9b7b81e5704c14d0f5280a6ec626e992d7a9f
            """);
        Assert.Equal(expected, new KeyDerivation(HashAlgorithmName.SHA256).PrfPlus(key, "Hi There"u8, 122));
    }

    [Fact]
    public void IkeSaKeys_HaveTheNegotiatedSizes_AndBothSidesAgree()
    {
        var kd = new KeyDerivation(HashAlgorithmName.SHA256);
        byte[] ni = RandomNumberGenerator.GetBytes(32);
        byte[] nr = RandomNumberGenerator.GetBytes(32);
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        IkeSaKeys a = kd.DeriveIkeSa(ni, nr, secret, 1, 2, 0, 36);
        IkeSaKeys b = kd.DeriveIkeSa(ni, nr, secret, 1, 2, 0, 36);
        Assert.Equal(a.Sker, b.Sker);
        Assert.Equal(36, a.Skei.Length);
        Assert.Empty(a.Skai);
        Assert.Equal(32, a.Skpr.Length);
        Assert.NotEqual(a.Skei, a.Sker);
        Assert.Throws<ArgumentOutOfRangeException>(() => kd.PrfPlus(secret, ni, 256 * 32));
    }
}

public sealed class SkCipherTests
{
    /// <summary>An IKE_AUTH header (message ID 1, from the original initiator) for sealing tests.</summary>
    internal static readonly IkeHeader Header = new(0x0102030405060708, 0x1112131415161718, PayloadType.None, ExchangeType.IkeAuth, false, true, 1, 0);

    public static TheoryData<string> Kinds => ["gcm", "cbc"];

    /// <summary>Two SK ciphers with the same fresh keys: AES-GCM-16-256, or AES-CBC (<paramref name="cbcKeyOctets"/>) + HMAC-SHA-256-128.</summary>
    internal static (SkCipher Sender, SkCipher Receiver) Pair(string kind, int cbcKeyOctets = 16)
    {
        if (kind == "gcm")
        {
            byte[] k = RandomNumberGenerator.GetBytes(36);
            return (SkCipher.Gcm(k), SkCipher.Gcm(k));
        }
        byte[] e = RandomNumberGenerator.GetBytes(cbcKeyOctets);
        byte[] a = RandomNumberGenerator.GetBytes(32);
        return (SkCipher.CbcHmac(e, a, HashAlgorithmName.SHA256), SkCipher.CbcHmac(e, a, HashAlgorithmName.SHA256));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void SealThenOpen_GivesTheInnerPayloads_AndAnyBitFlipIsRefused(string kind)
    {
        (SkCipher tx, SkCipher rx) = Pair(kind);
        using (tx)
        using (rx)
        {
            byte[] id = Payloads.WriteTyped4(2, "gw1.example.net"u8);
            byte[] auth = Payloads.WriteTyped4(14, RandomNumberGenerator.GetBytes(256));
            byte[] message = tx.Seal(Header, [(PayloadType.IdInitiator, id), (PayloadType.Authentication, auth)]);
            IkeMessage parsed = IkeMessage.Parse(message);
            Assert.Equal(PayloadType.Encrypted, Assert.Single(parsed.Payloads).Type);
            IReadOnlyList<RawPayload> inner = rx.Open(parsed);
            Assert.Equal([PayloadType.IdInitiator, PayloadType.Authentication], inner.Select(p => p.Type));
            Assert.Equal(id, inner[0].Body.ToArray());
            Assert.Equal(auth, inner[1].Body.ToArray());

            for (int i = 0; i < message.Length; i += 7)
            {
                byte[] bad = (byte[])message.Clone();
                bad[i] ^= 0x01;
                Assert.ThrowsAny<Exception>(() => rx.Open(IkeMessage.Parse(bad)));
                Exception e = Record.Exception(() => rx.Open(IkeMessage.Parse(bad)))!;
                Assert.True(e is CryptographicException or IkeFormatException, $"octet {i}: {e.GetType().Name}");
            }
        }
    }
}
