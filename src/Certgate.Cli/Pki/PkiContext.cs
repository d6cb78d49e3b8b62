using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Cli.Commands;
using Certgate.Config;
using Certgate.Config.Pki;
using Certgate.Config.Storage;
using Certgate.Pki.Certificates;
using Certgate.Pki.Encoding;
using Certgate.Pki.Names;
using Certgate.Pki.Keys;
using Certgate.Pki.Revocation;
using Certgate.Pki.Store;
using Certgate.Pki.Validation;

namespace Certgate.Cli.Pki;

/// <summary>
/// What a PKI command works on: the gateway's <see cref="PkiStore"/> and its active configuration, plus the
/// translation of every failure into one line in the operator's terms (command, file, what was wrong).
/// </summary>
internal sealed class PkiContext
{
    private PkiConfiguration? _config;

    public PkiContext(CommandContext ctx, Arguments args)
    {
        Ctx = ctx;
        Command = args.Command;
        Store = new PkiStore(ctx.StateDirectory);
    }

    public CommandContext Ctx { get; }

    public string Command { get; }

    public PkiStore Store { get; }

    /// <summary>The committed <c>security pki</c> configuration (an empty one when nothing is committed).</summary>
    public PkiConfiguration Configuration
    {
        get
        {
            if (_config is null)
            {
                try
                {
                    _config = PkiConfiguration.From(new ConfigurationStore(Ctx.StateDirectory).LoadActive());
                }
                catch (ConfigException e)
                {
                    throw Fail($"the active configuration cannot be read: {e.Message}");
                }
            }
            return _config;
        }
    }

    /// <summary>The committed CA profile <paramref name="name"/>; an error saying how to configure it when absent.</summary>
    public CaProfile RequireCaProfile(string name)
    {
        CheckName(name, "ca-profile");
        return Configuration.FindCaProfile(name)
            ?? throw Fail($"CA profile '{name}' is not configured; configure it first: " +
                          $"set security pki ca-profile {name} ca-identity {name}, then commit");
    }

    /// <summary>Rejects a certificate-id or ca-profile name the store cannot hold, naming the field.</summary>
    public void CheckName(string name, string field)
    {
        if (PkiNames.Problem(name) is { } problem)
        {
            throw new UserException($"{Command}: {field} '{Printable(name)}': {problem}", 2);
        }
    }

    /// <summary>Reads an input file, turning I/O and size problems into one line that names the file.</summary>
    public byte[] ReadInput(string path, long maxBytes = PkiInput.MaxObjectFileSize)
    {
        try
        {
            // Relative to the operator's directory, which is not the daemon's when the command was forwarded.
            return PkiInput.ReadFile(Ctx.ResolvePath(path), maxBytes);
        }
        catch (PkiFormatException e)
        {
            throw Fail($"{path}: {e.Message}");
        }
        catch (FileNotFoundException)
        {
            throw Fail($"{path}: no such file");
        }
        catch (DirectoryNotFoundException)
        {
            throw Fail($"{path}: no such file");
        }
        catch (UnauthorizedAccessException)
        {
            throw Fail($"{path}: permission denied");
        }
        catch (IOException e)
        {
            throw Fail($"{path}: cannot be read ({e.Message})");
        }
    }

    /// <summary>Runs a parser over a file's bytes; a format problem becomes "FILE: what is wrong".</summary>
    public T Parse<T>(string path, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (Exception e) when (e is PkiFormatException or CryptographicException or FormatException or ArgumentException)
        {
            throw Fail($"{path}: {Describe(e)}");
        }
    }

    /// <summary>Applies a store change; a write failure leaves the store as it was and says so.</summary>
    public void Apply(PkiStoreChange change)
    {
        try
        {
            Store.Apply(change);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Fail($"cannot write to {Store.Root} ({e.Message}); nothing was changed");
        }
    }

    /// <summary>A loaded object of the store; a damaged file is reported, not thrown as a stack trace.</summary>
    public T? Load<T>(PkiObjectType type, string name, Func<T?> load)
        where T : class
    {
        try
        {
            return load();
        }
        catch (Exception e) when (e is PkiFormatException or CryptographicException or FormatException
                                      or (IOException and not FileNotFoundException and not FileLoadException))
        {
            throw Fail($"the stored {Describe(type)} '{name}' ({Store.PathOf(type, name)}) is damaged: {Describe(e)}");
        }
    }

    public KeyPair? LoadKeyPair(string id) => Load(PkiObjectType.KeyPair, id, () => Store.LoadKeyPair(id));

    public X509Certificate2? LoadCaCertificate(string profile) => Load(PkiObjectType.CaCertificate, profile, () => Store.LoadCaCertificate(profile));

    public X509Certificate2? LoadLocalCertificate(string id) => Load(PkiObjectType.LocalCertificate, id, () => Store.LoadLocalCertificate(id));

    public CertificateRevocationList? LoadCrl(string profile) =>
        Load(PkiObjectType.Crl, profile, () => Store.LoadCrl(profile) is { } bytes ? CertificateRevocationList.Load(bytes) : null);

