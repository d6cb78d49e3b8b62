using System.Buffers.Binary;
using Certgate.Ike.Sessions;
using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Wire;

/// <summary>
/// The payload list of one message, as the tasks read and build it: find a payload or a notify, read the SA payload,
/// build Notify and Delete payloads (RFC 7296 §3.10, §3.11). Which payloads a message must and may carry is
/// <see cref="Sessions.PayloadRules"/>'s, checked before a task sees the list; <see cref="Find"/> only reads.
/// </summary>
internal static class MessagePayloads
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

    public static IEnumerable<Payloads.Notify> Notifies(IReadOnlyList<RawPayload> payloads, NotifyType type) =>
        Notifies(payloads).Where(n => n.Type == (ushort)type);

    public static Payloads.Notify? FindNotify(IReadOnlyList<RawPayload> payloads, NotifyType type) => Notifies(payloads, type).FirstOrDefault();

    /// <summary>The first error notify (types below 16384, §3.10.1), or null.</summary>
    public static Payloads.Notify? Error(IReadOnlyList<RawPayload> payloads) => Notifies(payloads).FirstOrDefault(n => n.IsError);

    /// <summary>A notify type by its IANA name, or <c>error N</c> for one Certgate does not know.</summary>
    public static string Name(ushort notifyType) => Enum.IsDefined((NotifyType)notifyType) ? ((NotifyType)notifyType).ToString() : $"error {notifyType}";

    /// <summary>The first payload of <paramref name="type"/>.</summary>
    /// <exception cref="IkeException">There is none (<paramref name="where"/> names the message).</exception>
    public static RawPayload Find(IReadOnlyList<RawPayload> payloads, PayloadType type, string where) =>
        payloads.FirstOrDefault(p => p.Type == type) ?? throw new IkeException($"{where} has no {type} payload");

    /// <summary>The proposals of the message's SA payload.</summary>
    public static IReadOnlyList<Proposal> ReadSa(IReadOnlyList<RawPayload> payloads, string where) =>
        Payloads.ReadSa(Find(payloads, PayloadType.SecurityAssociation, where).Body.Span);
}
