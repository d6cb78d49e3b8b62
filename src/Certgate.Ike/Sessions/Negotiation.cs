using System.Security.Cryptography;
using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Wire;

namespace Certgate.Ike.Sessions;

/// <summary>
/// The algorithms one SA (IKE or ESP) uses, or one configured proposal. <see cref="Integrity"/> is NONE with an AEAD
/// cipher; <see cref="Group"/> is NONE for ESP (PFS is negotiated apart); <see cref="Prf"/> matters for IKE only.
/// <see cref="Esn"/> is what an ESP SA negotiated (RFC 4303 §2.2.1 extended sequence numbers); configured suites leave
/// it false, because ESN is not configured: it is always offered and, as responder, taken when the peer offers it.
/// </summary>
public sealed record SaSuite(EncryptionAlgorithm Encryption, int KeyBits, IntegrityAlgorithm Integrity, DhGroup Group, PseudorandomFunction Prf = PseudorandomFunction.PRF_HMAC_SHA2_256, bool Esn = false)
{
    /// <summary>Whether the cipher authenticates itself (AES-GCM), so there is no integrity transform.</summary>
    public bool IsAead => Encryption == EncryptionAlgorithm.ENCR_AES_GCM_16;

    /// <summary>Encryption key length in octets, with the 4-octet salt of AES-GCM (RFC 5282 §7.1, RFC 4106 §8.1).</summary>
    public int EncryptionKeyLength => KeyBits / 8 + (IsAead ? 4 : 0);

    /// <summary>
    /// Integrity key length in octets (RFC 4868 §2.1.2: the key is as long as the hash output, 32/48/64); the ICV is
    /// half of it (RFC 4868 §2.1.1: 128/192/256 bits).
    /// </summary>
    public int IntegrityKeyLength => Integrity switch
    {
        IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128 => 32,
        IntegrityAlgorithm.AUTH_HMAC_SHA2_384_192 => 48,
        IntegrityAlgorithm.AUTH_HMAC_SHA2_512_256 => 64,
        _ => 0,
    };

    /// <summary>The hash of the integrity HMAC (SHA-256 when there is none; unused then).</summary>
    public HashAlgorithmName IntegrityHash => Integrity switch
    {
        IntegrityAlgorithm.AUTH_HMAC_SHA2_384_192 => HashAlgorithmName.SHA384,
        IntegrityAlgorithm.AUTH_HMAC_SHA2_512_256 => HashAlgorithmName.SHA512,
        _ => HashAlgorithmName.SHA256,
    };

    /// <summary>The hash of the PRF (RFC 4868 §2.1: PRF_HMAC_SHA2_256/384/512).</summary>
    public HashAlgorithmName PrfHash => Prf switch
    {
        PseudorandomFunction.PRF_HMAC_SHA2_384 => HashAlgorithmName.SHA384,
        PseudorandomFunction.PRF_HMAC_SHA2_512 => HashAlgorithmName.SHA512,
        _ => HashAlgorithmName.SHA256,
    };

    /// <summary>The cipher in strongSwan's spelling of the IANA names (as <c>swanctl --list-sas</c> shows it).</summary>
    public string CipherName => (Encryption == EncryptionAlgorithm.ENCR_AES_GCM_16 ? "AES_GCM_16-" : "AES_CBC-") + KeyBits
        + (Integrity == IntegrityAlgorithm.NONE ? "" : "/" + Integrity.ToString()["AUTH_".Length..]);

    /// <summary>An ESP SA's algorithms as <c>swanctl --list-sas</c> shows them: the cipher, then <c>/ESN</c> with ESN.</summary>
    public string EspName => CipherName + (Esn ? "/ESN" : "");

    /// <summary>The IKE suite in strongSwan's spelling, e.g. <c>AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256</c>.</summary>
    public string IkeName => $"{CipherName}/{Prf}/{Group}";
}

