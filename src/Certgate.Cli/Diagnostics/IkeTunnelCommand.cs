using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Cli.Commands;
using Certgate.Cli.Pki;
using Certgate.Esp.Dataplane;
using Certgate.Esp.Tun;
using Certgate.Gateway.Tunnels;
using Certgate.Ike.Auth;
using Certgate.Ipsec.Registry;
using Certgate.ServiceSets.Registry;
using Certgate.Ike.Sa;
using Certgate.Ike.Sessions;
using Certgate.Ike.Wire;
using Certgate.Net.Addressing;
using Certgate.Pki.Identity;
using Certgate.Pki.Keys;

namespace Certgate.Cli.Diagnostics;

/// <summary>
/// <c>certgate debug ike-tunnel</c>: one tunnel between two gateways, without service-set configuration — IKEv2 on
/// UDP 500 (floating to 4500 when a NAT is detected, as strongSwan's libipsec always makes it) with the local
/// certificate of the state directory (trusting every loaded CA certificate, checking revocation against the
/// loaded CRLs) or a pre-shared key, then the userspace ESP data plane on UDP 4500 over a TUN device, keyed with the
/// negotiated suite. The IKE SA stays alive (#5): it answers the peer's CREATE_CHILD_SA and INFORMATIONAL exchanges
/// arriving on 500 or 4500, rekeys the CHILD_SA and itself before their lifetimes run out, and checks liveness. A
/// <c>control FILE</c> takes one command per line whenever the file appears (it is read, then deleted):
/// <c>rekey-child</c>, <c>rekey-ike</c>, <c>delete-child</c>, <c>delete-ike</c>, <c>dpd</c>. Runs until SIGTERM or
/// until the IKE SA is gone (the peer deleted it, or stopped answering). <c>corrupt-auth</c> is a diagnostic for
/// interop tests only: it flips a bit of this side's AUTH data after signing, so the peer must refuse it.
/// </summary>
internal sealed class IkeTunnelCommand : ICommandModule
{
    private static readonly TimeSpan ControlPoll = TimeSpan.FromMilliseconds(200);

    public void Register(CommandTable table) =>
        table.Add("debug ike-tunnel",
            "tun NAME local IP remote IP (certificate-id ID | pre-shared-key-file F) local-subnet CIDR[,CIDR…] remote-subnet CIDR[,CIDR…] [initiate] "
            + "[local-id (ipv4_addr IP | ipv6-addr IP | fqdn NAME | user-at-hostname EMAIL | key-id HEX | distinguished-name)] "
            + "[remote-id (ipv4_addr IP | ipv6-addr IP | fqdn NAME | user-at-hostname EMAIL | key-id HEX | distinguished-name (container|wildcard|exact-match) DN)]... "
            + "[local-identity FQDN] [remote-identity DN|FQDN] (older forms of local-id fqdn / remote-id) "
            + "[fragment-size OCTETS] [no-fragmentation] [cookie-threshold N] "
            + "[ike-lifetime S] [ipsec-lifetime S] [dpd S] [pfs-group 14|19|20|21] "
            + "[ike-proposal ENC,HASH,GROUP e.g. aes-128-cbc,sha-384,group20] [esp-proposal ENC[,AUTH] e.g. aes-256-cbc,hmac-sha-512-256] [control FILE] "
            + "[corrupt-auth (interop-test diagnostic: flips a bit of this side's AUTH so the peer must refuse it)] (IKEv2 + ESP)", Run);

