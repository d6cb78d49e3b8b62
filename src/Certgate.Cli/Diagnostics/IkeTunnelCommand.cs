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
/// <c>certgate debug ike-tunnel</c>: one certificate-authenticated tunnel between two gateways, without service-set
/// configuration — IKEv2 on UDP 500 with the local certificate of the state directory (trusting every loaded CA
/// certificate, checking revocation against the loaded CRLs), then the userspace ESP data plane on UDP 4500 over a
/// TUN device. Runs until SIGTERM. The service-set configuration (issue 6) will drive the same parts.
/// </summary>
internal sealed class IkeTunnelCommand : ICommandModule
{
    public void Register(CommandTable table) =>
        table.Add("debug ike-tunnel",
            "tun NAME local IP remote IP certificate-id ID local-subnet CIDR remote-subnet CIDR [remote-identity DN] [initiate] (IKEv2 + ESP with the state's certificates)", Run);

    private static int Run(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string tunName = args.Required("tun");
        IPAddress local = Address(args, "local");
        IPAddress remote = Address(args, "remote");
        string id = args.Required("certificate-id");
        IpPrefix localNet = Prefix(args, "local-subnet");
        IpPrefix remoteNet = Prefix(args, "remote-subnet");
        string? remoteIdentity = args.Optional("remote-identity");
        bool initiate = args.Flag("initiate");
        args.EnsureAllUsed();
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
        var config = new IkePeerConfig(withKey, anchors, pki.AllCrls(), Selector(localNet), Selector(remoteNet)) { RemoteIdentity = expected };

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
                ctx.Out.WriteLine(initiate ? $"IKE: initiating to {remote}:500 as {cert.Subject}" : $"IKE: waiting for {remote} on {local}:500 as {cert.Subject}");
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
        ctx.Out.WriteLine($"IKE: SA established with {child.PeerCertificate.Subject} (issuer {child.PeerCertificate.Issuer}); ESP SPI in 0x{child.InboundSpi:x8} out 0x{child.OutboundSpi:x8}, {child.Esp.CipherName}");
        ctx.Out.WriteLine($"IKE: {child.Ike.IkeName}{(child.NatDetected ? ", NAT-T (UDP 4500)" : "")}; AUTH local {(byte)child.LocalAuthMethod} ({child.LocalAuthMethod}), peer {(byte)child.PeerAuthMethod} ({child.PeerAuthMethod})");
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
