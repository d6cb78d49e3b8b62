using System.Formats.Asn1;

namespace Certgate.Pki.Encoding;

/// <summary>What a PKI input file holds, for DER/PEM autodetection.</summary>
public enum PkiObjectKind
{
    Certificate,
    CertificateRequest,
    PrivateKey,
    Crl,
}

/// <summary>
/// Reads PKI files with a size limit and turns PEM-or-DER input into the DER of the expected object.
/// </summary>
public static class PkiInput
{
    /// <summary>The largest certificate, key or CSR file accepted (1 MiB).</summary>
    public const long MaxObjectFileSize = 1024 * 1024;

    /// <summary>The largest CRL file accepted (64 MiB; CRLs of big CAs are large).</summary>
    public const long MaxCrlFileSize = 64L * 1024 * 1024;

    private static readonly string[] CertificateLabels = ["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"];
    private static readonly string[] RequestLabels = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"];
    private static readonly string[] CrlLabels = ["X509 CRL"];

    /// <summary>
    /// Reads <paramref name="path"/> whole, refusing it before reading when it is larger than
    /// <paramref name="maxBytes"/> (a 100 MB file is refused from its size alone; a pipe or device is read at
    /// most <paramref name="maxBytes"/> + 1 bytes).
    /// </summary>
    /// <exception cref="PkiFormatException">The file is empty or too large.</exception>
    /// <exception cref="IOException">The file cannot be read (missing, permissions: the caller words it).</exception>
    public static byte[] ReadFile(string path, long maxBytes = MaxObjectFileSize)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        if (stream.CanSeek && stream.Length > maxBytes)
        {
            throw new PkiFormatException($"file is too large ({stream.Length} bytes; the limit is {maxBytes} bytes)");
        }
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[64 * 1024];
        int n;
        while ((n = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            if (buffer.Length + n > maxBytes)
            {
                throw new PkiFormatException($"file is too large (more than {maxBytes} bytes)");
            }
            buffer.Write(chunk, 0, n);
        }
        if (buffer.Length == 0)
        {
            throw new PkiFormatException("file is empty");
        }
        return buffer.ToArray();
    }

    /// <summary>The DER of every certificate in <paramref name="data"/> (PEM with one or more blocks, or one DER certificate).</summary>
    /// <exception cref="PkiFormatException">No certificate found, or something else (a key, a CSR) where a certificate was expected.</exception>
    public static IReadOnlyList<byte[]> DecodeCertificates(ReadOnlySpan<byte> data) => Decode(data, PkiObjectKind.Certificate, many: true);

    /// <summary>The DER of the one certificate in <paramref name="data"/> (the first when a PEM bundle holds several).</summary>
    public static byte[] DecodeCertificate(ReadOnlySpan<byte> data) => Decode(data, PkiObjectKind.Certificate, many: false)[0];

    /// <summary>The DER of the PKCS#10 request in <paramref name="data"/>.</summary>
    public static byte[] DecodeCertificateRequest(ReadOnlySpan<byte> data) => Decode(data, PkiObjectKind.CertificateRequest, many: false)[0];

    /// <summary>The DER of the CRL in <paramref name="data"/> (bytes only; parsing is the Revocation namespace's job).</summary>
    public static byte[] DecodeCrl(ReadOnlySpan<byte> data) => Decode(data, PkiObjectKind.Crl, many: false)[0];

    private static List<byte[]> Decode(ReadOnlySpan<byte> data, PkiObjectKind kind, bool many)
    {
        if (data.IsEmpty)
        {
            throw new PkiFormatException("file is empty");
        }
        string what = Describe(kind);
        if (Pem.LooksLikePem(data))
        {
            IReadOnlyList<PemBlock> blocks = Pem.ReadAll(data);
            string[] labels = kind switch
            {
                PkiObjectKind.Certificate => CertificateLabels,
                PkiObjectKind.CertificateRequest => RequestLabels,
                PkiObjectKind.Crl => CrlLabels,
                _ => throw new ArgumentOutOfRangeException(nameof(kind)),
            };
            var found = blocks.Where(b => labels.Contains(b.Label, StringComparer.Ordinal)).Select(b => b.Data).ToList();
            if (found.Count == 0)
            {
                string seen = blocks.Count == 0 ? "no PEM block" : "PEM '" + string.Join("', '", blocks.Select(b => b.Label).Distinct()) + "'";
                throw new PkiFormatException($"expected {what} but the file holds {seen}");
            }
            foreach (byte[] der in found)
            {
                CheckDerShape(der, kind, what);
            }
            return many ? found : [found[0]];
        }

        byte[] bytes = data.ToArray();
        CheckDerShape(bytes, kind, what);
        return [bytes];
    }

