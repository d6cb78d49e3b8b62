using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using Certgate.Cli.Commands;
using Certgate.Esp.Dataplane;
using Certgate.Esp.Tun;
using Certgate.Ipsec;
using Certgate.Ipsec.Registry;

namespace Certgate.Cli.Diagnostics;

/// <summary>
/// <c>certgate debug esp-tunnel</c>: the userspace data plane with manually keyed SAs (no IKE), for checking a path
/// and for the data-plane scenario tests — the equivalent of a Junos manual SA. Keys come from a file (mode 0600
/// expected), never from the command line, so they do not show in <c>ps</c>.
/// </summary>
internal sealed class EspTunnelCommand : ICommandModule
{
    private static readonly Dictionary<string, (EncryptionAlgorithm Encryption, IntegrityAlgorithm Integrity, int Bits)> Ciphers = new(StringComparer.Ordinal)
    {
        ["aes-128-gcm"] = (EncryptionAlgorithm.ENCR_AES_GCM_16, IntegrityAlgorithm.NONE, 128),
        ["aes-256-gcm"] = (EncryptionAlgorithm.ENCR_AES_GCM_16, IntegrityAlgorithm.NONE, 256),
        ["aes-128-cbc-hmac-sha256"] = (EncryptionAlgorithm.ENCR_AES_CBC, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128, 128),
        ["aes-256-cbc-hmac-sha256"] = (EncryptionAlgorithm.ENCR_AES_CBC, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128, 256),
        ["aes-256-cbc-hmac-sha512"] = (EncryptionAlgorithm.ENCR_AES_CBC, IntegrityAlgorithm.AUTH_HMAC_SHA2_512_256, 256),
    };

    /// <summary>The manual SAs protect everything routed into the TUN device, both families.</summary>
    private static readonly TrafficSelector[] Everything = [TrafficSelector.AnyIPv4, TrafficSelector.AnyIPv6];

    public void Register(CommandTable table) =>
        table.Add("debug esp-tunnel",
            "tun NAME local IP:PORT remote IP:PORT spi-in HEX spi-out HEX keys FILE [cipher aes-128-gcm|aes-256-gcm|aes-128-cbc-hmac-sha256|…] [offloads on|off] [encap udp|raw] " +
            "(manual SAs; FILE holds the inbound and outbound KEYMAT in hex, one per line; offloads: TUN TSO/GRO and UDP GSO/GRO where the kernel has them; encap raw: ESP as IP protocol 50)", Run);

