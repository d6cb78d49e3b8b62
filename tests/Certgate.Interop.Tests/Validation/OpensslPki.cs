using System.Security.Cryptography;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Validation;

/// <summary>
/// A PKI made entirely by the <c>openssl</c> command line (req -x509, ca with index.txt, ca -revoke, ca -gencrl),
/// built once per test class. Every CA has its own directory and minimal openssl.cnf.
/// </summary>
public sealed class OpensslPki : IDisposable
{
    private readonly TempDirectory _dir = new("certgate-openssl-pki-");

    public OpensslPki()
    {
        ExternalTool.Require("openssl");
        Root = CreateRoot("root", "/O=Certgate/CN=Interop Root CA", "root_ext");
        Other = CreateRoot("other", "/O=Certgate/CN=Interop Other CA", "root_ext");
        NoSign = CreateRoot("nosign", "/O=Certgate/CN=Interop NoSign CA", "root_nosign_ext");
        Intermediate = CreateSubordinate(Root, "inter", "/O=Certgate/CN=Interop Intermediate CA");
    }

    public string Path => _dir.Path;

    public Ca Root { get; }
    public Ca Other { get; }
    public Ca NoSign { get; }
    public Ca Intermediate { get; }

    public string File(string name) => _dir.File(name);

    /// <summary>One CA: its directory, config, certificate and key.</summary>
    public sealed record Ca(string Name, string Dir)
    {
        public string Config => System.IO.Path.Combine(Dir, "openssl.cnf");
        public string Certificate => System.IO.Path.Combine(Dir, "ca.pem");
        public string Key => System.IO.Path.Combine(Dir, "ca.key");
    }

    /// <summary>Issues a certificate (EC P-256 key) with <c>openssl ca</c>; dates as YYMMDDHHMMSSZ.</summary>
    public string Issue(Ca ca, string name, string subject, string extensions = "leaf_ext", string? startDate = null, string? endDate = null)
    {
        string key = File(name + ".key");
        string csr = File(name + ".csr");
        string pem = File(name + ".pem");
        ExternalTool.Check("openssl", "req", "-new", "-config", ca.Config, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", csr, "-subj", subject);
        var args = new List<string> { "ca", "-batch", "-config", ca.Config, "-extensions", extensions, "-in", csr, "-out", pem, "-notext" };
        if (startDate is not null)
        {
            args.AddRange(["-startdate", startDate]);
        }
        if (endDate is not null)
        {
            args.AddRange(["-enddate", endDate]);
        }
        else
        {
            args.AddRange(["-days", "365"]);
        }
        ExternalTool.Check("openssl", args.ToArray());
        return pem;
    }

    public void Revoke(Ca ca, string certificatePem, string reason = "keyCompromise") =>
        ExternalTool.Check("openssl", "ca", "-config", ca.Config, "-revoke", certificatePem, "-crl_reason", reason);

    /// <summary>Generates a CRL (PEM) from the CA's index; dates as YYYYMMDDHHMMSSZ.</summary>
    public string GenerateCrl(Ca ca, string name, string? lastUpdate = null, string? nextUpdate = null)
    {
        string path = File(name);
        var args = new List<string> { "ca", "-gencrl", "-config", ca.Config, "-out", path };
        if (lastUpdate is not null)
        {
            args.AddRange(["-crl_lastupdate", lastUpdate]);
        }
        if (nextUpdate is not null)
        {
            args.AddRange(["-crl_nextupdate", nextUpdate]);
        }
        else
        {
            args.AddRange(["-crldays", "7"]);
        }
        ExternalTool.Check("openssl", args.ToArray());
        return path;
    }

    /// <summary>Copies a PEM object (certificate or CRL) with one octet of its signature flipped.</summary>
    public string CorruptSignature(string pemPath, string label, string name)
    {
        byte[] der = PemEncoding.Find(System.IO.File.ReadAllText(pemPath)) is var f
            ? Convert.FromBase64String(System.IO.File.ReadAllText(pemPath)[f.Base64Data])
            : throw new InvalidOperationException();
        der[^5] ^= 0x5A;
        string path = File(name);
        System.IO.File.WriteAllText(path, PemEncoding.WriteString(label, der) + "\n");
        return path;
    }

    public void Dispose() => _dir.Dispose();

    private Ca CreateRoot(string name, string subject, string extensions)
    {
        Ca ca = NewCaDirectory(name);
        ExternalTool.Check("openssl", "req", "-x509", "-config", ca.Config, "-extensions", extensions, "-newkey", "rsa:2048",
            "-nodes", "-keyout", ca.Key, "-out", ca.Certificate, "-subj", subject, "-days", "3650");
        return ca;
    }

    private Ca CreateSubordinate(Ca parent, string name, string subject)
    {
        Ca ca = NewCaDirectory(name);
        string csr = System.IO.Path.Combine(ca.Dir, "ca.csr");
        ExternalTool.Check("openssl", "req", "-new", "-config", ca.Config, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", ca.Key, "-out", csr, "-subj", subject);
        ExternalTool.Check("openssl", "ca", "-batch", "-config", parent.Config, "-extensions", "ca_ext", "-in", csr,
            "-out", ca.Certificate, "-notext", "-days", "1825");
        return ca;
    }

    private Ca NewCaDirectory(string name)
    {
        string dir = System.IO.Path.Combine(_dir.Path, name);
        Directory.CreateDirectory(System.IO.Path.Combine(dir, "newcerts"));
        System.IO.File.WriteAllText(System.IO.Path.Combine(dir, "index.txt"), "");
        System.IO.File.WriteAllText(System.IO.Path.Combine(dir, "index.txt.attr"), "unique_subject = no\n");
        System.IO.File.WriteAllText(System.IO.Path.Combine(dir, "serial"), "1000\n");
        System.IO.File.WriteAllText(System.IO.Path.Combine(dir, "crlnumber"), "01\n");
        var ca = new Ca(name, dir);
        System.IO.File.WriteAllText(ca.Config, $"""
            [ ca ]
            default_ca = CA_default

            [ CA_default ]
            dir = {dir}
            database = $dir/index.txt
            new_certs_dir = $dir/newcerts
            certificate = $dir/ca.pem
            private_key = $dir/ca.key
            serial = $dir/serial
            crlnumber = $dir/crlnumber
            crl_extensions = crl_ext
            default_md = sha256
            default_days = 365
            default_crl_days = 7
            policy = policy_any
            unique_subject = no
            copy_extensions = none
            email_in_dn = no

            [ policy_any ]
            organizationName = optional
            commonName = supplied

            [ req ]
            distinguished_name = req_dn
            prompt = no

            [ req_dn ]
            CN = unused

            [ root_ext ]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid:always

            [ root_nosign_ext ]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,cRLSign,digitalSignature
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid:always

            [ ca_ext ]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid

            [ leaf_ext ]
            basicConstraints = critical,CA:FALSE
            keyUsage = critical,digitalSignature
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid
            subjectAltName = DNS:gw.example.net

            [ crl_ext ]
            authorityKeyIdentifier = keyid

            """);
        return ca;
    }
}
