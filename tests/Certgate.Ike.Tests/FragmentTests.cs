using System.Security.Cryptography;
using Certgate.Ike.Crypto;
using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Tests;

/// <summary>IKE fragmentation (RFC 7383): Encrypted Fragment payloads, their protection, and reassembly.</summary>
public sealed class FragmentTests
{
    private static readonly IkeHeader Header = SkCipherTests.Header;

    public static TheoryData<string> Kinds => SkCipherTests.Kinds;

    /// <summary>The SK cipher pair of <see cref="SkCipherTests"/>, AES-256 for CBC.</summary>
    private static (SkCipher Sender, SkCipher Receiver) Pair(string kind) => SkCipherTests.Pair(kind, cbcKeyOctets: 32);

    /// <summary>An IKE_AUTH-like inner chain of about 2.9 kB: ID, a 2.5 kB CERT, AUTH.</summary>
    private static (PayloadType, ReadOnlyMemory<byte>)[] Inner() =>
    [
        (PayloadType.IdInitiator, Payloads.WriteTyped4(2, "gw1.example.net"u8)),
        (PayloadType.Certificate, Payloads.WriteCert(4, RandomNumberGenerator.GetBytes(2500))),
        (PayloadType.Authentication, Payloads.WriteTyped4(14, RandomNumberGenerator.GetBytes(256))),
    ];

