using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Certgate.Cli.Commands;
using Certgate.Config.Pki;
using Certgate.Gateway.Control;
using Certgate.Gateway.Enrollment;
using Certgate.Pki.Certificates;
using Certgate.Pki.Keys;
using Certgate.Pki.Requests;
using Certgate.Pki.Revocation;
using Certgate.Pki.Store;

namespace Certgate.Cli.Pki;

/// <summary>
/// <c>show security pki ca-certificate|local-certificate|certificate-request|crl</c> (§2.7) and
/// <c>clear security pki …</c> (§2.8). Show commands only read; clear removes exactly the objects named.
/// </summary>
internal sealed class PkiShowCommands : ICommandModule
{
    public void Register(CommandTable table)
    {
        table.Add("show security pki ca-certificate", "[ca-profile P] [brief|detail]", ShowCaCertificates);
        table.Add("show security pki local-certificate", "[certificate-id ID] [brief|detail]", ShowLocalCertificates);
        table.Add("show security pki certificate-request", "[certificate-id ID] [brief|detail]", ShowRequests);
        table.Add("show security pki crl", "[ca-profile P] [brief|detail]", ShowCrls);
        table.Add("clear security pki ca-certificate", "ca-profile P | all", (c, a) => Clear(c, a, PkiObjectType.CaCertificate));
        table.Add("clear security pki local-certificate", "certificate-id ID | all", (c, a) => Clear(c, a, PkiObjectType.LocalCertificate));
        table.Add("clear security pki certificate-request", "certificate-id ID | all", (c, a) => Clear(c, a, PkiObjectType.CertificateRequest));
        table.Add("clear security pki key-pair", "certificate-id ID | all", (c, a) => Clear(c, a, PkiObjectType.KeyPair));
        table.Add("clear security pki crl", "ca-profile P | all", (c, a) => Clear(c, a, PkiObjectType.Crl));
    }

    private static int ShowCaCertificates(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string? only = args.Optional("ca-profile");
        Detail detail = ReadDetail(args);
        args.EnsureAllUsed();
        IReadOnlyList<string> profiles = Select(pki, PkiObjectType.CaCertificate, only, "ca-profile");
        return Render(ctx, "ca-certificate", profiles, (text, json, profile) =>
        {
            X509Certificate2 cert = pki.LoadCaCertificate(profile)!;
            PkiView.WriteCertificate(text, json, profile, CertificateInfo.From(cert), detail, keyStatus: null, caProfile: null, reEnrollment: null);
        });
    }

    private static int ShowLocalCertificates(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string? only = args.Optional("certificate-id");
        Detail detail = ReadDetail(args);
        args.EnsureAllUsed();
        IReadOnlyList<string> ids = Select(pki, PkiObjectType.LocalCertificate, only, "certificate-id");
        IReadOnlyList<(string Profile, X509Certificate2 Certificate)> cas = ids.Count == 0 ? [] : pki.AllCaCertificates();
        return Render(ctx, "local-certificate", ids, (text, json, id) =>
        {
            X509Certificate2 cert = pki.LoadLocalCertificate(id)!;
            using KeyPair? key = pki.LoadKeyPair(id);
            string status = key is null ? "Failed (no key pair)" : key.Matches(cert) ? "Passed" : "Failed (key pair does not match)";
            string? profile = cas.FirstOrDefault(c => c.Certificate.SubjectName.RawData.AsSpan().SequenceEqual(cert.IssuerName.RawData)).Profile;
            PkiView.WriteCertificate(text, json, id, CertificateInfo.From(cert), detail, status, profile, ReEnrollment(pki, id, cert));
        });
    }

    private static int ShowRequests(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string? only = args.Optional("certificate-id");
        Detail detail = ReadDetail(args);
        args.EnsureAllUsed();
        IReadOnlyList<string> ids = Select(pki, PkiObjectType.CertificateRequest, only, "certificate-id");
        var agent = new AgentStateStore(ctx.StateDirectory);
        return Render(ctx, "certificate-request", ids, (text, json, id) =>
        {
            CertificateSigningRequest request = pki.Load(PkiObjectType.CertificateRequest, id,
                () => pki.Store.LoadCertificateRequest(id) is { } der ? CertificateSigningRequest.Parse(der) : null)!;
            PkiView.WriteRequest(text, json, id, request, detail);
            if (agent.LoadPending(id) is { } pending)
            {
                PkiView.WritePending(text, json, pending);
            }
        });
    }

    private static int ShowCrls(CommandContext ctx, Arguments args)
    {
        var pki = new PkiContext(ctx, args);
        string? only = args.Optional("ca-profile");
        Detail detail = ReadDetail(args);
        args.EnsureAllUsed();
        IReadOnlyList<string> profiles = Select(pki, PkiObjectType.Crl, only, "ca-profile");
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return Render(ctx, "crl", profiles, (text, json, profile) =>
            PkiView.WriteCrl(text, json, profile, pki.LoadCrl(profile)!, detail, now));
    }

