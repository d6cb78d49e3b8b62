using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Pki.Revocation;

namespace Certgate.Tests.Shared.TestPki;

/// <summary>The key a test certificate gets.</summary>
internal enum TestKeyType
{
    Rsa2048,
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
}

/// <summary>How a test certificate is made; every switch defaults to a well-formed certificate.</summary>
internal sealed record CertOptions
{
    public DateTimeOffset? NotBefore { get; init; }
    public DateTimeOffset? NotAfter { get; init; }
    public bool IsCa { get; init; }
    public int? PathLength { get; init; }
    /// <summary>Null = the usual usage (CA: keyCertSign|cRLSign, leaf: digitalSignature); use to drop bits.</summary>
    public X509KeyUsageFlags? KeyUsage { get; init; }
    /// <summary>No keyUsage extension at all (<see cref="KeyUsage"/> is then ignored).</summary>
    public bool OmitKeyUsage { get; init; }
    /// <summary>The extendedKeyUsage OIDs, in a non-critical extension; none = no extension.</summary>
    public string[] ExtendedKeyUsages { get; init; } = [];
    public bool OmitBasicConstraints { get; init; }
    /// <summary>The key type (default RSA 2048).</summary>
    public TestKeyType KeyType { get; init; }
    /// <summary>Shorthand for <see cref="KeyType"/> = <see cref="TestKeyType.EcdsaP256"/>.</summary>
    public bool Ecdsa
    {
        get => KeyType != TestKeyType.Rsa2048;
        init => KeyType = value ? TestKeyType.EcdsaP256 : TestKeyType.Rsa2048;
    }
    public bool CorruptSignature { get; init; }
    /// <summary>No subjectKeyIdentifier in this certificate (a CA without one makes its CRLs carry no AKI either).</summary>
    public bool OmitSubjectKeyIdentifier { get; init; }
    public bool OmitAuthorityKeyIdentifier { get; init; }
    public byte[]? Serial { get; init; }
    public string[] DnsNames { get; init; } = [];
    public IPAddress[] IpAddresses { get; init; } = [];
    public string[] Emails { get; init; } = [];
    public X509Extension[] ExtraExtensions { get; init; } = [];
    /// <summary>The hash the issuer signs with; null = SHA-256 (SHA-384 for a P-384 issuer). SHA-1 for the legacy cases.</summary>
    public HashAlgorithmName? SignatureHash { get; init; }
}

/// <summary>
/// The test certificate authority of the test projects (one copy, linked from tests/Shared, issue #13; the
/// architecture tests refuse a test that builds a CA of its own): a certificate and its private key, able to issue
/// certificates and CRLs with switches in the style of dotnet/runtime's test CA that change exactly one thing
/// (signature, validity, key usage, extended key usage, CA flag, issuer, key identifiers, key type, the serials a
/// CRL lists).
/// </summary>
/// <remarks>
/// Validity periods are built around the CA's <see cref="Time"/>: the fixed <see cref="Now"/> unless the root was made
/// with another (tests against real peers or the system clock pass <see cref="DateTimeOffset.UtcNow"/>).
/// </remarks>
internal sealed class TestCa : IDisposable
{
    /// <summary>Fixed "now" of the tests: validity periods are built around it.</summary>
    public static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private static int s_serial = 0x1000;

    private readonly bool _ownsKey;

    private TestCa(X509Certificate2 certificate, AsymmetricAlgorithm key, DateTimeOffset time, bool ownsKey = true)
    {
        Certificate = certificate;
        Key = key;
        Time = time;
        _ownsKey = ownsKey;
    }

    /// <summary>The "now" around which this CA's certificates and CRLs get their default validity.</summary>
    public DateTimeOffset Time { get; }

    public X509Certificate2 Certificate { get; }

    public AsymmetricAlgorithm Key { get; }

    public string Name => Certificate.Subject;

    /// <summary>A copy of <see cref="Certificate"/> that holds the private key (for code that signs with it).</summary>
    public X509Certificate2 CertificateWithKey() => Key switch
    {
        RSA rsa => Certificate.CopyWithPrivateKey(rsa),
        ECDsa ec => Certificate.CopyWithPrivateKey(ec),
        _ => throw new InvalidOperationException("unsupported key type"),
    };

