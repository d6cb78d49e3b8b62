using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using Certgate.Cli;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Ca;

/// <summary>
/// The CA as an operator runs it, against openssl: <c>certgate ca init</c>, <c>ca sign</c> of an openssl-made CSR
/// (verifies with <c>openssl verify</c>), <c>ca revoke</c>, then <c>ca serve</c> on a free port: the CRL fetched over
/// HTTP is byte-identical to what <c>ca crl</c> wrote, and makes <c>openssl verify -crl_check</c> fail with
/// "certificate revoked".
/// </summary>
public sealed class CaCliOpensslInteropTests : IDisposable
{
    private readonly TempDirectory _tmp = new("certgate-ca-interop-");

    public void Dispose() => _tmp.Dispose();

    private string CaDir => _tmp.File("ca");

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CertgateCli.Run(args, new StringReader(""), o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string Ok(params string[] args)
    {
        (int code, string output, string err) = Cli(args);
        Assert.True(code == 0, $"certgate {string.Join(' ', args)} exited {code}: {err}{output}");
        return output;
    }

    [Theory]
    [InlineData("rsa:2048", "rsa:2048")]
    [InlineData("ecdsa:p384", "ec:p-256")]
    public async Task OpensslCsr_SignedByCaSign_Verifies_ThenRevoked_FailsCrlCheckWithTheCrlServedOverHttp(string caKey, string leafKey)
    {
        Ok("ca", "init", "--dir", CaDir, "--subject", "CN=Interop Root CA,O=Certgate Test", "--key", caKey, "--days", "365");
        string caCrt = Path.Combine(CaDir, "ca.crt");

        // 1. openssl makes the key and CSR (the Junos generate-certificate-request flow, with a real peer's encoder).
        string[] newKey = leafKey.StartsWith("rsa", StringComparison.Ordinal)
            ? ["-newkey", "rsa:2048"]
            : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
        ExternalTool.Check("openssl", ["req", "-new", .. newKey, "-nodes", "-keyout", _tmp.File("gw.key"),
            "-subj", "/O=Certgate Test/CN=gw1.example.net", "-addext", "subjectAltName=DNS:gw1.example.net,IP:192.0.2.1",
            "-out", _tmp.File("gw.csr")]);

        string signed = Ok("ca", "sign", "--dir", CaDir, "--csr", _tmp.File("gw.csr"), "--out", _tmp.File("gw.crt"));
        string serial = Regex.Match(signed, "^Certificate ([0-9A-F]+) issued", RegexOptions.Multiline).Groups[1].Value;
        Assert.NotEmpty(serial);

        ExternalTool.Result verify = ExternalTool.Check("openssl", "verify", "-CAfile", caCrt, _tmp.File("gw.crt"));
        Assert.Contains(": OK", verify.StdOut);
        ExternalTool.Result text = ExternalTool.Check("openssl", "x509", "-in", _tmp.File("gw.crt"), "-noout", "-serial", "-ext", "subjectAltName");
        Assert.Contains("serial=" + serial, text.StdOut);
        Assert.Contains("DNS:gw1.example.net", text.StdOut);
        Assert.Contains("IP Address:192.0.2.1", text.StdOut);

        // 2. Revoke; the command reissues the CRL; `ca crl` issues the one we compare with.
        Assert.Contains("revoked (keyCompromise)", Ok("ca", "revoke", "--dir", CaDir, "--serial", serial, "--reason", "keyCompromise"));
        Ok("ca", "crl", "--dir", CaDir, "--out", _tmp.File("cli.crl"));
        byte[] cliCrl = File.ReadAllBytes(_tmp.File("cli.crl"));
        ExternalTool.Result crlText = ExternalTool.Check("openssl", "crl", "-inform", "DER", "-in", _tmp.File("cli.crl"), "-noout", "-text");
        Assert.Contains("Serial Number: " + serial, crlText.StdOut);
        Assert.Contains("Key Compromise", crlText.StdOut);

        // 3. Serve on a free port and fetch over HTTP.
        await using (var server = ServeProcess.Start(CaDir))
        {
            Uri baseUri = server.WaitForBaseAddress(TimeSpan.FromSeconds(30));
            using var http = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(20) };

            using HttpResponseMessage crlResponse = await http.GetAsync("crl/ca.crl");
            Assert.Equal(HttpStatusCode.OK, crlResponse.StatusCode);
            Assert.Equal("application/pkix-crl", crlResponse.Content.Headers.ContentType?.MediaType);
            byte[] served = await crlResponse.Content.ReadAsByteArrayAsync();
            Assert.Equal(cliCrl, served);
            EntityTagHeaderValue etag = crlResponse.Headers.ETag!;
            Assert.NotNull(etag);
            Assert.NotNull(crlResponse.Content.Headers.LastModified);
            TimeSpan maxAge = crlResponse.Headers.CacheControl!.MaxAge!.Value;
            Assert.InRange(maxAge, TimeSpan.FromDays(6.9), TimeSpan.FromDays(7));
            File.WriteAllBytes(_tmp.File("http.crl"), served);

            using var conditional = new HttpRequestMessage(HttpMethod.Get, "crl/ca.crl");
            conditional.Headers.IfNoneMatch.Add(etag);
            using HttpResponseMessage notModified = await http.SendAsync(conditional);
            Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);

            string pem = await http.GetStringAsync("crl/ca.pem");
            Assert.Equal(cliCrl, PemDer(pem, "X509 CRL"));

            byte[] caServed = await http.GetByteArrayAsync("ca.crt");
            Assert.Equal(X509Certificate2.CreateFromPem(File.ReadAllText(caCrt)).RawData, caServed);

            using HttpResponseMessage unknown = await http.GetAsync("crl/other.crl");
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            using HttpResponseMessage wrongExt = await http.GetAsync("crl/ca.der");
            Assert.Equal(HttpStatusCode.NotFound, wrongExt.StatusCode);

            // curl too, when present, as a second independent HTTP client.
            ExternalTool.Result curl = ExternalTool.Run("curl", ["-sS", "-f", "-o", _tmp.File("curl.crl"), new Uri(baseUri, "crl/ca.crl").ToString()]);
            Assert.True(curl.ExitCode == 0, curl.Combined);
            Assert.Equal(cliCrl, File.ReadAllBytes(_tmp.File("curl.crl")));

            using var head = new HttpRequestMessage(HttpMethod.Head, "crl/ca.crl");
            using HttpResponseMessage headResponse = await http.SendAsync(head);
            Assert.Equal(HttpStatusCode.OK, headResponse.StatusCode);
            Assert.Equal(cliCrl.Length, headResponse.Content.Headers.ContentLength);
            Assert.Empty(await headResponse.Content.ReadAsByteArrayAsync());

            using var since = new HttpRequestMessage(HttpMethod.Get, "crl/ca.crl");
            since.Headers.IfModifiedSince = crlResponse.Content.Headers.LastModified;
            using HttpResponseMessage notModifiedSince = await http.SendAsync(since);
            Assert.Equal(HttpStatusCode.NotModified, notModifiedSince.StatusCode);

            // A revocation by another process (the operator's shell) reaches the HTTP clients within a second or two.
            ExternalTool.Check("openssl", ["req", "-new", .. newKey, "-nodes", "-keyout", _tmp.File("gw3.key"), "-subj", "/CN=gw3.example.net", "-out", _tmp.File("gw3.csr")]);
            string signed3 = Ok("ca", "sign", "--dir", CaDir, "--csr", _tmp.File("gw3.csr"), "--out", _tmp.File("gw3.crt"));
            string serial3 = Regex.Match(signed3, "^Certificate ([0-9A-F]+) issued", RegexOptions.Multiline).Groups[1].Value;
            Ok("ca", "revoke", "--dir", CaDir, "--serial", serial3, "--reason", "superseded");
            byte[] updated = served;
            for (int i = 0; i < 100 && updated.AsSpan().SequenceEqual(served); i++)
            {
                await Task.Delay(100);
                updated = await http.GetByteArrayAsync("crl/ca.crl");
            }
            Assert.False(updated.AsSpan().SequenceEqual(served), "the served CRL did not change after a revocation");
            File.WriteAllBytes(_tmp.File("http2.crl"), updated);
            ExternalTool.Result revoked3 = ExternalTool.Run("openssl", ["verify", "-crl_check", "-CAfile", caCrt, "-CRLfile", _tmp.File("http2.crl"), _tmp.File("gw3.crt")]);
            Assert.Contains("certificate revoked", revoked3.Combined);

            (int code, string log) = await server.StopAsync(TimeSpan.FromSeconds(30));
            Assert.True(code == 0, log);
            Assert.Contains("stopped", log);
        }