/// <summary>
/// What Certgate offers and accepts (issue 5). Without configured proposals: AES-GCM-16 and AES-CBC with
/// HMAC-SHA-256-128, 128 or 256-bit keys, PRF-HMAC-SHA-256, DH groups ECP-256, ECP-384 and MODP-2048. With
/// configured proposals (Junos <c>ike proposal</c> / <c>ipsec proposal</c>): exactly those, one proposal each, and as
/// responder the first configured one the peer offers. AEAD and non-AEAD ciphers are never in one proposal because an
/// AEAD proposal must not carry an integrity transform (RFC 5282 §8). Every ESP proposal offers both ESN and no ESN
/// (RFC 7296 §3.3.2: "an initiator who supports ESNs will usually include two ESN transforms"); a responder takes ESN
/// when it is offered, so a fast link is not forced to rekey after 2^32 packets (docs/decisions.md).
/// </summary>
internal static class Negotiation
{
    /// <summary>The default responder preference of groups, most preferred first (strongSwan's prefer_configured_proposals style).</summary>
    public static readonly DhGroup[] Groups = [DhGroup.ECP_256, DhGroup.ECP_384, DhGroup.MODP_2048];

    private static readonly (EncryptionAlgorithm Encr, int Bits)[] Aead = [(EncryptionAlgorithm.ENCR_AES_GCM_16, 256), (EncryptionAlgorithm.ENCR_AES_GCM_16, 128)];
    private static readonly (EncryptionAlgorithm Encr, int Bits)[] Cbc = [(EncryptionAlgorithm.ENCR_AES_CBC, 256), (EncryptionAlgorithm.ENCR_AES_CBC, 128)];

    /// <summary>The default IKE suites in preference order: cipher first, then group.</summary>
    public static readonly IReadOnlyList<SaSuite> DefaultIke =
    [
        .. Aead.SelectMany(a => Groups.Select(g => new SaSuite(a.Encr, a.Bits, IntegrityAlgorithm.NONE, g))),
        .. Cbc.SelectMany(a => Groups.Select(g => new SaSuite(a.Encr, a.Bits, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128, g))),
    ];

    /// <summary>The default ESP suites in preference order.</summary>
    public static readonly IReadOnlyList<SaSuite> DefaultEsp =
    [
        .. Aead.Select(a => new SaSuite(a.Encr, a.Bits, IntegrityAlgorithm.NONE, DhGroup.NONE)),
        .. Cbc.Select(a => new SaSuite(a.Encr, a.Bits, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128, DhGroup.NONE)),
    ];

    /// <summary>The group of the first IKE_SA_INIT KE payload: the first configured proposal's, or ECP-256.</summary>
    public static DhGroup FirstGroup(IReadOnlyList<SaSuite>? ike) => ike is { Count: > 0 } ? ike[0].Group : Groups[0];

    /// <summary>The groups an INVALID_KE_PAYLOAD may ask for (§1.2): those configured, or the default ones.</summary>
    public static bool Offers(IReadOnlyList<SaSuite>? ike, ushort group) => (ike ?? DefaultIke).Any(s => (ushort)s.Group == group);

    /// <summary>The default IKE offer (two proposals, AEAD and CBC) or one proposal per configured suite.</summary>
    public static IReadOnlyList<Proposal> IkeOffer(IReadOnlyList<SaSuite>? configured = null) => configured is null
        ?
        [
            new Proposal(1, Proposal.Ike, ReadOnlyMemory<byte>.Empty,
                [.. Aead.Select(a => new Transform(TransformType.Encryption, (ushort)a.Encr, a.Bits)), Prf(PseudorandomFunction.PRF_HMAC_SHA2_256), .. Groups.Select(Dh)]),
            new Proposal(2, Proposal.Ike, ReadOnlyMemory<byte>.Empty,
                [.. Cbc.Select(a => new Transform(TransformType.Encryption, (ushort)a.Encr, a.Bits)), Prf(PseudorandomFunction.PRF_HMAC_SHA2_256), Integ(IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128), .. Groups.Select(Dh)]),
        ]
        : [.. configured.Select((s, i) => new Proposal((byte)(i + 1), Proposal.Ike, ReadOnlyMemory<byte>.Empty, IkeTransforms(s)))];

    /// <summary>
    /// The default ESP offer (two proposals, AEAD and CBC) or one proposal per configured suite, each with both ESN
    /// transforms, the preferred one first (<paramref name="preferEsn"/>: a rekey keeps the old CHILD_SA's choice).
    /// </summary>
    public static IReadOnlyList<Proposal> EspOffer(ReadOnlyMemory<byte> spi, IReadOnlyList<SaSuite>? configured = null, bool preferEsn = true) => configured is null
        ?
        [
            new Proposal(1, Proposal.Esp, spi, [.. Aead.Select(a => new Transform(TransformType.Encryption, (ushort)a.Encr, a.Bits)), .. Esns(preferEsn)]),
            new Proposal(2, Proposal.Esp, spi, [.. Cbc.Select(a => new Transform(TransformType.Encryption, (ushort)a.Encr, a.Bits)), Integ(IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128), .. Esns(preferEsn)]),
        ]
        : [.. configured.Select((s, i) => new Proposal((byte)(i + 1), Proposal.Esp, spi, [.. EspTransforms(s), .. Esns(preferEsn)]))];

