using System.Collections;
using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Certgate.Pki.Validation;

namespace Certgate.Pki.Revocation;

/// <summary>
/// A parsed X.509 v1/v2 CRL (RFC 5280 §5) with constant-time serial lookup.
/// </summary>
/// <remarks>
/// Loading is linear in the CRL size and allocates no object per entry: each entry is kept as an offset into the
/// DER buffer plus its decoded date and reason (24 bytes), and an open-addressing table hashes the serial octets
/// (leading zero octets stripped). A 1,000,000-entry CRL loads in well under a second.
/// The instance keeps a reference to the DER buffer it was loaded from; callers must not modify it afterwards.
/// Instances are immutable and safe to share between threads.
/// </remarks>
public sealed class CertificateRevocationList : IEnumerable<RevokedEntry>
{
    private readonly ReadOnlyMemory<byte> _der;
    private readonly Entry[] _entries;
    private readonly long[] _table;
    private readonly Tlv _tbs;
    private readonly Tlv _signatureAlgorithm;
    private readonly Tlv _signatureValue;

    private CertificateRevocationList(ReadOnlyMemory<byte> der, CrlDecoder.Result r)
    {
        _der = der;
        _entries = r.Entries;
        _tbs = r.Tbs;
        _signatureAlgorithm = r.SignatureAlgorithm;
        _signatureValue = r.SignatureValue;
        Version = r.Version;
        Issuer = new X500DistinguishedName(r.Issuer.Encoded(der.Span));
        ThisUpdate = r.ThisUpdate;
        NextUpdate = r.NextUpdate;
        CrlNumber = r.CrlNumber;
        // Not an assignment from the byte[]?: byte[] (and the null literal) convert implicitly to ReadOnlyMemory<byte>,
        // so an absent extension would become an empty key identifier that is "present", and a CRL without
        // authorityKeyIdentifier (openssl ca -gencrl without crl_extensions) matched no CA that has a
        // subjectKeyIdentifier (issue #13). Left unset, the property is null.
        if (r.AuthorityKeyIdentifier is { } aki)
        {
            AuthorityKeyIdentifier = aki;
        }
        SignatureAlgorithmOid = r.SignatureAlgorithmOid;
        OnlyContainsUserCerts = r.OnlyContainsUserCerts;
        OnlyContainsCACerts = r.OnlyContainsCACerts;
        _table = BuildTable(der.Span, _entries);
    }

    /// <summary>1 for a v1 CRL, 2 for a v2 CRL (the version field is present).</summary>
    public int Version { get; }

    /// <summary>The CRL issuer's name.</summary>
    public X500DistinguishedName Issuer { get; }

    /// <summary>thisUpdate: when this CRL was issued.</summary>
    public DateTimeOffset ThisUpdate { get; }

    /// <summary>nextUpdate: the date by which the next CRL will be issued, when present.</summary>
    public DateTimeOffset? NextUpdate { get; }

    /// <summary>The cRLNumber extension (RFC 5280 §5.2.3), when present.</summary>
    public BigInteger? CrlNumber { get; }

    /// <summary>The keyIdentifier of the authorityKeyIdentifier extension, when present.</summary>
    public ReadOnlyMemory<byte>? AuthorityKeyIdentifier { get; }

    /// <summary>The OID of the signature algorithm (e.g. 1.2.840.113549.1.1.11).</summary>
    public string SignatureAlgorithmOid { get; }

    /// <summary>A readable name of the signature algorithm (e.g. sha256WithRSAEncryption).</summary>
    public string SignatureAlgorithmName => SignatureVerifier.FriendlyName(SignatureAlgorithmOid);

    /// <summary>issuingDistributionPoint onlyContainsUserCerts: this CRL says nothing about CA certificates.</summary>
    public bool OnlyContainsUserCerts { get; }

    /// <summary>issuingDistributionPoint onlyContainsCACerts: this CRL says nothing about end-entity certificates.</summary>
    public bool OnlyContainsCACerts { get; }

    /// <summary>The number of revokedCertificates entries.</summary>
    public int Count => _entries.Length;

    /// <summary>The DER encoding of the whole CRL.</summary>
    public ReadOnlyMemory<byte> RawData => _der;

