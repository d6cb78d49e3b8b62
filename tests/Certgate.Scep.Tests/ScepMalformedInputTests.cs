using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Scep.Tests;

/// <summary>Hostile input: every failure is a ScepFormatException, never another exception.</summary>
public sealed class ScepMalformedInputTests
{
    private static (ScepOutgoingRequest Req, ScepClientCredentials Creds, byte[] Rep) Valid()
    {
        (RSA key, X509Certificate2 signer, byte[] csr) = ScepTestPki.Client();
        var creds = new ScepClientCredentials(signer, X509CertificateLoader.LoadCertificate(ScepTestPki.Ca.RawData));
        ScepOutgoingRequest req = ScepClientMessages.Enrollment(csr, null, creds);
        ScepServerRequest s = ScepServerRequest.Parse(req.Der, ScepTestPki.Ca);
        byte[] rep = CertRepBuilder.Build(s.Message, s.Cipher, ScepTestPki.Ca, ScepReply.Success(ScepTestPki.Issue(csr)));
        GC.KeepAlive(key);
        return (req, creds, rep);
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x30 })]
    [InlineData(new byte[] { 0x30, 0x80 })]
    [InlineData(new byte[] { 0x30, 0x84, 0xff, 0xff, 0xff, 0xff })]
    [InlineData(new byte[] { 0x04, 0x02, 0x01, 0x02 })]
    public void Junk_is_a_format_error(byte[] input)
    {
        Assert.Throws<ScepFormatException>(() => ScepServerRequest.Parse(input, ScepTestPki.Ca));
    }

    [Fact]
    public void Every_truncation_is_a_format_error()
    {
        (ScepOutgoingRequest req, ScepClientCredentials creds, byte[] rep) = Valid();
        for (int len = 0; len < req.Der.Length; len += 7)
        {
            Assert.Throws<ScepFormatException>(() => ScepServerRequest.Parse(req.Der.AsSpan(0, len), ScepTestPki.Ca));
        }
        for (int len = 0; len < rep.Length; len += 7)
        {
            Assert.Throws<ScepFormatException>(() => ScepCertRep.Read(rep.AsSpan(0, len), req, creds));
        }
    }

    [Fact]
    public void Random_bytes_are_format_errors()
    {
        var rng = new Random(8894);
        for (int i = 0; i < 500; i++)
        {
            byte[] b = new byte[rng.Next(0, 600)];
            rng.NextBytes(b);
            if (i % 2 == 0 && b.Length > 4)
            {
                b[0] = 0x30; // look like a SEQUENCE so the parser goes deeper
            }
            Assert.Throws<ScepFormatException>(() => ScepServerRequest.Parse(b, ScepTestPki.Ca));
        }
    }

    /// <summary>CertRep mutants the client reads. Request mutants (100,000, from requests captured from real clients,
    /// through the server core) are in <see cref="ScepCapturedMutationTests"/>.</summary>
    private const int Mutations = 50_000;

    [Fact]
    public void Mutated_CertReps_never_throw_anything_but_format_errors()
    {
        (ScepOutgoingRequest req, ScepClientCredentials creds, byte[] rep) = Valid();
        var rng = new Random(3);
        int accepted = 0, refused = 0;
        for (int i = 0; i < Mutations; i++)
        {
            byte[] m = rep.ToArray();
            int flips = 1 + rng.Next(4);
            for (int f = 0; f < flips; f++)
            {
                int at = rng.Next(m.Length);
                switch (rng.Next(3))
                {
                    case 0: m[at] ^= (byte)(1 << rng.Next(8)); break;
                    case 1: m[at] = (byte)rng.Next(256); break;
                    default: m[at] = rng.Next(2) == 0 ? (byte)0x00 : (byte)0xff; break;
                }
            }
            try
            {
                ScepCertRep.Read(m, req, creds);
                accepted++;
            }
            catch (ScepFormatException)
            {
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"mutation {i} (CertRep) threw {e.GetType().Name}: {e.Message}\n{Convert.ToHexString(m)}");
            }
        }
        // Flips in the (unsigned) certificate set or padding may leave a message valid; most must be refused.
        Assert.True(refused > Mutations * 5 / 6, $"refused {refused}, accepted {accepted}");
    }
}
