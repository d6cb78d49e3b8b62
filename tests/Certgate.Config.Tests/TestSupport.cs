using Certgate.Config.Schema;
using Certgate.Config.Text;
using Certgate.Config.Tree;

namespace Certgate.Config.Tests;

internal sealed class FixedTime(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>A temp directory deleted at dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "certgate-config-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

internal static class Cfg
{
    public static ConfigSchema Schema => GatewaySchema.Instance;

    public static ConfigNode Empty() => ConfigNode.CreateRoot(Schema);

    /// <summary>Applies set lines (no "set" prefix needed when <paramref name="lines"/> already have it).</summary>
    public static ConfigNode FromSet(params string[] lines) => ConfigText.ParseSet(Schema, string.Join('\n', lines));

    public static void Set(ConfigNode root, string path) => ConfigEditor.Set(root, Words(path));

    public static List<string> Words(string path)
    {
        var words = new List<string>();
        foreach (Certgate.Config.Text.Token t in Certgate.Config.Text.Tokenizer.Tokenize(path))
        {
            words.Add(t.Text);
        }
        return words;
    }

    public static string ErrorOf(Action a) => Assert.Throws<ConfigException>(a).Message;

    /// <summary>The configuration of reference §1.7 A (PKI part) plus the later statements.</summary>
    public const string Representative = """
        set security pki ca-profile entrust ca-identity entrust
        set security pki ca-profile entrust enrollment url http://ca-1.example.com/cgi-bin/pkiclient.exe
        set security pki ca-profile entrust enrollment retry 20
        set security pki ca-profile entrust enrollment retry-interval 60
        set security pki ca-profile entrust revocation-check crl url ldap://ldap.example.com/ou=ca,o=example password ldap-secret
        set security pki ca-profile entrust revocation-check crl url http://crl.example.com/entrust.crl
        set security pki ca-profile entrust revocation-check crl refresh-interval 12
        set security pki ca-profile entrust revocation-check crl disable on-download-failure
        set security pki ca-profile entrust administrator email-address "pki-admin@example.com"
        set security pki ca-profile ocsp-ca ca-identity "Example OCSP CA"
        set security pki ca-profile ocsp-ca source-address 192.0.2.1
        set security pki ca-profile ocsp-ca revocation-check use-ocsp
        set security pki ca-profile ocsp-ca revocation-check ocsp url http://ocsp.example.com/
        set security pki ca-profile ocsp-ca revocation-check ocsp nonce-payload enable
        set security pki ca-profile ocsp-ca revocation-check ocsp connection-failure fallback-crl
        set security pki ca-profile offline revocation-check disable
        set security pki trusted-ca-group corp ca-profiles [ entrust ocsp-ca ]
        set security pki auto-re-enrollment certificate-id local-entrust2 ca-profile-name entrust
        set security pki auto-re-enrollment certificate-id local-entrust2 challenge-password chall-1234
        set security pki auto-re-enrollment certificate-id local-entrust2 re-enroll-trigger-time-percentage 10
        set security pki auto-re-enrollment certificate-id local-entrust2 re-generate-keypair
        set security pki auto-re-enrollment certificate-id local-entrust2 validity-period 365
        set security pki auto-re-enrollment cmpv2 certificate-id gw2 ca-profile-name entrust
        set security pki trap all-certificates days 30
        set security pki traceoptions file pki.log files 5 size 1m world-readable
        set security pki traceoptions flag enrollment
        set security pki traceoptions flag online-crl-check
        """;
}
