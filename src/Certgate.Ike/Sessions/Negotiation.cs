using Certgate.Ike.Registry;
using Certgate.Ike.Wire;

namespace Certgate.Ike.Sessions;

/// <summary>
/// The algorithms one SA (IKE or ESP) uses. <see cref="Integrity"/> is NONE with an AEAD cipher;
/// <see cref="Group"/> is NONE for ESP (no PFS).
/// </summary>
public sealed record SaSuite(EncrId Encryption, int KeyBits, IntegId Integrity, DhGroup Group)
{
    /// <summary>Whether the cipher authenticates itself (AES-GCM), so there is no integrity transform.</summary>
    public bool IsAead => Encryption == EncrId.ENCR_AES_GCM_16;

    /// <summary>Encryption key length in octets, with the 4-octet salt of AES-GCM (RFC 5282 §7.1, RFC 4106 §8.1).</summary>
    public int EncryptionKeyLength => KeyBits / 8 + (IsAead ? 4 : 0);

    /// <summary>Integrity key length in octets (RFC 4868 §2.1.2: the HMAC's block-independent key = output length).</summary>
    public int IntegrityKeyLength => Integrity == IntegId.AUTH_HMAC_SHA2_256_128 ? 32 : 0;

    /// <summary>The cipher in strongSwan's spelling of the IANA names (as <c>swanctl --list-sas</c> shows it).</summary>
    public string CipherName => (Encryption == EncrId.ENCR_AES_GCM_16 ? "AES_GCM_16-" : "AES_CBC-") + KeyBits
        + (Integrity == IntegId.AUTH_HMAC_SHA2_256_128 ? "/HMAC_SHA2_256_128" : "");

    /// <summary>The IKE suite in strongSwan's spelling, e.g. <c>AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256</c>.</summary>
    public string IkeName => $"{CipherName}/PRF_HMAC_SHA2_256/{Group}";
}

/// <summary>
/// What Certgate offers and accepts (issue 5): AES-GCM-16 and AES-CBC with HMAC-SHA-256-128, 128 or 256-bit keys,
/// PRF-HMAC-SHA-256, DH groups ECP-256, ECP-384 and MODP-2048, no ESN. AEAD and non-AEAD ciphers go in separate
/// proposals because an AEAD proposal must not carry an integrity transform (RFC 5282 §8).
/// </summary>
internal static class Negotiation
{
    /// <summary>The responder's preference, most preferred first (strongSwan's prefer_configured_proposals style).</summary>
    public static readonly DhGroup[] Groups = [DhGroup.ECP_256, DhGroup.ECP_384, DhGroup.MODP_2048];

    private static readonly (EncrId Encr, int Bits)[] Aead = [(EncrId.ENCR_AES_GCM_16, 256), (EncrId.ENCR_AES_GCM_16, 128)];
    private static readonly (EncrId Encr, int Bits)[] Cbc = [(EncrId.ENCR_AES_CBC, 256), (EncrId.ENCR_AES_CBC, 128)];

    public static IReadOnlyList<Proposal> IkeOffer() =>
    [
        new Proposal(1, Proposal.Ike, ReadOnlyMemory<byte>.Empty,
            [.. Aead.Select(a => new Transform(TransformType.Encryption, (ushort)a.Encr, a.Bits)), Prf, .. Groups.Select(Dh)]),
        new Proposal(2, Proposal.Ike, ReadOnlyMemory<byte>.Empty,
            [.. Cbc.Select(a => new Transform(TransformType.Encryption, (ushort)a.Encr, a.Bits)), Prf, Integ, .. Groups.Select(Dh)]),
    ];

    public static IReadOnlyList<Proposal> EspOffer(ReadOnlyMemory<byte> spi) =>
    [
        new Proposal(1, Proposal.Esp, spi, [.. Aead.Select(a => new Transform(TransformType.Encryption, (ushort)a.Encr, a.Bits)), NoEsn]),
        new Proposal(2, Proposal.Esp, spi, [.. Cbc.Select(a => new Transform(TransformType.Encryption, (ushort)a.Encr, a.Bits)), Integ, NoEsn]),
    ];

    private static Transform Prf => new(TransformType.Prf, (ushort)PrfId.PRF_HMAC_SHA2_256);

    private static Transform Integ => new(TransformType.Integrity, (ushort)IntegId.AUTH_HMAC_SHA2_256_128);

    private static Transform NoEsn => new(TransformType.ExtendedSequenceNumbers, 0);