    private static List<Transform> IkeTransforms(SaSuite s) => s.IsAead
        ? [Encr(s), Prf(s.Prf), Dh(s.Group)]
        : [Encr(s), Prf(s.Prf), Integ(s.Integrity), Dh(s.Group)];

    private static List<Transform> EspTransforms(SaSuite s) => s.IsAead ? [Encr(s)] : [Encr(s), Integ(s.Integrity)];

    private static Transform Encr(SaSuite s) => new(TransformType.Encryption, (ushort)s.Encryption, s.KeyBits);

    private static Transform Prf(PseudorandomFunction id) => new(TransformType.Prf, (ushort)id);

    private static Transform Integ(IntegrityAlgorithm id) => new(TransformType.Integrity, (ushort)id);

    private static Transform Esn(bool on) => new(TransformType.ExtendedSequenceNumbers, on ? (ushort)1 : (ushort)0);

    private static Transform[] Esns(bool preferEsn) => [Esn(preferEsn), Esn(!preferEsn)];

    private static Transform Dh(DhGroup g) => new(TransformType.DiffieHellman, (ushort)g);

    /// <summary>
    /// Picks, in the order of <paramref name="configured"/> (the defaults when null), the first suite some offered
    /// proposal of <paramref name="protocol"/> contains, so the configured order wins over the peer's (strongSwan's
    /// prefer_configured_proposals); a KE in another group is answered with INVALID_KE_PAYLOAD as strongSwan does.
    /// RFC 7296 §3.3.6: "the responder MUST select a single proposal ... and one transform of each type". For ESP,
    /// ESN is chosen when the proposal offers it, no ESN otherwise; <paramref name="preferEsn"/> false (a rekey of a
    /// CHILD_SA without ESN) turns that round, so a CHILD_SA keeps its choice while the peer keeps offering it.
    /// </summary>
    /// <returns>The chosen suite and the proposal to send back (same number, one transform per type), or null.</returns>
    public static (SaSuite Suite, Proposal Reply)? Choose(IReadOnlyList<Proposal> offered, byte protocol, IReadOnlyList<SaSuite>? configured = null, bool preferEsn = true)
    {
        foreach (SaSuite s in configured ?? (protocol == Proposal.Ike ? DefaultIke : DefaultEsp))
        {
            foreach (Proposal p in offered)
            {
                if (Match(p, protocol, s, preferEsn) is { } reply)
                {
                    return (protocol == Proposal.Ike
                        ? s
                        : s with { Group = DhGroup.NONE, Prf = PseudorandomFunction.PRF_HMAC_SHA2_256, Esn = reply[^1].Id == 1 }, p with { Transforms = reply });
                }
            }
        }
        return null;
    }

