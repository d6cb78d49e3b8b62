using System.Formats.Asn1;
using System.Numerics;

namespace Certgate.Pki.Revocation;

/// <summary>
/// The wire-level CRL decoder (RFC 5280 §5.1). Raises <see cref="CrlFormatException"/> (or lets
/// <see cref="AsnContentException"/> through, which <see cref="CertificateRevocationList.Load"/> translates).
/// <code>
/// CertificateList  ::=  SEQUENCE  {
///      tbsCertList          TBSCertList,
///      signatureAlgorithm   AlgorithmIdentifier,
///      signatureValue       BIT STRING  }
///
/// TBSCertList  ::=  SEQUENCE  {
///      version                 Version OPTIONAL,
///                                   -- if present, MUST be v2
///      signature               AlgorithmIdentifier,
///      issuer                  Name,
///      thisUpdate              Time,
///      nextUpdate              Time OPTIONAL,
///      revokedCertificates     SEQUENCE OF SEQUENCE  {
///           userCertificate         CertificateSerialNumber,
///           revocationDate          Time,
///           crlEntryExtensions      Extensions OPTIONAL
///                                    -- if present, version MUST be v2
///                                }  OPTIONAL,
///      crlExtensions           [0]  EXPLICIT Extensions OPTIONAL
///                                    -- if present, version MUST be v2
///                                }
///
/// Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }
/// Extensions  ::=  SEQUENCE SIZE (1..MAX) OF Extension
/// Extension  ::=  SEQUENCE  {
///      extnID      OBJECT IDENTIFIER,
///      critical    BOOLEAN DEFAULT FALSE,
///      extnValue   OCTET STRING }
/// </code>
/// </summary>
internal static class CrlDecoder
{
    /// <summary>RFC 5280 §4.1.2.2 allows 20 octets; some CAs exceed it, so accept a little more, but bounded.</summary>
    internal const int MaxSerialLength = 64;

    // Encoded OIDs (tag, length, content) compared as bytes so the entry loop never allocates an OID string.
    private static ReadOnlySpan<byte> OidReasonCode => [0x06, 0x03, 0x55, 0x1D, 0x15];           // 2.5.29.21
    private static ReadOnlySpan<byte> OidInvalidityDate => [0x06, 0x03, 0x55, 0x1D, 0x18];       // 2.5.29.24
    private static ReadOnlySpan<byte> OidCertificateIssuer => [0x06, 0x03, 0x55, 0x1D, 0x1D];    // 2.5.29.29
    private static ReadOnlySpan<byte> OidHoldInstruction => [0x06, 0x03, 0x55, 0x1D, 0x17];      // 2.5.29.23

    internal sealed class Result
    {
        public int Version;
        public Tlv Tbs;
        public Tlv SignatureAlgorithm;
        public Tlv SignatureValue;
        public string SignatureAlgorithmOid = "";
        public Tlv Issuer;
        public DateTimeOffset ThisUpdate;
        public DateTimeOffset? NextUpdate;
        public BigInteger? CrlNumber;
        public byte[]? AuthorityKeyIdentifier;
        public bool OnlyContainsUserCerts;
        public bool OnlyContainsCACerts;
        public CertificateRevocationList.Entry[] Entries = [];
    }

