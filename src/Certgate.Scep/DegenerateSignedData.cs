using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Scep;

/// <summary>
/// The "degenerate certificates-only" PKCS#7 SignedData (RFC 8894 §3.4): no content, no signers, certificates and/or
/// CRLs. Carries the issued certificate inside a CertRep, a CRL for GetCRL, and the CA/RA chain of GetCACert.
/// </summary>
public static class DegenerateSignedData
{
    /// <summary>Upper bound on the certificates or CRLs read from one structure.</summary>
    public const int MaxItems = 64;

    /// <summary>Encodes a ContentInfo holding a certs-only SignedData.</summary>
    /// <param name="certificates">Certificates in the <c>certificates</c> field (may be empty).</param>
    /// <param name="crls">DER CRLs for the <c>crls</c> field (may be null/empty).</param>
    /// <exception cref="ArgumentNullException"><paramref name="certificates"/> is null.</exception>
    public static byte[] Encode(IEnumerable<X509Certificate2> certificates, IEnumerable<byte[]>? crls = null)
    {
        ArgumentNullException.ThrowIfNull(certificates);
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(ScepOids.SignedData);
            using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (w.PushSequence())
            {
                w.WriteInteger(1);
                using (w.PushSetOf())
                {
                }
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier(ScepOids.Data);
                }
                List<X509Certificate2> certs = certificates.ToList();
                if (certs.Count > 0)
                {
                    using (w.PushSetOf(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                    {
                        foreach (X509Certificate2 c in certs)
                        {
                            w.WriteEncodedValue(c.RawData);
                        }
                    }
                }
                List<byte[]> crlList = crls?.ToList() ?? [];
                if (crlList.Count > 0)
                {
                    using (w.PushSetOf(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true)))
                    {
                        foreach (byte[] crl in crlList)
                        {
                            w.WriteEncodedValue(crl);
                        }
                    }
                }
                using (w.PushSetOf())
                {
                }
            }
        }
        return w.Encode();
    }

    /// <summary>Reads the certificates and CRLs of a SignedData ContentInfo (signatures, if any, are not checked).</summary>
    /// <exception cref="ScepFormatException">Not a SignedData ContentInfo, or a certificate does not parse.</exception>
    public static (X509Certificate2Collection Certificates, IReadOnlyList<byte[]> Crls) Decode(ReadOnlySpan<byte> der)
    {
        try
        {
            return DecodeCore(der.ToArray());
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException or ArgumentException or InvalidOperationException)
        {
            throw new ScepFormatException($"certs-only SignedData: {e.Message}", e);
        }
    }

    private static (X509Certificate2Collection, IReadOnlyList<byte[]>) DecodeCore(byte[] der)
    {
        var outer = new AsnReader(der, AsnEncodingRules.BER);
        AsnReader ci = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        string type = ci.ReadObjectIdentifier();
        if (type != ScepOids.SignedData)
        {
            throw new ScepFormatException($"certs-only SignedData: content type is {type}, expected signedData ({ScepOids.SignedData})");
        }
        AsnReader sd = ci.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)).ReadSequence();
        sd.ReadInteger();
        sd.ReadSetOf();
        sd.ReadSequence();
        var certs = new X509Certificate2Collection();
        var crls = new List<byte[]>();
        if (sd.HasData && sd.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
        {
            AsnReader set = sd.ReadSetOf(true, new Asn1Tag(TagClass.ContextSpecific, 0, true));
            while (set.HasData)
            {
                Asn1Tag tag = set.PeekTag();
                ReadOnlyMemory<byte> item = set.ReadEncodedValue();
                if (tag.HasSameClassAndValue(Asn1Tag.Sequence))
                {
                    if (certs.Count >= MaxItems)
                    {
                        throw new ScepFormatException($"certs-only SignedData: more than {MaxItems} certificates");
                    }
                    certs.Add(X509CertificateLoader.LoadCertificate(item.Span));
                }
            }
        }
        if (sd.HasData && sd.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 1)))
        {
            AsnReader set = sd.ReadSetOf(true, new Asn1Tag(TagClass.ContextSpecific, 1, true));
            while (set.HasData)
            {
                if (crls.Count >= MaxItems)
                {
                    throw new ScepFormatException($"certs-only SignedData: more than {MaxItems} CRLs");
                }
                crls.Add(set.ReadEncodedValue().ToArray());
            }
        }
        return (certs, crls);
    }
}