    /// <summary>A self-signed root; <paramref name="now"/> (default <see cref="Now"/>) becomes its <see cref="Time"/>.</summary>
    /// <param name="name">The subject and issuer.</param>
    /// <param name="options">Switches (<see cref="CertOptions.IsCa"/> is forced on).</param>
    /// <param name="now">The CA's <see cref="Time"/>.</param>
    /// <param name="key">The CA's key, owned by the CA from now on (for fixtures whose key is a file); default a new
    /// key of <see cref="CertOptions.KeyType"/>.</param>
    public static TestCa CreateRoot(string name = "CN=Test Root CA, O=Certgate", CertOptions? options = null, DateTimeOffset? now = null,
        AsymmetricAlgorithm? key = null)
    {
        options ??= new CertOptions();
        options = options with { IsCa = true };
        DateTimeOffset time = now ?? Now;
        key ??= NewKey(options.KeyType);
        var subject = new X500DistinguishedName(name);
        X509Certificate2 cert = Build(subject, key, subject, key, null, options, time);
        return new TestCa(cert, key, time);
    }

    /// <summary>
    /// An existing CA certificate and its key, to issue with; the caller keeps both (<see cref="Dispose"/> leaves the
    /// key alone).
    /// </summary>
    public static TestCa Wrap(X509Certificate2 certificate, AsymmetricAlgorithm key, DateTimeOffset? now = null) =>
        new(certificate, key, now ?? Now, ownsKey: false);

    /// <summary>
    /// A self-signed end-entity certificate for <paramref name="key"/>, with its private key and no extensions: what a
    /// SCEP client signs its first PKCSReq with, or a certificate that no CA vouches for.
    /// </summary>
    public static X509Certificate2 SelfSigned(AsymmetricAlgorithm key, string subject, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        CertificateRequest request = key switch
        {
            RSA rsa => new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            ECDsa ec => new CertificateRequest(subject, ec, HashFor(ec)),
            _ => throw new ArgumentException("unsupported key type", nameof(key)),
        };
        return request.CreateSelfSigned(notBefore, notAfter);
    }

    /// <summary>A subordinate CA signed by this CA.</summary>
    public TestCa CreateIntermediate(string name = "CN=Test Intermediate CA, O=Certgate", CertOptions? options = null)
    {
        options ??= new CertOptions();
        options = options with { IsCa = true };
        AsymmetricAlgorithm key = NewKey(options.KeyType);
        X509Certificate2 cert = Build(new X500DistinguishedName(name), key, Certificate.SubjectName, Key, Certificate, options, Time);
        return new TestCa(cert, key, Time);
    }

    /// <summary>An end-entity certificate signed by this CA for a fresh key of <see cref="CertOptions.KeyType"/> (public key only).</summary>
    public X509Certificate2 Issue(string subject = "CN=gw1, O=Certgate", CertOptions? options = null)
    {
        options ??= new CertOptions();
        using AsymmetricAlgorithm key = NewKey(options.KeyType);
        return Issue(subject, key, options);
    }

    /// <summary>An end-entity certificate signed by this CA for <paramref name="key"/>, which the caller keeps (public key only).</summary>
    public X509Certificate2 Issue(string subject, AsymmetricAlgorithm key, CertOptions? options = null) =>
        Issue(new X500DistinguishedName(subject), PublicKeyOf(key), options);

    /// <summary>An end-entity certificate signed by this CA for <paramref name="publicKey"/> (for example a CSR's).</summary>
    public X509Certificate2 Issue(X500DistinguishedName subject, PublicKey publicKey, CertOptions? options = null) =>
        Build(subject, publicKey, Certificate.SubjectName, Key, Certificate, options ?? new CertOptions(), Time);

    /// <summary>An end-entity certificate signed by this CA for a fresh key, with that private key.</summary>
    public X509Certificate2 IssueWithKey(string subject = "CN=gw1, O=Certgate", CertOptions? options = null)
    {
        options ??= new CertOptions();
        using AsymmetricAlgorithm key = NewKey(options.KeyType);
        using X509Certificate2 cert = Issue(subject, key, options);
        return key switch
        {
            RSA rsa => cert.CopyWithPrivateKey(rsa),
            ECDsa ec => cert.CopyWithPrivateKey(ec),
            _ => throw new InvalidOperationException("unsupported key type"),
        };
    }

