using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Cli.Commands;
using Certgate.Config.Pki;
using Certgate.Gateway.Control;
using Certgate.Gateway.Enrollment;
using Certgate.Pki.Certificates;
using Certgate.Pki.Keys;
using Certgate.Pki.Names;
using Certgate.Pki.Requests;
using Certgate.Pki.Store;
using Certgate.Scep;

namespace Certgate.Cli.Pki;

/// <summary>
/// Online enrollment by SCEP (junos-reference §2.3, §2.4): <c>request security pki ca-certificate enroll</c> and
/// <c>request security pki local-certificate enroll</c>. The transactionID is derived from the key, so running the
/// same enrollment again is the same transaction: it polls a PENDING request instead of starting another.
/// </summary>
internal sealed class PkiEnrollCommands : ICommandModule
{
    /// <summary>The longest the foreground command waits for a PENDING request before handing back.</summary>
    private static readonly TimeSpan ForegroundPollLimit = TimeSpan.FromSeconds(60);

    public void Register(CommandTable table)
    {
        table.Add("request security pki ca-certificate enroll", "ca-profile P (fetch the CA/RA certificates by SCEP GetCACert)", EnrollCa);
        table.Add("request security pki local-certificate enroll",
            "certificate-id ID ca-profile P challenge-password PW subject DN [domain-name D] [ip-address A] [email E] " +
            "[scep-encryption-algorithm aes256|aes128|des3|des] [scep-digest-algorithm sha512|sha384|sha256|sha1]", EnrollLocal);
    }

    private static int EnrollCa(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string profileName = args.Required("ca-profile");
        args.EnsureAllUsed();
        CaProfile profile = pki.RequireCaProfile(profileName);
        Uri url = profile.EnrollmentUrl ?? throw pki.Fail($"CA profile {profileName} has no enrollment url; set security pki ca-profile {profileName} enrollment url http://…/scep");
        pki.RequireAbsent(PkiObjectType.CaCertificate, profileName);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var client = new ScepClient(http, url, profile.CaIdentity);
        X509Certificate2Collection received;
        try
        {
            received = client.GetCaCertAsync().GetAwaiter().GetResult();
        }
        catch (ScepFormatException e)
        {
            throw pki.Fail(e.Message);
        }
        return pki.ConfirmAndStoreCaCertificates(profileName, [.. received.Select(CertificateInfo.From)], url.ToString());
    }