    private static Transform Dh(DhGroup g) => new(TransformType.DiffieHellman, (ushort)g);

    /// <summary>
    /// Picks the first offered proposal of <paramref name="protocol"/> Certgate can do, and in it one transform of
    /// each type (the cipher in the peer's order, the DH group in Certgate's <see cref="Groups"/> order, so a KE in
    /// another group is answered with INVALID_KE_PAYLOAD as strongSwan does). RFC 7296 §3.3.6: "the
    /// responder MUST select a single proposal ... and one transform of each type".
    /// </summary>
    /// <returns>The chosen suite and the proposal to send back (same number, one transform per type), or null.</returns>
    public static (SaSuite Suite, Proposal Reply)? Choose(IReadOnlyList<Proposal> offered, byte protocol)
    {
        foreach (Proposal p in offered)
        {
            if (p.ProtocolId != protocol || (protocol == Proposal.Esp && p.Spi.Length != 4))
            {
                continue;
            }
            Transform? encr = p.Transforms.FirstOrDefault(t => t.Type == TransformType.Encryption
                && t.Id is (ushort)EncrId.ENCR_AES_GCM_16 or (ushort)EncrId.ENCR_AES_CBC && t.KeyLength is 128 or 256);
            if (encr is null)
            {
                continue;
            }
            bool aead = encr.Id == (ushort)EncrId.ENCR_AES_GCM_16;
            List<Transform> integ = [.. p.Transforms.Where(t => t.Type == TransformType.Integrity)];
            Transform? chosenInteg = integ.FirstOrDefault(t => aead ? t.Id == (ushort)IntegId.NONE : t.Id == (ushort)IntegId.AUTH_HMAC_SHA2_256_128);
            if ((aead && integ.Count > 0 && chosenInteg is null) || (!aead && chosenInteg is null))
            {
                continue;
            }
            List<Transform> reply = [encr];
            DhGroup group = DhGroup.NONE;
            if (protocol == Proposal.Ike)
            {
                Transform? prf = p.Transforms.FirstOrDefault(t => t is { Type: TransformType.Prf, Id: (ushort)PrfId.PRF_HMAC_SHA2_256 });
                List<ushort> groups = [.. p.Transforms.Where(t => t.Type == TransformType.DiffieHellman).Select(t => t.Id)];
                DhGroup? g = Groups.Where(x => groups.Contains((ushort)x)).Select(x => (DhGroup?)x).FirstOrDefault();
                if (prf is null || g is null)
                {
                    continue;
                }
                group = g.Value;
                reply.Add(prf);
                if (!aead)
                {
                    reply.Add(chosenInteg!);
                }
                reply.Add(Dh(group));
            }
            else
            {
                // No PFS for the IKE_AUTH child (its DH transform, if any, must allow NONE) and no ESN.
                List<Transform> dh = [.. p.Transforms.Where(t => t.Type == TransformType.DiffieHellman)];
                bool esnOff = p.Transforms.Any(t => t is { Type: TransformType.ExtendedSequenceNumbers, Id: 0 });
                if ((dh.Count > 0 && !dh.Any(t => t.Id == 0)) || !esnOff)
                {
                    continue;
                }
                if (!aead)
                {
                    reply.Add(chosenInteg!);
                }
                reply.Add(NoEsn);
            }
            var suite = new SaSuite((EncrId)encr.Id, encr.KeyLength!.Value, aead ? IntegId.NONE : IntegId.AUTH_HMAC_SHA2_256_128, group);
            return (suite, p with { Transforms = reply });
        }
        return null;
    }

    /// <summary>Reads back the responder's single proposal and checks it is one of ours (RFC 7296 §2.7).</summary>
    public static SaSuite Accept(IReadOnlyList<Proposal> answer, byte protocol, string exchange)
    {
        if (answer.Count != 1)
        {
            throw new IkeException($"the responder's {exchange} SA payload has {answer.Count} proposals; it must choose exactly one");
        }
        Proposal p = answer[0];
        (SaSuite Suite, Proposal Reply)? mine = Choose([p], protocol);
        if (mine is null || p.Transforms.Count != mine.Value.Reply.Transforms.Count)
        {
            throw new IkeException($"the responder's {exchange} proposal ({Describe(p)}) is not one Certgate offered");
        }
        return mine.Value.Suite;
    }

    private static string Describe(Proposal p) => string.Join(", ", p.Transforms.Select(t => $"{t.Type} {t.Id}{(t.KeyLength is int k ? "/" + k : "")}"));
}
