using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Cli.Commands;

namespace Certgate.Cli.Demo;

/// <summary>
/// <c>certgate demo</c>: the seed's story on this machine, step by step, printing each command as an operator
/// would type it and what it answers. This edition walks the PKI part on a local state directory with an
/// offline CA (manual enrollment: PKCS#10 out, signed certificate in); the SCEP CA and the tunnel join it as
/// those parts land.
/// </summary>
internal sealed class DemoCommand : ICommandModule
{
    public void Register(CommandTable table) =>
        table.Add("demo", "run the whole story on this machine [keep] [dir DIR]", (ctx, args) =>
        {
            bool keep = args.Flag("keep");
            string? dir = args.Optional("dir");
            args.EnsureAllUsed();
            return Run(ctx, dir, keep);
        });

    private static int Run(CommandContext ctx, string? dir, bool keep)
    {
        string work = dir is null ? Directory.CreateTempSubdirectory("certgate-demo-").FullName : Path.GetFullPath(dir);
        Directory.CreateDirectory(work);
        string state = Path.Combine(work, "gw1");
        var demo = new Script(ctx, state);
        try
        {
            demo.Say($"Working in {work}. The gateway's state directory is {state}.");

            demo.Step("1. Configure a CA profile (configuration mode, then commit).");
            demo.Configure(
                "set security pki ca-profile demo-ca ca-identity demo-ca",
                "set security pki ca-profile demo-ca enrollment url http://127.0.0.1:8080/scep",
                "set security pki ca-profile demo-ca revocation-check crl refresh-interval 24",
                "commit");

            demo.Step("2. The CA (here an offline one) gives us its certificate; we load it after checking the fingerprint.");
            using RSA caKey = RSA.Create(3072);
            using X509Certificate2 caCert = OfflineCa.CreateRoot(caKey, "CN=Certgate Demo Root CA, O=Certgate Demo, C=US");
            string caFile = Path.Combine(work, "demo-ca.pem");
            File.WriteAllText(caFile, caCert.ExportCertificatePem() + "\n");
            demo.Run("request", "security", "pki", "ca-certificate", "load", "ca-profile", "demo-ca", "filename", caFile);

            demo.Step("3. Generate a key pair for the gateway's certificate.");
            demo.Run("request", "security", "pki", "generate-key-pair", "certificate-id", "gw1", "size", "2048");

            demo.Step("4. Generate a PKCS#10 request (manual enrollment) and hand it to the CA.");
            string csrFile = Path.Combine(work, "gw1.csr");
            demo.Run("request", "security", "pki", "generate-certificate-request", "certificate-id", "gw1",
                "subject", "CN=gw1.example.net,OU=VPN,O=Certgate Demo,C=US", "domain-name", "gw1.example.net",
                "ip-address", "192.0.2.1", "filename", csrFile, "digest", "sha-256");
            demo.Run("show", "security", "pki", "certificate-request", "certificate-id", "gw1");

            demo.Step("5. The CA signs the request; we load the signed certificate.");
            string certFile = Path.Combine(work, "gw1.crt");
            File.WriteAllText(certFile, OfflineCa.Sign(caCert, caKey, File.ReadAllText(csrFile)) + "\n");
            demo.Say($"(offline CA) signed {csrFile} -> {certFile}");
            demo.Run("request", "security", "pki", "local-certificate", "load", "certificate-id", "gw1", "filename", certFile);

            demo.Step("6. The CA publishes a CRL (one revoked serial); we load it and verify both certificates.");
            string crlFile = Path.Combine(work, "demo-ca.crl");
            var crl = new Certgate.Pki.Revocation.CrlBuilder(caCert)
            {
                ThisUpdate = DateTimeOffset.UtcNow.AddMinutes(-5),
                NextUpdate = DateTimeOffset.UtcNow.AddDays(7),
                CrlNumber = 1,
            };
            crl.AddEntry(new System.Numerics.BigInteger(0x1001), DateTimeOffset.UtcNow.AddMinutes(-5), Certgate.Pki.Revocation.CrlReason.keyCompromise);
            File.WriteAllBytes(crlFile, crl.Sign(caKey, HashAlgorithmName.SHA256));
            demo.Run("request", "security", "pki", "crl", "load", "ca-profile", "demo-ca", "filename", crlFile);
            demo.Run("request", "security", "pki", "ca-certificate", "verify", "ca-profile", "demo-ca");
            demo.Run("request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw1");

            demo.Step("7. Look at what the gateway now holds.");
            demo.Run("show", "security", "pki", "ca-certificate", "ca-profile", "demo-ca", "brief");
            demo.Run("show", "security", "pki", "local-certificate", "certificate-id", "gw1", "detail");
            demo.Run("show", "security", "pki", "crl", "ca-profile", "demo-ca", "detail");
            demo.Run("show", "configuration", "security", "pki");

            demo.Say(demo.Failures == 0
                ? "Demo finished: the gateway holds the CA certificate, its key pair and a CA-signed local certificate."
                : $"Demo finished with {demo.Failures} failed step(s).");
            return demo.Failures == 0 ? 0 : 1;
        }
        finally
        {
            if (!keep && dir is null)
            {
                Directory.Delete(work, recursive: true);
            }
            else
            {
                ctx.Out.WriteLine($"State kept in {work}.");
            }
        }
    }

    /// <summary>Prints and runs each step through the same entry point as the command line.</summary>
    private sealed class Script(CommandContext ctx, string state)
    {
        public int Failures { get; private set; }

        public void Say(string text) => ctx.Out.WriteLine(text);

        public void Step(string text)
        {
            ctx.Out.WriteLine();
            ctx.Out.WriteLine("### " + text);
        }

        public void Run(params string[] words)
        {
            ctx.Out.WriteLine($"gw1> {string.Join(' ', words.Select(Quote))}");
            int rc = CertgateCli.Run(["--state", state, "--yes", .. words], TextReader.Null, ctx.Out, ctx.Out);
            if (rc != 0)
            {
                Failures++;
                ctx.Out.WriteLine($"(exit {rc})");
            }
        }

        public void Configure(params string[] lines)
        {
            ctx.Out.WriteLine("gw1> configure");
            foreach (string line in lines)
            {
                ctx.Out.WriteLine($"gw1# {line}");
            }
            using var input = new StringReader(string.Join('\n', lines) + "\n");
            int rc = CertgateCli.Run(["--state", state, "configure"], input, ctx.Out, ctx.Out);
            if (rc != 0)
            {
                Failures++;
                ctx.Out.WriteLine($"(exit {rc})");
            }
        }

        private static string Quote(string w) => w.Contains(' ') || w.Contains(',') ? $"\"{w}\"" : w;
    }
}
