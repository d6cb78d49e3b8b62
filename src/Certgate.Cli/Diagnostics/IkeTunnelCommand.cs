using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Cli.Commands;
using Certgate.Cli.Pki;
using Certgate.Esp;
using Certgate.Esp.Tun;
using Certgate.Esp.Tunnel;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Net.Addressing;
using Certgate.Pki.Keys;

namespace Certgate.Cli.Diagnostics;

/// <summary>
/// <c>certgate debug ike-tunnel</c>: one tunnel between two gateways, without service-set configuration — IKEv2 on
/// UDP 500 (floating to 4500 when a NAT is detected, as strongSwan's libipsec always makes it) with the local
/// certificate of the state directory (trusting every loaded CA certificate, checking revocation against the
/// loaded CRLs) or a pre-shared key, then the userspace ESP data plane on UDP 4500 over a TUN device, keyed with the
/// negotiated suite. Runs until SIGTERM. The service-set configuration (issue 6) will drive the same parts.
/// </summary>
internal sealed class IkeTunnelCommand : ICommandModule
{
    public void Register(CommandTable table) =>
        table.Add("debug ike-tunnel",
            "tun NAME local IP remote IP (certificate-id ID | pre-shared-key-file F local-identity FQDN) local-subnet CIDR remote-subnet CIDR [remote-identity DN|FQDN] [fragment-size OCTETS] [no-fragmentation] [cookie-threshold N] [initiate] (IKEv2 + ESP)", Run);

