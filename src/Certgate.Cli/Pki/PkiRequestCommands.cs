using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Certgate.Cli.Commands;
using Certgate.Config.Pki;
using Certgate.Gateway.Crl;
using Certgate.Pki.Certificates;
using Certgate.Pki.Encoding;
using Certgate.Pki.Keys;
using Certgate.Pki.Names;
using Certgate.Pki.Requests;
using Certgate.Pki.Revocation;
using Certgate.Pki.Store;
using Certgate.Pki.Validation;

namespace Certgate.Cli.Pki;

/// <summary>
/// <c>request security pki …</c>: the offline operations of junos-reference §2.1–2.6 on the state directory.
/// Every command checks everything first and changes the store in one <see cref="PkiStoreChange"/> at the end,
/// so a refused command leaves the state directory exactly as it was.
/// </summary>
internal sealed class PkiRequestCommands : ICommandModule
{
    private const string Prefix = "request security pki ";

    public void Register(CommandTable table)
    {
        table.Add(Prefix + "generate-key-pair", "certificate-id ID [size N] [type rsa|ecdsa]", GenerateKeyPair);
        table.Add(Prefix + "generate-certificate-request",
            "certificate-id ID subject DN [domain-name D] [ip-address A] [email E] [filename F] [digest sha-1|sha-256|sha-384|sha-512]",
            GenerateRequest);
        table.Add(Prefix + "ca-certificate load", "ca-profile P filename F", LoadCaCertificate);
        table.Add(Prefix + "ca-certificate verify", "ca-profile P", VerifyCaCertificate);
        table.Add(Prefix + "local-certificate load", "certificate-id ID filename F [key F] [passphrase PW]", LoadLocalCertificate);
        table.Add(Prefix + "local-certificate verify", "certificate-id ID", VerifyLocalCertificate);
        table.Add(Prefix + "crl load", "ca-profile P filename F", LoadCrl);
        table.Add(Prefix + "key-pair export", "certificate-id ID filename F [type pem|der|pkcs12] [passphrase PW]", ExportKeyPair);
        table.Add(Prefix + "key-pair import", "certificate-id ID filename F [passphrase PW] (extension: not in Junos)", ImportKeyPair);
    }

