using Certgate.Ipsec.Registry;

namespace Certgate.Ike.Sessions;

/// <summary>
/// IKE failed; the message says which step and why (e.g. the peer certificate is revoked). Thrown by the tasks and the
/// payload table, caught in one place per message (<see cref="Sa.TaskManager"/>, or the IKE_SA_INIT screen of the
/// dispatcher), which sends <see cref="Notify"/> as the RFC says for that exchange and direction.
/// </summary>
public sealed class IkeException : Exception
{
    /// <summary>An error the catcher answers with its exchange's default notify (INVALID_SYNTAX; AUTHENTICATION_FAILED in IKE_AUTH, RFC 7296 §2.21).</summary>
    public IkeException(string message)
        : base(message)
    {
    }

    /// <summary>An error answered with <paramref name="notify"/> and its notification data.</summary>
    public IkeException(string message, NotifyType notify, ReadOnlyMemory<byte> notifyData = default)
        : base(message)
    {
        Notify = notify;
        NotifyData = notifyData;
    }

    /// <summary>The notify to send (in the response to a request; for a response, in an INFORMATIONAL where the RFC allows one); null: the catcher's default.</summary>
    public NotifyType? Notify { get; }

    /// <summary>The ESP SPI <see cref="Notify"/> is about (CHILD_SA_NOT_FOUND, §3.10: Protocol ESP, SPI Size 4); null: none.</summary>
    public uint? ChildSpi { get; init; }

    /// <summary>The notification data of <see cref="Notify"/> (e.g. the D-H group of INVALID_KE_PAYLOAD, a COOKIE).</summary>
    public ReadOnlyMemory<byte> NotifyData { get; }
}