    public static Result Decode(ReadOnlySpan<byte> der)
    {
        var r = new Result();
        var top = new DerCursor(der, 0);
        Tlv certList = top.Read(DerTags.Sequence, "CertificateList");
        if (top.HasData)
        {
            throw new CrlFormatException("The CRL has trailing data after the CertificateList.");
        }
        DerCursor outer = certList.Children(der);
        r.Tbs = outer.Read(DerTags.Sequence, "tbsCertList");
        r.SignatureAlgorithm = outer.Read(DerTags.Sequence, "signatureAlgorithm");
        r.SignatureValue = outer.Read(DerTags.BitString, "signatureValue");
        if (outer.HasData)
        {
            throw new CrlFormatException("The CRL has extra fields after signatureValue.");
        }
        DerCursor tbs = r.Tbs.Children(der);
        r.Version = 1;
        if (tbs.HasData && tbs.PeekTag() == DerTags.Integer)
        {
            Tlv v = tbs.Read();
            if (!AsnDecoder.TryReadInt32(v.Encoded(der), AsnEncodingRules.DER, out int version, out _) || version != 1)
            {
                throw new CrlFormatException("CRL version: RFC 5280 allows only v2 (1) when the field is present.");
            }
            r.Version = 2;
        }
        Tlv innerAlg = tbs.Read(DerTags.Sequence, "signature");
        // RFC 5280 §5.1.2.2: this field "MUST contain the same algorithm identifier as the signatureAlgorithm
        // field in the sequence CertificateList".
        if (!innerAlg.Encoded(der).SequenceEqual(r.SignatureAlgorithm.Encoded(der)))
        {
            throw new CrlFormatException("CRL signature algorithm: tbsCertList.signature differs from signatureAlgorithm.");
        }
        r.SignatureAlgorithmOid = AsnDecoder.ReadObjectIdentifier(r.SignatureAlgorithm.Content(der), AsnEncodingRules.DER, out _);
        r.Issuer = tbs.Read(DerTags.Sequence, "issuer");
        r.ThisUpdate = ReadTime(der, tbs.Read(), "thisUpdate");
        if (tbs.HasData && tbs.PeekTag() is DerTags.UtcTime or DerTags.GeneralizedTime)
        {
            r.NextUpdate = ReadTime(der, tbs.Read(), "nextUpdate");
        }
        if (tbs.HasData && tbs.PeekTag() == DerTags.Sequence)
        {
            r.Entries = ReadEntries(der, tbs.Read());
        }
        if (tbs.HasData && tbs.PeekTag() == DerTags.Context0Constructed)
        {
            Tlv explicitExt = tbs.Read();
            DerCursor wrapper = explicitExt.Children(der);
            ReadCrlExtensions(der, wrapper.Read(DerTags.Sequence, "crlExtensions"), r);
            if (wrapper.HasData)
            {
                throw new CrlFormatException("CRL crlExtensions: extra data after the extensions.");
            }
        }
        if (tbs.HasData)
        {
            throw new CrlFormatException($"CRL tbsCertList: unexpected field with tag 0x{tbs.PeekTag():X2}.");
        }
        return r;
    }

    private static CertificateRevocationList.Entry[] ReadEntries(ReadOnlySpan<byte> der, Tlv revoked)
    {
        // First pass counts (cheap: only lengths), so the entry array is allocated once at its exact size.
        int count = 0;
        DerCursor counter = revoked.Children(der);
        while (counter.HasData)
        {
            counter.Read();
            count++;
        }
        var entries = new CertificateRevocationList.Entry[count];
        DerCursor list = revoked.Children(der);
        for (int i = 0; i < count; i++)
        {
            Tlv entry = list.Read(DerTags.Sequence, "revokedCertificates entry");
            DerCursor fields = entry.Children(der);
            Tlv serial = fields.Read(DerTags.Integer, "revokedCertificates userCertificate");
            if (serial.ContentLength is 0 or > MaxSerialLength)
            {
                throw new CrlFormatException(
                    $"CRL entry {i}: serial number of {serial.ContentLength} octets (expected 1..{MaxSerialLength}).");
            }
            DateTimeOffset date = ReadTime(der, fields.Read(), "revocationDate");
            byte reason = CertificateRevocationList.Entry.NoReason;
            if (fields.HasData)
            {
                reason = ReadEntryExtensions(der, fields.Read(DerTags.Sequence, "crlEntryExtensions"), i);
            }
            if (fields.HasData)
            {
                throw new CrlFormatException($"CRL entry {i}: unexpected data after crlEntryExtensions.");
            }
            entries[i] = new CertificateRevocationList.Entry(serial.ContentOffset, serial.ContentLength, date.UtcTicks, reason);
        }
        return entries;
    }

