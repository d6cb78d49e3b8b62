using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Certgate.Scep;

/// <summary>CertPoll payload (RFC 8894 §3.3.3): issuer = CA subject, subject = the request's subject.</summary>
public sealed record IssuerAndSubject(X500DistinguishedName Issuer, X500DistinguishedName Subject)
{
    /// <summary>DER encoding.</summary>
    public byte[] Encode()
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteEncodedValue(Issuer.RawData);
            w.WriteEncodedValue(Subject.RawData);
        }
        return w.Encode();
    }

    /// <summary>Parses the DER encoding.</summary>
    /// <exception cref="ScepFormatException">Malformed.</exception>
    public static IssuerAndSubject Decode(ReadOnlyMemory<byte> der)
    {
        try
        {
            var r = new AsnReader(der, AsnEncodingRules.BER);
            AsnReader s = r.ReadSequence();
            r.ThrowIfNotEmpty();
            var issuer = new X500DistinguishedName(ReadName(s));
            var subject = new X500DistinguishedName(ReadName(s));
            s.ThrowIfNotEmpty();
            return new IssuerAndSubject(issuer, subject);
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException)
        {
            throw new ScepFormatException($"CertPoll IssuerAndSubject: {e.Message}", e);
        }
    }

    internal static byte[] ReadName(AsnReader r)
    {
        ReadOnlyMemory<byte> name = r.ReadEncodedValue();
        // Make sure it is a well-formed SEQUENCE before handing it to X500DistinguishedName.
        new AsnReader(name, AsnEncodingRules.BER).ReadSequence();
        return name.ToArray();
    }
}

/// <summary>GetCert / GetCRL payload (RFC 5652 IssuerAndSerialNumber).</summary>
/// <param name="Issuer">Issuer name.</param>
/// <param name="SerialNumber">Serial number, big-endian two's complement as in the certificate.</param>
public sealed record IssuerAndSerialNumber(X500DistinguishedName Issuer, byte[] SerialNumber)
{
    /// <summary>The serial as upper-case hex without leading zero octets (the form the CA stores).</summary>
    public string SerialHex
    {
        get
        {
            ReadOnlySpan<byte> s = SerialNumber;
            while (s.Length > 1 && s[0] == 0)
            {
                s = s[1..];
            }
            return Convert.ToHexString(s);
        }
    }

    /// <summary>DER encoding.</summary>
    public byte[] Encode()
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteEncodedValue(Issuer.RawData);
            w.WriteInteger(new BigInteger(SerialNumber, isUnsigned: false, isBigEndian: true));
        }
        return w.Encode();
    }

    /// <summary>Parses the DER encoding.</summary>
    /// <exception cref="ScepFormatException">Malformed.</exception>
    public static IssuerAndSerialNumber Decode(ReadOnlyMemory<byte> der)
    {
        try
        {
            var r = new AsnReader(der, AsnEncodingRules.BER);
            AsnReader s = r.ReadSequence();
            r.ThrowIfNotEmpty();
            var issuer = new X500DistinguishedName(IssuerAndSubject.ReadName(s));
            byte[] serial = s.ReadIntegerBytes().ToArray();
            s.ThrowIfNotEmpty();
            if (serial.Length > 64)
            {
                throw new ScepFormatException($"IssuerAndSerialNumber: serial number of {serial.Length} octets is too long");
            }
            return new IssuerAndSerialNumber(issuer, serial);
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException)
        {
            throw new ScepFormatException($"IssuerAndSerialNumber: {e.Message}", e);
        }
    }
}
