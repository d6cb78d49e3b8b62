using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Certgate.Ca;
using Certgate.Ca.Audit;
using Certgate.Ca.Challenges;
using Certgate.Ca.Issuance;
using Certgate.Ca.Layout;
using Certgate.Ca.Settings;
using Certgate.Ca.Storage;
using Certgate.Cli.Commands;
using Certgate.Cli.Pki;
using Certgate.Pki.Revocation;

namespace Certgate.Cli.Ca;

/// <summary>
/// <c>certgate ca …</c>: the operator commands of the certificate authority in a CA directory (<c>--dir DIR</c>, see
/// <see cref="CaDirectory"/>). Every command that touches the database accepts <c>--db sqlite:PATH|postgres:CONN</c>,
/// which overrides the settings' <c>database</c>. Issuance, revocation and CRLs go through
/// <see cref="CertificateAuthority"/>, so they are audited exactly as SCEP enrollments are.
/// </summary>
internal sealed class CaCommands : ICommandModule
{
    private const string DbHelp = " [--db sqlite:PATH|postgres:CONN]" + KeyHelp;

    private const string KeyHelp = " [--key-passphrase-file F]";

    /// <summary>Largest CSR file <c>ca sign</c> reads (PEM of the largest accepted DER request).</summary>
    private const int MaxCsrFileBytes = 2 * ParsedCsr.MaxLength;

    public void Register(CommandTable table)
    {
        table.Add("ca init", "--dir DIR --subject DN [--url http://HOST:PORT] [--key rsa:2048|rsa:4096|ecdsa:p256|ecdsa:p384] [--days N] [--csr-out F] [--key-passphrase-file F]"
            + " (--url: the address gateways reach this CA at; issued certificates point to its CRL there;"
        + " --key-passphrase-file: encrypt the CA and RA keys, PKCS#8 AES-256/PBKDF2-SHA-256)", Init);
        table.Add("ca install-cert", "--dir DIR --cert F" + KeyHelp + " (finish a subordinate CA made with init --csr-out)", InstallCert);
        table.Add("ca challenge", "--dir DIR [--ttl 1h] [--profile P] [--subject DN] [--dns NAME]... [--ip ADDR]... [--email A]..." + DbHelp
            + " (prints a one-time challenge password; with names, a request using it may ask only for those names)", Challenge);
        table.Add("ca list", "--dir DIR" + DbHelp, List);
        table.Add("ca show", "--dir DIR --serial HEX [--out F]" + DbHelp, Show);
        table.Add("ca revoke", "--dir DIR --serial HEX [--reason R]" + DbHelp + " (reissues the CRL)", Revoke);
        table.Add("ca crl", "--dir DIR [--out F]" + DbHelp + " (issues a new CRL; PEM to stdout without --out)", Crl);
        table.Add("ca pending", "--dir DIR" + DbHelp, Pending);
        table.Add("ca approve", "--dir DIR ID" + DbHelp, Approve);
        table.Add("ca reject", "--dir DIR ID [--reason TEXT]" + DbHelp, Reject);
        table.Add("ca sign", "--dir DIR --csr F --out F [--profile P]" + DbHelp + " (manual enrollment of a PKCS#10 file)", Sign);
        table.Add("ca serve", "--dir DIR [--listen http://127.0.0.1:8080]" + DbHelp
            + " (an encrypted key's passphrase: --key-passphrase-file, else $CREDENTIALS_DIRECTORY/" + CaKeyPassphrase.CredentialName + ")", CaServe.Serve);
    }

    /// <summary><c>--dir</c> and <c>--key-passphrase-file</c>, which every <c>ca</c> command accepts.</summary>
    internal static CaDir Dir(Arguments args) => new(args.Required("--dir"), args.Optional(CaKeyPassphrase.Option));

    // ---------------- init / install-cert ----------------