    private static int Run(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string tunName = args.Required("tun");
        IPAddress local = Address(args, "local");
        IPAddress remote = Address(args, "remote");
        string? id = args.Optional("certificate-id");
        string? pskFile = args.Optional("pre-shared-key-file");
        string? localIdentity = args.Optional("local-identity");
        IReadOnlyList<string[]> localIds = args.AllPhrases("local-id", kind => IdentityValues(kind, local: true));
        IReadOnlyList<string[]> remoteIds = args.AllPhrases("remote-id", kind => IdentityValues(kind, local: false));
        IReadOnlyList<IpPrefix> localNets = Prefixes(args, "local-subnet");
        IReadOnlyList<IpPrefix> remoteNets = Prefixes(args, "remote-subnet");
        IpPrefix localNet = localNets[0];
        IpPrefix remoteNet = remoteNets[0];
        string? remoteIdentity = args.Optional("remote-identity");
        bool initiate = args.Flag("initiate");
        TimeSpan? ikeLifetime = Seconds(args, "ike-lifetime", 10);
        TimeSpan? ipsecLifetime = Seconds(args, "ipsec-lifetime", 10);
        TimeSpan? dpd = Seconds(args, "dpd", 1);
        DhGroup pfs = Group(args);
        SaSuite? ikeProposal = IkeProposal(args.Optional("ike-proposal"));
        SaSuite? espProposal = EspProposal(args.Optional("esp-proposal"));
        string? control = args.Optional("control");
        int fragmentSize = Number(args, "fragment-size", 512, 65535) ?? 1280;
        bool fragmentation = !args.Flag("no-fragmentation");
        int? cookieThreshold = Number(args, "cookie-threshold", 0, 1_000_000);
        bool corruptAuth = args.Flag("corrupt-auth");
        args.EnsureAllUsed();
        // One socket family carries IKE and ESP, so both gateways must be IPv4 or both IPv6 (as the service-set commit
        // check says); a selector pair is of one family too (RFC 7296 §3.13.1: a TS is an IPv4 or an IPv6 range).
        if (local.AddressFamily != remote.AddressFamily)
        {
            throw new UserException($"debug ike-tunnel: local {local} and remote {remote} must both be IPv4 or both IPv6", 2);
        }
        if (localNet.IsIPv4 != remoteNet.IsIPv4)
        {
            throw new UserException($"debug ike-tunnel: local-subnet {localNet} and remote-subnet {remoteNet} must both be IPv4 or both IPv6", 2);
        }
        if ((id is null) == (pskFile is null))
        {
            throw new UserException("debug ike-tunnel: give either 'certificate-id ID' (certificates) or 'pre-shared-key-file F'", 2);
        }
        if (localIds.Count > 1 || localIds.Count == 1 && localIdentity is not null)
        {
            throw new UserException("debug ike-tunnel: give at most one local-id (or the older local-identity)", 2);
        }
        IkePeerConfig config = pskFile is not null
            ? PreSharedKeyConfig(pskFile, Selector(localNet), Selector(remoteNet))
            : CertificateConfig(pki, id!, Selector(localNet), Selector(remoteNet));
        config = Identities(config, id, localIds.Count == 1 ? localIds[0] : localIdentity is null ? null : ["fqdn", localIdentity],
            [.. remoteIds, .. remoteIdentity is null ? [] : new[] { LegacyRemote(remoteIdentity, certificates: id is not null) }]);
        var counters = new IkeCounters();
        config = config with
        {
            // Every prefix given: offered as initiator, narrowed to as responder (RFC 7296 §2.9).
            LocalTs = [.. localNets.Select(Selector)],
            RemoteTs = [.. remoteNets.Select(Selector)],
            FragmentSize = fragmentSize,
            Fragmentation = fragmentation,
            Counters = counters,
            IkeProposals = ikeProposal is null ? null : [ikeProposal],
            EspProposals = espProposal is null ? null : [espProposal],
            TestHookCorruptAuth = corruptAuth,
        };
        if (cookieThreshold is int threshold)
        {
            config = config with { Cookies = new IkeCookies(threshold) };
        }
        string me = config.LocalId is { } sent ? IkeIdentities.Describe(sent)
            : config.Certificate is { } own ? $"{own.SubjectName.Name} (ID_DER_ASN1_DN)" : $"{local} (ID_{(local.AddressFamily == AddressFamily.InterNetwork ? "IPV4" : "IPV6")}_ADDR)";

        using var stop = new CancellationTokenSource();
        using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, s => { s.Cancel = true; stop.Cancel(); });
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, s => { s.Cancel = true; stop.Cancel(); });
        ChildSa child;
        // IKE listens on 500 for the SA's life and, for NAT traversal (RFC 7296 §2.23), on 4500 until the SA is up;
        // the data plane then takes 4500 for ESP-in-UDP and hands IKE messages there (non-ESP marker) to the SA.
        using var ike = new UdpClient(new IPEndPoint(local, 500));
        // Held until just before the data plane binds 4500: what the peer sends right after IKE_AUTH (charon's
        // INFORMATIONAL with AUTHENTICATION_FAILED, RFC 7296 §2.21.2, arrives within a millisecond) waits in it.
        using var natt = new UdpClient(new IPEndPoint(local, 4500));
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
        ctx.Out.WriteLine($"IKE: identities local {(child.LocalId is { } l ? IkeIdentities.Describe(l) : "-")}, peer {(child.PeerId is { } r ? IkeIdentities.Describe(r) : "-")}");
        ctx.Out.WriteLine($"IKE: SA established with {child.PeerIdentity}{(child.PeerCertificate is { } pc ? $" (issuer {pc.Issuer})" : " (pre-shared key)")}; ESP SPI in 0x{child.InboundSpi:x8} out 0x{child.OutboundSpi:x8}, {child.Esp.EspName}");
        ctx.Out.WriteLine($"IKE: {child.Ike.IkeName}{(child.NatDetected ? ", NAT-T (UDP 4500)" : "")}; AUTH local {(byte)child.LocalAuthMethod} ({AuthMethodNames.Of(child.LocalAuthMethod)}), peer {(byte)child.PeerAuthMethod} ({AuthMethodNames.Of(child.PeerAuthMethod)})");
        ctx.Out.WriteLine($"IKE: traffic selectors local {TrafficSelectorNarrowing.Describe(child.LocalTs)}, remote {TrafficSelectorNarrowing.Describe(child.RemoteTs)} (configured local {TrafficSelectorNarrowing.Describe(config.LocalTs)}, remote {TrafficSelectorNarrowing.Describe(config.RemoteTs)})");
        ctx.Out.WriteLine($"IKE: {counters}");
        TunDevice tun;
        try
        {
            tun = TunDevice.Open(tunName);
            // As the gateway's service sets without tunnel-mtu: a full-size inner packet fits the outer link in ESP.
            tun.Mtu = TunnelMtu.Default(local);
        }
        catch (IOException e)
        {
            throw new UserException($"debug ike-tunnel: {e.Message}");
        }
        List<(byte[] Message, IPEndPoint From)> early = Drain(natt);
        natt.Dispose();
        IkeConnection? connection = null;
        using var plane = new EspDataPlane(tun, new IPEndPoint(local, 4500))
        {
            IkeHandler = (message, from) => Volatile.Read(ref connection)?.Receive(message, from),
        };
        var output = new Lock();
        void Say(string line)
        {
            lock (output)
            {
                ctx.Out.WriteLine(line);
                ctx.Out.Flush();
            }
        }
        var options = new IkeSaOptions
        {
            ReqId = 1,
            EspLocal = new IPEndPoint(local, 4500),
            EspRemote = new IPEndPoint(remote, 4500),
            UdpEncapsulation = child.NatDetected,
            IkeLifetime = ikeLifetime,
            ChildLifetime = ipsecLifetime,
            DpdDelay = dpd,
            PfsGroup = pfs,
            IkeProposals = config.IkeProposals,
            EspProposals = config.EspProposals,
            Log = line => Say("IKE: " + line),
        };
        using (IkeConnection sa = new(child, plane, new Sender(ike, plane), options))
        {
            Volatile.Write(ref connection, sa);
            sa.Closed += reason => stop.Cancel();
            plane.Start();
            foreach ((byte[] message, IPEndPoint from) in early)
            {
                sa.Receive(message, from);
            }
            Task listener = ListenAsync(ike, sa, stop.Token);
            Say($"tunnel up on {tun.Name} (mtu {tun.Mtu}): {TrafficSelectorNarrowing.Describe(child.LocalTs)} <-> {TrafficSelectorNarrowing.Describe(child.RemoteTs)} via {remote}");
            while (!stop.Token.WaitHandle.WaitOne(ControlPoll))
            {
                if (control is not null)
                {
                    Control(control, sa, Say);
                }
            }
            ike.Dispose();
            listener.Wait(TimeSpan.FromSeconds(2));
            if (sa.CloseReason is { } why)
            {
                Say($"IKE: SA gone: {why}");
            }
        }
        Say($"tunnel stopped: {plane.Counters}");
        return 0;
    }

    /// <summary>The IKE messages (non-ESP marker stripped, RFC 3948 §2.2) already queued on the NAT-T socket.</summary>
    private static List<(byte[] Message, IPEndPoint From)> Drain(UdpClient natt)
    {
        var queued = new List<(byte[], IPEndPoint)>();
        while (natt.Available > 0)
        {
            IPEndPoint? from = null;
            byte[] d;
            try
            {
                d = natt.Receive(ref from);
            }
            catch (SocketException)
            {
                continue;
            }
            if (d.Length > 4 && d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == 0)
            {
                queued.Add((d[4..], from!));
            }
        }
        return queued;
    }

    /// <summary>Feeds the IKE SA what arrives on UDP 500 (what arrives on 4500 comes through the data plane).</summary>
    private static async Task ListenAsync(UdpClient ike, IkeConnection sa, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            UdpReceiveResult r;
            try
            {
                r = await ike.ReceiveAsync(stop).ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
            {
                continue;
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            sa.Receive(r.Buffer, r.RemoteEndPoint);
        }
    }

    /// <summary>Runs the commands of the control file, if it is there, and deletes it.</summary>
    private static void Control(string file, IkeConnection sa, Action<string> say)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(file);
            File.Delete(file);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            say($"control: {file} cannot be read: {e.Message}");
            return;
        }
        foreach (string command in lines.Select(l => l.Trim()).Where(l => l.Length > 0))
        {
            try
            {
                switch (command)
                {
                    case "rekey-child":
                        sa.RekeyChild();
                        break;
                    case "rekey-ike":
                        sa.RekeyIke();
                        break;
                    case "delete-child":
                        sa.DeleteChild();
                        break;
                    case "delete-ike":
                        sa.Delete();
                        break;
                    case "dpd":
                        sa.Dpd();
                        break;
                    default:
                        say($"control: unknown command '{command}' (expected rekey-child, rekey-ike, delete-child, delete-ike or dpd)");
                        continue;
                }
                say($"control: {command}");
            }
            catch (InvalidOperationException e)
            {
                say($"control: {command}: {e.Message}");
            }
        }
    }

    /// <summary>IKE leaves from UDP 500, or — once it floated — from the data plane's 4500 socket with the non-ESP marker.</summary>
    private sealed class Sender(UdpClient ike, EspDataPlane plane) : IIkeSender
    {
        public void Send(ReadOnlyMemory<byte> message, IPEndPoint to, bool encapsulated)
        {
            try
            {
                if (encapsulated)
                {
                    plane.SendIke(message.Span, to);
                }
                else
                {
                    ike.Send(message.Span, to);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Lost like any datagram; the retransmit timer tries again.
            }
        }
    }

    private static int? Number(Arguments args, string keyword, int min, int max)
    {
        string? text = args.Optional(keyword);
        if (text is null)
        {
            return null;
        }
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= min && n <= max
            ? n
            : throw new UserException($"debug ike-tunnel: {keyword} '{text}': expected a whole number from {min} to {max}", 2);
    }

    private static TimeSpan? Seconds(Arguments args, string keyword, int minimum)
    {
        string? text = args.Optional(keyword);
        if (text is null)
        {
            return null;
        }
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int s) && s >= minimum && s <= 86400
            ? TimeSpan.FromSeconds(s)
            : throw new UserException($"debug ike-tunnel: {keyword} '{text}': expected seconds, {minimum} to 86400", 2);
    }

    private static DhGroup Group(Arguments args)
    {
        string? text = args.Optional("pfs-group");
        return text is null ? DhGroup.NONE
            : JunosNames.Find(JunosNames.Groups, "group" + text)?.Id
                ?? throw new UserException($"debug ike-tunnel: pfs-group '{text}': expected {JunosNames.Expected(JunosNames.Groups).Replace("group", "", StringComparison.Ordinal)}", 2);
    }

    private static (EncryptionAlgorithm Encr, int Bits) Cipher(string option, string text) =>
        JunosNames.Find(JunosNames.Encryptions, text) is { } e ? (e.Id, e.KeyBits)
            : throw new UserException($"debug ike-tunnel: {option} encryption '{text}': expected {JunosNames.Expected(JunosNames.Encryptions)}", 2);

    /// <summary>One IKE proposal in the Junos words (encryption-algorithm, authentication-algorithm, dh-group).</summary>
    private static SaSuite? IkeProposal(string? text)
    {
        if (text is null)
        {
            return null;
        }
        string[] parts = text.Split(',');
        if (parts.Length != 3)
        {
            throw new UserException($"debug ike-tunnel: ike-proposal '{text}': expected ENC,HASH,GROUP such as aes-128-cbc,sha-384,group20", 2);
        }
        (EncryptionAlgorithm encr, int bits) = Cipher("ike-proposal", parts[0]);
        JunosNames.IkeHash hash = JunosNames.Find(JunosNames.IkeHashes, parts[1])
            ?? throw new UserException($"debug ike-tunnel: ike-proposal hash '{parts[1]}': expected {JunosNames.Expected(JunosNames.IkeHashes)}", 2);
        DhGroup group = JunosNames.Find(JunosNames.Groups, parts[2])?.Id
            ?? throw new UserException($"debug ike-tunnel: ike-proposal group '{parts[2]}': expected {JunosNames.Expected(JunosNames.Groups)}", 2);
        (PseudorandomFunction prf, IntegrityAlgorithm integ) = (hash.Prf, hash.Integrity);
        // RFC 5282 §8: with AES-GCM the hash is the PRF only.
        return new SaSuite(encr, bits, encr == EncryptionAlgorithm.ENCR_AES_GCM_16 ? IntegrityAlgorithm.NONE : integ, group, prf);
    }

    /// <summary>One ESP proposal in the Junos words (encryption-algorithm and, with CBC, authentication-algorithm).</summary>
    private static SaSuite? EspProposal(string? text)
    {
        if (text is null)
        {
            return null;
        }
        string[] parts = text.Split(',');
        (EncryptionAlgorithm encr, int bits) = Cipher("esp-proposal", parts[0]);
        IntegrityAlgorithm integ = parts.Length switch
        {
            1 when encr == EncryptionAlgorithm.ENCR_AES_GCM_16 => IntegrityAlgorithm.NONE,
            2 when encr == EncryptionAlgorithm.ENCR_AES_CBC => JunosNames.Find(JunosNames.EspIntegrities, parts[1])?.Id
                ?? throw new UserException($"debug ike-tunnel: esp-proposal authentication '{parts[1]}': expected {JunosNames.Expected(JunosNames.EspIntegrities)}", 2),
            _ => throw new UserException($"debug ike-tunnel: esp-proposal '{text}': expected an AES-GCM cipher alone or an AES-CBC cipher with its authentication, e.g. aes-256-cbc,hmac-sha-512-256", 2),
        };
        return new SaSuite(encr, bits, integ, DhGroup.NONE);
    }

    private static IkePeerConfig CertificateConfig(PkiContext pki, string id, Payloads.TrafficSelector localTs, Payloads.TrafficSelector remoteTs)
    {
        X509Certificate2 cert = pki.LoadLocalCertificate(id) ?? throw pki.Fail($"local certificate {id} doesn't exist");
        using KeyPair key = pki.LoadKeyPair(id) ?? throw pki.Fail($"Keypair doesn't exist for certificate {id}");
        X509Certificate2 withKey = key.Rsa is { } rsa ? cert.CopyWithPrivateKey(rsa) : cert.CopyWithPrivateKey(key.Ecdsa!);
        List<X509Certificate2> anchors = [.. pki.AllCaCertificates().Select(c => c.Certificate)];
        if (anchors.Count == 0)
        {
            throw pki.Fail("no CA certificate is loaded: nothing to trust the peer's certificate with");
        }
        return new IkePeerConfig(withKey, anchors, pki.AllCrls(), localTs, remoteTs);
    }

    /// <summary>AUTH method 2: the key comes from a file only its owner can read (never from the command line, where ps shows it).</summary>
    private static IkePeerConfig PreSharedKeyConfig(string file, Payloads.TrafficSelector localTs, Payloads.TrafficSelector remoteTs)
    {
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
        return new IkePeerConfig(null, [], null, localTs, remoteTs) { PreSharedKey = psk };
    }

    /// <summary>How many values follow a local-id / remote-id kind (Junos <c>services ipsec-vpn ike policy</c> syntax).</summary>
    private static int IdentityValues(string kind, bool local) => kind switch
    {
        "ipv4_addr" or "ipv4-addr" or "ipv6-addr" or "ipv6_addr" or "fqdn" or "user-at-hostname" or "key-id" or "key_id" => 1,
        "distinguished-name" => local ? 0 : 2,
        _ => throw new UserException($"debug ike-tunnel: {(local ? "local-id" : "remote-id")} '{kind}': expected ipv4_addr, ipv6-addr, fqdn, user-at-hostname, key-id or distinguished-name", 2),
    };

    /// <summary>The older <c>remote-identity</c>: an exact DN with certificates, an FQDN with a pre-shared key.</summary>
    private static string[] LegacyRemote(string value, bool certificates) =>
        certificates ? ["distinguished-name", "exact-match", value] : ["fqdn", value];

    /// <summary>Sets local-id and remote-ids; with a certificate the local-id must be one the certificate carries.</summary>
    private static IkePeerConfig Identities(IkePeerConfig config, string? certificateId, string[]? local, IReadOnlyList<string[]> remote)
    {
        IkeIdentity? localId = local is null ? null : local[0] == "distinguished-name"
            ? config.Certificate is { } c ? IkeIdentity.FromDistinguishedName(c.SubjectName)
                : throw new UserException("debug ike-tunnel: local-id distinguished-name takes the subject of the local certificate: give certificate-id ID", 2)
            : Identity("local-id", local[0], local[1]);
        var remoteIds = new List<RemoteIdentity>();
        foreach (string[] r in remote)
        {
            if (r[0] != "distinguished-name")
            {
                IkeIdentity wanted = Identity("remote-id", r[0], r[1]);
                remoteIds.Add(wanted.Address is { } a ? RemoteIdentity.Address(a) : wanted.Kind switch
                {
                    IdentityKind.Fqdn => RemoteIdentity.Fqdn(wanted.Text!),
                    IdentityKind.Email => RemoteIdentity.Email(wanted.Text!),
                    _ => RemoteIdentity.KeyId(wanted.Data.Span),
                });
                continue;
            }
            DistinguishedNameMatch mode = r[1] switch
            {
                "container" => DistinguishedNameMatch.Container,
                "wildcard" => DistinguishedNameMatch.Wildcard,
                "exact-match" => DistinguishedNameMatch.ExactMatch,
                _ => throw new UserException($"debug ike-tunnel: remote-id distinguished-name '{r[1]}': expected container, wildcard or exact-match", 2),
            };
            if (!DistinguishedNamePattern.TryParse(r[2], mode, out _, out string? error))
            {
                throw new UserException($"debug ike-tunnel: remote-id distinguished-name {r[1]} '{r[2]}': {error}", 2);
            }
            remoteIds.Add(RemoteIdentity.DistinguishedName(r[2], mode));
        }
        IkePeerConfig result = config with { LocalId = localId, RemoteIds = remoteIds };
        if (IkeIdentities.LocalProblem(result) is { } problem)
        {
            throw new UserException($"debug ike-tunnel: certificate-id {certificateId}: {problem}", 2);
        }
        return result;
    }

    /// <summary>The domain-name syntax of the configuration's <c>fqdn</c> (letters, digits, hyphens; an optional final dot).</summary>
    private static bool IsDomainName(string value) =>
        value.Length is > 0 and <= 255
        && System.Text.RegularExpressions.Regex.IsMatch(value, @"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$");

    private static IkeIdentity Identity(string option, string kind, string value)
    {
        switch (kind)
        {
            case "ipv4_addr" or "ipv4-addr" or "ipv6-addr" or "ipv6_addr":
                bool v4 = kind.StartsWith("ipv4", StringComparison.Ordinal);
                if (!IPAddress.TryParse(value, out IPAddress? address) || address.AddressFamily != (v4 ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6))
                {
                    throw new UserException($"debug ike-tunnel: {option} {kind} '{value}': expected an {(v4 ? "IPv4" : "IPv6")} address", 2);
                }
                return IkeIdentity.FromAddress(address);
            case "fqdn":
                if (!IsDomainName(value))
                {
                    throw new UserException($"debug ike-tunnel: {option} fqdn '{value}': expected a domain name such as gw1.example.net", 2);
                }
                return IkeIdentity.FromFqdn(value);
            case "user-at-hostname":
                int at = value.IndexOf('@', StringComparison.Ordinal);
                if (at < 1 || at != value.LastIndexOf('@') || !IsDomainName(value[(at + 1)..]) || !value.All(c => char.IsAsciiLetterOrDigit(c) || "@._%+=-".Contains(c)))
                {
                    throw new UserException($"debug ike-tunnel: {option} user-at-hostname '{value}': expected an e-mail address such as gw1@example.net", 2);
                }
                return IkeIdentity.FromEmail(value);
            default:
                if (value.Length == 0 || value.Length % 2 != 0 || !value.All(char.IsAsciiHexDigit))
                {
                    throw new UserException($"debug ike-tunnel: {option} key-id '{value}': expected hexadecimal digits, two per byte", 2);
                }
                return IkeIdentity.FromKeyId(Convert.FromHexString(value));
        }
    }

    private static Payloads.TrafficSelector Selector(IpPrefix prefix) => new(0, 0, 65535, prefix.First, prefix.Last);

    private static IPAddress Address(Arguments args, string keyword)
    {
        string text = args.Required(keyword);
        return IPAddress.TryParse(text, out IPAddress? a) ? a : throw new UserException($"debug ike-tunnel: {keyword} '{text}': expected an IP address", 2);
    }

    private static List<IpPrefix> Prefixes(Arguments args, string keyword)
    {
        string text = args.Required(keyword);
        var prefixes = new List<IpPrefix>();
        foreach (string item in text.Split(','))
        {
            prefixes.Add(IpPrefix.TryParse(item.Trim(), out IpPrefix? p)
                ? p.Value
                : throw new UserException($"debug ike-tunnel: {keyword} '{text}': '{item}' is not a prefix; expected prefixes such as 10.1.0.0/24 or 10.1.0.0/24,2001:db8::/64", 2));
        }
        return prefixes;
    }
}
