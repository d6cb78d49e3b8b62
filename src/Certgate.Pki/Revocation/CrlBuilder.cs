using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Validation;

namespace Certgate.Pki.Revocation;

/// <summary>
/// Writes a signed X.509 v2 CRL (RFC 5280 §5) in linear time.
/// </summary>
/// <remarks>
/// Order of work: entries are appended as finished DER into one growing buffer as they are added (each entry is
/// under 128 octets, so its length is known without a second pass); at signing time the tbsCertList is never
/// assembled: its header, prefix, entries and extensions are hashed in place with <see cref="IncrementalHash"/>,
/// signed, and written out piece by piece. Why not <c>CertificateRevocationListBuilder</c>: it re-searches its
/// entry list and is quadratic for large CRLs.
/// Names and dates: issuer = the issuer certificate's subject, AKI = its subjectKeyIdentifier; dates up to 2049
/// are UTCTime and from 2050 GeneralizedTime (RFC 5280 §5.1.2.4), truncated to whole seconds.
/// </remarks>
public sealed class CrlBuilder
{
    private readonly X509Certificate2 _issuer;
    private byte[] _entries = new byte[4096];
    private int _length;

    /// <summary>Creates a builder for CRLs of <paramref name="issuer"/> (the CA certificate).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="issuer"/> is null.</exception>
    public CrlBuilder(X509Certificate2 issuer)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        _issuer = issuer;
    }

    /// <summary>thisUpdate. Required.</summary>
    public DateTimeOffset ThisUpdate { get; set; }

    /// <summary>nextUpdate. RFC 5280 says conforming CAs MUST include it.</summary>
    public DateTimeOffset? NextUpdate { get; set; }

    /// <summary>The cRLNumber (RFC 5280: conforming CAs MUST include it; monotonically increasing).</summary>
    public BigInteger? CrlNumber { get; set; }

    /// <summary>Whether to write the authorityKeyIdentifier from the issuer's SKI (default true, RFC 5280 MUST).</summary>
    public bool IncludeAuthorityKeyIdentifier { get; set; } = true;

    /// <summary>The number of entries added.</summary>
    public int Count { get; private set; }

    /// <summary>Adds a revoked serial (big-endian octets; treated as unsigned, a sign octet is added when needed).</summary>
    /// <exception cref="ArgumentException">The serial is empty or longer than 64 octets.</exception>
    public void AddEntry(ReadOnlySpan<byte> serialNumber, DateTimeOffset revocationDate, CrlReason? reason = null)
    {
        if (serialNumber.IsEmpty)
        {
            throw new ArgumentException("The serial number is empty.", nameof(serialNumber));
        }
        ReadOnlySpan<byte> serial = SerialNumbers.Normalize(serialNumber);
        bool sign = serial[0] >= 0x80;
        int intLength = serial.Length + (sign ? 1 : 0);
        if (intLength > CrlDecoder.MaxSerialLength)
        {
            throw new ArgumentException($"The serial number is longer than {CrlDecoder.MaxSerialLength} octets.", nameof(serialNumber));
        }
        if (reason is { } r && (!Enum.IsDefined(r)))
        {
            throw new ArgumentOutOfRangeException(nameof(reason), r, "Not a CRLReason value.");
        }
        int timeLength = TimeLength(revocationDate);
        int contentLength = 2 + intLength + timeLength + (reason is null ? 0 : 14);
        EnsureCapacity(2 + contentLength);
        Span<byte> d = _entries.AsSpan(_length);
        int p = 0;
        d[p++] = DerTags.Sequence;
        d[p++] = (byte)contentLength;
        d[p++] = DerTags.Integer;
        d[p++] = (byte)intLength;
        if (sign)
        {
            d[p++] = 0;
        }
        serial.CopyTo(d[p..]);
        p += serial.Length;
        p += WriteTime(d[p..], revocationDate);
        if (reason is { } code)
        {
            // Extensions SEQUENCE { Extension SEQUENCE { 2.5.29.21, OCTET STRING { ENUMERATED code } } }
            ReadOnlySpan<byte> ext = [0x30, 0x0C, 0x30, 0x0A, 0x06, 0x03, 0x55, 0x1D, 0x15, 0x04, 0x03, 0x0A, 0x01];
            ext.CopyTo(d[p..]);
            p += ext.Length;
            d[p++] = (byte)code;
        }
        _length += p;
        Count++;
    }

    /// <summary>Adds a revoked serial given as a non-negative integer.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The serial is negative.</exception>
    public void AddEntry(BigInteger serialNumber, DateTimeOffset revocationDate, CrlReason? reason = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(serialNumber);
        AddEntry(serialNumber.ToByteArray(isUnsigned: true, isBigEndian: true), revocationDate, reason);
    }

    /// <summary>Signs with an RSA key (PKCS#1 v1.5 unless <paramref name="padding"/> is PSS) and returns the DER CRL.</summary>
    /// <exception cref="ArgumentException">The key does not match the issuer certificate, or the hash is not SHA-1/256/384/512.</exception>
    /// <exception cref="InvalidOperationException">ThisUpdate is not set.</exception>
    public byte[] Sign(RSA key, HashAlgorithmName hash, RSASignaturePadding? padding = null)
    {
        using var output = new MemoryStream();
        SignTo(output, key, hash, padding);
        return output.ToArray();
    }

    /// <summary>Signs with an ECDSA key and returns the DER CRL.</summary>
    /// <exception cref="ArgumentException">The key does not match the issuer certificate, or the hash is not SHA-256/384/512.</exception>
    /// <exception cref="InvalidOperationException">ThisUpdate is not set.</exception>
    public byte[] Sign(ECDsa key, HashAlgorithmName hash)
    {
        using var output = new MemoryStream();
        SignTo(output, key, hash);
        return output.ToArray();
    }

    /// <summary>Signs and writes the DER CRL to <paramref name="output"/> without assembling it in memory.</summary>
    /// <exception cref="ArgumentException">Unsupported key type or hash, or the key does not match the issuer.</exception>
    /// <exception cref="InvalidOperationException">ThisUpdate is not set.</exception>
    public void SignTo(Stream output, AsymmetricAlgorithm key, HashAlgorithmName hash, RSASignaturePadding? padding = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(key);
        if (ThisUpdate == default)
        {
            throw new InvalidOperationException("ThisUpdate must be set before signing a CRL.");
        }
        if (!key.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(_issuer.PublicKey.ExportSubjectPublicKeyInfo()))
        {
            throw new ArgumentException("The signing key does not belong to the issuer certificate.", nameof(key));
        }
        padding ??= RSASignaturePadding.Pkcs1;
        byte[] algorithm = key switch
        {
            RSA => RsaAlgorithmIdentifier(hash, padding, nameof(hash)),
            ECDsa => EcdsaAlgorithmIdentifier(hash, nameof(hash)),
            _ => throw new ArgumentException("Only RSA and ECDSA keys can sign CRLs.", nameof(key)),
        };

        byte[] prefix = EncodePrefix(algorithm);
        byte[] revokedHeader = _length == 0 ? [] : EncodeHeader(DerTags.Sequence, _length);
        byte[] suffix = EncodeExtensions();
        long tbsContent = (long)prefix.Length + revokedHeader.Length + _length + suffix.Length;
        byte[] tbsHeader = EncodeHeader(DerTags.Sequence, checked((int)tbsContent));

        using var hasher = IncrementalHash.CreateHash(hash);
        hasher.AppendData(tbsHeader);
        hasher.AppendData(prefix);
        hasher.AppendData(revokedHeader);
        hasher.AppendData(_entries, 0, _length);
        hasher.AppendData(suffix);
        byte[] digest = hasher.GetHashAndReset();
        byte[] signature = key switch
        {
            RSA rsa => rsa.SignHash(digest, hash, padding),
            ECDsa ec => ec.SignHash(digest, DSASignatureFormat.Rfc3279DerSequence),
            _ => throw new ArgumentException("Only RSA and ECDSA keys can sign CRLs.", nameof(key)),
        };
        byte[] bitStringHeader = EncodeHeader(DerTags.BitString, signature.Length + 1);
        long outerContent = tbsHeader.Length + tbsContent + algorithm.Length + bitStringHeader.Length + 1 + signature.Length;

        output.Write(EncodeHeader(DerTags.Sequence, checked((int)outerContent)));
        output.Write(tbsHeader);
        output.Write(prefix);
        output.Write(revokedHeader);
        output.Write(_entries, 0, _length);
        output.Write(suffix);
        output.Write(algorithm);
        output.Write(bitStringHeader);
        output.WriteByte(0);
        output.Write(signature);
    }

    private byte[] EncodePrefix(byte[] algorithm)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        w.WriteInteger(1); // v2
        w.WriteEncodedValue(algorithm);
        w.WriteEncodedValue(_issuer.SubjectName.RawData);
        WriteTime(w, ThisUpdate);
        if (NextUpdate is { } next)
        {
            WriteTime(w, next);
        }
        return w.Encode();
    }

    private byte[] EncodeExtensions()
    {
        byte[]? ski = IncludeAuthorityKeyIdentifier ? SubjectKeyIdentifier(_issuer) : null;
        if (ski is null && CrlNumber is null)
        {
            return [];
        }
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
        using (w.PushSequence())
        {
            if (ski is not null)
            {
                var aki = new AsnWriter(AsnEncodingRules.DER);
                using (aki.PushSequence())
                {
                    aki.WriteOctetString(ski, new Asn1Tag(TagClass.ContextSpecific, 0));
                }
                WriteExtension(w, "2.5.29.35", aki.Encode());
            }
            if (CrlNumber is { } number)
            {
                var n = new AsnWriter(AsnEncodingRules.DER);
                n.WriteInteger(number);
                WriteExtension(w, "2.5.29.20", n.Encode());
            }
        }
        return w.Encode();
    }

    private static void WriteExtension(AsnWriter w, string oid, byte[] value)
    {
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(oid);
            w.WriteOctetString(value);
        }
    }

    internal static byte[]? SubjectKeyIdentifier(X509Certificate2 certificate)
    {
        foreach (X509Extension e in certificate.Extensions)
        {
            if (e.Oid?.Value == "2.5.29.14")
            {
                return new X509SubjectKeyIdentifierExtension(e, e.Critical).SubjectKeyIdentifierBytes.ToArray();
            }
        }
        return null;
    }

    private static byte[] RsaAlgorithmIdentifier(HashAlgorithmName hash, RSASignaturePadding padding, string paramName)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        if (padding == RSASignaturePadding.Pss)
        {
            (string hashOid, int size) = hash.Name switch
            {
                "SHA256" => ("2.16.840.1.101.3.4.2.1", 32),
                "SHA384" => ("2.16.840.1.101.3.4.2.2", 48),
                "SHA512" => ("2.16.840.1.101.3.4.2.3", 64),
                _ => throw new ArgumentException($"RSA-PSS CRLs support SHA-256/384/512, not {hash.Name}.", paramName),
            };
            using (w.PushSequence())
            {
                w.WriteObjectIdentifier(SignatureVerifier.RsaPss);
                using (w.PushSequence())
                {
                    using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
                    using (w.PushSequence())
                    {
                        w.WriteObjectIdentifier(hashOid);
                        w.WriteNull();
                    }
                    using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 1, true)))
                    using (w.PushSequence())
                    {
                        w.WriteObjectIdentifier("1.2.840.113549.1.1.8");
                        using (w.PushSequence())
                        {
                            w.WriteObjectIdentifier(hashOid);
                            w.WriteNull();
                        }
                    }
                    using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 2, true)))
                    {
                        w.WriteInteger(size);
                    }
                }
            }
            return w.Encode();
        }
        string oid = hash.Name switch
        {
            "SHA1" => SignatureVerifier.Sha1Rsa,
            "SHA256" => SignatureVerifier.Sha256Rsa,
            "SHA384" => SignatureVerifier.Sha384Rsa,
            "SHA512" => SignatureVerifier.Sha512Rsa,
            _ => throw new ArgumentException($"RSA CRLs support SHA-1/256/384/512, not {hash.Name}.", paramName),
        };
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(oid);
            w.WriteNull();
        }
        return w.Encode();
    }

    private static byte[] EcdsaAlgorithmIdentifier(HashAlgorithmName hash, string paramName)
    {
        string oid = hash.Name switch
        {
            "SHA256" => SignatureVerifier.EcdsaSha256,
            "SHA384" => SignatureVerifier.EcdsaSha384,
            "SHA512" => SignatureVerifier.EcdsaSha512,
            _ => throw new ArgumentException($"ECDSA CRLs support SHA-256/384/512, not {hash.Name}.", paramName),
        };
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(oid);
        }
        return w.Encode();
    }

    private static void WriteTime(AsnWriter w, DateTimeOffset time)
    {
        DateTimeOffset t = Truncate(time);
        if (t.Year is >= 1950 and <= 2049)
        {
            w.WriteUtcTime(t);
        }
        else
        {
            w.WriteGeneralizedTime(t, omitFractionalSeconds: true);
        }
    }

    private static DateTimeOffset Truncate(DateTimeOffset time)
    {
        DateTimeOffset utc = time.ToUniversalTime();
        return new DateTimeOffset(utc.Ticks - utc.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
    }

    private static int TimeLength(DateTimeOffset time) => Truncate(time).Year is >= 1950 and <= 2049 ? 15 : 17;

    /// <summary>Writes UTCTime "YYMMDDHHMMSSZ" or GeneralizedTime "YYYYMMDDHHMMSSZ" by hand (hot path).</summary>
    private static int WriteTime(Span<byte> d, DateTimeOffset time)
    {
        DateTimeOffset t = Truncate(time);
        int p = 0;
        if (t.Year is >= 1950 and <= 2049)
        {
            d[p++] = DerTags.UtcTime;
            d[p++] = 13;
            Two(d, ref p, t.Year % 100);
        }
        else
        {
            d[p++] = DerTags.GeneralizedTime;
            d[p++] = 15;
            Two(d, ref p, t.Year / 100);
            Two(d, ref p, t.Year % 100);
        }
        Two(d, ref p, t.Month);
        Two(d, ref p, t.Day);
        Two(d, ref p, t.Hour);
        Two(d, ref p, t.Minute);
        Two(d, ref p, t.Second);
        d[p++] = (byte)'Z';
        return p;

        static void Two(Span<byte> d, ref int p, int v)
        {
            d[p++] = (byte)('0' + v / 10);
            d[p++] = (byte)('0' + v % 10);
        }
    }

    private static byte[] EncodeHeader(byte tag, int length)
    {
        if (length < 0x80)
        {
            return [tag, (byte)length];
        }
        int octets = length <= 0xFF ? 1 : length <= 0xFFFF ? 2 : length <= 0xFFFFFF ? 3 : 4;
        byte[] h = new byte[2 + octets];
        h[0] = tag;
        h[1] = (byte)(0x80 | octets);
        for (int i = 0; i < octets; i++)
        {
            h[2 + i] = (byte)(length >> (8 * (octets - 1 - i)));
        }
        return h;
    }

    private void EnsureCapacity(int extra)
    {
        if (_length + extra <= _entries.Length)
        {
            return;
        }
        int size = Math.Max(_length + extra, (int)Math.Min(Array.MaxLength, (long)_entries.Length * 2));
        Array.Resize(ref _entries, size);
    }
}