    private static int Init(CommandContext ctx, Arguments args)
    {
        CaDir dir = Dir(args);
        string subject = args.Required("--subject");
        string key = args.Optional("--key") ?? "rsa:2048";
        string? daysText = args.Optional("--days");
        string? csrOut = args.Optional("--csr-out");
        string? url = args.Optional("--url");
        args.EnsureAllUsed();
        if (url is not null && CaSettingsFile.BaseUrlProblem(url) is { } urlProblem)
        {
            throw new UserException($"{args.Command}: --url '{url}': {urlProblem}, the address gateways reach this CA at (e.g. http://ca.example.net:8080)", 2);
        }
        try
        {
            KeySpec.Parse(key);
        }
        catch (ArgumentException)
        {
            throw new UserException($"{args.Command}: --key '{key}': expected rsa:2048, rsa:3072, rsa:4096, ecdsa:p256 or ecdsa:p384", 2);
        }
        if (csrOut is not null && daysText is not null)
        {
            throw new UserException($"{args.Command}: --days does not apply with --csr-out (the parent CA chooses the validity)", 2);
        }
        int days = daysText is null ? 3650 : CaText.ParseInt(args, "--days", daysText, 1, 36500);
        try
        {
            _ = new X500DistinguishedName(subject);
        }
        catch (CryptographicException)
        {
            throw new UserException($"{args.Command}: --subject '{subject}': not a distinguished name (e.g. \"CN=Certgate CA,O=Example\")", 2);
        }
        if (subject.Length == 0)
        {
            throw new UserException($"{args.Command}: --subject: expected a distinguished name (e.g. \"CN=Certgate CA,O=Example\")", 2);
        }
        // Only an explicit file encrypts a new key (the systemd credential is for reading one).
        char[]? passphrase = dir.PassphraseFile is null ? null : CaKeyPassphrase.Read(args, dir.PassphraseFile, useCredential: false, out _);
        try
        {
            if (csrOut is not null)
            {
                CaDirectory.InitSubordinate(dir, subject, key, csrOut, baseUrl: url, keyPassphrase: passphrase);
                ctx.Out.WriteLine($"Subordinate CA key written to {Path.Combine(Path.GetFullPath(dir), CaDirectory.KeyFile)} (mode 0600)");
                ctx.Out.WriteLine($"Certificate request written to {Path.GetFullPath(csrOut)}");
                ctx.Out.WriteLine($"Have the parent CA sign it, then run: certgate ca install-cert --dir {dir} --cert FILE");
                return 0;
            }
            CaMaterial m = CaDirectory.Init(dir, subject, key, days, baseUrl: url, keyPassphrase: passphrase);
            ctx.Out.WriteLine($"CA initialised in {m.Path}");
            WriteCaSummary(ctx, m, key);
            return 0;
        }
        catch (Exception e) when (e is CaOperationException or CaSettingsException)
        {
            throw new UserException($"{args.Command}: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserException($"{args.Command}: --dir '{dir}': cannot write: {e.Message}", e);
        }
        finally
        {
            if (passphrase is not null)
            {
                Array.Clear(passphrase);
            }
        }
    }

    private static int InstallCert(CommandContext ctx, Arguments args)
    {
        CaDir dir = Dir(args);
        string cert = args.Required("--cert");
        args.EnsureAllUsed();
        if (!File.Exists(cert))
        {
            throw new UserException($"{args.Command}: --cert '{cert}': no such file", 2);
        }
        if (!Directory.Exists(dir))
        {
            throw new UserException($"{args.Command}: --dir '{dir}': no such directory (prepare it with: certgate ca init --dir {dir} --subject DN --csr-out FILE)", 2);
        }
        CheckSubjectKeyIdentifier(args, cert);
        char[]? passphrase = CaKeyPassphrase.Read(args, dir.PassphraseFile, useCredential: true, out string source);
        try
        {
            CaMaterial m = CaDirectory.InstallCertificate(dir, cert, keyPassphrase: passphrase);
            ctx.Out.WriteLine($"CA certificate installed in {m.Path}");
            WriteCaSummary(ctx, m, null);
            return 0;
        }
        catch (Exception e) when (e is CaOperationException or CaSettingsException)
        {
            throw new UserException($"{args.Command}: {e.Message}", e);
        }
        catch (CaKeyPassphraseException e)
        {
            throw CaSession.PassphraseError(args, e, source);
        }
        finally
        {
            if (passphrase is not null)
            {
                Array.Clear(passphrase);
            }
        }
    }

    /// <summary>RFC 5280 §4.2.1.2: the subject key identifier MUST appear in all conforming CA certificates; every
    /// certificate this CA issues derives its authorityKeyIdentifier from it, so a parent that left it out is refused
    /// here rather than at the first issuance.</summary>
    private static void CheckSubjectKeyIdentifier(Arguments args, string certFile)
    {
        X509Certificate2 cert;
        try
        {
            byte[] data = CaText.ReadPemOrDer(args, "--cert", certFile, 256 * 1024, "CERTIFICATE");
            cert = X509CertificateLoader.LoadCertificate(data);
        }
        catch (CryptographicException)
        {
            throw new UserException($"{args.Command}: --cert '{certFile}': not a PEM or DER X.509 certificate");
        }
        using (cert)
        {
            // Not a CA certificate at all: CaDirectory.InstallCertificate says so.
            bool isCa = cert.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is { CertificateAuthority: true };
            if (isCa && !cert.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Any())
            {
                throw new UserException($"{args.Command}: --cert '{certFile}': the CA certificate has no subjectKeyIdentifier (RFC 5280 4.2.1.2 requires it in CA certificates); have the parent CA keep the request's extensions");
            }
        }
    }

    private static void WriteCaSummary(CommandContext ctx, CaMaterial m, string? key)
    {
        X509Certificate2 c = m.Certificate;
        ctx.Out.WriteLine($"  Subject:     {c.Subject}");
        ctx.Out.WriteLine($"  Issuer:      {c.Issuer}");
        if (key is not null)
        {
            ctx.Out.WriteLine($"  Key:         {key} ({CaDirectory.KeyFile}, mode 0600{(CaDirectory.IsKeyEncrypted(Path.Combine(m.Path, CaDirectory.KeyFile)) ? ", encrypted" : "")})");
        }
        ctx.Out.WriteLine($"  Serial:      {c.SerialNumber}");
        ctx.Out.WriteLine($"  Valid:       {CaText.Time(c.NotBefore.ToUniversalTime())} to {CaText.Time(c.NotAfter.ToUniversalTime())}");
        ctx.Out.WriteLine($"  SHA-256:     {CaText.Fingerprint(c.RawData)}");
        ctx.Out.WriteLine($"  Settings:    {Path.Combine(m.Path, CaSettingsFile.FileName)}"
            + (m.Settings.BaseUrl is null ? " (set baseUrl, or init with --url, so issued certificates carry CRL and AIA URLs)" : ""));
        if (m.Settings.CrlUrl is { } crl)
        {
            ctx.Out.WriteLine($"  CRL:         {crl} (distribution point of issued certificates)");
        }
        if (m.RaCertificate is { } ra)
        {
            ctx.Out.WriteLine($"  RA:          {ra.Subject} ({CaDirectory.RaCertificateFile})");
        }
    }

    // ---------------- challenge ----------------

    private static int Challenge(CommandContext ctx, Arguments args)
    {
        CaDir dir = Dir(args);
        string? db = args.Optional("--db");
        string? ttlText = args.Optional("--ttl");
        string? profile = args.Optional("--profile");
        string? subject = args.Optional("--subject");
        IReadOnlyList<string> dns = args.All("--dns");
        IReadOnlyList<string> ips = args.All("--ip");
        IReadOnlyList<string> emails = args.All("--email");
        args.EnsureAllUsed();
        NameBinding binding;
        try
        {
            binding = NameBinding.Create(subject, dns, ips, emails);
        }
        catch (ArgumentException e)
        {
            throw new UserException($"{args.Command}: {e.Message[..(e.Message.IndexOf(" (Parameter", StringComparison.Ordinal) is int i and >= 0 ? i : e.Message.Length)]}", 2);
        }
        TimeSpan ttl = ttlText is null ? TimeSpan.FromHours(1) : CaText.ParseDuration(args, "--ttl", ttlText);
        if (ttl > TimeSpan.FromDays(366))
        {
            throw new UserException($"{args.Command}: --ttl '{ttlText}': a challenge lives at most 366 days", 2);
        }
        return CaSession.Run(args, dir, db, async s =>
        {
            if (profile is not null && !s.Ca.Settings.Profiles.ContainsKey(profile))
            {
                throw new UserException($"{args.Command}: --profile '{profile}': no such certificate profile (known: {string.Join(", ", s.Ca.Settings.Profiles.Keys)})", 2);
            }
            CreatedChallenge c = await s.Ca.CreateChallengeAsync(ttl, profile, CaSession.Actor, binding).ConfigureAwait(false);
            // The password alone on stdout, so scripts can capture it; the rest goes to stderr.
            ctx.Out.WriteLine(c.Password);
            ctx.Error.WriteLine($"challenge {c.Id} for profile {profile ?? s.Ca.Settings.DefaultProfile}, one use, expires {CaText.Time(c.ExpiresAt)}");
            ctx.Error.WriteLine(c.Binding is { } b
                ? $"bound to {b.Describe()}: a request using it may ask only for these names"
                : "unbound: a request using it may ask only for names the profile's policy allows (names in ca.json)");
            return 0;
        });
    }

    // ---------------- list / show ----------------

    private static int List(CommandContext ctx, Arguments args)
    {
        CaDir dir = Dir(args);
        string? db = args.Optional("--db");
        args.EnsureAllUsed();
        return CaSession.Run(args, dir, db, async s =>
        {
            var all = new List<CertificateRecord>();
            const int page = 1000;
            for (int offset = 0; ; offset += page)
            {
                IReadOnlyList<CertificateRecord> batch = await s.Store.ListCertificatesAsync(offset, page).ConfigureAwait(false);
                all.AddRange(batch);
                if (batch.Count < page)
                {
                    break;
                }
            }
            DateTimeOffset now = DateTimeOffset.UtcNow;
            if (ctx.Json)
            {
                PkiView.WriteJson(ctx.Out, "certificates", [.. all.Select(c => (JsonNode?)ToJson(c, now))]);
                return 0;
            }
            if (all.Count == 0)
            {
                ctx.Out.WriteLine("No certificates issued yet");
                return 0;
            }
            int serialWidth = Math.Max(6, all.Max(c => c.Serial.Length));
            ctx.Out.WriteLine($"{"Serial".PadRight(serialWidth)}  {"Status",-8} {"Not after",-23} {"Profile",-12} Subject");
            foreach (CertificateRecord c in all)
            {
                ctx.Out.WriteLine($"{c.Serial.PadRight(serialWidth)}  {Status(c, now),-8} {CaText.Time(c.NotAfter),-23} {c.Profile,-12} {c.Subject}");
            }
            ctx.Out.WriteLine($"{all.Count} certificate(s), {all.Count(c => c.IsRevoked)} revoked");
            return 0;
        });
    }

    private static string Status(CertificateRecord c, DateTimeOffset now) =>
        c.IsRevoked ? "revoked" : now > c.NotAfter ? "expired" : now < c.NotBefore ? "future" : "valid";

    private static JsonObject ToJson(CertificateRecord c, DateTimeOffset now)
    {
        var o = new JsonObject
        {
            ["serial"] = c.Serial,
            ["status"] = Status(c, now),
            ["subject"] = c.Subject,
            ["not-before"] = CaText.IsoTime(c.NotBefore),
            ["not-after"] = CaText.IsoTime(c.NotAfter),
            ["profile"] = c.Profile,
            ["issued-at"] = CaText.IsoTime(c.IssuedAt),
        };
        if (c.TransactionId is not null)
        {
            o["transaction-id"] = c.TransactionId;
        }
        if (c.RevokedAt is { } r)
        {
            o["revoked-at"] = CaText.IsoTime(r);
            o["revocation-reason"] = c.RevocationReason?.ToString();
        }
        return o;
    }

    private static string SerialOption(Arguments args)
    {
        string serial = args.Required("--serial");
        try
        {
            return CertificateAuthority.NormalizeSerial(serial);
        }
        catch (ArgumentException)
        {
            throw new UserException($"{args.Command}: --serial '{serial}': expected hexadecimal digits (at most 20 octets), as 'ca list' prints them", 2);
        }
    }

    private static int Show(CommandContext ctx, Arguments args)
    {
        CaDir dir = Dir(args);
        string? db = args.Optional("--db");
        string serial = SerialOption(args);
        string? outFile = args.Optional("--out");
        args.EnsureAllUsed();
        return CaSession.Run(args, dir, db, async s =>
        {
            CertificateRecord c = await s.Ca.GetCertificateAsync(serial).ConfigureAwait(false)
                ?? throw new UserException($"{args.Command}: no certificate with serial {serial} (see: certgate ca list --dir {dir})");
            using X509Certificate2 cert = X509CertificateLoader.LoadCertificate(c.Der);
            DateTimeOffset now = DateTimeOffset.UtcNow;
            string[] sans = cert.Extensions.OfType<X509SubjectAlternativeNameExtension>()
                .SelectMany(e => e.EnumerateDnsNames().Select(d => "DNS:" + d).Concat(e.EnumerateIPAddresses().Select(ip => "IP:" + ip)))
                .ToArray();
            if (outFile is not null)
            {
                CaText.WritePublicFile(args, "--out", outFile, Encoding.ASCII.GetBytes(CaText.Pem("CERTIFICATE", c.Der)));
            }
            if (ctx.Json)
            {
                JsonObject o = ToJson(c, now);
                o["issuer"] = cert.Issuer;
                o["sha256"] = CaText.Fingerprint(c.Der);
                o["subject-alt-names"] = new JsonArray([.. sans.Select(x => (JsonNode?)x)]);
                PkiView.WriteJson(ctx.Out, "certificate", [o]);
                return 0;
            }
            ctx.Out.WriteLine($"Serial:            {c.Serial}");
            ctx.Out.WriteLine($"Status:            {Status(c, now)}");
            ctx.Out.WriteLine($"Subject:           {c.Subject}");
            ctx.Out.WriteLine($"Issuer:            {cert.Issuer}");
            if (sans.Length > 0)
            {
                ctx.Out.WriteLine($"Alternative names: {string.Join(", ", sans)}");
            }
            ctx.Out.WriteLine($"Valid:             {CaText.Time(c.NotBefore)} to {CaText.Time(c.NotAfter)}");
            ctx.Out.WriteLine($"Profile:           {c.Profile}");
            ctx.Out.WriteLine($"Issued at:         {CaText.Time(c.IssuedAt)}" + (c.TransactionId is null ? "" : $" (transaction {c.TransactionId})"));
            if (c.RevokedAt is { } r)
            {
                ctx.Out.WriteLine($"Revoked at:        {CaText.Time(r)} ({c.RevocationReason})");
            }
            ctx.Out.WriteLine($"SHA-256:           {CaText.Fingerprint(c.Der)}");
            if (outFile is not null)
            {
                ctx.Out.WriteLine($"Certificate written to {Path.GetFullPath(outFile)}");
            }
            return 0;
        });
    }

    // ---------------- revoke / crl ----------------

    private static int Revoke(CommandContext ctx, Arguments args)
    {
        CaDir dir = Dir(args);
        string? db = args.Optional("--db");
        string serial = SerialOption(args);
        string reasonText = args.Optional("--reason") ?? nameof(CrlReason.unspecified);
        args.EnsureAllUsed();
        CrlReason reason;
        try
        {
            reason = CertificateAuthority.ParseReason(reasonText);
        }
        catch (ArgumentException)
        {
            reason = CrlReason.removeFromCRL; // refused just below with the list of names
        }
        if (reason == CrlReason.removeFromCRL)
        {
            // RFC 5280 §5.3.1: removeFromCRL is only for delta CRLs; it is not a reason to revoke.
            string[] names = [.. Enum.GetNames<CrlReason>().Where(n => n != nameof(CrlReason.removeFromCRL))];
            throw new UserException($"{args.Command}: --reason '{reasonText}': expected one of {string.Join(", ", names)}", 2);
        }
        return CaSession.Run(args, dir, db, async s =>
        {
            CrlRecord? before = await s.Store.GetLatestCrlAsync().ConfigureAwait(false);
            RevokeOutcome outcome = await s.Ca.RevokeAsync(serial, reason, CaSession.Actor).ConfigureAwait(false);
            switch (outcome)
            {
                case RevokeOutcome.NotFound:
                    throw new UserException($"{args.Command}: no certificate with serial {serial} (see: certgate ca list --dir {dir})");
                case RevokeOutcome.AlreadyRevoked:
                    CertificateRecord? c = await s.Store.GetCertificateAsync(serial).ConfigureAwait(false);
                    ctx.Out.WriteLine($"Certificate {serial} was already revoked at {CaText.Time(c!.RevokedAt!.Value)} ({c.RevocationReason}); nothing changed");
                    return 0;
            }
            ctx.Out.WriteLine($"Certificate {serial} revoked ({reason})");
            CrlRecord? after = await s.Store.GetLatestCrlAsync().ConfigureAwait(false);
            if (after is not null && after.Number != before?.Number)
            {
                ctx.Out.WriteLine($"CRL {after.Number} issued, next update {CaText.Time(after.NextUpdate)}");
            }
            else
            {
                ctx.Out.WriteLine($"CRL not reissued (crl.regenerateOnRevoke is false); issue one with: certgate ca crl --dir {dir}");
            }
            return 0;
        });
    }

    private static int Crl(CommandContext ctx, Arguments args)
    {
        CaDir dir = Dir(args);
        string? db = args.Optional("--db");
        string? outFile = args.Optional("--out");
        args.EnsureAllUsed();
        return CaSession.Run(args, dir, db, async s =>
        {
            int entries = (await s.Store.ListRevokedAsync().ConfigureAwait(false)).Count;
            CrlRecord crl = await s.Ca.GenerateCrlAsync(CaSession.Actor).ConfigureAwait(false);
            if (outFile is null)
            {
                ctx.Out.Write(CaText.Pem("X509 CRL", crl.Der));
                return 0;
            }
            bool pem = outFile.EndsWith(".pem", StringComparison.OrdinalIgnoreCase);
            CaText.WritePublicFile(args, "--out", outFile, pem ? Encoding.ASCII.GetBytes(CaText.Pem("X509 CRL", crl.Der)) : crl.Der);
            ctx.Out.WriteLine($"CRL {crl.Number} ({entries} revoked), this update {CaText.Time(crl.ThisUpdate)}, next update {CaText.Time(crl.NextUpdate)}");
            ctx.Out.WriteLine($"Written to {Path.GetFullPath(outFile)} ({(pem ? "PEM" : "DER")})");
            return 0;
        });
    }

    // ---------------- pending / approve / reject ----------------

    private static int Pending(CommandContext ctx, Arguments args)
    {
        CaDir dir = Dir(args);
        string? db = args.Optional("--db");
        args.EnsureAllUsed();
        return CaSession.Run(args, dir, db, async s =>
        {
            IReadOnlyList<RequestRecord> pending = await s.Ca.ListPendingAsync().ConfigureAwait(false);
            if (ctx.Json)
            {
                PkiView.WriteJson(ctx.Out, "pending-requests", [.. pending.Select(r => (JsonNode?)new JsonObject
                {
                    ["transaction-id"] = r.TransactionId,
                    ["subject"] = r.Subject,
                    ["requester"] = r.Requester,
                    ["profile"] = r.Profile,
                    ["received"] = CaText.IsoTime(r.CreatedAt),
                    ["public-key-sha256"] = r.PublicKeySha256,
                })]);
                return 0;
            }
            if (pending.Count == 0)
            {
                ctx.Out.WriteLine("No requests waiting for approval");
                return 0;
            }
            int idWidth = Math.Max(2, pending.Max(r => r.TransactionId.Length));
            ctx.Out.WriteLine($"{"ID".PadRight(idWidth)}  {"Received",-23} {"Requester",-16} {"Profile",-12} Subject");
            foreach (RequestRecord r in pending)
            {
                ctx.Out.WriteLine($"{r.TransactionId.PadRight(idWidth)}  {CaText.Time(r.CreatedAt),-23} {r.Requester,-16} {r.Profile,-12} {r.Subject}");
            }
            ctx.Out.WriteLine($"{pending.Count} request(s) waiting; approve with: certgate ca approve --dir {dir} ID");
            return 0;
        });
    }

    private static int Approve(CommandContext ctx, Arguments args)
    {
        CaDir dir = Dir(args);
        string? db = args.Optional("--db");
        string id = args.Optional("--id") ?? CaText.Positional(args, "request ID (as 'ca pending' lists it)");
        args.EnsureAllUsed();
        return CaSession.Run(args, dir, db, async s =>
        {
            EnrollmentResult r = await s.Ca.ApproveAsync(id, CaSession.Actor).ConfigureAwait(false);
            if (r.Status != EnrollmentStatus.Issued)
            {
                throw new UserException($"{args.Command}: request {id} approved but refused by the issuance checks ({r.FailInfo}): {r.Message}");
            }
            X509Certificate2 cert = r.Certificate!;
            ctx.Out.WriteLine($"Request {id} approved: certificate {cert.SerialNumber} issued to {cert.Subject}, valid until {CaText.Time(cert.NotAfter.ToUniversalTime())}");
            ctx.Out.WriteLine("The client receives it on its next poll");
            return 0;
        });
    }

    private static int Reject(CommandContext ctx, Arguments args)
    {
        CaDir dir = Dir(args);
        string? db = args.Optional("--db");
        string? reason = args.Optional("--reason");
        string id = args.Optional("--id") ?? CaText.Positional(args, "request ID (as 'ca pending' lists it)");
        args.EnsureAllUsed();
        return CaSession.Run(args, dir, db, async s =>
        {
            await s.Ca.RejectAsync(id, CaSession.Actor, reason).ConfigureAwait(false);
            ctx.Out.WriteLine($"Request {id} rejected; the client's next poll gets FAILURE (badRequest)");
            return 0;
        });
    }

    // ---------------- sign ----------------

    /// <summary>
    /// Manual enrollment (the Junos <c>request security pki generate-certificate-request … filename F</c> flow): the
    /// operator brings a PKCS#10 file; it runs through the same issuance pipeline (checks, template, modifiers,
    /// validators, sign, persist) and is audited as issued by the operator. No challenge is needed: running this
    /// command with access to the CA key is the authorisation.
    /// </summary>
    private static int Sign(CommandContext ctx, Arguments args)
    {
        CaDir dir = Dir(args);
        string? db = args.Optional("--db");
        string csrFile = args.Required("--csr");
        string outFile = args.Required("--out");
        string? profileName = args.Optional("--profile");
        args.EnsureAllUsed();
        byte[] der = CaText.ReadPemOrDer(args, "--csr", csrFile, MaxCsrFileBytes, "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST");
        return CaSession.Run(args, dir, db, async s =>
        {
            CaSettings settings = s.Ca.Settings;
            if (profileName is not null && !settings.Profiles.ContainsKey(profileName))
            {
                throw new UserException($"{args.Command}: --profile '{profileName}': no such certificate profile (known: {string.Join(", ", settings.Profiles.Keys)})", 2);
            }
            CertificateProfile profile = settings.GetProfile(profileName);
            string actor = CaSession.Actor;
            DateTimeOffset now = DateTimeOffset.UtcNow;
            string requester = "file:" + Path.GetFullPath(csrFile);
            ParsedCsr? csr = null;
            try
            {
                csr = ParsedCsr.Parse(der);
                // The operator signing the file vouches for its names (still never the CA's own subject, never cA=TRUE).
                var context = new IssuanceContext(csr, profile, settings, s.Ca.Certificate, now, IssuanceKind.Initial, requester, null, NameGrant.Operator);
                (X509Certificate2 cert, CertificateRecord record) = await s.Ca.Pipeline.IssueAsync(context, s.Store).ConfigureAwait(false);
                using (cert)
                {
                    await s.Store.AppendAuditAsync(new AuditEntry(now, actor, AuditEvents.CertificateIssued, "success", record.Subject, record.Serial, null,
                        $"profile {record.Profile}; valid until {record.NotAfter:u}; manual signing of {requester}")).ConfigureAwait(false);
                    CaText.WritePublicFile(args, "--out", outFile, Encoding.ASCII.GetBytes(CaText.Pem("CERTIFICATE", cert.RawData)));
                    ctx.Out.WriteLine($"Certificate {record.Serial} issued to {record.Subject} (profile {record.Profile})");
                    ctx.Out.WriteLine($"Valid {CaText.Time(record.NotBefore)} to {CaText.Time(record.NotAfter)}");
                    ctx.Out.WriteLine($"Written to {Path.GetFullPath(outFile)}");
                }
                return 0;
            }
            catch (IssuanceRefusedException e)
            {
                await s.Store.AppendAuditAsync(new AuditEntry(now, actor, AuditEvents.EnrollmentRefused, "refused", csr?.Subject.Name, null, null,
                    $"{e.FailInfo}: {e.Message}; manual signing of {requester}")).ConfigureAwait(false);
                throw new UserException($"{args.Command}: --csr '{csrFile}': refused ({e.FailInfo}): {e.Message}", e);
            }
        });
    }
}
