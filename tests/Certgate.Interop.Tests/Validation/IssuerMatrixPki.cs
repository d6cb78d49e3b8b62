using System.Text.RegularExpressions;
using Certgate.Cli;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Validation;

/// <summary>Which tool made the CA certificate, the gateway certificates and the CRL.</summary>
public enum MatrixIssuer
{
    /// <summary><c>openssl req -x509</c>, <c>openssl x509 -req</c>, <c>openssl ca -revoke</c> and <c>ca -gencrl</c>.</summary>
    OpenSsl,

    /// <summary>strongSwan <c>pki --self --ca</c>, <c>pki --issue</c>, <c>pki --signcrl</c>.</summary>
    StrongSwanPki,

    /// <summary>Our own CA: <c>certgate ca init</c>, <c>ca sign</c>, <c>ca revoke</c>, <c>ca crl</c>.</summary>
    Certgate,
}

/// <summary>Which key identifiers the certificates and the CRL carry.</summary>
public enum MatrixKeyIds
{
    /// <summary>CA: subjectKeyIdentifier; gateway certificate: subjectKeyIdentifier and authorityKeyIdentifier;
    /// CRL: authorityKeyIdentifier.</summary>
    Present,

    /// <summary>No subjectKeyIdentifier or authorityKeyIdentifier anywhere (name matching only).</summary>
    Absent,

    /// <summary>What the bare commands of issue #13 write: the CA has both (OpenSSL 3 adds them by default), the
    /// gateway certificate is v1 without extensions (<c>x509 -req</c> without <c>-extfile</c>), the CRL has no
    /// authorityKeyIdentifier (<c>ca -gencrl</c> without <c>crl_extensions</c>).</summary>
    CaOnly,
}

/// <summary>One CA of the matrix: its certificate, a good and a revoked gateway certificate with their keys, and a
/// CRL that lists the revoked one.</summary>
public sealed record MatrixCa(string Certificate, string Crl, string GoodCertificate, string GoodKey, string RevokedCertificate, string RevokedKey);

/// <summary>
/// The CAs of <see cref="IssuerMatrixTests"/>, each made once, on first use, by the real tool. Every gateway
/// key is an EC P-256 PKCS#8 file from <c>openssl genpkey</c>, so every row imports a key the same way.
/// </summary>
public sealed class IssuerMatrixPki : IDisposable
{
    private readonly TempDirectory _dir = new("certgate-issuer-matrix-");
    private readonly Dictionary<(MatrixIssuer, MatrixKeyIds), MatrixCa> _cas = [];
    private readonly Lock _lock = new();

    public string File(string name) => _dir.File(name);

    public MatrixCa Get(MatrixIssuer issuer, MatrixKeyIds keyIds)
    {
        lock (_lock)
        {
            if (!_cas.TryGetValue((issuer, keyIds), out MatrixCa? ca))
            {
                string dir = _dir.File($"{issuer}-{keyIds}".ToLowerInvariant());
                Directory.CreateDirectory(dir);
                ca = issuer switch
                {
                    MatrixIssuer.OpenSsl => OpenSsl(dir, keyIds),
                    MatrixIssuer.StrongSwanPki => StrongSwan(dir, keyIds),
                    MatrixIssuer.Certgate => OurCa(dir, keyIds),
                    _ => throw new ArgumentOutOfRangeException(nameof(issuer)),
                };
                _cas[(issuer, keyIds)] = ca;
            }
            return ca;
        }
    }

    public void Dispose() => _dir.Dispose();

