using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Certgate.Net.Addressing;

/// <summary>An IPv4 or IPv6 prefix such as <c>10.1.12.0/24</c>. The address is stored with host bits cleared.</summary>
public readonly record struct IpPrefix
{
    /// <summary>The network address (host bits zero).</summary>
    public IPAddress Address { get; }

    /// <summary>The prefix length in bits (0–32 for IPv4, 0–128 for IPv6).</summary>
    public int Length { get; }

    /// <summary>Creates a prefix; host bits of <paramref name="address"/> are cleared.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is outside the family's range.</exception>
    public IpPrefix(IPAddress address, int length)
    {
        ArgumentNullException.ThrowIfNull(address);
        int max = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, max);
        Address = Mask(address, length);
        Length = length;
    }

    /// <summary>The first address of the prefix: <see cref="Address"/>, the network address.</summary>
    public IPAddress First => Address;

    /// <summary>The last address of the prefix (host bits all ones): with <see cref="First"/>, the range a traffic
    /// selector carries (RFC 7296 §3.13.1). The one prefix-to-range conversion (issue #13).</summary>
    public IPAddress Last
    {
        get
        {
            byte[] bytes = Address.GetAddressBytes();
            for (int bit = Length; bit < bytes.Length * 8; bit++)
            {
                bytes[bit / 8] |= (byte)(0x80 >> (bit % 8));
            }
            return new IPAddress(bytes);
        }
    }

    /// <summary>True for an IPv4 prefix.</summary>
    public bool IsIPv4 => Address.AddressFamily == AddressFamily.InterNetwork;

    /// <summary>Whether <paramref name="address"/> lies inside this prefix (same family only).</summary>
    public bool Contains(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != Address.AddressFamily)
        {
            return false;
        }
        return Mask(address, Length).Equals(Address);
    }

    /// <summary>Parses <c>a.b.c.d/n</c>, <c>x::y/n</c>, or a bare address (a host prefix).</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out IpPrefix? prefix)
    {
        prefix = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        int slash = text.IndexOf('/');
        string addressPart = slash < 0 ? text : text[..slash];
        if (!IPAddress.TryParse(addressPart, out IPAddress? address) || addressPart.Contains('%'))
        {
            return false;
        }
        int max = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        int length = max;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out length) || length > max))
        {
            return false;
        }
        prefix = new IpPrefix(address, length);
        return true;
    }

    /// <summary>Parses a prefix or throws <see cref="FormatException"/> naming the text.</summary>
    public static IpPrefix Parse(string text) =>
        TryParse(text, out IpPrefix? prefix) ? prefix.Value : throw new FormatException($"'{text}' is not an IP prefix (expected a.b.c.d/n or x:x::x/n)");

    /// <inheritdoc />
    public override string ToString() => $"{Address}/{Length.ToString(CultureInfo.InvariantCulture)}";

    private static IPAddress Mask(IPAddress address, int length)
    {
        byte[] bytes = address.GetAddressBytes();
        for (int i = 0; i < bytes.Length; i++)
        {
            int bitsHere = Math.Clamp(length - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - bitsHere));
        }
        return new IPAddress(bytes);
    }
}
