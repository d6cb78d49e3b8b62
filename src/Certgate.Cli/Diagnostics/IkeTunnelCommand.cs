using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;
using Certgate.Cli.Commands;
using Certgate.Cli.Pki;
using Certgate.Gateway.Tunnels;
using Certgate.Ike.Auth;
using Certgate.Ike.Sessions;
using Certgate.Ipsec.Registry;
using Certgate.ServiceSets.Registry;
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
/// The tunnel is hosted by the gateway's own classes (<see cref="ForegroundTunnel"/>: the IKE endpoint, data plane and
/// <c>Tunnel</c> of the daemon, set to this role and one negotiation); this command only reads its options, builds
/// the IKE configuration from them and the PKI store, and prints.
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
            + "[fragment-size OCTETS] [no-fragmentation] [cookie-threshold N] [allow-sha1-signatures (as security pki allow-sha1-signatures)] "
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
        // SHA-1 signatures (a peer's chain, its CRLs, its AUTH) as the tunnels judge them: refused unless the committed
        // security pki allow-sha1-signatures says otherwise, or this run is told so.
        bool allowSha1 = args.Flag("allow-sha1-signatures");
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
        IkePeerConfig config = pskFile is not null ? PreSharedKeyConfig(pskFile) : CertificateConfig(pki, id!);
        config = Identities(config, id, localIds.Count == 1 ? localIds[0] : localIdentity is null ? null : ["fqdn", localIdentity],
            [.. remoteIds, .. remoteIdentity is null ? [] : new[] { LegacyRemote(remoteIdentity, certificates: id is not null) }]);
        config = config with
        {
            AllowSha1Signatures = allowSha1 || pki.Configuration.AllowSha1Signatures,
            FragmentSize = fragmentSize,
            Fragmentation = fragmentation,
            IkeProposals = ikeProposal is null ? null : [ikeProposal],
            EspProposals = espProposal is null ? null : [espProposal],
            TestHookCorruptAuth = corruptAuth,
        };
        // The gateway's tunnel host, configured for the foreground: this role only, one negotiation.
        var settings = new ForegroundTunnelSettings
        {
            Local = local,
            Remote = remote,
            Device = tunName,
            LocalSubnets = localNets,
            RemoteSubnets = remoteNets,
            Initiate = initiate,
            IkeLifetime = ikeLifetime,
            IpsecLifetime = ipsecLifetime,
            DpdInterval = dpd,
            PfsGroup = pfs,
            CookieThreshold = cookieThreshold,
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
        using var stop = new CancellationTokenSource();
        using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, s => { s.Cancel = true; stop.Cancel(); });
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, s => { s.Cancel = true; stop.Cancel(); });
        ForegroundTunnel tunnel;
        try
        {
            tunnel = ForegroundTunnel.Open(settings, config, Say);
        }
        catch (IOException e)
        {
            throw new UserException($"debug ike-tunnel: {e.Message}");
        }
        catch (SocketException e)
        {
            throw new UserException($"debug ike-tunnel: UDP 500 or 4500 on {local} cannot be bound: {e.Message}");
        }
        TunnelEnd? end;
        try
        {
            tunnel.Start();
            WaitHandle[] wake = [stop.Token.WaitHandle, ((IAsyncResult)tunnel.Ended).AsyncWaitHandle];
            while (WaitHandle.WaitAny(wake, ControlPoll) == WaitHandle.WaitTimeout)
            {
                if (control is not null && tunnel.IsUp)
                {
                    Control(control, tunnel, Say);
                }
            }
            end = tunnel.Ended.IsCompleted ? tunnel.Ended.Result : null;
            if (end is { WasUp: true })
            {
                Say($"IKE: SA gone: {end.Reason}");
            }
        }
        finally
        {
            tunnel.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        if (end is { WasUp: false })
        {
            throw new UserException($"debug ike-tunnel: {end.Reason}");
        }
        if (!tunnel.IsUp)
        {
            Say("IKE: stopped before the tunnel was up");
            return 1;
        }
        Say($"tunnel stopped: {tunnel.Counters}");
        return 0;
    }

    /// <summary>Runs the commands of the control file, if it is there, and deletes it.</summary>
    private static void Control(string file, ForegroundTunnel tunnel, Action<string> say)
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
            TunnelRequest? request = command switch
            {
                "rekey-child" => TunnelRequest.RekeyChild,
                "rekey-ike" => TunnelRequest.RekeyIke,
                "delete-child" => TunnelRequest.DeleteChild,
                "delete-ike" => TunnelRequest.DeleteIke,
                "dpd" => TunnelRequest.Dpd,
                _ => null,
            };
            if (request is null)
            {
                say($"control: unknown command '{command}' (expected rekey-child, rekey-ike, delete-child, delete-ike or dpd)");
                continue;
            }
            try
            {
                tunnel.Request(request.Value);
                say($"control: {command}");
            }
            catch (InvalidOperationException e)
            {
                say($"control: {command}: {e.Message}");
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

    /// <summary>The local certificate with its key; every loaded CA certificate trusted, revocation checked against the loaded CRLs.
    /// The selectors are the tunnel host's (<see cref="ForegroundTunnelSettings"/>).</summary>
    private static IkePeerConfig CertificateConfig(PkiContext pki, string id)
    {
        X509Certificate2 cert = pki.LoadLocalCertificate(id) ?? throw pki.Fail($"local certificate {id} doesn't exist");
        using KeyPair key = pki.LoadKeyPair(id) ?? throw pki.Fail($"Keypair doesn't exist for certificate {id}");
        X509Certificate2 withKey = key.Rsa is { } rsa ? cert.CopyWithPrivateKey(rsa) : cert.CopyWithPrivateKey(key.Ecdsa!);
        List<X509Certificate2> anchors = [.. pki.AllCaCertificates().Select(c => c.Certificate)];
        if (anchors.Count == 0)
        {
            throw pki.Fail("no CA certificate is loaded: nothing to trust the peer's certificate with");
        }
        return new IkePeerConfig(withKey, anchors, pki.AllCrls(), [], []);
    }

    /// <summary>AUTH method 2: the key comes from a file only its owner can read (never from the command line, where ps shows it).</summary>
    private static IkePeerConfig PreSharedKeyConfig(string file)
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
        return new IkePeerConfig(null, [], null, [], []) { PreSharedKey = psk };
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