    private static byte ReadEntryExtensions(ReadOnlySpan<byte> der, Tlv extensions, int index)
    {
        byte reason = CertificateRevocationList.Entry.NoReason;
        DerCursor list = extensions.Children(der);
        while (list.HasData)
        {
            ReadExtension(der, list.Read(DerTags.Sequence, "crlEntryExtension"), out Tlv oid, out bool critical, out Tlv value);
            ReadOnlySpan<byte> oidBytes = oid.Encoded(der);
            if (oidBytes.SequenceEqual(OidReasonCode))
            {
                // reasonCode ::= { CRLReason }; CRLReason ::= ENUMERATED
                ReadOnlySpan<byte> v = value.Content(der);
                if (v.Length != 3 || v[0] != DerTags.Enumerated || v[1] != 1 || v[2] > 10 || v[2] == 7)
                {
                    throw new CrlFormatException($"CRL entry {index}: reasonCode is not a valid CRLReason.");
                }
                reason = v[2];
            }
            else if (oidBytes.SequenceEqual(OidCertificateIssuer))
            {
                // RFC 5280 §5.3.3: certificateIssuer is always critical and only appears in indirect CRLs.
                throw new CrlFormatException(
                    $"CRL entry {index}: certificateIssuer (indirect CRL) is not supported.");
            }
            else if (critical && !oidBytes.SequenceEqual(OidInvalidityDate) && !oidBytes.SequenceEqual(OidHoldInstruction))
            {
                // RFC 5280 §5.3: "If a CRL contains a critical CRL entry extension that the application cannot
                // process, then the application MUST NOT use that CRL to determine the status of any certificates."
                throw new CrlFormatException(
                    $"CRL entry {index}: unknown critical extension {OidText(oidBytes)}.");
            }
        }
        return reason;
    }

