using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Tests;

/// <summary>
/// Issue 5: "the IKE message parser survives at least 100,000 mutated real messages (captured from strongSwan)".
/// Seeds are the 18 messages of a real strongSwan-to-strongSwan session (Captures/README.md); each mutant goes
/// through the header and payload-chain parser, the per-exchange payload rules and every payload reader that
/// applies. Only <see cref="IkeFormatException"/> may come out; anything else (an over-read, a loop, a null) fails.
/// </summary>
public sealed class CapturedMessageFuzzTests
{
    /// <summary>100,000 in CI; a longer run sets CERTGATE_FUZZ_MUTANTS (bench/README.md).</summary>
    private static readonly int Mutants = int.TryParse(Environment.GetEnvironmentVariable("CERTGATE_FUZZ_MUTANTS"), out int n) && n >= 100_000 ? n : 100_000;

    private static List<byte[]> Seeds()
    {
        string file = Path.Combine(AppContext.BaseDirectory, "Captures", "strongswan-5.9.8.hex");
        return [.. File.ReadAllLines(file).Where(l => l.Length > 0).Select(Convert.FromHexString)];
    }

    [Fact]
    public void TheCapturedMessages_ParseAsTheExchangesTheyAre()
    {
        List<byte[]> seeds = Seeds();
        Assert.Equal(18, seeds.Count);
        var exchanges = seeds.Select(s => IkeMessage.Parse(s).Header.Exchange).ToList();
        Assert.Equal(2, exchanges.Count(e => e == ExchangeType.IkeSaInit));
        Assert.Contains(ExchangeType.IkeAuth, exchanges);
        Assert.Contains(ExchangeType.CreateChildSa, exchanges);
        Assert.Contains(ExchangeType.Informational, exchanges);
        IkeMessage init = IkeMessage.Parse(seeds[0]);
        Assert.Null(PayloadRules.Problem(ExchangeType.IkeSaInit, response: false, init.Payloads));
        Assert.NotEmpty(Payloads.ReadSa(init.Payloads.First(p => p.Type == PayloadType.SecurityAssociation).Body.Span));
        Assert.Contains(IkeMessage.Parse(seeds[2]).Payloads, p => p.Type == PayloadType.EncryptedFragment);
    }

    [Fact]
    public void MutatedCapturedMessages_OnlyEverRaiseIkeFormatException()
    {
        List<byte[]> seeds = Seeds();
        var rng = new Random(7296);
        int parsed = 0;
        for (int i = 0; i < Mutants; i++)
        {
            byte[] seed = seeds[rng.Next(seeds.Count)];
            byte[] m = Mutate(seed, seeds[rng.Next(seeds.Count)], rng);
            try
            {
                IkeMessage msg = IkeMessage.Parse(m);
                _ = PayloadRules.Problem(msg.Header.Exchange, msg.Header.IsResponse, msg.Payloads);
                foreach (RawPayload p in msg.Payloads)
                {
                    ReadBody(p);
                }
                parsed++;
            }
            catch (IkeFormatException e)
            {
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
            }
        }
        // Most mutants of a real message still parse (one changed octet in a nonce or an encrypted body is fine):
        // the fuzzer must reach the payload readers, not stop at the header.
        Assert.True(parsed > Mutants / 10, $"only {parsed} of {Mutants} mutants parsed");
    }

    /// <summary>Runs every reader that applies to the payload's type (shared with WireTests' mutation test).</summary>
    internal static void ReadBody(RawPayload p)
    {
        switch (p.Type)
        {
            case PayloadType.SecurityAssociation:
                _ = Payloads.ReadSa(p.Body.Span);
                break;
            case PayloadType.KeyExchange:
                _ = Payloads.ReadKe(p.Body);
                break;
            case PayloadType.Nonce:
                _ = Payloads.ReadNonce(p.Body);
                break;
            case PayloadType.Notify:
                _ = Payloads.ReadNotify(p.Body);
                break;
            case PayloadType.TsInitiator or PayloadType.TsResponder:
                _ = Payloads.ReadTs(p.Body.Span);
                break;
            case PayloadType.Delete:
                _ = Payloads.ReadDelete(p.Body);
                break;
            case PayloadType.Certificate:
                _ = Payloads.ReadCert(p.Body);
                break;
            case PayloadType.IdInitiator or PayloadType.IdResponder:
                _ = Payloads.ReadTyped4(p.Body, "ID");
                break;
            case PayloadType.Authentication:
                _ = Payloads.ReadTyped4(p.Body, "AUTH");
                break;
        }
    }

    private static byte[] Mutate(byte[] seed, byte[] other, Random rng)
    {
        byte[] m = (byte[])seed.Clone();
        switch (rng.Next(7))
        {
            case 0: // random octets anywhere
                for (int k = 1 + rng.Next(4); k > 0; k--)
                {
                    m[rng.Next(m.Length)] = (byte)rng.Next(256);
                }
                return m;
            case 1: // the header: next payload, version, exchange, flags, length
                m[16 + rng.Next(12)] = (byte)rng.Next(256);
                return m;
            case 2: // a generic payload header somewhere after the IKE header (next payload, critical bit, length)
            {
                int at = 28 + rng.Next(Math.Max(1, m.Length - 28));
                if (at + 4 <= m.Length)
                {
                    m[at + rng.Next(4)] = (byte)rng.Next(256);
                }
                return m;
            }
            case 3: // truncation
                return m[..rng.Next(m.Length + 1)];
            case 4: // extension, with the length field kept or made to match
            {
                byte[] longer = [.. m, .. Enumerable.Range(0, 1 + rng.Next(40)).Select(_ => (byte)rng.Next(256))];
                if (rng.Next(2) == 0)
                {
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(longer.AsSpan(24), (uint)longer.Length);
                }
                return longer;
            }
            case 5: // splice two real messages
            {
                int cut = rng.Next(Math.Min(m.Length, other.Length) + 1);
                return [.. m.AsSpan(0, cut), .. other.AsSpan(cut)];
            }
            default: // extreme lengths in a payload header
            {
                int at = 28 + rng.Next(Math.Max(1, m.Length - 30));
                if (at + 4 <= m.Length)
                {
                    ushort value = rng.Next(3) switch { 0 => 0, 1 => 3, _ => 0xFFFF };
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(m.AsSpan(at + 2), value);
                }
                return m;
            }
        }
    }
}