    /// <summary>The reply transforms when proposal <paramref name="p"/> contains every transform of <paramref name="s"/>, else null.</summary>
    private static List<Transform>? Match(Proposal p, byte protocol, SaSuite s, bool preferEsn)
    {
        if (p.ProtocolId != protocol || (protocol == Proposal.Esp && p.Spi.Length != 4))
        {
            return null;
        }
        bool Has(TransformType type, ushort id) => p.Transforms.Any(t => t.Type == type && t.Id == id);
        if (!p.Transforms.Any(t => t.Type == TransformType.Encryption && t.Id == (ushort)s.Encryption && t.KeyLength == s.KeyBits))
        {
            return null;
        }
        bool anyInteg = p.Transforms.Any(t => t.Type == TransformType.Integrity);
        // RFC 5282 §8: with an AEAD cipher the integrity transform is absent or NONE.
        if (s.IsAead ? anyInteg && !Has(TransformType.Integrity, 0) : !Has(TransformType.Integrity, (ushort)s.Integrity))
        {
            return null;
        }
        List<Transform> reply = [Encr(s)];
        if (protocol == Proposal.Ike)
        {
            if (!Has(TransformType.Prf, (ushort)s.Prf) || !Has(TransformType.DiffieHellman, (ushort)s.Group))
            {
                return null;
            }
            reply.Add(Prf(s.Prf));
            if (!s.IsAead)
            {
                reply.Add(Integ(s.Integrity));
            }
            reply.Add(Dh(s.Group));
            return reply;
        }
        // No PFS for the IKE_AUTH child (its DH transform, if any, must allow NONE). ESN is a mandatory transform type
        // of an ESP proposal (§3.3.3), with value 0 or 1 (§3.3.2); the responder takes one of those offered.
        bool anyDh = p.Transforms.Any(t => t.Type == TransformType.DiffieHellman);
        bool esn = Has(TransformType.ExtendedSequenceNumbers, 1);
        bool noEsn = Has(TransformType.ExtendedSequenceNumbers, 0);
        if ((anyDh && !Has(TransformType.DiffieHellman, 0)) || !(esn || noEsn))
        {
            return null;
        }
        if (!s.IsAead)
        {
            reply.Add(Integ(s.Integrity));
        }
        // The ESN transform stays last: Choose reads the choice from it.
        reply.Add(Esn(esn && (preferEsn || !noEsn)));
        return reply;
    }

    /// <summary>Reads back the responder's single proposal and checks it is one of ours (RFC 7296 §2.7).</summary>
    public static SaSuite Accept(IReadOnlyList<Proposal> answer, byte protocol, string exchange, IReadOnlyList<SaSuite>? configured = null)
    {
        if (answer.Count != 1)
        {
            throw new IkeException($"the responder's {exchange} SA payload has {answer.Count} proposals; it must choose exactly one");
        }
        Proposal p = answer[0];
        (SaSuite Suite, Proposal Reply)? mine = Choose([p], protocol, configured);
        if (mine is null || p.Transforms.Count != mine.Value.Reply.Transforms.Count)
        {
            throw new IkeException($"the responder's {exchange} proposal ({Describe(p)}) is not one Certgate offered");
        }
        return mine.Value.Suite;
    }

    /// <summary>What the peer offered and what is configured, for the NO_PROPOSAL_CHOSEN log line.</summary>
    public static string Mismatch(IReadOnlyList<Proposal> offered, byte protocol, IReadOnlyList<SaSuite>? configured) =>
        $"peer offered [{string.Join("; ", offered.Select(p => $"#{p.Number} {Describe(p)}"))}], configured "
        + (configured is null ? "the defaults" : $"[{string.Join("; ", configured.Select(s => protocol == Proposal.Ike ? s.IkeName : s.CipherName))}]");

    public static string Describe(Proposal p) => string.Join(", ", p.Transforms.Select(t => $"{t.Type} {t.Id}{(t.KeyLength is int k ? "/" + k : "")}"));

    // ---- CREATE_CHILD_SA (§1.3): ESP with PFS, the IKE SA rekey ----

    /// <summary>
    /// Certgate's ESP offer (<see cref="EspOffer(ReadOnlyMemory{byte}, IReadOnlyList{SaSuite}?, bool)"/>) with the PFS group added to each proposal; a rekey
    /// puts the old CHILD_SA's ESN choice first (<paramref name="preferEsn"/>).
    /// </summary>
    public static IReadOnlyList<Proposal> EspOfferWithPfs(uint spi, DhGroup pfs, IReadOnlyList<SaSuite>? configured = null, bool preferEsn = true) =>
        [.. EspOffer(MessagePayloads.Spi(spi), configured, preferEsn).Select(p => pfs == DhGroup.NONE ? p : p with { Transforms = [.. p.Transforms, new Transform(TransformType.DiffieHellman, (ushort)pfs)] })];