    private static string NewKey(string dir, string name)
    {
        string key = Path.Combine(dir, name + ".key");
        ExternalTool.Check("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key);
        return key;
    }

    private static MatrixCa OpenSsl(string dir, MatrixKeyIds keyIds)
    {
        string P(string name) => Path.Combine(dir, name);
        // OpenSSL 3 adds subjectKeyIdentifier and authorityKeyIdentifier on its own; "none" is how to leave them out.
        string ski = keyIds == MatrixKeyIds.Present ? "hash" : "none";
        string aki = keyIds == MatrixKeyIds.Present ? "keyid:always" : "none";
        System.IO.File.WriteAllText(P("index.txt"), "");
        System.IO.File.WriteAllText(P("crlnumber"), "01\n");
        System.IO.File.WriteAllText(P("openssl.cnf"), $"""
            [ ca ]
            default_ca = CA_default

            [ CA_default ]
            database = {P("index.txt")}
            crlnumber = {P("crlnumber")}
            default_md = sha256
            default_crl_days = 7
            {(keyIds == MatrixKeyIds.Present ? "crl_extensions = crl_ext" : "")}

            [ req ]
            distinguished_name = req_dn
            prompt = no

            [ req_dn ]
            CN = unused

            [ ca_ext ]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = {ski}
            authorityKeyIdentifier = {aki}

            [ leaf_ext ]
            basicConstraints = critical,CA:FALSE
            keyUsage = critical,digitalSignature
            subjectKeyIdentifier = {ski}
            authorityKeyIdentifier = {aki}

            [ crl_ext ]
            authorityKeyIdentifier = keyid:always

            """);
        var req = new List<string> { "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", P("ca.key"), "-out", P("ca.pem"),
            "-subj", "/O=Certgate/CN=Matrix OpenSSL CA", "-days", "30" };
        if (keyIds != MatrixKeyIds.CaOnly)
        {
            // CaOnly is the bare `openssl req -x509` of issue #13: the default configuration and its v3_ca section.
            req.AddRange(["-config", P("openssl.cnf"), "-extensions", "ca_ext"]);
        }
        ExternalTool.Check("openssl", req.ToArray());

        string Issue(string name, string serial)
        {
            string key = NewKey(dir, name);
            ExternalTool.Check("openssl", "req", "-new", "-key", key, "-out", P(name + ".csr"), "-subj", $"/O=Certgate/CN={name}.example.net");
            var x509 = new List<string> { "x509", "-req", "-in", P(name + ".csr"), "-CA", P("ca.pem"), "-CAkey", P("ca.key"),
                "-set_serial", serial, "-days", "10", "-out", P(name + ".pem") };
            if (keyIds != MatrixKeyIds.CaOnly)
            {
                x509.AddRange(["-extfile", P("openssl.cnf"), "-extensions", "leaf_ext"]);
            }
            ExternalTool.Check("openssl", x509.ToArray());
            return key;
        }
        string goodKey = Issue("good", "0x1001");
        string revokedKey = Issue("revoked", "0x1002");
        // `ca -revoke` adds a certificate that `x509 -req` issued (so it is not in the index yet) and marks it revoked.
        ExternalTool.Check("openssl", "ca", "-config", P("openssl.cnf"), "-keyfile", P("ca.key"), "-cert", P("ca.pem"),
            "-revoke", P("revoked.pem"), "-crl_reason", "keyCompromise");
        ExternalTool.Check("openssl", "ca", "-gencrl", "-config", P("openssl.cnf"), "-keyfile", P("ca.key"), "-cert", P("ca.pem"),
            "-out", P("crl.pem"));
        return new MatrixCa(P("ca.pem"), P("crl.pem"), P("good.pem"), goodKey, P("revoked.pem"), revokedKey);
    }

    private static MatrixCa StrongSwan(string dir, MatrixKeyIds keyIds)
    {
        // pki cannot leave key identifiers out: --self --ca always writes subjectKeyIdentifier, --issue always writes
        // authorityKeyIdentifier (and no subjectKeyIdentifier for an end entity), --signcrl always writes
        // authorityKeyIdentifier. So strongSwan has the Present row only.
        if (keyIds != MatrixKeyIds.Present)
        {
            throw new ArgumentOutOfRangeException(nameof(keyIds), keyIds, "strongSwan pki always writes key identifiers");
        }
        string P(string name) => Path.Combine(dir, name);
        System.IO.File.WriteAllText(P("ca.key"), Pki("--gen", "--type", "rsa", "--size", "2048", "--outform", "pem"));
        System.IO.File.WriteAllText(P("ca.pem"), Pki("--self", "--ca", "--in", P("ca.key"), "--dn", "O=Certgate, CN=Matrix strongSwan CA",
            "--lifetime", "30", "--outform", "pem"));
        string Issue(string name, string serial)
        {
            string key = NewKey(dir, name);
            System.IO.File.WriteAllText(P(name + ".pem"), Pki("--issue", "--cacert", P("ca.pem"), "--cakey", P("ca.key"), "--in", key,
                "--type", "priv", "--dn", $"O=Certgate, CN={name}.example.net", "--san", $"{name}.example.net", "--serial", serial,
                "--lifetime", "10", "--outform", "pem"));
            return key;
        }
        string goodKey = Issue("good", "1001");
        string revokedKey = Issue("revoked", "1002");
        System.IO.File.WriteAllText(P("crl.pem"), Pki("--signcrl", "--cacert", P("ca.pem"), "--cakey", P("ca.key"), "--lifetime", "7",
            "--reason", "key-compromise", "--cert", P("revoked.pem"), "--outform", "pem"));
        return new MatrixCa(P("ca.pem"), P("crl.pem"), P("good.pem"), goodKey, P("revoked.pem"), revokedKey);
    }

    private static string Pki(params string[] args)
    {
        ExternalTool.Result r = ExternalTool.Run("pki", args);
        Assert.True(r.ExitCode == 0 && r.StdOut.Length > 0, $"pki {string.Join(' ', args)} exited {r.ExitCode}:\n{r.StdErr}");
        return r.StdOut;
    }

    private static MatrixCa OurCa(string dir, MatrixKeyIds keyIds)
    {
        // The Certgate CA always writes subjectKeyIdentifier and authorityKeyIdentifier (RFC 5280 §4.2.1.1/§4.2.1.2
        // MUSTs; its issuance pipeline has no switch to drop them) and an authorityKeyIdentifier in every CRL, so
        // it has the Present row only.
        if (keyIds != MatrixKeyIds.Present)
        {
            throw new ArgumentOutOfRangeException(nameof(keyIds), keyIds, "the Certgate CA always writes key identifiers");
        }
        string P(string name) => Path.Combine(dir, name);
        string caDir = P("ca");
        Ca("ca", "init", "--dir", caDir, "--subject", "CN=Matrix Certgate CA,O=Certgate", "--key", "rsa:2048");
        string Issue(string name)
        {
            string key = NewKey(dir, name);
            ExternalTool.Check("openssl", "req", "-new", "-key", key, "-out", P(name + ".csr"), "-subj", $"/O=Certgate/CN={name}.example.net",
                "-addext", $"subjectAltName=DNS:{name}.example.net");
            string output = Ca("ca", "sign", "--dir", caDir, "--csr", P(name + ".csr"), "--out", P(name + ".pem"));
            Match m = Regex.Match(output, "^Certificate ([0-9A-F]+) issued to", RegexOptions.Multiline);
            Assert.True(m.Success, output);
            return m.Groups[1].Value;
        }
        string goodSerial = Issue("good");
        string revokedSerial = Issue("revoked");
        Assert.NotEqual(goodSerial, revokedSerial);
        Ca("ca", "revoke", "--dir", caDir, "--serial", revokedSerial, "--reason", "keyCompromise");
        Ca("ca", "crl", "--dir", caDir, "--out", P("crl.pem"));
        return new MatrixCa(Path.Combine(caDir, "ca.crt"), P("crl.pem"), P("good.pem"), P("good.key"), P("revoked.pem"), P("revoked.key"));

        string Ca(params string[] args)
        {
            var o = new StringWriter();
            var e = new StringWriter();
            int code = CertgateCli.Run(["--state", P("ca-state"), .. args], new StringReader(""), o, e);
            Assert.True(code == 0, $"certgate {string.Join(' ', args)} exited {code}: {e}{o}");
            return o.ToString();
        }
    }
}