    private static int EnrollLocal(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string id = args.Required("certificate-id");
        string profileName = args.Required("ca-profile");
        string challenge = args.Required("challenge-password");
        RequestNames names = RequestNames.Read(args);
        string? encryptionChoice = args.Optional("scep-encryption-algorithm");
        string? digestChoice = args.Optional("scep-digest-algorithm");
        args.EnsureAllUsed();
        pki.CheckName(id, "certificate-id");
        CaProfile profile = pki.RequireCaProfile(profileName);
        Uri url = profile.EnrollmentUrl ?? throw pki.Fail($"CA profile {profileName} has no enrollment url");
        pki.RequireAbsent(PkiObjectType.LocalCertificate, id);
        X509Certificate2 caCert = pki.LoadCaCertificate(profileName)
            ?? throw pki.Fail($"CA certificate {profileName} doesn't exist; enroll it first with: request security pki ca-certificate enroll ca-profile {profileName}");
        IReadOnlyList<X509Certificate2> ras = pki.Store.LoadRaCertificates(profileName);
        using KeyPair key = pki.LoadKeyPair(id) ?? throw pki.Fail($"Keypair doesn't exist for certificate {id}");
        RSA rsa = key.Rsa ?? throw pki.Fail($"key pair {id} is {key.DisplayName}; SCEP needs an RSA key (generate-key-pair certificate-id {id} type rsa)");
        X500DistinguishedName subject = names.Subject;
        HashAlgorithmName? digestAsked = ParseDigest(digestChoice, args.Command);
        ScepCipher? cipherAsked = ParseEncryption(encryptionChoice, args.Command);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var flow = new ScepEnrollmentFlow(http, url, profile.CaIdentity, caCert, ras);
        ScepCapabilities caps;
        try
        {
            caps = flow.GetCapabilitiesAsync().GetAwaiter().GetResult();
        }
        catch (ScepFormatException e)
        {
            throw pki.Fail(e.Message);
        }
        ScepAlgorithms algorithms = ScepAlgorithms.Choose(caps, digestAsked, cipherAsked);
        HashAlgorithmName digest = algorithms.Digest;
        ScepCipher encryption = algorithms.Cipher;

        byte[] csr = CertificateRequestBuilder.Create(key, new CertificateRequestOptions
        {
            Subject = subject,
            DnsNames = names.DnsNames,
            IPAddresses = names.Addresses,
            Emails = names.Emails,
            ChallengePassword = challenge,
            Digest = algorithms.CsrDigest,
        });
        // The self-signed certificate that signs the SCEP message (RFC 8894 §2.3) for a first enrollment.
        using X509Certificate2 signer = ScepEnrollmentFlow.SelfSignedSigner(rsa, subject, DateTimeOffset.UtcNow);
        string transactionId = ScepClient.TransactionIdFor(signer.PublicKey);

        bool hadRequest = pki.Store.Exists(PkiObjectType.CertificateRequest, id);
        pki.Apply(new PkiStoreChange().WriteCertificateRequest(id, csr));
        foreach (string warning in algorithms.Warnings)
        {
            ctx.Out.WriteLine("Warning: " + warning);
        }
        ctx.Out.WriteLine($"Certificate enrollment has started (transaction {transactionId}, {algorithms.DigestName}, {algorithms.CipherName}).");
        ScepEnrollment result;
        int polls = 0;
        int maxPolls = Math.Max(0, profile.Retry);
        bool daemon = false;
        TimeSpan interval = profile.RetryInterval < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : profile.RetryInterval;
        var agentState = new AgentStateStore(ctx.StateDirectory);
        try
        {
            result = flow.EnrollAsync(ScepMessageType.PkcsReq, csr, signer, transactionId, algorithms).GetAwaiter().GetResult();
            // A running daemon polls PENDING requests itself (and this command holds its one-writer turn), so the
            // command hands over at once; without one it polls in the foreground for at most a minute.
            daemon = ControlClient.IsListening(ctx.StateDirectory);
            DateTimeOffset giveUpAt = DateTimeOffset.UtcNow + ForegroundPollLimit;
            while (!daemon && result.Status == ScepPkiStatus.Pending && polls < maxPolls && DateTimeOffset.UtcNow + interval <= giveUpAt)
            {
                ctx.Out.WriteLine($"Enrollment pending at the CA; polling again in {interval.TotalSeconds:0} s ({polls + 1}/{maxPolls})");
                ctx.Out.Flush();
                Thread.Sleep(interval);
                polls++;
                result = flow.PollAsync(subject, signer, transactionId, algorithms).GetAwaiter().GetResult();
            }
        }
        catch (ScepFormatException e)
        {
            // An answer we cannot trust (or no answer) changes nothing: the state is left as it was before the command.
            if (!hadRequest)
            {
                pki.Apply(new PkiStoreChange().Delete(PkiObjectType.CertificateRequest, id));
            }
            throw pki.Fail(e.Message);
        }

        switch (result.Status)
        {
            case ScepPkiStatus.Success:
                pki.Apply(new PkiStoreChange().WriteCertificate(PkiObjectType.LocalCertificate, id, result.Certificate!).Delete(PkiObjectType.CertificateRequest, id));
                agentState.DeletePending(id);
                CertificateInfo info = CertificateInfo.From(result.Certificate!);
                ctx.Out.WriteLine($"Received local certificate: {JunosDistinguishedName.Format(info.Subject)}, serial {info.SerialNumberHex}, valid until {PkiView.Date(info.NotAfter)}");
                ctx.Out.WriteLine($"Local certificate {id} loaded successfully");
                return 0;
            case ScepPkiStatus.Pending:
                ctx.Out.WriteLine($"Certificate enrollment for {id} is pending approval at the CA (transaction {transactionId}).");
                if (polls >= maxPolls)
                {
                    agentState.DeletePending(id);
                    ctx.Out.WriteLine($"All {maxPolls} polls (enrollment retry) are used; run the same command again to poll (it is the same transaction).");
                    return 3;
                }
                DateTimeOffset nextPoll = DateTimeOffset.UtcNow + interval;
                agentState.SavePending(new PendingEnrollment(id, profileName, transactionId, subject.RawData, digest.Name!, encryption.ToString(),
                    polls, maxPolls, interval, nextPoll, DateTimeOffset.UtcNow));
                ctx.Out.WriteLine(daemon
                    ? $"The gateway daemon polls it every {interval.TotalSeconds:0} s ({maxPolls - polls} more time(s)) and installs the certificate when the CA issues it; see: show security pki certificate-request certificate-id {id}"
                    : $"A gateway daemon (certgate gateway run) will poll it every {interval.TotalSeconds:0} s ({maxPolls - polls} more time(s)); or run the same command again (it is the same transaction).");
                return 3;
            default:
                agentState.DeletePending(id);
                pki.Apply(new PkiStoreChange().Delete(PkiObjectType.CertificateRequest, id));
                throw pki.Fail($"the CA refused the enrollment: {result.FailureReason}");
        }
    }

    /// <summary>The digest the operator asked for, or null to let <see cref="ScepAlgorithms.Choose"/> pick from GetCACaps.</summary>
    private static HashAlgorithmName? ParseDigest(string? choice, string command) => choice switch
    {
        null => null,
        "sha512" => HashAlgorithmName.SHA512,
        "sha384" => HashAlgorithmName.SHA384,
        "sha256" => HashAlgorithmName.SHA256,
        "sha1" => HashAlgorithmName.SHA1,
        _ => throw new UserException($"{command}: scep-digest-algorithm '{choice}': expected sha512, sha384, sha256 or sha1", 2),
    };

    /// <summary>The cipher the operator asked for, or null to let <see cref="ScepAlgorithms.Choose"/> pick from GetCACaps.</summary>
    private static ScepCipher? ParseEncryption(string? choice, string command) => choice switch
    {
        null => null,
        "aes256" => ScepCipher.Aes256Cbc,
        "aes128" => ScepCipher.Aes128Cbc,
        "des3" => ScepCipher.TripleDesCbc,
        "des" => ScepCipher.DesCbc,
        _ => throw new UserException($"{command}: scep-encryption-algorithm '{choice}': expected aes256, aes128, des3 or des", 2),
    };
}