    private static void AssertSameInner((PayloadType, ReadOnlyMemory<byte>)[] expected, IReadOnlyList<RawPayload> actual)
    {
        Assert.Equal(expected.Select(p => p.Item1), actual.Select(p => p.Type));
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Item2.ToArray(), actual[i].Body.ToArray());
        }
    }

    private static List<DecryptedFragment> OpenAll(SkCipher rx, IReadOnlyList<byte[]> datagrams) =>
        [.. datagrams.Select(d => rx.OpenFragment(IkeMessage.Parse(d)))];

    private static IReadOnlyList<RawPayload> Chain((PayloadType FirstInner, byte[] Chain) whole) =>
        IkeMessage.ParseChain(whole.Chain, 0, whole.FirstInner, allowEncrypted: false);

    [Theory]
    [MemberData(nameof(Kinds))]
    public void LargeMessage_IsSplitIntoFragmentsThatFit_AndReassemblesToTheSameInnerPayloads(string kind)
    {
        (SkCipher tx, SkCipher rx) = Pair(kind);
        using (tx)
        using (rx)
        {
            var inner = Inner();
            IReadOnlyList<byte[]> datagrams = tx.SealFragments(Header, inner, 548);
            Assert.InRange(datagrams.Count, 6, 8);
            for (int i = 0; i < datagrams.Count; i++)
            {
                Assert.True(datagrams[i].Length <= 548, $"fragment {i + 1} has {datagrams[i].Length} octets");
                IkeMessage m = IkeMessage.Parse(datagrams[i]);
                // RFC 7383 §2.5: the same header fields in every fragment (Message ID too), Next Payload 53.
                Assert.Equal(PayloadType.EncryptedFragment, m.Header.NextPayload);
                Assert.Equal(1u, m.Header.MessageId);
                Assert.Equal(Header.ResponderSpi, m.Header.ResponderSpi);
                RawPayload skf = Assert.Single(m.Payloads);
                Assert.Equal(((ushort)(i + 1), (ushort)datagrams.Count), EncryptedFragment.ReadCounters(skf.Body.Span));
                // Only the first fragment names the first inner payload.
                Assert.Equal(i == 0 ? PayloadType.IdInitiator : PayloadType.None, m.EncryptedFirstInner(skf));
            }
            var reassembler = new FragmentReassembler();
            (PayloadType, byte[])? whole = null;
            foreach (DecryptedFragment f in OpenAll(rx, datagrams))
            {
                whole = reassembler.Add(f, out FragmentOutcome outcome);
                Assert.Equal(f.Number == datagrams.Count ? FragmentOutcome.Completed : FragmentOutcome.Stored, outcome);
            }
            AssertSameInner(inner, Chain(whole!.Value));
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void MessageThatFits_IsOneSkMessage(string kind)
    {
        (SkCipher tx, SkCipher rx) = Pair(kind);
        using (tx)
        using (rx)
        {
            (PayloadType, ReadOnlyMemory<byte>)[] small = [(PayloadType.Notify, Payloads.WriteNotify(new Payloads.Notify(0, 24, default, default)))];
            byte[] datagram = Assert.Single(tx.SealFragments(Header, small, 548));
            IkeMessage m = IkeMessage.Parse(datagram);
            Assert.Equal(PayloadType.Encrypted, Assert.Single(m.Payloads).Type);
            AssertSameInner(small, rx.Open(m));
        }
    }

    [Fact]
    public void OutOfOrder_AndDuplicates_StillReassembleOnce()
    {
        (SkCipher tx, SkCipher rx) = Pair("gcm");
        using (tx)
        using (rx)
        {
            var inner = Inner();
            List<DecryptedFragment> pieces = OpenAll(rx, tx.SealFragments(Header, inner, 700));
            Assert.True(pieces.Count >= 4);
            var reassembler = new FragmentReassembler();
            // Last first, then the first twice, then the rest backwards.
            List<DecryptedFragment> order = [pieces[^1], pieces[0], pieces[0], .. pieces.Skip(1).SkipLast(1).Reverse()];
            var outcomes = new List<FragmentOutcome>();
            (PayloadType, byte[])? whole = null;
            foreach (DecryptedFragment f in order)
            {
                whole = reassembler.Add(f, out FragmentOutcome outcome) ?? whole;
                outcomes.Add(outcome);
            }
            Assert.Equal(FragmentOutcome.Duplicate, outcomes[2]);
            Assert.Equal(FragmentOutcome.Completed, outcomes[^1]);
            Assert.Single(outcomes, o => o == FragmentOutcome.Completed);
            AssertSameInner(inner, Chain(whole!.Value));
            // The message is done: its fragments again (a retransmission) are an older message now.
            Assert.Null(reassembler.Add(pieces[0], out FragmentOutcome again));
            Assert.Equal(FragmentOutcome.OlderMessage, again);
        }
    }

    [Fact]
    public void MissingFragment_NeverCompletes()
    {
        (SkCipher tx, SkCipher rx) = Pair("cbc");
        using (tx)
        using (rx)
        {
            List<DecryptedFragment> pieces = OpenAll(rx, tx.SealFragments(Header, Inner(), 700));
            var reassembler = new FragmentReassembler();
            foreach (DecryptedFragment f in pieces.Where(f => f.Number != 2))
            {
                Assert.Null(reassembler.Add(f, out FragmentOutcome outcome));
                Assert.Equal(FragmentOutcome.Stored, outcome);
            }
            Assert.Equal(pieces.Count - 1, reassembler.Held);
            Assert.NotNull(reassembler.Add(pieces[1], out _));
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void FragmentWithABadIcv_IsRefusedAlone_AndTheGenuineOneCompletesTheMessage(string kind)
    {
        (SkCipher tx, SkCipher rx) = Pair(kind);
        using (tx)
        using (rx)
        {
            var inner = Inner();
            IReadOnlyList<byte[]> datagrams = tx.SealFragments(Header, inner, 900);
            // Every octet of fragment 2 is covered: header, SKF header and counters (AAD), IV, ciphertext, ICV.
            for (int i = 0; i < datagrams[1].Length; i++)
            {
                byte[] bad = (byte[])datagrams[1].Clone();
                bad[i] ^= 0x40;
                Exception? e = Record.Exception(() => rx.OpenFragment(IkeMessage.Parse(bad)));
                Assert.True(e is CryptographicException or IkeFormatException, $"octet {i}: {e?.GetType().Name ?? "accepted"}");
            }
            var reassembler = new FragmentReassembler();
            (PayloadType, byte[])? whole = null;
            foreach (DecryptedFragment f in OpenAll(rx, datagrams))
            {
                whole = reassembler.Add(f, out _);
            }
            AssertSameInner(inner, Chain(whole!.Value));
        }
    }

    private static DecryptedFragment Piece(uint messageId, ushort number, ushort total, int octets = 10) =>
        new(messageId, number, total, number == 1 ? PayloadType.Notify : PayloadType.None, new byte[octets]);

    [Fact]
    public void TooManyFragments_OrTooManyOctets_AreRefused_AndWhatWasHeldIsDiscarded()
    {
        var reassembler = new FragmentReassembler(maxFragments: 8, maxOctets: 100);
        Assert.Null(reassembler.Add(Piece(1, 1, 9), out FragmentOutcome outcome));
        Assert.Equal(FragmentOutcome.OverLimit, outcome);
        Assert.Equal(0, reassembler.Held);

        Assert.Null(reassembler.Add(Piece(1, 1, 8, 60), out outcome));
        Assert.Equal(FragmentOutcome.Stored, outcome);
        Assert.Null(reassembler.Add(Piece(1, 2, 8, 60), out outcome));
        Assert.Equal(FragmentOutcome.OverLimit, outcome);
        Assert.Equal(0, reassembler.Held);
    }

    [Fact]
    public void OlderMessage_IsDropped_NewerOneReplacesIt_GreaterTotalRestarts_SmallerTotalIsDropped()
    {
        var reassembler = new FragmentReassembler();
        reassembler.Add(Piece(5, 1, 3), out _);
        Assert.Null(reassembler.Add(Piece(4, 2, 3), out FragmentOutcome outcome));
        Assert.Equal(FragmentOutcome.OlderMessage, outcome);
        Assert.Equal(1, reassembler.Held);

        reassembler.Add(Piece(6, 2, 3), out outcome);
        Assert.Equal(FragmentOutcome.Stored, outcome);
        Assert.Equal(1, reassembler.Held);

        // RFC 7383 §2.6: a greater Total Fragments means re-fragmented smaller; the stored ones go.
        reassembler.Add(Piece(6, 1, 4), out outcome);
        Assert.Equal(FragmentOutcome.Stored, outcome);
        Assert.Equal(1, reassembler.Held);
        Assert.Null(reassembler.Add(Piece(6, 2, 3), out outcome));
        Assert.Equal(FragmentOutcome.SmallerTotal, outcome);
        Assert.Equal(1, reassembler.Held);
    }

    [Theory]
    [InlineData(new byte[] { 0, 0, 0, 1 }, "start at 1")]
    [InlineData(new byte[] { 0, 3, 0, 2 }, "start at 1")]
    [InlineData(new byte[] { 0, 1, 0, 0 }, "start at 1")]
    [InlineData(new byte[] { 0, 1, 0 }, "needs 4 octets")]
    public void BadFragmentNumbers_AreRefusedWithAReason(byte[] body, string reason)
    {
        IkeFormatException e = Assert.Throws<IkeFormatException>(() => EncryptedFragment.ReadCounters(body));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void MutatedFragments_OnlyEverRaiseFormatOrIntegrityErrors(string kind)
    {
        (SkCipher tx, SkCipher rx) = Pair(kind);
        using (tx)
        using (rx)
        {
            IReadOnlyList<byte[]> seeds = tx.SealFragments(Header, Inner(), 600);
            var rng = new Random(53);
            int parsed = 0;
            int dropped = 0;
            var reassembler = new FragmentReassembler(maxFragments: 16, maxOctets: 8000);
            int mutants = int.TryParse(Environment.GetEnvironmentVariable("CERTGATE_FUZZ_MUTANTS"), out int n) ? n : 20_000;
            for (int i = 0; i < mutants; i++)
            {
                byte[] m = (byte[])seeds[rng.Next(seeds.Count)].Clone();
                for (int e = 1 + rng.Next(3); e > 0; e--)
                {
                    // Mostly the header, SKF header and counters, where the parser looks.
                    int at = rng.Next(3) == 0 ? rng.Next(m.Length) : rng.Next(Math.Min(m.Length, 40));
                    m[at] = (byte)rng.Next(256);
                }
                if (rng.Next(6) == 0)
                {
                    m = m[..rng.Next(m.Length)];
                }
                try
                {
                    IkeMessage msg = IkeMessage.Parse(m);
                    parsed++;
                    foreach (RawPayload p in msg.Payloads.Where(p => p.Type == PayloadType.EncryptedFragment))
                    {
                        EncryptedFragment.ReadCounters(p.Body.Span);
                    }
                    reassembler.Add(rx.OpenFragment(msg), out _);
                }
                catch (Exception e) when (e is IkeFormatException or CryptographicException)
                {
                    dropped++;
                }
            }
            Assert.True(parsed > 0 && dropped > 0, $"parsed {parsed}, dropped {dropped}");
        }
    }
}