    /// <summary>The DER tbsCertList (the signed bytes).</summary>
    public ReadOnlyMemory<byte> TbsCertList => _der.Slice(_tbs.Offset, _tbs.Length);

    /// <summary>The entry at <paramref name="index"/> in CRL order.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The index is outside 0..Count-1.</exception>
    public RevokedEntry this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _entries.Length);
            return ToPublic(_entries[index]);
        }
    }

    /// <summary>Reads a CRL from DER or PEM (<c>-----BEGIN X509 CRL-----</c>).</summary>
    /// <exception cref="CrlFormatException">The data is not a well-formed CRL, or it carries a critical extension
    /// that cannot be processed (RFC 5280 §5.2, §5.3), or it is a delta/indirect/partitioned-by-reason CRL.</exception>
    public static CertificateRevocationList Load(ReadOnlyMemory<byte> derOrPem)
    {
        ReadOnlyMemory<byte> der = LooksLikePem(derOrPem.Span) ? DecodePem(derOrPem.Span) : derOrPem;
        CrlDecoder.Result r;
        try
        {
            r = CrlDecoder.Decode(der.Span);
        }
        catch (AsnContentException e)
        {
            throw new CrlFormatException($"The CRL is not valid DER: {e.Message}", e);
        }
        catch (ArgumentOutOfRangeException e)
        {
            // AsnDecoder reports a truncated length this way on some paths.
            throw new CrlFormatException("The CRL is truncated.", e);
        }
        return new CertificateRevocationList(der, r);
    }

    /// <summary>Reads a CRL file (DER or PEM).</summary>
    /// <exception cref="CrlFormatException">See <see cref="Load(ReadOnlyMemory{byte})"/>.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static CertificateRevocationList LoadFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Load(File.ReadAllBytes(path));
    }

    /// <summary>Looks up a serial number (INTEGER content octets, big-endian; leading zero octets ignored).</summary>
    public bool TryGetRevocation(ReadOnlySpan<byte> serialNumber, out RevokedEntry entry)
    {
        int index = Find(serialNumber);
        entry = index < 0 ? default : ToPublic(_entries[index]);
        return index >= 0;
    }

    /// <summary>Looks up a serial number written in hex (e.g. "0A:1B", "0x0a1b", "A1B").</summary>
    /// <exception cref="ArgumentException">The text is not hexadecimal.</exception>
    public bool TryGetRevocation(string serialNumberHex, out RevokedEntry entry) =>
        TryGetRevocation(SerialNumbers.ParseHex(serialNumberHex, nameof(serialNumberHex)), out entry);

    /// <summary>Looks up a certificate's serial number.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="certificate"/> is null.</exception>
    public bool TryGetRevocation(X509Certificate2 certificate, out RevokedEntry entry)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return TryGetRevocation(certificate.SerialNumberBytes.Span, out entry);
    }

    /// <summary>True when the serial is listed (whatever the reason, including certificateHold).</summary>
    public bool Contains(ReadOnlySpan<byte> serialNumber) => Find(serialNumber) >= 0;

    /// <summary>
    /// Verifies the CRL's signature with <paramref name="issuer"/>'s public key over the tbsCertList bytes.
    /// Does not compare names or key usage; the chain validator does that.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="issuer"/> is null.</exception>
    public bool VerifySignature(X509Certificate2 issuer)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        ReadOnlySpan<byte> der = _der.Span;
        ReadOnlySpan<byte> bits = _signatureValue.Content(der);
        // BIT STRING: first octet is the number of unused bits, which must be 0 for a signature.
        if (bits.Length < 1 || bits[0] != 0)
        {
            return false;
        }
        return SignatureVerifier.Verify(_tbs.Encoded(der), _signatureAlgorithm.Encoded(der), bits[1..], issuer);
    }

    /// <summary>
    /// True when <paramref name="now"/> is after nextUpdate. A CRL without nextUpdate never expires by this test
    /// (RFC 5280 requires nextUpdate of conforming CAs; the caller decides whether to accept its absence).
    /// </summary>
    public bool IsExpired(DateTimeOffset now) => NextUpdate is { } next && now > next;

    /// <summary>Enumerates entries in CRL order.</summary>
    public IEnumerator<RevokedEntry> GetEnumerator()
    {
        for (int i = 0; i < _entries.Length; i++)
        {
            yield return ToPublic(_entries[i]);
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private RevokedEntry ToPublic(in Entry e) => new(
        _der.Slice(e.SerialOffset, e.SerialLength),
        new DateTimeOffset(e.DateTicks, TimeSpan.Zero),
        e.Reason == Entry.NoReason ? null : (CrlReason)e.Reason);

    private int Find(ReadOnlySpan<byte> serial)
    {
        if (serial.IsEmpty)
        {
            return -1;
        }
        ReadOnlySpan<byte> key = SerialNumbers.Normalize(serial);
        ReadOnlySpan<byte> der = _der.Span;
        int mask = _table.Length - 1;
        int hash = Hash(key);
        int slot = hash & mask;
        while (true)
        {
            long stored = _table[slot];
            if (stored == 0)
            {
                return -1;
            }
            // The stored hash settles most mismatches without touching the entry array or the DER buffer.
            if ((int)(stored >> 32) == hash)
            {
                int index = (int)(uint)stored - 1;
                ref readonly Entry e = ref _entries[index];
                if (SerialNumbers.Normalize(der.Slice(e.SerialOffset, e.SerialLength)).SequenceEqual(key))
                {
                    return index;
                }
            }
            slot = (slot + 1) & mask;
        }
    }

    /// <summary>
    /// Open addressing with linear probing, load factor ≤ 0.5; each slot holds the 32-bit hash and the entry
    /// index + 1 (0 = empty). <see cref="HashCode"/> is seeded per process, so a CRL crafted to collide cannot be
    /// prepared offline.
    /// </summary>
    private static long[] BuildTable(ReadOnlySpan<byte> der, Entry[] entries)
    {
        int capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(8, entries.Length * 2));
        long[] table = new long[capacity];
        int mask = capacity - 1;
        for (int i = 0; i < entries.Length; i++)
        {
            ReadOnlySpan<byte> key = SerialNumbers.Normalize(der.Slice(entries[i].SerialOffset, entries[i].SerialLength));
            int hash = Hash(key);
            int slot = hash & mask;
            while (true)
            {
                long stored = table[slot];
                if (stored == 0)
                {
                    table[slot] = ((long)hash << 32) | (uint)(i + 1);
                    break;
                }
                if ((int)(stored >> 32) == hash)
                {
                    ref readonly Entry other = ref entries[(int)(uint)stored - 1];
                    if (SerialNumbers.Normalize(der.Slice(other.SerialOffset, other.SerialLength)).SequenceEqual(key))
                    {
                        // A duplicate serial: the first entry wins (both say "revoked").
                        break;
                    }
                }
                slot = (slot + 1) & mask;
            }
        }
        return table;
    }

    private static int Hash(ReadOnlySpan<byte> key)
    {
        var h = new HashCode();
        h.AddBytes(key);
        return h.ToHashCode();
    }

    private static bool LooksLikePem(ReadOnlySpan<byte> data)
    {
        int i = 0;
        while (i < data.Length && data[i] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            i++;
        }
        return i < data.Length && data[i] == (byte)'-';
    }

    private static byte[] DecodePem(ReadOnlySpan<byte> pem)
    {
        string text = System.Text.Encoding.ASCII.GetString(pem);
        ReadOnlySpan<char> rest = text;
        while (PemEncoding.TryFind(rest, out PemFields fields))
        {
            if (rest[fields.Label].SequenceEqual("X509 CRL"))
            {
                byte[] der = new byte[fields.DecodedDataLength];
                if (!Convert.TryFromBase64Chars(rest[fields.Base64Data], der, out int written))
                {
                    throw new CrlFormatException("The PEM CRL's base64 data is invalid.");
                }
                return written == der.Length ? der : der.AsSpan(0, written).ToArray();
            }
            rest = rest[fields.Location.End..];
        }
        throw new CrlFormatException("The data looks like PEM but has no '-----BEGIN X509 CRL-----' block.");
    }

    /// <summary>One entry: where its serial is, and its decoded date and reason.</summary>
    internal readonly struct Entry(int serialOffset, int serialLength, long dateTicks, byte reason)
    {
        public const byte NoReason = 0xFF;

        public readonly int SerialOffset = serialOffset;
        public readonly int SerialLength = serialLength;
        public readonly long DateTicks = dateTicks;
        public readonly byte Reason = reason;
    }
}