        // 4. openssl with the CRL fetched over HTTP: revoked.
        ExternalTool.Result revoked = ExternalTool.Run("openssl", ["verify", "-crl_check", "-CAfile", caCrt, "-CRLfile", _tmp.File("http.crl"), _tmp.File("gw.crt")]);
        Assert.NotEqual(0, revoked.ExitCode);
        Assert.Contains("certificate revoked", revoked.Combined);

        // and a certificate that was not revoked still passes the same CRL check
        ExternalTool.Check("openssl", ["req", "-new", .. newKey, "-nodes", "-keyout", _tmp.File("gw2.key"), "-subj", "/CN=gw2.example.net", "-out", _tmp.File("gw2.csr")]);
        Ok("ca", "sign", "--dir", CaDir, "--csr", _tmp.File("gw2.csr"), "--out", _tmp.File("gw2.crt"));
        ExternalTool.Check("openssl", "verify", "-crl_check", "-CAfile", caCrt, "-CRLfile", _tmp.File("http.crl"), _tmp.File("gw2.crt"));
    }

    private static byte[] PemDer(string pem, string label)
    {
        Assert.True(PemEncoding.TryFind(pem, out PemFields f), "not PEM: " + pem);
        Assert.Equal(label, pem[f.Label]);
        return Convert.FromBase64String(pem[f.Base64Data]);
    }

    /// <summary><c>certgate ca serve</c> run in-process on a thread, its stdin a pipe the test closes to stop it (the
    /// documented non-interactive stop), its stdout watched for the bound address.</summary>
    private sealed class ServeProcess : IAsyncDisposable
    {
        private readonly BlockingInput _input = new();
        private readonly LockedWriter _out = new();
        private readonly LockedWriter _err = new();
        private readonly Task<int> _run;

        private ServeProcess(string dir)
        {
            _run = Task.Factory.StartNew(
                () => CertgateCli.Run(["ca", "serve", "--dir", dir, "--listen", "http://127.0.0.1:0"], _input, _out, _err),
                CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        public static ServeProcess Start(string dir) => new(dir);

        public Uri WaitForBaseAddress(TimeSpan timeout)
        {
            DateTime end = DateTime.UtcNow + timeout;
            while (DateTime.UtcNow < end)
            {
                Match m = Regex.Match(_out.Text, @"^Listening on (http://\S+)$", RegexOptions.Multiline);
                if (m.Success)
                {
                    return new Uri(m.Groups[1].Value);
                }
                if (_run.IsCompleted)
                {
                    Assert.Fail($"ca serve exited {_run.Result} before listening: {_err.Text}{_out.Text}");
                }
                Thread.Sleep(50);
            }
            Assert.Fail($"ca serve did not print its address within {timeout}: {_err.Text}{_out.Text}");
            return null!;
        }

        public async Task<(int Code, string Log)> StopAsync(TimeSpan timeout)
        {
            _input.Close();
            Task done = await Task.WhenAny(_run, Task.Delay(timeout));
            Assert.True(done == _run, "ca serve did not stop after its input closed");
            return (await _run, _err.Text + _out.Text);
        }

        public async ValueTask DisposeAsync()
        {
            _input.Close();
            await Task.WhenAny(_run, Task.Delay(TimeSpan.FromSeconds(30)));
        }
    }

    /// <summary>A stdin that blocks until closed, then reports end of input.</summary>
    private sealed class BlockingInput : TextReader
    {
        private readonly ManualResetEventSlim _closed = new();

        public override string? ReadLine()
        {
            _closed.Wait();
            return null;
        }

        public override int Read()
        {
            _closed.Wait();
            return -1;
        }

        public override void Close() => _closed.Set();

        protected override void Dispose(bool disposing) => _closed.Set();
    }

    /// <summary>A thread-safe capturing writer.</summary>
    private sealed class LockedWriter : TextWriter
    {
        private readonly StringBuilder _sb = new();

        public override Encoding Encoding => Encoding.UTF8;

        public string Text
        {
            get
            {
                lock (_sb)
                {
                    return _sb.ToString();
                }
            }
        }

        public override void Write(char value)
        {
            lock (_sb)
            {
                _sb.Append(value);
            }
        }

        public override void Write(string? value)
        {
            lock (_sb)
            {
                _sb.Append(value);
            }
        }

        public override void WriteLine(string? value)
        {
            lock (_sb)
            {
                _sb.Append(value).Append('\n');
            }
        }
    }
}