    /// <summary>A CRL with the given revoked certificates.</summary>
    public CertificateRevocationList Crl(IEnumerable<X509Certificate2>? revoked = null, DateTimeOffset? thisUpdate = null,
        DateTimeOffset? nextUpdate = null, BigInteger? number = null, CrlReason? reason = CrlReason.keyCompromise,
        bool corruptSignature = false, TestCa? signer = null, bool omitAuthorityKeyIdentifier = false,
        IEnumerable<byte[]>? serials = null, DateTimeOffset? revokedAt = null, HashAlgorithmName? hash = null) =>
        CertificateRevocationList.Load(CrlBytes(revoked, thisUpdate, nextUpdate, number, reason, corruptSignature, signer,
            omitAuthorityKeyIdentifier, serials, revokedAt, hash));

    /// <summary>
    /// The DER of a CRL listing <paramref name="revoked"/> and the raw <paramref name="serials"/>, revoked at
    /// <paramref name="revokedAt"/> (default a day before <see cref="Time"/>).
    /// </summary>
    public byte[] CrlBytes(IEnumerable<X509Certificate2>? revoked = null, DateTimeOffset? thisUpdate = null,
        DateTimeOffset? nextUpdate = null, BigInteger? number = null, CrlReason? reason = CrlReason.keyCompromise,
        bool corruptSignature = false, TestCa? signer = null, bool omitAuthorityKeyIdentifier = false,
        IEnumerable<byte[]>? serials = null, DateTimeOffset? revokedAt = null, HashAlgorithmName? hash = null)
    {
        DateTimeOffset revocation = revokedAt ?? Time.AddDays(-1);
        // A different signer keeps this CA's name: that is the "CRL signed by the wrong key" case.
        TestCa keyHolder = signer ?? this;
        var builder = new CrlBuilder(signer is null ? Certificate : WithName(signer, Certificate.SubjectName))
        {
            ThisUpdate = thisUpdate ?? Time.AddHours(-1),
            NextUpdate = nextUpdate ?? Time.AddDays(7),
            CrlNumber = number ?? 7,
            IncludeAuthorityKeyIdentifier = !omitAuthorityKeyIdentifier,
        };
        foreach (X509Certificate2 c in revoked ?? [])
        {
            builder.AddEntry(c.SerialNumberBytes.Span, revocation, reason);
        }
        foreach (byte[] serial in serials ?? [])
        {
            builder.AddEntry(serial, revocation, reason);
        }
        byte[] der = keyHolder.Key is RSA rsa ? builder.Sign(rsa, hash ?? HashAlgorithmName.SHA256) : builder.Sign((ECDsa)keyHolder.Key, hash ?? HashFor(keyHolder.Key));
        if (corruptSignature)
        {
            der[^5] ^= 0x5A;
        }
        return der;
    }

    public void Dispose()
    {
        if (_ownsKey)
        {
            Key.Dispose();
        }
    }

    private static X509Certificate2 WithName(TestCa ca, X500DistinguishedName name) =>
        Build(name, ca.Key, name, ca.Key, null, new CertOptions { IsCa = true }, ca.Time);

    private static AsymmetricAlgorithm NewKey(TestKeyType type) => type switch
    {
        TestKeyType.EcdsaP256 => ECDsa.Create(ECCurve.NamedCurves.nistP256),
        TestKeyType.EcdsaP384 => ECDsa.Create(ECCurve.NamedCurves.nistP384),
        TestKeyType.EcdsaP521 => ECDsa.Create(ECCurve.NamedCurves.nistP521),
        _ => RSA.Create(2048),
    };

    private static byte[]? SubjectKeyIdentifier(X509Certificate2 certificate) =>
        certificate.Extensions["2.5.29.14"] is { } e ? new X509SubjectKeyIdentifierExtension(e, e.Critical).SubjectKeyIdentifierBytes.ToArray() : null;

    private static HashAlgorithmName HashFor(AsymmetricAlgorithm key) => key.KeySize > 256 && key is ECDsa ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256;

    private static PublicKey PublicKeyOf(AsymmetricAlgorithm key) => key switch
    {
        RSA rsa => new PublicKey(rsa),
        ECDsa ec => new PublicKey(ec),
        _ => throw new ArgumentException("unsupported key type", nameof(key)),
    };

    private static X509Certificate2 Build(X500DistinguishedName subject, AsymmetricAlgorithm subjectKey,
        X500DistinguishedName issuerName, AsymmetricAlgorithm issuerKey, X509Certificate2? issuerCert, CertOptions o, DateTimeOffset now) =>
        Build(subject, PublicKeyOf(subjectKey), issuerName, issuerKey, issuerCert, o, now);