    private static int Clear(CommandContext ctx, Arguments args, PkiObjectType type)
    {
        var pki = new PkiContext(ctx, args);
        string field = type is PkiObjectType.CaCertificate or PkiObjectType.Crl ? "ca-profile" : "certificate-id";
        string? name = args.Optional(field);
        bool all = args.Flag("all");
        args.EnsureAllUsed();
        if (name is null == !all)
        {
            throw new UserException($"{args.Command}: expected '{field} NAME' or 'all'", 2);
        }
        var names = new List<string>();
        if (all)
        {
            names.AddRange(pki.Store.List(type));
            if (type == PkiObjectType.CaCertificate)
            {
                names.AddRange(pki.Store.List(PkiObjectType.RaCertificates).Except(names));
            }
        }
        else
        {
            pki.CheckName(name!, field);
            if (!pki.Store.Exists(type, name!))
            {
                throw pki.Fail($"{PkiContext.Describe(type)} {name} doesn't exist");
            }
            names.Add(name!);
        }
        var change = new PkiStoreChange();
        foreach (string n in names)
        {
            change.Delete(type, n);
            if (type == PkiObjectType.CaCertificate)
            {
                change.Delete(PkiObjectType.RaCertificates, n);
            }
        }
        pki.Apply(change);
        string what = PkiContext.Describe(type);
        ctx.Out.WriteLine(names.Count switch
        {
            0 => $"No {what} to clear",
            1 => $"Cleared {what} {names[0]}",
            _ => $"Cleared {names.Count} {what}s: {string.Join(", ", names)}",
        });
        return 0;
    }

    private static Detail ReadDetail(Arguments args) =>
        args.Choice("brief", "brief", "detail", "none") == "detail" ? Detail.Detail : Detail.Brief;

    private static IReadOnlyList<string> Select(PkiContext pki, PkiObjectType type, string? only, string field)
    {
        if (only is null)
        {
            return pki.Store.List(type);
        }
        pki.CheckName(only, field);
        return pki.Store.Exists(type, only) ? [only] : throw pki.Fail($"{PkiContext.Describe(type)} {only} doesn't exist");
    }

    private static int Render(CommandContext ctx, string kind, IReadOnlyList<string> names, Action<StringBuilder, JsonObject, string> write)
    {
        var text = new StringBuilder();
        var items = new JsonArray();
        foreach (string name in names)
        {
            var json = new JsonObject();
            write(text, json, name);
            items.Add(json);
        }
        if (ctx.Json)
        {
            PkiView.WriteJson(ctx.Out, kind, items);
        }
        else
        {
            ctx.Out.Write(text.ToString());
        }
        return 0;
    }

    private static AutoReEnrollmentView ReEnrollment(PkiContext pki, string id, X509Certificate2 cert)
    {
        AutoReEnrollment? auto = pki.Configuration.AutoReEnrollments.FirstOrDefault(a => a.CertificateId == id);
        if (auto is null)
        {
            return new AutoReEnrollmentView("Disabled", "Timer not started");
        }
        int percent = auto.TriggerPercentage ?? ReEnrollmentAgent.DefaultTriggerPercentage;
        DateTimeOffset trigger = ReEnrollmentAgent.TriggerTime(cert, percent);
        string enabled = $"Enabled ({auto.Protocol.ToString().ToLowerInvariant()}, ca-profile {auto.CaProfileName}, at {percent}% remaining{(auto.ReGenerateKeyPair ? ", new key pair" : "")})";
        bool daemon = ControlClient.IsListening(pki.Ctx.StateDirectory);
        // The agent's status applies only to the certificate it was written for; after a renewal or a manual load a
        // newer certificate has no attempts yet.
        ReEnrollmentStatus? status = new AgentStateStore(pki.Ctx.StateDirectory).LoadStatus(id);
        bool current = status?.ForCertificate is { } fp && fp == Convert.ToHexString(SHA256.HashData(cert.RawData));
        string state = !daemon ? "Not started" : status is null ? "Not started" : current || status.State == "Unavailable" ? status.State : "Waiting";
        string line = state switch
        {
            "Renewing" => $"{enabled}; renewing (attempt {status!.Attempts}), the current certificate stays in use until it expires",
            "Unavailable" => $"{enabled}; not possible: {status!.LastError}",
            "Not started" when !daemon => $"{enabled}; no gateway daemon runs (certgate gateway run) to renew it",
            _ => enabled,
        };
        return new AutoReEnrollmentView(line, PkiView.Date(trigger), Enabled: true)
        {
            NextTriggerTime = trigger,
            State = state,
            Attempts = current ? status!.Attempts : 0,
            NextAttempt = current && state == "Renewing" ? status!.NextAttempt : null,
            LastAttempt = status?.LastAttempt,
            LastError = current || status?.State == "Unavailable" ? status?.LastError : null,
            LastRenewal = status?.LastRenewal,
            TransactionId = current ? status?.TransactionId : null,
        };
    }
}
