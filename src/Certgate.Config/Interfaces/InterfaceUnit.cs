using System.Globalization;
using System.Text.RegularExpressions;
using Certgate.Config.Schema;

namespace Certgate.Config.Interfaces;

/// <summary>
/// A logical interface (Junos IFL): a device and a unit, written <c>ge-0/0/0.0</c> or <c>ms-0/0/0.11</c>. A device
/// is named the Junos way (<c>TYPE-FPC/PIC/PORT</c>) or by its Linux name (<c>eth0</c>, <c>veth-a</c>); a reference
/// without a unit means unit 0, as in Junos.
/// </summary>
/// <remarks>
/// Linux names (docs/decisions.md "Interface names"): a Junos device <c>ge-F/P/N</c> is the Linux device
/// <c>geF-P-N</c>; a Linux name is used as it is. Unit 0 is the device itself and unit U &gt; 0 is <c>DEVICE.U</c>
/// (the Linux VLAN naming). A services unit (<c>ms-</c>, <c>sp-</c>, <c>si-</c>) is a TUN device of its own,
/// <c>msF-P-N-U</c>, e.g. <c>ms-0/0/0.11</c> → <c>ms0-0-0-11</c>. Linux allows 15 characters; longer names are
/// refused at commit.
/// </remarks>
public readonly partial record struct InterfaceUnit(string Device, int Unit)
{
    /// <summary>The largest unit number (reference §1.5).</summary>
    public const int MaxUnit = 16384;

    /// <summary>The longest Linux interface name (IFNAMSIZ − 1).</summary>
    public const int MaxLinuxNameLength = 15;

    [GeneratedRegex(@"^(?<type>[a-z]{2,4})-(?<fpc>[0-9]{1,2})/(?<pic>[0-9]{1,2})/(?<port>[0-9]{1,3})$", RegexOptions.CultureInvariant)]
    private static partial Regex JunosDevice();

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9_-]{0,14}$", RegexOptions.CultureInvariant)]
    private static partial Regex LinuxDevice();

    /// <summary>True for a services PIC device (<c>ms-</c>, <c>sp-</c>, <c>si-</c>), whose units are service interfaces.</summary>
    public bool IsServiceInterface => IsServiceDevice(Device);

    /// <summary>The Linux device that carries this unit, or null when the name would exceed 15 characters.</summary>
    public string? LinuxName
    {
        get
        {
            Match m = JunosDevice().Match(Device);
            string unit = Unit.ToString(CultureInfo.InvariantCulture);
            string name;
            if (m.Success)
            {
                string baseName = $"{m.Groups["type"].Value}{m.Groups["fpc"].Value}-{m.Groups["pic"].Value}-{m.Groups["port"].Value}";
                name = IsServiceInterface ? baseName + "-" + unit : Unit == 0 ? baseName : baseName + "." + unit;
            }
            else
            {
                name = Unit == 0 ? Device : Device + "." + unit;
            }
            return name.Length <= MaxLinuxNameLength ? name : null;
        }
    }

    /// <summary>Whether <paramref name="device"/> names a services PIC (<c>ms-</c>, <c>sp-</c>, <c>si-</c>).</summary>
    public static bool IsServiceDevice(string device) =>
        JunosDevice().Match(device) is { Success: true } m && m.Groups["type"].Value is "ms" or "sp" or "si";

    /// <summary>Whether <paramref name="text"/> is a device name (Junos or Linux form, no unit).</summary>
    public static bool IsDeviceName(string text) => JunosDevice().IsMatch(text) || (LinuxDevice().IsMatch(text) && !text.Contains('.'));

    /// <summary>Parses <c>DEVICE[.UNIT]</c>; a missing unit is unit 0.</summary>
    public static bool TryParse(string? text, out InterfaceUnit unit)
    {
        unit = default;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }
        int dot = text.LastIndexOf('.');
        string device = dot < 0 ? text : text[..dot];
        int number = 0;
        if (dot >= 0 && (!int.TryParse(text.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out number) || number > MaxUnit))
        {
            return false;
        }
        if (!IsDeviceName(device))
        {
            return false;
        }
        unit = new InterfaceUnit(device, number);
        return true;
    }

    /// <summary>Parses <c>DEVICE[.UNIT]</c> or throws <see cref="FormatException"/> naming the text.</summary>
    public static InterfaceUnit Parse(string text) =>
        TryParse(text, out InterfaceUnit u) ? u : throw new FormatException($"'{text}' is not an interface name (expected ge-0/0/0.0, ms-0/0/0.1 or a Linux name such as eth0)");

    /// <summary>The Junos form, <c>DEVICE.UNIT</c>.</summary>
    public override string ToString() => Device + "." + Unit.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Value syntaxes for interface names and interface addresses.</summary>