    private static X509Certificate2 Build(X500DistinguishedName subject, PublicKey subjectKey,
        X500DistinguishedName issuerName, AsymmetricAlgorithm issuerKey, X509Certificate2? issuerCert, CertOptions o, DateTimeOffset now)
    {
        var request = new CertificateRequest(subject, subjectKey, o.SignatureHash ?? HashFor(issuerKey));
        if (!o.OmitBasicConstraints)
        {
            request.CertificateExtensions.Add(o.IsCa
                ? new X509BasicConstraintsExtension(true, o.PathLength is not null, o.PathLength ?? 0, true)
                : new X509BasicConstraintsExtension(false, false, 0, true));
        }
        X509KeyUsageFlags usage = o.KeyUsage ?? (o.IsCa
            ? X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign
            : X509KeyUsageFlags.DigitalSignature);
        if (!o.OmitKeyUsage)
        {
            request.CertificateExtensions.Add(new X509KeyUsageExtension(usage, true));
        }
        var ski = new X509SubjectKeyIdentifierExtension(request.PublicKey, false);
        if (!o.OmitSubjectKeyIdentifier)
        {
            request.CertificateExtensions.Add(ski);
        }
        byte[]? issuerSki = issuerCert is null
            ? (o.OmitSubjectKeyIdentifier ? null : ski.SubjectKeyIdentifierBytes.ToArray())
            : SubjectKeyIdentifier(issuerCert);
        if (!o.OmitAuthorityKeyIdentifier && issuerSki is not null)
        {
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(issuerSki));
        }
        if (o.DnsNames.Length + o.IpAddresses.Length + o.Emails.Length > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (string d in o.DnsNames) san.AddDnsName(d);
            foreach (IPAddress ip in o.IpAddresses) san.AddIpAddress(ip);
            foreach (string e in o.Emails) san.AddEmailAddress(e);
            request.CertificateExtensions.Add(san.Build());
        }
        if (o.ExtendedKeyUsages.Length > 0)
        {
            var oids = new OidCollection();
            foreach (string eku in o.ExtendedKeyUsages) oids.Add(new Oid(eku));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(oids, false));
        }
        foreach (X509Extension e in o.ExtraExtensions)
        {
            request.CertificateExtensions.Add(e);
        }
        X509SignatureGenerator generator = o.SignatureHash == HashAlgorithmName.SHA1 ? new Sha1SignatureGenerator(issuerKey)
            : issuerKey is RSA issuerRsa
            ? X509SignatureGenerator.CreateForRSA(issuerRsa, RSASignaturePadding.Pkcs1)
            : X509SignatureGenerator.CreateForECDsa((ECDsa)issuerKey);
        byte[] serial = o.Serial ?? BitConverter.GetBytes(Interlocked.Increment(ref s_serial)).Reverse().Prepend((byte)0x01).ToArray();
        using X509Certificate2 cert = request.Create(issuerName, generator,
            o.NotBefore ?? now.AddDays(-30), o.NotAfter ?? now.AddDays(365), serial);
        byte[] der = cert.RawData;
        if (o.CorruptSignature)
        {
            der[^5] ^= 0x5A;
        }
        return X509CertificateLoader.LoadCertificate(der);
    }
}

/// <summary>sha1WithRSAEncryption / ecdsa-with-SHA1 signatures, which .NET's own generators no longer make: the legacy
/// certificates the SHA-1 refusal is tested with.</summary>
internal sealed class Sha1SignatureGenerator(AsymmetricAlgorithm key) : X509SignatureGenerator
{
    public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm) => key is RSA
        ? Convert.FromHexString("300d06092a864886f70d0101050500")
        : Convert.FromHexString("300906072a8648ce3d0401");

#pragma warning disable CA5350 // SHA-1 on purpose: these certificates must be refused.
    public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm) => key is RSA rsa
        ? rsa.SignData(data, HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1)
        : ((ECDsa)key).SignData(data, HashAlgorithmName.SHA1, DSASignatureFormat.Rfc3279DerSequence);
#pragma warning restore CA5350

    protected override PublicKey BuildPublicKey() => key is RSA rsa ? X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1).PublicKey
        : X509SignatureGenerator.CreateForECDsa((ECDsa)key).PublicKey;
}