    /// <summary>
    /// The responder's choice among ESP proposals that may carry a D-H group (PFS, §1.3.1): the group is taken apart,
    /// the rest chosen as in IKE_AUTH. A group of KEi that is offered is preferred; otherwise Certgate's order. With a
    /// configured PFS group (<paramref name="pfs"/>, Junos <c>perfect-forward-secrecy keys</c>) only that group is
    /// accepted, and a proposal without PFS is not. ESN as in <see cref="Choose"/>: a rekey passes the old
    /// CHILD_SA's choice as <paramref name="preferEsn"/>.
    /// </summary>
    public static (SaSuite Suite, Proposal Reply, DhGroup Group)? ChooseEsp(IReadOnlyList<Proposal> offered, ushort? keGroup,
        IReadOnlyList<SaSuite>? configured = null, DhGroup pfs = DhGroup.NONE, bool preferEsn = true)
    {
        // The configured ESP order decides (as in IKE_AUTH), so every proposal's group is settled first.
        var candidates = new List<(Proposal Stripped, DhGroup Group)>();
        foreach (Proposal p in offered)
        {
            List<ushort> groups = [.. p.Transforms.Where(t => t.Type == TransformType.DiffieHellman).Select(t => t.Id)];
            DhGroup group;
            if (pfs != DhGroup.NONE)
            {
                if (!groups.Contains((ushort)pfs))
                {
                    continue;
                }
                group = pfs;
            }
            else if (groups.Count == 0 || (groups.Contains(0) && keGroup is null))
            {
                group = DhGroup.NONE;
            }
            else if (keGroup is ushort g && groups.Contains(g) && KeyExchange.IsSupported(g))
            {
                group = (DhGroup)g;
            }
            else if (Groups.FirstOrDefault(x => groups.Contains((ushort)x)) is var mine && mine != DhGroup.NONE)
            {
                group = mine;
            }
            else if (groups.Contains(0))
            {
                group = DhGroup.NONE;
            }
            else
            {
                continue;
            }
            candidates.Add((p with { Transforms = [.. p.Transforms.Where(t => t.Type != TransformType.DiffieHellman)] }, group));
        }
        if (Choose([.. candidates.Select(c => c.Stripped)], Proposal.Esp, configured, preferEsn) is not { } choice)
        {
            return null;
        }
        // §3.3.1: proposal numbers are distinct within an SA payload, so the number finds the chosen proposal's group.
        DhGroup chosen = candidates.First(c => c.Stripped.Number == choice.Reply.Number).Group;
        Proposal reply = chosen == DhGroup.NONE ? choice.Reply : choice.Reply with { Transforms = [.. choice.Reply.Transforms, new Transform(TransformType.DiffieHellman, (ushort)chosen)] };
        return (choice.Suite, reply, chosen);
    }

    /// <summary>Reads back the responder's ESP choice: one proposal of ours, with the PFS group asked for (or none).</summary>
    public static SaSuite AcceptEsp(IReadOnlyList<Proposal> answer, DhGroup pfs, IReadOnlyList<SaSuite>? configured = null)
    {
        if (answer.Count != 1)
        {
            throw new IkeException($"the responder's CREATE_CHILD_SA SA payload has {answer.Count} proposals; it must choose exactly one");
        }
        List<ushort> groups = [.. answer[0].Transforms.Where(t => t.Type == TransformType.DiffieHellman).Select(t => t.Id).Where(id => id != 0)];
        if (pfs == DhGroup.NONE ? groups.Count != 0 : groups.Count != 1 || groups[0] != (ushort)pfs)
        {
            throw new IkeException($"the responder chose D-H group {(groups.Count == 0 ? "none" : string.Join(",", groups))} for the CHILD_SA; Certgate offered {pfs}");
        }
        if (answer[0].Spi.Length != 4)
        {
            throw new IkeException($"the responder's ESP SPI is {answer[0].Spi.Length} octets, not 4");
        }
        Proposal stripped = answer[0] with { Transforms = [.. answer[0].Transforms.Where(t => t.Type != TransformType.DiffieHellman)] };
        return Accept([stripped], Proposal.Esp, "CREATE_CHILD_SA", configured);
    }

    /// <summary>
    /// Certgate's IKE offer for a rekey (§1.3.2): the new SPIi in each proposal, the current group first (configured
    /// proposals of that group first, then the others in their order).
    /// </summary>
    public static IReadOnlyList<Proposal> RekeyIkeOffer(ulong spi, DhGroup first, IReadOnlyList<SaSuite>? configured = null) =>
        [.. IkeOffer(configured is null ? null : [.. configured.Where(s => s.Group == first), .. configured.Where(s => s.Group != first)]).Select(p => p with
        {
            Spi = MessagePayloads.Spi(spi),
            Transforms = [.. p.Transforms.Where(t => t.Type != TransformType.DiffieHellman),
                new Transform(TransformType.DiffieHellman, (ushort)first),
                .. p.Transforms.Where(t => t.Type == TransformType.DiffieHellman && t.Id != (ushort)first)],
        })];
}
