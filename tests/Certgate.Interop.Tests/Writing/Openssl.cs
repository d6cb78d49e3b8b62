using System.Security.Cryptography;
using Certgate.Interop.Tests.Tools;

namespace Certgate.Interop.Tests.Writing;

/// <summary>Small helpers shared by the writing interop tests: files in, DER out.</summary>
internal static class Openssl
{
    /// <summary>Runs openssl and asserts success.</summary>
    public static ExternalTool.Result Check(params string[] args) => ExternalTool.Check("openssl", args);

    /// <summary>Runs openssl without asserting the exit code.</summary>
    public static ExternalTool.Result Run(params string[] args) => ExternalTool.Run("openssl", args);

    /// <summary>The DER SubjectPublicKeyInfo openssl derives from the private key in <paramref name="keyFile"/>.</summary>
    public static byte[] PublicKeyOf(TempDirectory dir, string keyFile, string? password = null)
    {
        string outFile = dir.File(Path.GetFileName(keyFile) + "." + Guid.NewGuid().ToString("N") + ".spki.der");
        var args = new List<string> { "pkey", "-in", keyFile, "-pubout", "-outform", "DER", "-out", outFile };
        if (password is not null)
        {
            args.AddRange(["-passin", "pass:" + password]);
        }
        Check(args.ToArray());
        return File.ReadAllBytes(outFile);
    }

    /// <summary>Reads the first PEM block of <paramref name="label"/> from a file.</summary>
    public static byte[] PemBody(string file, string label)
    {
        string text = File.ReadAllText(file);
        foreach (var block in Certgate.Pki.Encoding.Pem.ReadAll(text))
        {
            if (block.Label == label)
            {
                return block.Data;
            }
        }
        throw new InvalidOperationException($"{file} has no PEM '{label}' block");
    }

    /// <summary>Writes PEM text to a file in <paramref name="dir"/> and returns its path.</summary>
    public static string Write(TempDirectory dir, string name, string text)
    {
        string path = dir.File(name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Writes bytes to a file in <paramref name="dir"/> and returns its path.</summary>
    public static string Write(TempDirectory dir, string name, byte[] data)
    {
        string path = dir.File(name);
        File.WriteAllBytes(path, data);
        return path;
    }

    /// <summary>Makes openssl verify a signature made by our key over random data with its public key.</summary>
    public static void AssertOpensslVerifiesSignature(TempDirectory dir, Certgate.Pki.Keys.KeyPair key, string publicKeyPem)
    {
        byte[] data = RandomNumberGenerator.GetBytes(64);
        byte[] signature = key.Rsa is { } rsa
            ? rsa.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : key.Ecdsa!.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        string id = Guid.NewGuid().ToString("N");
        string dataFile = Write(dir, id + ".data", data);
        string sigFile = Write(dir, id + ".sig", signature);
        ExternalTool.Result r = Run("dgst", "-sha256", "-verify", publicKeyPem, "-signature", sigFile, dataFile);
        Assert.True(r.ExitCode == 0 && r.StdOut.Contains("Verified OK", StringComparison.Ordinal),
            $"openssl did not verify a signature made with the imported key:\n{r.Combined}");
    }
}
