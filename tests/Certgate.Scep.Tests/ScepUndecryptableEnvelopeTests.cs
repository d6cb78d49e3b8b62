using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Certgate.Ca;
using Certgate.Ca.Scep;
using Certgate.Ca.Settings;
using Certgate.Ca.Sqlite;

namespace Certgate.Scep.Tests;

/// <summary>
/// No padding oracle (issue #14 §4): every pkcsPKIEnvelope the CA cannot decrypt or read — broken CBC padding, a
/// random key-transport blob, garbage, another recipient — gets the same CertRep FAILURE (status, failInfo,
/// failInfoText) and the same log line shape, through the real <see cref="ScepService"/> over a SQLite CA.
/// </summary>
public sealed partial class ScepUndecryptableEnvelopeTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("certgate-scep-oracle-").FullName;
    private readonly StringWriter _log = new();
    private SqliteCaStore? _store;
    private ScepService? _service;

    public async Task InitializeAsync()
    {
        _store = await SqliteCaStore.OpenAsync(Path.Combine(_dir, "ca.db"));
        _service = new ScepService(new CertificateAuthority(CaSettings.CreateDefault(), ScepTestPki.Ca, _store), _log);
    }

    public async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [GeneratedRegex(@"txid [0-9A-F]+|\(detail: .*\)$")]
    private static partial Regex Variable();

    private static X509Certificate2 CaPublic => X509CertificateLoader.LoadCertificate(ScepTestPki.Ca.RawData);

    /// <summary>A PKCSReq whose envelope <paramref name="tamper"/> rewrote, signed again by the client (as an attacker
    /// re-wrapping a captured envelope would).</summary>
    private static (ScepOutgoingRequest Request, ScepClientCredentials Credentials) Tampered(Func<byte[], byte[], byte[]> tamper, X509Certificate2? recipient = null)
    {
        (RSA key, X509Certificate2 signer, byte[] csr) = ScepTestPki.Client();
        key.Dispose();
        var creds = new ScepClientCredentials(signer, CaPublic);
        byte[] envelope = tamper(ScepMessageWriter.Envelope(csr, recipient ?? CaPublic, ScepCipher.Aes256Cbc), csr);
        string txid = ScepClientMessages.TransactionIdFor(CertificateRequest.LoadSigningRequest(csr, HashAlgorithmName.SHA256,
            CertificateRequestLoadOptions.SkipSignatureValidation).PublicKey);
        byte[] nonce = ScepMessageWriter.NewNonce();
        byte[] der = ScepMessageWriter.Sign(envelope, signer, "2.16.840.1.101.3.4.2.1", ScepMessageType.PkcsReq, txid, nonce);
        return (new ScepOutgoingRequest(der, ScepMessageType.PkcsReq, txid, nonce), creds);
    }

    /// <summary>Makes the last plaintext octet 0x00, never valid PKCS#7 padding: XOR the next-to-last ciphertext block
    /// (the encryptedContent is the envelope's last field, primitive, so its octets end the DER).</summary>
    private static byte[] BreakPadding(byte[] envelope, byte[] csr)
    {
        byte pad = (byte)(16 - (csr.Length % 16));
        byte[] copy = envelope.ToArray();
        copy[^17] ^= pad;
        return copy;
    }

    /// <summary>Replaces the RSA-encrypted content-encryption key with random octets of the same length.</summary>
    private static byte[] RandomKeyTransport(byte[] envelope, byte[] csr)
    {
        var cms = new EnvelopedCms();
        cms.Decode(envelope);
        byte[] encryptedKey = cms.RecipientInfos[0].EncryptedKey;
        byte[] copy = envelope.ToArray();
        int at = copy.AsSpan().IndexOf(encryptedKey);
        Assert.True(at > 0);
        RandomNumberGenerator.Fill(copy.AsSpan(at, encryptedKey.Length));
        return copy;
    }

    private async Task<(ScepPkiStatus Status, ScepFailInfo? FailInfo, string? Text, string LogLine)> SendAsync((ScepOutgoingRequest Request, ScepClientCredentials Credentials) m)
    {
        int before = _log.ToString().Length;
        ScepPkiOperationAnswer answer = await _service!.PkiOperationAsync(m.Request.Der, "192.0.2.7", CancellationToken.None);
        Assert.NotNull(answer.CertRep);
        ScepCertRep rep = ScepCertRep.Read(answer.CertRep, m.Request, m.Credentials);
        Assert.Equal(answer.Status, rep.Status);
        string line = _log.ToString()[before..].TrimEnd('\n', '\r');
        Assert.DoesNotContain('\n', line);
        return (rep.Status, rep.FailInfo, rep.FailInfoText, line);
    }

    [Fact]
    public async Task Broken_padding_and_random_key_transport_get_the_same_answer_and_log_shape()
    {
        var padding = await SendAsync(Tampered(BreakPadding));
        var keyTransport = await SendAsync(Tampered(RandomKeyTransport));
        var garbage = await SendAsync(Tampered((env, _) => RandomNumberGenerator.GetBytes(env.Length)));
        var otherRecipient = await SendAsync(Tampered((env, _) => env, X509CertificateLoader.LoadCertificate(ScepTestPki.CreateCa("CN=Elsewhere").RawData)));

        Assert.Equal(ScepPkiStatus.Failure, padding.Status);
        Assert.Equal(ScepFailInfo.BadMessageCheck, padding.FailInfo);
        Assert.Equal(ScepFormatException.UndecryptableText, padding.Text);
        foreach (var other in new[] { keyTransport, garbage, otherRecipient })
        {
            Assert.Equal((padding.Status, padding.FailInfo, padding.Text), (other.Status, other.FailInfo, other.Text));
            Assert.Equal(Variable().Replace(padding.LogLine, "…"), Variable().Replace(other.LogLine, "…"));
        }
        Assert.StartsWith("scep 192.0.2.7 PkcsReq txid ", padding.LogLine);
        Assert.Contains(": Failure BadMessageCheck: pkcsPKIEnvelope cannot be decrypted (detail: ", padding.LogLine);
    }

    [Fact]
    public async Task An_envelope_that_decrypts_to_garbage_answers_like_one_with_bad_padding()
    {
        // Valid padding around a payload that is no PKCS#10: what a padding oracle would tell apart from bad padding.
        var garbagePayload = await SendAsync(Tampered((_, csr) => ScepMessageWriter.Envelope(RandomNumberGenerator.GetBytes(csr.Length), CaPublic, ScepCipher.Aes256Cbc)));
        var padding = await SendAsync(Tampered(BreakPadding));
        Assert.Equal((padding.Status, padding.FailInfo, padding.Text), (garbagePayload.Status, garbagePayload.FailInfo, garbagePayload.Text));
        Assert.Equal(Variable().Replace(padding.LogLine, "…"), Variable().Replace(garbagePayload.LogLine, "…"));
    }
}