    private static int GenerateKeyPair(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string id = args.Required("certificate-id");
        string? sizeText = args.Optional("size");
        string typeText = args.Optional("type") ?? "rsa";
        args.EnsureAllUsed();
        pki.CheckName(id, "certificate-id");
        KeyAlgorithm algorithm = typeText switch
        {
            "rsa" => KeyAlgorithm.Rsa,
            "ecdsa" => KeyAlgorithm.Ecdsa,
            _ => throw new UserException($"{args.Command}: type '{typeText}': expected rsa or ecdsa", 2),
        };
        IReadOnlyList<int> sizes = KeyPair.SupportedSizes(algorithm);
        int size = KeyPair.DefaultSize(algorithm);
        if (sizeText is not null && (!int.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out size) || !sizes.Contains(size)))
        {
            throw new UserException($"{args.Command}: size '{sizeText}': {typeText} keys must be {string.Join(", ", sizes)} bits", 2);
        }
        pki.RequireAbsent(PkiObjectType.KeyPair, id);
        if (algorithm == KeyAlgorithm.Rsa && size >= 3072)
        {
            ctx.Error.WriteLine($"Generating a {size}-bit RSA key pair; this can take a few seconds...");
        }
        using KeyPair key = KeyPair.Generate(algorithm, size);
        pki.Apply(new PkiStoreChange().WriteKeyPair(id, key));
        ctx.Out.WriteLine($"Generated key pair {id}, key size {size} bits");
        return 0;
    }

    private static int GenerateRequest(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string id = args.Required("certificate-id");
        RequestNames names = RequestNames.Read(args);
        string? filename = args.Optional("filename");
        string? digestText = args.Optional("digest");
        string? challenge = args.Optional("challenge-password");
        args.EnsureAllUsed();
        pki.CheckName(id, "certificate-id");

        using KeyPair key = pki.LoadKeyPair(id) ?? throw pki.Fail($"Keypair doesn't exist for certificate {id}; " +
            $"generate one first with: request security pki generate-key-pair certificate-id {id}");
        SignatureDigest digest = SignatureDigests.DefaultFor(key.Algorithm);
        if (digestText is not null && !SignatureDigests.TryParse(digestText, out digest))
        {
            throw new UserException($"{args.Command}: digest '{digestText}': expected sha-1, sha-256, sha-384 or sha-512", 2);
        }
        if (SignatureDigests.Refusal(key.Algorithm, digest) is { } refusal)
        {
            throw new UserException($"{args.Command}: digest '{digestText}': {refusal}", 2);
        }

        byte[] der = CertificateRequestBuilder.Create(key, new CertificateRequestOptions
        {
            Subject = names.Subject,
            DnsNames = names.DnsNames,
            IPAddresses = names.Addresses,
            Emails = names.Emails,
            ChallengePassword = challenge,
            Digest = digest,
        });
        CertificateSigningRequest request = CertificateSigningRequest.Parse(der);
        string pem = request.ToPem();
        if (filename is not null)
        {
            WriteOutputFile(pki, filename, Encoding.ASCII.GetBytes(pem.EndsWith('\n') ? pem : pem + "\n"), secret: false);
        }
        pki.Apply(new PkiStoreChange().WriteCertificateRequest(id, der));
        ctx.Out.WriteLine("Generated certificate request");
        ctx.Out.Write(pem.EndsWith('\n') ? pem : pem + "\n");
        ctx.Out.WriteLine("Fingerprint:");
        ctx.Out.WriteLine($"{request.Fingerprints.Sha1} (sha1)");
        ctx.Out.WriteLine($"{request.Fingerprints.Md5} (md5)");
        if (filename is not null)
        {
            ctx.Out.WriteLine($"Certificate request saved to {filename}");
        }
        return 0;
    }

    private static int LoadCaCertificate(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string profile = args.Required("ca-profile");
        string file = args.Required("filename");
        args.EnsureAllUsed();
        pki.RequireCaProfile(profile);
        pki.RequireAbsent(PkiObjectType.CaCertificate, profile);
        byte[] data = pki.ReadInput(file);
        List<CertificateInfo> certs = pki.Parse(file, () => PkiInput.DecodeCertificates(data).Select(d => CertificateInfo.Parse(d)).ToList());
        return pki.ConfirmAndStoreCaCertificates(profile, certs, file);
    }

    private static int VerifyCaCertificate(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string profile = args.Required("ca-profile");
        args.EnsureAllUsed();
        CaProfile config = pki.RequireCaProfile(profile);
        X509Certificate2 ca = pki.LoadCaCertificate(profile)
            ?? throw pki.Fail($"CA certificate {profile} doesn't exist; load it with: request security pki ca-certificate load ca-profile {profile} filename F");
        bool selfSigned = ca.SubjectName.RawData.AsSpan().SequenceEqual(ca.IssuerName.RawData);
        List<X509Certificate2> anchors = selfSigned
            ? [ca]
            : [.. pki.AllCaCertificates().Where(x => x.Profile != profile).Select(x => x.Certificate)];
        if (anchors.Count == 0)
        {
            throw pki.Fail($"CA certificate {profile} is issued by '{ca.Issuer}', whose certificate is not loaded under any CA profile");
        }
        ChainValidationResult result = new ChainValidator().Validate(ca, new ChainValidationPolicy
        {
            TrustAnchors = anchors,
            CrlSource = pki.AllCrls(),
            RevocationMode = selfSigned ? RevocationMode.Disabled : RevocationModes.For(config),
            AllowSha1Signatures = pki.Configuration.AllowSha1Signatures,
        });
        if (!result.IsValid)
        {
            throw pki.Fail($"CA certificate {profile} verification failed: {result.Failure!.Message}");
        }
        // The profile's own CRL must verify against this certificate, or revocation checks against it mean nothing.
        if (pki.LoadCrl(profile) is { } crl)
        {
            if (!crl.VerifySignature(ca))
            {
                throw pki.Fail($"CA certificate {profile} verified, but the CRL loaded for it is not signed by it");
            }
            if (crl.IsExpired(DateTimeOffset.UtcNow))
            {
                ctx.Out.WriteLine($"Warning: the CRL of {profile} expired on {PkiView.Date(crl.NextUpdate!.Value)}");
            }
        }
        foreach (string warning in result.Warnings)
        {
            ctx.Out.WriteLine("Warning: " + warning);
        }
        ctx.Out.WriteLine($"CA certificate {profile} verified successfully");
        return 0;
    }

    private static int LoadLocalCertificate(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string id = args.Required("certificate-id");
        string file = args.Required("filename");
        string? keyFile = args.Optional("key");
        string? passphrase = args.Optional("passphrase");
        args.EnsureAllUsed();
        pki.CheckName(id, "certificate-id");
        pki.RequireAbsent(PkiObjectType.LocalCertificate, id);
        byte[] data = pki.ReadInput(file);
        CertificateInfo cert = pki.Parse(file, () => CertificateInfo.Parse(PkiInput.DecodeCertificates(data)[0]));
        var change = new PkiStoreChange();
        KeyPair? key;
        if (keyFile is not null)
        {
            if (pki.Store.Exists(PkiObjectType.KeyPair, id))
            {
                throw pki.Fail($"key pair {id} already exists; load without 'key', or clear it first with: clear security pki key-pair certificate-id {id}");
            }
            byte[] keyData = pki.ReadInput(keyFile);
            key = ImportKey(pki, keyFile, keyData, passphrase);
            change.WriteKeyPair(id, key);
        }
        else
        {
            if (passphrase is not null)
            {
                throw new UserException($"{args.Command}: 'passphrase' is only used with 'key'", 2);
            }
            key = pki.LoadKeyPair(id) ?? throw pki.Fail($"Keypair doesn't exist for certificate {id}; generate it and a request first, " +
                "or give the private key with 'key FILE'");
        }
        using (key)
        {
            if (!key.Matches(cert.Certificate))
            {
                throw pki.Fail($"{file}: the certificate's public key does not match key pair {id} (was it issued for another request?)");
            }
        }
        change.WriteCertificate(PkiObjectType.LocalCertificate, id, cert.Certificate);
        change.Delete(PkiObjectType.CertificateRequest, id);
        pki.Apply(change);
        ctx.Out.WriteLine("Local certificate loaded successfully");
        if (cert.NotBefore > DateTimeOffset.UtcNow)
        {
            ctx.Out.WriteLine($"Warning: local certificate {id} is not valid yet (not before {PkiView.Date(cert.NotBefore)})");
        }
        return 0;
    }

    private static int VerifyLocalCertificate(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string id = args.Required("certificate-id");
        args.EnsureAllUsed();
        pki.CheckName(id, "certificate-id");
        X509Certificate2 cert = pki.LoadLocalCertificate(id) ?? throw pki.Fail($"local certificate {id} doesn't exist");
        List<(string Profile, X509Certificate2 Certificate)> cas = [.. pki.AllCaCertificates()];
        if (cas.Count == 0)
        {
            throw pki.Fail($"local certificate {id} cannot be verified: no CA certificate is loaded");
        }
        (string Profile, X509Certificate2 Certificate) issuer = cas.FirstOrDefault(c => c.Certificate.SubjectName.RawData.AsSpan().SequenceEqual(cert.IssuerName.RawData));
        RevocationMode mode = RevocationMode.Check;
        CaProfile? profile = issuer.Profile is null ? null : pki.Configuration.FindCaProfile(issuer.Profile);
        if (profile is not null)
        {
            mode = RevocationModes.For(profile);
        }
        if (mode != RevocationMode.Disabled && issuer.Profile is not null)
        {
            DownloadCrlIfNeeded(pki, issuer.Profile, issuer.Certificate, cert, profile);
        }
        ChainValidationResult result = new ChainValidator().Validate(cert, new ChainValidationPolicy
        {
            TrustAnchors = [.. cas.Select(c => c.Certificate)],
            CrlSource = pki.AllCrls(),
            RevocationMode = mode,
            AllowSha1Signatures = pki.Configuration.AllowSha1Signatures,
        });
        using KeyPair? key = pki.LoadKeyPair(id);
        if (key is not null && !key.Matches(cert))
        {
            throw pki.Fail($"local certificate {id} does not match key pair {id}");
        }
        if (!result.IsValid)
        {
            ValidationFailure f = result.Failure!;
            string hint = f.Kind == ValidationFailureKind.CrlUnavailable && issuer.Profile is not null
                ? $" (load one with: request security pki crl load ca-profile {issuer.Profile} filename F, " +
                  $"or set security pki ca-profile {issuer.Profile} revocation-check crl disable on-download-failure)"
                : "";
            throw pki.Fail($"local certificate {id} verification failed: {f.Message}{hint}");
        }
        foreach (string warning in result.Warnings)
        {
            ctx.Out.WriteLine("Warning: " + warning);
        }
        ctx.Out.WriteLine($"Local certificate {id} verification success");
        return 0;
    }

    /// <summary>
    /// Junos fetches a missing or expired CRL when a certificate is verified: the certificate's distribution points
    /// first, then the profile's <c>crl url</c>s. Each URL gets a bounded wait; failures are reported as warnings
    /// here and become the verification error only when revocation checking needs the CRL.
    /// </summary>
    private static void DownloadCrlIfNeeded(PkiContext pki, string caProfile, X509Certificate2 ca, X509Certificate2 leaf, CaProfile? profile)
    {
        CertificateRevocationList? current = pki.LoadCrl(caProfile);
        if (current is not null && !current.IsExpired(DateTimeOffset.UtcNow))
        {
            return;
        }
        var urls = new List<Uri>();
        foreach (string cdp in CertificateInfo.From(leaf).CrlDistributionPoints)
        {
            if (Uri.TryCreate(cdp, UriKind.Absolute, out Uri? u))
            {
                urls.Add(u);
            }
        }
        if (profile is not null)
        {
            urls.AddRange(profile.CrlUrls.Select(c => c.Url));
        }
        if (urls.Count == 0)
        {
            return;
        }
        using var http = new HttpCrlDownloader(TimeSpan.FromSeconds(15));
        var updater = new CrlUpdater(pki.Store, new CrlFetcher([http, new LdapCrlDownloader(TimeSpan.FromSeconds(15))]));
        CrlUpdateResult result = updater.UpdateAsync(caProfile, ca, urls, TimeSpan.FromSeconds(20)).GetAwaiter().GetResult();
        if (result.Installed)
        {
            pki.Ctx.Out.WriteLine($"Downloaded the CRL of {caProfile} from {result.Source} ({result.Crl!.Count} revoked)");
        }
        foreach (string error in result.Errors)
        {
            pki.Ctx.Out.WriteLine($"Warning: CRL download failed for certificate {caProfile}: {error}");
        }
    }

    private static int LoadCrl(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string profile = args.Required("ca-profile");
        string file = args.Required("filename");
        args.EnsureAllUsed();
        pki.RequireCaProfile(profile);
        X509Certificate2 ca = pki.LoadCaCertificate(profile)
            ?? throw pki.Fail($"CA certificate {profile} doesn't exist; load it before its CRL: request security pki ca-certificate load ca-profile {profile} filename F");
        byte[] data = pki.ReadInput(file, PkiInput.MaxCrlFileSize);
        CertificateRevocationList crl = pki.Parse(file, () => CertificateRevocationList.Load(data));
        if (!crl.Issuer.RawData.AsSpan().SequenceEqual(ca.SubjectName.RawData))
        {
            throw pki.Fail($"{file}: the CRL is issued by '{JunosDistinguishedName.Format(crl.Issuer)}', not by the CA of profile {profile} " +
                $"('{JunosDistinguishedName.Format(ca.SubjectName)}')");
        }
        if (!crl.VerifySignature(ca))
        {
            throw pki.Fail($"{file}: the CRL's signature does not verify with the CA certificate of profile {profile}");
        }
        if (pki.LoadCrl(profile) is { CrlNumber: { } installed } && crl.CrlNumber is { } incoming && incoming < installed)
        {
            throw pki.Fail($"{file}: CRL number {incoming} is older than the installed CRL number {installed}; clear the CRL first to go back");
        }
        byte[] der = PkiInput.DecodeCrl(data);
        pki.Apply(new PkiStoreChange().Write(PkiObjectType.Crl, profile, der));
        ctx.Out.WriteLine($"CRL for CA profile {profile} loaded successfully ({crl.Count} revoked, next update {(crl.NextUpdate is { } n ? PkiView.Date(n) : "none")})");
        if (crl.IsExpired(DateTimeOffset.UtcNow))
        {
            ctx.Out.WriteLine($"Warning: this CRL expired on {PkiView.Date(crl.NextUpdate!.Value)}; certificates of {profile} will fail verification until a newer one is loaded");
        }
        return 0;
    }

    private static int ExportKeyPair(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string id = args.Required("certificate-id");
        string file = args.Required("filename");
        string type = args.Optional("type") ?? "pem";
        string? passphrase = args.Optional("passphrase");
        args.EnsureAllUsed();
        pki.CheckName(id, "certificate-id");
        using KeyPair key = pki.LoadKeyPair(id) ?? throw pki.Fail($"Keypair doesn't exist for certificate {id}");
        byte[] output;
        switch (type)
        {
            case "pem":
                output = Encoding.ASCII.GetBytes(passphrase is null ? key.ExportPkcs8Pem() : key.ExportEncryptedPkcs8Pem(passphrase));
                break;
            case "der":
                output = passphrase is null ? key.ExportPkcs8() : key.ExportEncryptedPkcs8(passphrase);
                break;
            case "pkcs12":
                if (string.IsNullOrEmpty(passphrase))
                {
                    throw new UserException($"{args.Command}: type pkcs12 needs 'passphrase PW'", 2);
                }
                X509Certificate2? cert = pki.LoadLocalCertificate(id);
                List<X509Certificate2> chain = cert is null ? [] : [.. pki.AllCaCertificates().Where(c => c.Certificate.SubjectName.RawData.AsSpan().SequenceEqual(cert.IssuerName.RawData)).Select(c => c.Certificate)];
                output = Pkcs12Archive.Export(key, cert, chain, passphrase);
                break;
            default:
                throw new UserException($"{args.Command}: type '{type}': expected pem, der or pkcs12", 2);
        }
        WriteOutputFile(pki, file, output, secret: true);
        ctx.Out.WriteLine($"Key pair {id} exported to {file} ({type}{(passphrase is null ? ", not encrypted" : ", encrypted")})");
        return 0;
    }

    private static int ImportKeyPair(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string id = args.Required("certificate-id");
        string file = args.Required("filename");
        string? passphrase = args.Optional("passphrase");
        args.EnsureAllUsed();
        pki.CheckName(id, "certificate-id");
        pki.RequireAbsent(PkiObjectType.KeyPair, id);
        byte[] data = pki.ReadInput(file);
        using KeyPair key = ImportKey(pki, file, data, passphrase);
        pki.Apply(new PkiStoreChange().WriteKeyPair(id, key));
        ctx.Out.WriteLine($"Imported key pair {id}, key size {key.KeySize} bits");
        return 0;
    }

    /// <summary>A private key from PEM/DER PKCS#8 (encrypted or not), PKCS#1, SEC1 or PKCS#12.</summary>
    private static KeyPair ImportKey(PkiContext pki, string file, byte[] data, string? passphrase)
    {
        bool pkcs12 = file.EndsWith(".p12", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase);
        if (pkcs12)
        {
            Pkcs12Contents contents = pki.Parse(file, () => Pkcs12Archive.Import(data, passphrase ?? ""));
            return contents.Key ?? throw pki.Fail($"{file}: the PKCS#12 file holds no private key");
        }
        return pki.Parse(file, () => KeyPair.Import(data, passphrase));
    }

    /// <summary>Writes a file the operator asked for; refuses to overwrite, and keys get mode 0600.</summary>
    /// <remarks>A relative <paramref name="path"/> is relative to the operator's directory (<see cref="CommandContext.ResolvePath"/>).</remarks>
    private static void WriteOutputFile(PkiContext pki, string path, byte[] contents, bool secret)
    {
        string full = pki.Ctx.ResolvePath(path);
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = secret ? UnixFileMode.UserRead | UnixFileMode.UserWrite
                    : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
            }
            using var stream = new FileStream(full, options);
            stream.Write(contents);
            stream.Flush(flushToDisk: true);
        }
        catch (IOException) when (File.Exists(full))
        {
            throw pki.Fail($"filename {path}: the file already exists; choose another name or remove it");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw pki.Fail($"filename {path}: cannot be written ({e.Message})");
        }
    }
}