    private static int Run(CommandContext ctx, Arguments args)
    {
        string tunName = args.Required("tun");
        IPEndPoint local = Endpoint(args, "local");
        IPEndPoint remote = Endpoint(args, "remote");
        uint spiIn = Spi(args, "spi-in");
        uint spiOut = Spi(args, "spi-out");
        string keyFile = args.Required("keys");
        string cipherName = args.Optional("cipher") ?? "aes-128-gcm";
        string offloadText = args.Optional("offloads") ?? "on";
        string encapText = args.Optional("encap") ?? "udp";
        args.EnsureAllUsed();
        bool offloads = offloadText switch
        {
            "on" => true,
            "off" => false,
            _ => throw new UserException($"debug esp-tunnel: offloads '{offloadText}': expected on or off", 2),
        };
        bool udpEncapsulation = encapText switch
        {
            "udp" => true,
            "raw" => false,
            _ => throw new UserException($"debug esp-tunnel: encap '{encapText}': expected udp (ESP in UDP, RFC 3948) or raw (IP protocol 50)", 2),
        };
        if (!Ciphers.TryGetValue(cipherName, out (EncryptionAlgorithm Encryption, IntegrityAlgorithm Integrity, int Bits) cipher))
        {
            throw new UserException($"debug esp-tunnel: cipher '{cipherName}': expected {string.Join(", ", Ciphers.Keys)}", 2);
        }
        string[] lines;
        try
        {
            lines = File.ReadAllLines(keyFile).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserException($"debug esp-tunnel: keys {keyFile}: cannot be read ({e.Message})");
        }
        if (lines.Length != 2)
        {
            throw new UserException($"debug esp-tunnel: keys {keyFile}: expected two lines of hex KEYMAT (inbound, then outbound)");
        }
        SaSpec inbound = MakeSa(spiIn, SaDirection.Inbound, cipher, lines[0], keyFile, local, remote) with { UdpEncapsulation = udpEncapsulation };
        SaSpec outbound = MakeSa(spiOut, SaDirection.Outbound, cipher, lines[1], keyFile, local, remote) with { UdpEncapsulation = udpEncapsulation };
        TunDevice tun;
        try
        {
            tun = TunDevice.Open(tunName, offloads);
        }
        catch (IOException e)
        {
            throw new UserException($"debug esp-tunnel: {e.Message}");
        }
        using var stop = new ManualResetEventSlim();
        using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, s => { s.Cancel = true; stop.Set(); });
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, s => { s.Cancel = true; stop.Set(); });
        EspDataPlane plane;
        try
        {
            plane = new EspDataPlane(tun, local) { UdpOffloads = offloads };
        }
        catch (System.Net.Sockets.SocketException e)
        {
            tun.Dispose();
            throw new UserException($"debug esp-tunnel: local {local}: {e.Message}");
        }
        using (plane)
        {
            foreach (SaSpec sa in (SaSpec[])[inbound, outbound])
            {
                try
                {
                    plane.AddSa(sa);
                }
                catch (ArgumentException e)
                {
                    throw new UserException($"debug esp-tunnel: keys {keyFile}: {sa.Direction.ToString().ToLowerInvariant()}: {e.Message.Split(" (Parameter")[0]}");
                }
            }
            plane.AddPolicy(new IpsecPolicy(1, Everything, Everything));
            plane.Start();
            ctx.Out.WriteLine($"esp-tunnel on {tun.Name}: {local} <-> {remote}, SPI in 0x{spiIn:x8} out 0x{spiOut:x8}, {cipherName}, ESP in {(udpEncapsulation ? "UDP" : "IP (protocol 50)")}; {plane.IoDescription}");
            ctx.Out.Flush();
            stop.Wait();
            ctx.Out.WriteLine($"esp-tunnel stopped: {plane.Counters}");
        }
        return 0;
    }

    private static SaSpec MakeSa(uint spi, SaDirection direction, (EncryptionAlgorithm Encryption, IntegrityAlgorithm Integrity, int Bits) cipher,
        string hex, string file, IPEndPoint local, IPEndPoint remote)
    {
        byte[] keymat;
        try
        {
            keymat = Convert.FromHexString(hex);
        }
        catch (FormatException)
        {
            throw new UserException($"debug esp-tunnel: keys {file}: the {direction.ToString().ToLowerInvariant()} line is not hex");
        }
        return new SaSpec
        {
            Spi = spi,
            Direction = direction,
            Local = local,
            Remote = remote,
            Encryption = cipher.Encryption,
            Integrity = cipher.Integrity,
            KeyBits = cipher.Bits,
            Keymat = keymat,
            LocalSelectors = Everything,
            RemoteSelectors = Everything,
            ReqId = 1,
        };
    }

    private static IPEndPoint Endpoint(Arguments args, string keyword)
    {
        string text = args.Required(keyword);
        return IPEndPoint.TryParse(text, out IPEndPoint? ep) && ep.Port != 0
            ? ep
            : throw new UserException($"debug esp-tunnel: {keyword} '{text}': expected IP:PORT, e.g. 192.0.2.1:4500", 2);
    }

    private static uint Spi(Arguments args, string keyword)
    {
        string text = args.Required(keyword);
        string digits = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        return uint.TryParse(digits, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint spi) && spi > 255
            ? spi
            : throw new UserException($"debug esp-tunnel: {keyword} '{text}': expected a hex SPI above 0xff", 2);
    }
}
