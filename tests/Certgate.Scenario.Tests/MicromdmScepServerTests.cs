using System.Diagnostics;
using Certgate.Cli;

namespace Certgate.Scenario.Tests;

/// <summary>
/// The gateway enrolls against a CA we did not write: micromdm <c>scepserver</c> (which cannot bind to one address,
/// so it runs inside a namespace of its own, reached over a veth pair). CA certificate by SCEP, local certificate
/// with its static challenge; its replies are SHA-1 signed and single-DES enveloped; the result verifies with OpenSSL.
/// </summary>
public sealed class MicromdmScepServerTests : IDisposable
{
    private readonly NetNamespaces _net = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("certgate-micromdm-").FullName;

    public void Dispose()
    {
        _net.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private (int Code, string Out) Cli(string state, string stdin, params string[] args)
    {
        var o = new StringWriter();
        int code = CertgateCli.Run(["--state", state, .. args], new StringReader(stdin), o, o);
        return (code, o.ToString());
    }

    [Fact]
    public void Gateway_EnrollsAgainstMicromdmScepserver()
    {
        string depot = Path.Combine(_dir, "depot");
        Directory.CreateDirectory(depot);
        string tmpKey = Path.Combine(_dir, "ca.tmp.key");
        NetNamespaces.Run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", tmpKey, "-out", Path.Combine(depot, "ca.pem"), "-days", "30",
            "-subj", "/C=CH/O=Test SCEP/CN=Test SCEP CA", "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign,cRLSign",
            "-addext", "basicConstraints=critical,CA:TRUE");
        // scepserver wants an encrypted PKCS#1 PEM key.
        NetNamespaces.Run("openssl", "rsa", "-in", tmpKey, "-traditional", "-des3", "-passout", "pass:capass", "-out", Path.Combine(depot, "ca.key"));

        string ns = _net.Create("s");
        string hostEnd = $"h{_net.Tag}";
        NetNamespaces.Run("ip", "link", "add", hostEnd, "type", "veth", "peer", "name", $"n{_net.Tag}", "netns", ns);
        try
        {
            NetNamespaces.Run("ip", "addr", "add", "10.252.7.1/30", "dev", hostEnd);
            NetNamespaces.Run("ip", "link", "set", hostEnd, "up");
            NetNamespaces.Run("ip", "-n", ns, "addr", "add", "10.252.7.2/30", "dev", $"n{_net.Tag}");
            NetNamespaces.Run("ip", "-n", ns, "link", "set", $"n{_net.Tag}", "up");
            Process server = _net.Start(ns, "scepserver", "-depot", depot, "-port", "18090", "-capass", "capass", "-challenge", "secret123", "-allowrenew", "0");
            _net.WaitFor(server, "listening", 20);

            string state = Path.Combine(_dir, "gw1");
            (int code, string output) = Cli(state, """
                set security pki ca-profile micromdm ca-identity micromdm
                set security pki ca-profile micromdm enrollment url http://10.252.7.2:18090/scep
                set security pki ca-profile micromdm revocation-check disable
                commit
                """, "configure");
            Assert.True(code == 0, output);
            (code, output) = Cli(state, "", "--yes", "request", "security", "pki", "ca-certificate", "enroll", "ca-profile", "micromdm");
            Assert.True(code == 0, output);
            Assert.Contains("Test SCEP CA", output);
            (code, output) = Cli(state, "", "request", "security", "pki", "generate-key-pair", "certificate-id", "gw1");
            Assert.True(code == 0, output);
            (code, output) = Cli(state, "", "request", "security", "pki", "local-certificate", "enroll", "certificate-id", "gw1", "ca-profile", "micromdm",
                "challenge-password", "secret123", "subject", "CN=gw1.example.net,O=Certgate,C=CH");
            Assert.True(code == 0, $"{output}\nscepserver: {_net.OutputOf(server)}");
            Assert.Contains("Local certificate gw1 loaded successfully", output);
            string verify = NetNamespaces.Run("openssl", "verify", "-CAfile", Path.Combine(depot, "ca.pem"), Path.Combine(state, "pki", "local", "gw1.pem"));
            Assert.Contains(": OK", verify);
            (code, output) = Cli(state, "", "request", "security", "pki", "local-certificate", "verify", "certificate-id", "gw1");
            Assert.True(code == 0, output);
        }
        finally
        {
            try
            {
                NetNamespaces.Run("ip", "link", "del", hostEnd);
            }
            catch (InvalidOperationException)
            {
                // Gone with the namespace already.
            }
        }
    }
}