    private static int Run(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string tunName = args.Required("tun");
        IPAddress local = Address(args, "local");
        IPAddress remote = Address(args, "remote");
        string? id = args.Optional("certificate-id");
        string? pskFile = args.Optional("pre-shared-key-file");
        string? localIdentity = args.Optional("local-identity");
        IpPrefix localNet = Prefix(args, "local-subnet");
        IpPrefix remoteNet = Prefix(args, "remote-subnet");
        string? remoteIdentity = args.Optional("remote-identity");
        bool initiate = args.Flag("initiate");
        int fragmentSize = Number(args, "fragment-size", 512, 65535) ?? 1280;
        bool fragmentation = !args.Flag("no-fragmentation");
        int? cookieThreshold = Number(args, "cookie-threshold", 0, 1_000_000);
        args.EnsureAllUsed();
        if ((id is null) == (pskFile is null))
        {
            throw new UserException("debug ike-tunnel: give either 'certificate-id ID' (certificates) or 'pre-shared-key-file F' with 'local-identity FQDN'", 2);
        }
        IkePeerConfig config = pskFile is not null
            ? PreSharedKeyConfig(pskFile, localIdentity, remoteIdentity, Selector(localNet), Selector(remoteNet))
            : CertificateConfig(pki, id!, remoteIdentity, Selector(localNet), Selector(remoteNet));
        var counters = new IkeCounters();
        config = config with { FragmentSize = fragmentSize, Fragmentation = fragmentation, Counters = counters };
        if (cookieThreshold is int threshold)
        {
            config = config with { Cookies = new IkeCookies(threshold) };
        }
        string me = config.Certificate?.Subject ?? config.LocalFqdn!;

        using var stop = new CancellationTokenSource();
        using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, s => { s.Cancel = true; stop.Cancel(); });
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, s => { s.Cancel = true; stop.Cancel(); });
        ChildSa child;
        // IKE listens on 500 and, for NAT traversal (RFC 7296 §2.23), on 4500 until the SA is up; the data plane then
        // takes 4500 for ESP-in-UDP.
        using (var ike = new UdpClient(new IPEndPoint(local, 500)))
        using (var natt = new UdpClient(new IPEndPoint(local, 4500)))
        {
            try
            {
                ctx.Out.WriteLine(initiate ? $"IKE: initiating to {remote}:500 as {me}" : $"IKE: waiting for {remote} on {local}:500 as {me}");
                ctx.Out.Flush();
                child = initiate
                    ? IkeSession.InitiateAsync(ike, natt, new IPEndPoint(remote, 500), config, stop.Token).GetAwaiter().GetResult()
                    : IkeSession.RespondAsync(ike, natt, config, stop.Token).GetAwaiter().GetResult();
            }
            catch (IkeException e)
            {
                throw new UserException($"debug ike-tunnel: {e.Message}");
            }
            catch (OperationCanceledException)
            {
                ctx.Out.WriteLine("IKE: stopped before the tunnel was up");
                return 1;
            }
        }
        ctx.Out.WriteLine($"IKE: SA established with {child.PeerIdentity}{(child.PeerCertificate is { } pc ? $" (issuer {pc.Issuer})" : " (pre-shared key)")}; ESP SPI in 0x{child.InboundSpi:x8} out 0x{child.OutboundSpi:x8}, {child.Esp.CipherName}");
        ctx.Out.WriteLine($"IKE: {child.Ike.IkeName}{(child.NatDetected ? ", NAT-T (UDP 4500)" : "")}; AUTH local {(byte)child.LocalAuthMethod} ({child.LocalAuthMethod}), peer {(byte)child.PeerAuthMethod} ({child.PeerAuthMethod})");
        ctx.Out.WriteLine($"IKE: {counters}");
        EspCipher cipher = child.Esp.IsAead ? EspCipher.AesGcm16 : EspCipher.AesCbcHmacSha256;
        using var inbound = new EspSa(EspSaParameters.FromKeymat(child.InboundSpi, cipher, child.Esp.KeyBits, child.InboundKeymat));
        using var outbound = new EspSa(EspSaParameters.FromKeymat(child.OutboundSpi, cipher, child.Esp.KeyBits, child.OutboundKeymat));
        TunDevice tun;
        try
        {
            tun = TunDevice.Open(tunName);
        }
        catch (IOException e)
        {
            throw new UserException($"debug ike-tunnel: {e.Message}");
        }
        using var tunnel = new EspUdpTunnel(tun, new IPEndPoint(local, 4500), new IPEndPoint(remote, 4500), outbound, inbound);
        tunnel.Start();
        ctx.Out.WriteLine($"tunnel up on {tun.Name}: {localNet} <-> {remoteNet} via {remote}");
        ctx.Out.Flush();
        stop.Token.WaitHandle.WaitOne();
        ctx.Out.WriteLine($"tunnel stopped: {tunnel.Counters}");
        return 0;
    }

    private static int? Number(Arguments args, string keyword, int min, int max)
    {
        string? text = args.Optional(keyword);
        if (text is null)
        {
            return null;
        }
        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n >= min && n <= max
            ? n
            : throw new UserException($"debug ike-tunnel: {keyword} '{text}': expected a whole number from {min} to {max}", 2);
    }

    private static IkePeerConfig CertificateConfig(PkiContext pki, string id, string? remoteIdentity, Payloads.TrafficSelector localTs, Payloads.TrafficSelector remoteTs)
    {
        X500DistinguishedName? expected = null;
        if (remoteIdentity is not null)
        {
            try
            {
                expected = new X500DistinguishedName(remoteIdentity);
            }
            catch (CryptographicException)
            {
                throw new UserException($"debug ike-tunnel: remote-identity '{remoteIdentity}': expected a distinguished name such as \"CN=gw2.example, O=Example\"", 2);
            }
        }
        X509Certificate2 cert = pki.LoadLocalCertificate(id) ?? throw pki.Fail($"local certificate {id} doesn't exist");
        using KeyPair key = pki.LoadKeyPair(id) ?? throw pki.Fail($"Keypair doesn't exist for certificate {id}");
        X509Certificate2 withKey = key.Rsa is { } rsa ? cert.CopyWithPrivateKey(rsa) : cert.CopyWithPrivateKey(key.Ecdsa!);
        List<X509Certificate2> anchors = [.. pki.AllCaCertificates().Select(c => c.Certificate)];
        if (anchors.Count == 0)
        {
            throw pki.Fail("no CA certificate is loaded: nothing to trust the peer's certificate with");
        }
        return new IkePeerConfig(withKey, anchors, pki.AllCrls(), localTs, remoteTs) { RemoteIdentity = expected };
    }

    /// <summary>AUTH method 2: the key comes from a file only its owner can read (never from the command line, where ps shows it).</summary>
    private static IkePeerConfig PreSharedKeyConfig(string file, string? localIdentity, string? remoteIdentity, Payloads.TrafficSelector localTs, Payloads.TrafficSelector remoteTs)
    {
        if (localIdentity is null || !Uri.CheckHostName(localIdentity).Equals(UriHostNameType.Dns))
        {
            throw new UserException($"debug ike-tunnel: local-identity '{localIdentity}': a pre-shared key needs this gateway's FQDN, such as gw1.example.net", 2);
        }
        if (remoteIdentity is not null && !Uri.CheckHostName(remoteIdentity).Equals(UriHostNameType.Dns))
        {
            throw new UserException($"debug ike-tunnel: remote-identity '{remoteIdentity}': with a pre-shared key, expected the peer's FQDN", 2);
        }
        if (!File.Exists(file))
        {
            throw new UserException($"debug ike-tunnel: pre-shared-key-file '{file}' does not exist", 2);
        }
        if ((File.GetUnixFileMode(file) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
        {
            throw new UserException($"debug ike-tunnel: pre-shared-key-file '{file}' can be read by other users; make it owner-only (chmod 600)", 2);
        }
        byte[] psk = System.Text.Encoding.UTF8.GetBytes(File.ReadAllText(file).Trim());
        if (psk.Length < 16)
        {
            throw new UserException($"debug ike-tunnel: pre-shared-key-file '{file}': the key has {psk.Length} octets; use at least 16", 2);
        }
        return new IkePeerConfig(null, [], null, localTs, remoteTs) { PreSharedKey = psk, LocalFqdn = localIdentity, RemoteFqdn = remoteIdentity };
    }

    private static Payloads.TrafficSelector Selector(IpPrefix prefix)
    {
        byte[] first = prefix.Address.GetAddressBytes();
        byte[] last = (byte[])first.Clone();
        for (int bit = prefix.Length; bit < first.Length * 8; bit++)
        {
            first[bit / 8] &= (byte)~(0x80 >> (bit % 8));
            last[bit / 8] |= (byte)(0x80 >> (bit % 8));
        }
        return new(0, 0, 65535, new IPAddress(first), new IPAddress(last));
    }

    private static IPAddress Address(Arguments args, string keyword)
    {
        string text = args.Required(keyword);
        return IPAddress.TryParse(text, out IPAddress? a) ? a : throw new UserException($"debug ike-tunnel: {keyword} '{text}': expected an IP address", 2);
    }

    private static IpPrefix Prefix(Arguments args, string keyword)
    {
        string text = args.Required(keyword);
        return IpPrefix.TryParse(text, out IpPrefix? p) ? p.Value : throw new UserException($"debug ike-tunnel: {keyword} '{text}': expected a prefix such as 10.1.0.0/24", 2);
    }
}