    private static void ReadCrlExtensions(ReadOnlySpan<byte> der, Tlv extensions, Result r)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        DerCursor list = extensions.Children(der);
        while (list.HasData)
        {
            ReadExtension(der, list.Read(DerTags.Sequence, "crlExtension"), out Tlv oidTlv, out bool critical, out Tlv value);
            string oid = AsnDecoder.ReadObjectIdentifier(oidTlv.Encoded(der), AsnEncodingRules.DER, out _);
            if (!seen.Add(oid))
            {
                throw new CrlFormatException($"CRL extension {oid} appears twice.");
            }
            ReadOnlySpan<byte> v = value.Content(der);
            switch (oid)
            {
                case "2.5.29.20": // cRLNumber ::= INTEGER (0..MAX)
                {
                    BigInteger n = AsnDecoder.ReadInteger(v, AsnEncodingRules.DER, out int used);
                    if (used != v.Length || n.Sign < 0)
                    {
                        throw new CrlFormatException("CRL cRLNumber is not a non-negative INTEGER.");
                    }
                    r.CrlNumber = n;
                    break;
                }
                case "2.5.29.35": // authorityKeyIdentifier
                    r.AuthorityKeyIdentifier = ReadKeyIdentifier(v);
                    break;
                case "2.5.29.27":
                    throw new CrlFormatException("Delta CRLs (deltaCRLIndicator) are not supported; load the base CRL.");
                case "2.5.29.28":
                    ReadIssuingDistributionPoint(v, r);
                    break;
                case "2.5.29.18" or "2.5.29.46" or "1.3.6.1.5.5.7.1.1":
                    // issuerAltName, freshestCRL, authorityInfoAccess: informational here.
                    break;
                default:
                    if (critical)
                    {
                        // RFC 5280 §5.2: "If a CRL contains a critical extension that the application cannot
                        // process, then the application MUST NOT use that CRL to determine the status of certificates."
                        throw new CrlFormatException($"CRL has an unknown critical extension {oid}.");
                    }
                    break;
            }
        }
    }

    /// <summary>
    /// AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] KeyIdentifier OPTIONAL, ... }
    /// </summary>
    internal static byte[]? ReadKeyIdentifier(ReadOnlySpan<byte> value)
    {
        var cursor = new DerCursor(value, 0);
        Tlv seq = cursor.Read(DerTags.Sequence, "authorityKeyIdentifier");
        DerCursor fields = seq.Children(value);
        while (fields.HasData)
        {
            Tlv f = fields.Read();
            if (f.Tag == 0x80)
            {
                return f.Content(value).ToArray();
            }
        }
        return null;
    }

    /// <summary>
    /// IssuingDistributionPoint ::= SEQUENCE {
    ///      distributionPoint          [0] DistributionPointName OPTIONAL,
    ///      onlyContainsUserCerts      [1] BOOLEAN DEFAULT FALSE,
    ///      onlyContainsCACerts        [2] BOOLEAN DEFAULT FALSE,
    ///      onlySomeReasons            [3] ReasonFlags OPTIONAL,
    ///      indirectCRL                [4] BOOLEAN DEFAULT FALSE,
    ///      onlyContainsAttributeCerts [5] BOOLEAN DEFAULT FALSE }
    /// The scope flags are honoured by the validator; partitions this code cannot complete (by reason, indirect,
    /// attribute certificates) make the CRL unusable rather than silently incomplete.
    /// </summary>
    private static void ReadIssuingDistributionPoint(ReadOnlySpan<byte> value, Result r)
    {
        var cursor = new DerCursor(value, 0);
        DerCursor fields = cursor.Read(DerTags.Sequence, "issuingDistributionPoint").Children(value);
        while (fields.HasData)
        {
            Tlv f = fields.Read();
            bool flag = f.ContentLength == 1 && f.Content(value)[0] != 0;
            switch (f.Tag)
            {
                case 0x81: r.OnlyContainsUserCerts = flag; break;
                case 0x82: r.OnlyContainsCACerts = flag; break;
                case 0x83:
                    throw new CrlFormatException("CRLs partitioned by reason (onlySomeReasons) are not supported.");
                case 0x84 when flag:
                    throw new CrlFormatException("Indirect CRLs are not supported.");
                case 0x85 when flag:
                    throw new CrlFormatException("Attribute-certificate CRLs are not supported.");
            }
        }
    }

    private static void ReadExtension(ReadOnlySpan<byte> der, Tlv extension, out Tlv oid, out bool critical, out Tlv value)
    {
        DerCursor f = extension.Children(der);
        oid = f.Read(DerTags.Oid, "extension extnID");
        critical = false;
        if (f.HasData && f.PeekTag() == DerTags.Boolean)
        {
            critical = AsnDecoder.ReadBoolean(f.Read().Encoded(der), AsnEncodingRules.DER, out _);
        }
        value = f.Read(DerTags.OctetString, "extension extnValue");
        if (f.HasData)
        {
            throw new CrlFormatException("CRL extension: unexpected data after extnValue.");
        }
    }

    private static DateTimeOffset ReadTime(ReadOnlySpan<byte> der, Tlv time, string field) => time.Tag switch
    {
        DerTags.UtcTime => AsnDecoder.ReadUtcTime(time.Encoded(der), AsnEncodingRules.DER, out _),
        DerTags.GeneralizedTime => AsnDecoder.ReadGeneralizedTime(time.Encoded(der), AsnEncodingRules.DER, out _),
        _ => throw new CrlFormatException($"CRL {field}: expected UTCTime or GeneralizedTime, found tag 0x{time.Tag:X2}."),
    };

    private static string OidText(ReadOnlySpan<byte> encodedOid)
    {
        try
        {
            return AsnDecoder.ReadObjectIdentifier(encodedOid, AsnEncodingRules.DER, out _);
        }
        catch (AsnContentException)
        {
            return Convert.ToHexString(encodedOid);
        }
    }
}
