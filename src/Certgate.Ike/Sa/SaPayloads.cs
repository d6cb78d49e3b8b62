using System.Buffers.Binary;
using Certgate.Ike.Crypto;
using Certgate.Ipsec.Registry;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;

namespace Certgate.Ike.Sa;

/// <summary>Payload bodies and proposal rules of the exchanges of an established IKE SA.</summary>
internal static class SaPayloads
{
    /// <summary>A notify without SPI (§3.10: "Protocol ID ... zero" for the IKE SA).</summary>
    public static (PayloadType, ReadOnlyMemory<byte>) Notify(NotifyType type, ReadOnlyMemory<byte> data = default) =>
        (PayloadType.Notify, Payloads.WriteNotify(new Payloads.Notify(0, (ushort)type, ReadOnlyMemory<byte>.Empty, data)));

    /// <summary>A notify about an ESP SA (REKEY_SA, CHILD_SA_NOT_FOUND: Protocol 3, SPI Size 4).</summary>
    public static (PayloadType, ReadOnlyMemory<byte>) EspNotify(NotifyType type, uint spi) =>
        (PayloadType.Notify, Payloads.WriteNotify(new Payloads.Notify(Proposal.Esp, (ushort)type, Spi(spi), ReadOnlyMemory<byte>.Empty)));

    /// <summary>Delete (§3.11): the IKE SA (protocol 1, no SPIs) or ESP SAs by the SPIs the sender receives with.</summary>
    public static (PayloadType, ReadOnlyMemory<byte>) Delete(byte protocol, IReadOnlyList<uint> spis)
    {
        int size = protocol == Proposal.Ike ? 0 : 4;
        byte[] body = new byte[4 + size * spis.Count];
        body[0] = protocol;
        body[1] = (byte)size;
        BinaryPrimitives.WriteUInt16BigEndian(body.AsSpan(2), (ushort)spis.Count);
        for (int i = 0; i < spis.Count && size == 4; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(4 + 4 * i), spis[i]);
        }
        return (PayloadType.Delete, body);
    }

    public static byte[] Spi(uint spi)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, spi);
        return b;
    }

    public static byte[] Spi(ulong spi)
    {
        byte[] b = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, spi);
        return b;
    }

    public static IEnumerable<Payloads.Notify> Notifies(IReadOnlyList<RawPayload> payloads) =>
        payloads.Where(p => p.Type == PayloadType.Notify).Select(p => Payloads.ReadNotify(p.Body));

    public static Payloads.Notify? Find(IReadOnlyList<RawPayload> payloads, NotifyType type) =>
        Notifies(payloads).FirstOrDefault(n => n.Type == (ushort)type);

    /// <summary>The first error notify (types below 16384, §3.10.1), or null.</summary>
    public static Payloads.Notify? Error(IReadOnlyList<RawPayload> payloads) => Notifies(payloads).FirstOrDefault(n => n.IsError);

    public static string Name(ushort notifyType) => Enum.IsDefined((NotifyType)notifyType) ? ((NotifyType)notifyType).ToString() : $"error {notifyType}";

    public static RawPayload Require(IReadOnlyList<RawPayload> payloads, PayloadType type, string where) =>
        payloads.FirstOrDefault(p => p.Type == type) ?? throw new IkeException($"{where} has no {type} payload");

    /// <summary>
    /// §2.8.1: "the SA created with the lowest of the four nonces used in the two exchanges SHOULD be closed";
    /// "lowest" octet by octet, a nonce that is a prefix of another being lower. True when <paramref name="ours"/>
    /// holds the lowest of the four.
    /// </summary>
    public static bool OursHasLowestNonce((byte[] Ni, byte[] Nr) ours, (byte[] Ni, byte[] Nr) theirs)
    {
        byte[] lowestOurs = ours.Ni.AsSpan().SequenceCompareTo(ours.Nr) <= 0 ? ours.Ni : ours.Nr;
        byte[] lowestTheirs = theirs.Ni.AsSpan().SequenceCompareTo(theirs.Nr) <= 0 ? theirs.Ni : theirs.Nr;
        return lowestOurs.AsSpan().SequenceCompareTo(lowestTheirs) < 0;
    }

    /// <summary>
    /// Certgate's ESP offer (<see cref="Negotiation.EspOffer"/>) with the PFS group added to each proposal; a rekey
    /// puts the old CHILD_SA's ESN choice first (<paramref name="preferEsn"/>).
    /// </summary>
    public static IReadOnlyList<Proposal> EspOffer(uint spi, DhGroup pfs, IReadOnlyList<SaSuite>? configured = null, bool preferEsn = true) =>
        [.. Negotiation.EspOffer(Spi(spi), configured, preferEsn).Select(p => pfs == DhGroup.NONE ? p : p with { Transforms = [.. p.Transforms, new Transform(TransformType.DiffieHellman, (ushort)pfs)] })];

    /// <summary>
    /// The responder's choice among ESP proposals that may carry a D-H group (PFS, §1.3.1): the group is taken apart,
    /// the rest chosen as in IKE_AUTH. A group of KEi that is offered is preferred; otherwise Certgate's order. With a
    /// configured PFS group (<paramref name="pfs"/>, Junos <c>perfect-forward-secrecy keys</c>) only that group is
    /// accepted, and a proposal without PFS is not. ESN as in <see cref="Negotiation.Choose"/>: a rekey passes the old
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
            else if (Negotiation.Groups.FirstOrDefault(x => groups.Contains((ushort)x)) is var mine && mine != DhGroup.NONE)
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
        if (Negotiation.Choose([.. candidates.Select(c => c.Stripped)], Proposal.Esp, configured, preferEsn) is not { } choice)
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
        return Negotiation.Accept([stripped], Proposal.Esp, "CREATE_CHILD_SA", configured);
    }

    /// <summary>
    /// Certgate's IKE offer for a rekey (§1.3.2): the new SPIi in each proposal, the current group first (configured
    /// proposals of that group first, then the others in their order).
    /// </summary>
    public static IReadOnlyList<Proposal> IkeOffer(ulong spi, DhGroup first, IReadOnlyList<SaSuite>? configured = null) =>
        [.. Negotiation.IkeOffer(configured is null ? null : [.. configured.Where(s => s.Group == first), .. configured.Where(s => s.Group != first)]).Select(p => p with
        {
            Spi = Spi(spi),
            Transforms = [.. p.Transforms.Where(t => t.Type != TransformType.DiffieHellman),
                new Transform(TransformType.DiffieHellman, (ushort)first),
                .. p.Transforms.Where(t => t.Type == TransformType.DiffieHellman && t.Id != (ushort)first)],
        })];
}