internal static class InterfaceSyntax
{
    /// <summary>A device name (<c>ge-0/0/0</c>, <c>ms-0/0/0</c>, <c>eth0</c>).</summary>
    public static ValueSyntax Device() => new DeviceValue();

    /// <summary>A logical interface, <c>DEVICE[.UNIT]</c>; stored as typed.</summary>
    public static ValueSyntax Unit() => new UnitValue(requireUnit: false);

    /// <summary>A logical interface with an explicit unit (<c>ms-0/0/0.1</c>).</summary>
    public static ValueSyntax UnitRequired() => new UnitValue(requireUnit: true);

    /// <summary>An interface address: address and prefix length, host bits kept (<c>10.1.15.2/24</c>).</summary>
    public static ValueSyntax Address() => new InterfaceAddressValue();

    /// <summary>An interface named in <c>protocols</c>: a logical interface or <c>all</c>.</summary>
    public static ValueSyntax ProtocolInterface() => new ProtocolInterfaceValue();

    /// <summary>A static route's next hop: an IP address or a logical interface.</summary>
    public static ValueSyntax NextHop() => new NextHopValue();

    private sealed class DeviceValue : ValueSyntax
    {
        public override string Expected => "an interface such as ge-0/0/0, ms-0/0/0 or a Linux name such as eth0";

        public override bool TryNormalize(string text, out string normalized, out string problem)
        {
            normalized = text;
            problem = InterfaceUnit.IsDeviceName(text) ? "" : $"'{text}' is not {Expected}";
            return problem.Length == 0;
        }
    }

    private sealed class UnitValue(bool requireUnit) : ValueSyntax
    {
        public override string Expected => requireUnit
            ? "a logical interface with its unit, such as ms-0/0/0.1"
            : "a logical interface such as ge-0/0/0.0, ms-0/0/0.1 or eth0";

        public override bool TryNormalize(string text, out string normalized, out string problem)
        {
            normalized = text;
            problem = "";
            if (!InterfaceUnit.TryParse(text, out _) || (requireUnit && !text.Contains('.')))
            {
                problem = $"'{text}' is not {Expected}";
                return false;
            }
            return true;
        }
    }

    private sealed class ProtocolInterfaceValue : ValueSyntax
    {
        public override string Expected => "a logical interface such as ge-0/0/0.0, or all";

        public override bool TryNormalize(string text, out string normalized, out string problem)
        {
            normalized = text;
            problem = text == "all" || InterfaceUnit.TryParse(text, out _) ? "" : $"'{text}' is not {Expected}";
            return problem.Length == 0;
        }
    }

    private sealed class InterfaceAddressValue : ValueSyntax
    {
        public override string Expected => "an interface address with its prefix length (a.b.c.d/n or x:x::x/n)";

        public override bool TryNormalize(string text, out string normalized, out string problem)
        {
            normalized = text;
            problem = "";
            if (!InterfaceAddress.TryParse(text, out InterfaceAddress? a))
            {
                problem = $"'{text}' is not {Expected}";
                return false;
            }
            normalized = a.ToString();
            return true;
        }
    }

    private sealed class NextHopValue : ValueSyntax
    {
        public override string Expected => "an IP address or a logical interface such as ms-0/0/0.1";

        public override bool TryNormalize(string text, out string normalized, out string problem)
        {
            normalized = text;
            problem = "";
            if (System.Net.IPAddress.TryParse(text, out System.Net.IPAddress? a) && !text.Contains('%') && (text.Contains(':') || text.Count(c => c == '.') == 3))
            {
                normalized = a.ToString();
                return true;
            }
            if (InterfaceUnit.TryParse(text, out _) && !text.All(c => char.IsAsciiDigit(c) || c == '.'))
            {
                return true;
            }
            problem = $"'{text}' is not {Expected}";
            return false;
        }
    }
}

/// <summary>An address configured on an interface: the address and its prefix length (host bits kept).</summary>
public sealed record InterfaceAddress(System.Net.IPAddress Address, int Length)
{
    /// <summary>Parses <c>a.b.c.d/n</c> or <c>x:x::x/n</c>.</summary>
    public static bool TryParse(string? text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out InterfaceAddress? address)
    {
        address = null;
        int slash = text?.IndexOf('/') ?? -1;
        if (text is null || slash < 0 || !Certgate.Net.Addressing.IpPrefix.TryParse(text, out _))
        {
            return false;
        }
        string a = text[..slash];
        System.Net.IPAddress ip = System.Net.IPAddress.Parse(a);
        if (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && a.Count(c => c == '.') != 3)
        {
            return false;
        }
        address = new InterfaceAddress(ip, int.Parse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture));
        return true;
    }

    /// <summary>The prefix this address lies in.</summary>
    public Certgate.Net.Addressing.IpPrefix Prefix => new(Address, Length);

    /// <inheritdoc />
    public override string ToString() => $"{Address}/{Length.ToString(CultureInfo.InvariantCulture)}";
}