    /// <summary>
    /// Checks that DER bytes are one complete SEQUENCE shaped like the expected object, so a key given
    /// where a certificate belongs is named as such instead of failing deep inside a parser.
    /// </summary>
    private static void CheckDerShape(byte[] der, PkiObjectKind kind, string what)
    {
        PkiObjectKind? actual = Classify(der);
        if (actual is null)
        {
            throw new PkiFormatException($"expected {what} but the file is neither PEM nor DER");
        }
        if (actual != kind)
        {
            throw new PkiFormatException($"expected {what} but the file holds {Describe(actual.Value)}");
        }
    }

    /// <summary>Guesses the kind of a DER object from its outer structure; null when it is not DER at all.</summary>
    internal static PkiObjectKind? Classify(ReadOnlySpan<byte> der)
    {
        try
        {
            var outer = new AsnReader(der.ToArray(), AsnEncodingRules.DER);
            AsnReader seq = outer.ReadSequence();
            if (outer.HasData)
            {
                return null;
            }
            Asn1Tag first = seq.PeekTag();
            if (first.HasSameClassAndValue(Asn1Tag.Integer))
            {
                return PkiObjectKind.PrivateKey; // PKCS#8 / PKCS#1 / SEC1 start with a version INTEGER
            }
            if (first.HasSameClassAndValue(Asn1Tag.Sequence))
            {
                AsnReader inner = seq.ReadSequence();
                if (!seq.HasData)
                {
                    return null;
                }
                if (seq.PeekTag().HasSameClassAndValue(Asn1Tag.PrimitiveOctetString))
                {
                    return PkiObjectKind.PrivateKey; // EncryptedPrivateKeyInfo
                }
                Asn1Tag innerFirst = inner.PeekTag();
                if (innerFirst.HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
                {
                    return PkiObjectKind.Certificate; // [0] version
                }
                if (innerFirst.HasSameClassAndValue(Asn1Tag.Integer))
                {
                    // TBSCertificate (v1: serial), CertificationRequestInfo (version 0 then Name), TBSCertList (v2: version then AlgId).
                    inner.ReadIntegerBytes();
                    Asn1Tag second = inner.PeekTag();
                    if (second.HasSameClassAndValue(Asn1Tag.Sequence))
                    {
                        AsnReader probe = inner.ReadSequence();
                        return probe.PeekTag().HasSameClassAndValue(Asn1Tag.ObjectIdentifier)
                            ? (inner.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence) && LooksLikeTime(inner) ? PkiObjectKind.Crl : PkiObjectKind.Certificate)
                            : PkiObjectKind.CertificateRequest;
                    }
                    return null;
                }
                if (innerFirst.HasSameClassAndValue(Asn1Tag.Sequence))
                {
                    return PkiObjectKind.Crl; // v1 CRL: signature AlgId first
                }
            }
            return null;
        }
        catch (AsnContentException)
        {
            return null;
        }
    }

    // After a v2 CRL's signature AlgId comes the issuer Name and then a time; a certificate has issuer then a Validity SEQUENCE.
    private static bool LooksLikeTime(AsnReader afterAlgId)
    {
        AsnReader copy = afterAlgId.Clone();
        copy.ReadSequence();
        if (!copy.HasData)
        {
            return false;
        }
        Asn1Tag t = copy.PeekTag();
        return t.HasSameClassAndValue(Asn1Tag.UtcTime) || t.HasSameClassAndValue(Asn1Tag.GeneralizedTime);
    }

    internal static string Describe(PkiObjectKind kind) => kind switch
    {
        PkiObjectKind.Certificate => "a certificate",
        PkiObjectKind.CertificateRequest => "a certificate request (PKCS#10)",
        PkiObjectKind.PrivateKey => "a private key",
        PkiObjectKind.Crl => "a CRL",
        _ => kind.ToString(),
    };
}