    /// <summary>Every CA certificate in the store, by CA profile.</summary>
    public IReadOnlyList<(string Profile, X509Certificate2 Certificate)> AllCaCertificates() =>
        Store.List(PkiObjectType.CaCertificate).Select(p => (p, LoadCaCertificate(p)!)).Where(x => x.Item2 is not null).ToList();

    /// <summary>The CRLs of every CA profile that has one.</summary>
    public CrlCollection AllCrls()
    {
        var crls = new CrlCollection();
        foreach (string profile in Store.List(PkiObjectType.Crl))
        {
            if (LoadCrl(profile) is { } crl)
            {
                crls.Add(crl);
            }
        }
        return crls;
    }

    public UserException Fail(string message) => new($"{Command}: {message}", 1);

    /// <summary>
    /// Shows the certificates a CA handed out (file or GetCACert) with their fingerprints, asks, and stores them: the
    /// lowest CA certificate as the profile's CA, the others (RA certificates, a chain) beside it.
    /// </summary>
    /// <returns>The exit code: 0 stored, 1 declined.</returns>
    public int ConfirmAndStoreCaCertificates(string profile, IReadOnlyList<CertificateInfo> certificates, string source)
    {
        List<CertificateInfo> cas = [.. certificates.Where(c => c.IsCa)];
        if (cas.Count == 0)
        {
            throw Fail($"{source}: no CA certificate (none has basicConstraints cA=TRUE)");
        }
        // In a chain, the profile's CA is the one that issued no other CA certificate of the set.
        CertificateInfo ca = cas.FirstOrDefault(c => !cas.Any(o => o != c && o.Issuer.RawData.AsSpan().SequenceEqual(c.Subject.RawData))) ?? cas[0];
        Ctx.Out.WriteLine("Received following certificates:");
        foreach (CertificateInfo c in certificates)
        {
            Ctx.Out.WriteLine($"  Certificate: {JunosDistinguishedName.Format(c.Subject)}{(c == ca ? "" : c.IsCa ? " (chain)" : " (RA)")}");
            Ctx.Out.WriteLine("  Fingerprint:");
            Ctx.Out.WriteLine($"    {c.Fingerprints.Sha1} (sha1)");
            Ctx.Out.WriteLine($"    {c.Fingerprints.Sha256} (sha256)");
            Ctx.Out.WriteLine($"    {c.Fingerprints.Md5} (md5)");
        }
        if (ca.NotAfter < DateTimeOffset.UtcNow)
        {
            Ctx.Out.WriteLine($"  Warning: the CA certificate expired on {PkiView.Date(ca.NotAfter)}");
        }
        if (!Ctx.Confirm("Do you want to load the above CA certificate ?"))
        {
            Ctx.Out.WriteLine("CA certificate not loaded");
            return 1;
        }
        // Inside the daemon the question did not hold the command lock: another command may have loaded one meanwhile.
        RequireAbsent(PkiObjectType.CaCertificate, profile);
        var change = new PkiStoreChange().WriteCertificate(PkiObjectType.CaCertificate, profile, ca.Certificate);
        List<X509Certificate2> others = [.. certificates.Where(c => c != ca).Select(c => c.Certificate)];
        if (others.Count > 0)
        {
            change.WriteCertificates(PkiObjectType.RaCertificates, profile, others);
        }
        Apply(change);
        Ctx.Out.WriteLine($"CA certificate for profile {profile} loaded successfully");
        return 0;
    }

    /// <summary>Refuses to replace an existing object, naming the <c>clear</c> command that makes room.</summary>
    public void RequireAbsent(PkiObjectType type, string name)
    {
        if (Store.Exists(type, name))
        {
            (string noun, string command) = type switch
            {
                PkiObjectType.KeyPair => ($"key pair {name}", $"key-pair certificate-id {name}"),
                PkiObjectType.LocalCertificate => ($"local certificate {name}", $"local-certificate certificate-id {name}"),
                PkiObjectType.CaCertificate => ($"CA certificate for profile {name}", $"ca-certificate ca-profile {name}"),
                _ => ($"{Describe(type)} {name}", $"{Describe(type).Replace(' ', '-')} {name}"),
            };
            throw Fail($"{noun} already exists; clear it first with: clear security pki {command}");
        }
    }

    public static string Describe(PkiObjectType type) => type switch
    {
        PkiObjectType.KeyPair => "key pair",
        PkiObjectType.CertificateRequest => "certificate request",
        PkiObjectType.LocalCertificate => "local certificate",
        PkiObjectType.CaCertificate => "CA certificate",
        PkiObjectType.RaCertificates => "RA certificates",
        PkiObjectType.Crl => "CRL",
        _ => type.ToString(),
    };

    /// <summary>The message of a parser exception, without .NET's parameter-name suffixes.</summary>
    public static string Describe(Exception e)
    {
        string m = e is ArgumentException a && a.ParamName is not null ? a.Message.Replace($" (Parameter '{a.ParamName}')", "", StringComparison.Ordinal) : e.Message;
        return m.TrimEnd('.');
    }

    private static string Printable(string s) => new(s.Select(c => char.IsControl(c) ? '?' : c).Take(64).ToArray());
}
