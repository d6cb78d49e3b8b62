using System.Formats.Asn1;
using System.Security.Cryptography;

namespace Certgate.Ike.Auth;

/// <summary>
/// RSASSA-PSS in the RFC 7427 Digital Signature AUTH method (14): the AlgorithmIdentifier this side sends, and the
/// strict reading of the one a peer sends. RFC 8247 §3.2: RSASSA-PSS with SHA-2 is what an RSA key SHOULD sign with;
/// libreswan's pluto signs with it by default and refuses PKCS#1 v1.5 with SHA-2 from a peer.
/// <code>
/// -- RFC 4055 §3.1 (EXPLICIT TAGS)
/// RSASSA-PSS-params ::= SEQUENCE {
///     hashAlgorithm      [0] HashAlgorithm    DEFAULT sha1Identifier,
///     maskGenAlgorithm   [1] MaskGenAlgorithm DEFAULT mgf1SHA1Identifier,
///     saltLength         [2] INTEGER          DEFAULT 20,
///     trailerField       [3] INTEGER          DEFAULT 1 }
/// HashAlgorithm    ::= AlgorithmIdentifier   -- parameters NULL or absent (§2.1: both MUST be accepted)
/// MaskGenAlgorithm ::= AlgorithmIdentifier   -- id-mgf1, parameters = the HashAlgorithm of MGF1
/// </code>
/// Accepted: SHA-256, SHA-384 or SHA-512; MGF1 with the same hash; a salt as long as the hash (RFC 4055 §3.1's
/// recommendation, what RFC 7427 Appendix A and every IKEv2 implementation send, and the only salt length .NET verifies);
/// trailerField 1. The defaults name SHA-1, so parameters that leave out the hash, the MGF or the salt are refused.
/// </summary>
internal static class RsaPss
{
    /// <summary>id-RSASSA-PSS (RFC 4055 §3.1).</summary>
    public const string Oid = "1.2.840.113549.1.1.10";

    /// <summary>id-mgf1 (RFC 4055 §2.2).</summary>
    public const string Mgf1Oid = "1.2.840.113549.1.1.8";

    private static readonly (HashAlgorithmName Hash, string Oid, int Length, string Name)[] Hashes =
    [
        (HashAlgorithmName.SHA256, "2.16.840.1.101.3.4.2.1", 32, "SHA-256"),
        (HashAlgorithmName.SHA384, "2.16.840.1.101.3.4.2.2", 48, "SHA-384"),
        (HashAlgorithmName.SHA512, "2.16.840.1.101.3.4.2.3", 64, "SHA-512"),
    ];

    private static readonly byte[][] Encoded = [.. Hashes.Select(h => Encode(h.Oid, h.Length))];

    /// <summary>
    /// The DER AlgorithmIdentifier this side sends for RSASSA-PSS with <paramref name="hash"/>: the hash and MGF1 hash
    /// with NULL parameters, the salt length stated, trailerField left to its default — byte for byte the form of RFC
    /// 7427 Appendix A and the blob libreswan compares against (it matches AlgorithmIdentifiers exactly).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="hash"/> is not SHA-256, SHA-384 or SHA-512.</exception>
    public static ReadOnlySpan<byte> AlgorithmIdentifier(HashAlgorithmName hash) => Encoded[IndexOf(hash)];

    /// <summary>The readable name for messages and logs, e.g. "RSASSA-PSS with SHA-256".</summary>
    public static string Name(HashAlgorithmName hash) => $"RSASSA-PSS with {Hashes[IndexOf(hash)].Name}";

    /// <summary>
    /// Whether <paramref name="algorithmIdentifier"/> names id-RSASSA-PSS, whatever its parameters or encoding (read as
    /// BER, so that a PSS signature in bad DER is refused by <see cref="TryRead"/> with its reason, not as unknown).
    /// </summary>
    public static bool IsPss(ReadOnlySpan<byte> algorithmIdentifier)
    {
        try
        {
            AsnDecoder.ReadSequence(algorithmIdentifier, AsnEncodingRules.BER, out int offset, out int length, out _);
            return AsnDecoder.ReadObjectIdentifier(algorithmIdentifier.Slice(offset, length), AsnEncodingRules.BER, out _) == Oid;
        }
        catch (AsnContentException)
        {
            return false;
        }
    }

    /// <summary>
    /// Reads an RSASSA-PSS AlgorithmIdentifier strictly (DER, nothing after it, nothing unknown in it).
    /// </summary>
    /// <returns>Null and the hash when accepted; else the reason in one line (which field, what was expected).</returns>
    public static string? TryRead(ReadOnlySpan<byte> algorithmIdentifier, out HashAlgorithmName hash)
    {
        hash = default;
        try
        {
            var outer = new AsnReader(algorithmIdentifier.ToArray(), AsnEncodingRules.DER);
            AsnReader algorithm = outer.ReadSequence();
            if (outer.HasData)
            {
                return "octets follow the AlgorithmIdentifier";
            }
            if (algorithm.ReadObjectIdentifier() is var oid && oid != Oid)
            {
                return $"the algorithm is {oid}, not id-RSASSA-PSS ({Oid})";
            }
            if (!algorithm.HasData)
            {
                return "the RSASSA-PSS-params are missing (RFC 4055 §3.1: a signature names its hash, MGF and salt length)";
            }
            AsnReader parameters = algorithm.ReadSequence();
            if (algorithm.HasData)
            {
                return "octets follow the RSASSA-PSS-params";
            }

            var hashTag = new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true);
            if (!parameters.HasData || !parameters.PeekTag().Equals(hashTag))
            {
                return "the hashAlgorithm is left to its default, SHA-1 (expected SHA-256, SHA-384 or SHA-512)";
            }
            AsnReader hashField = parameters.ReadSequence(hashTag);
            if (ReadHash(hashField.ReadSequence(), "hashAlgorithm", out int index) is { } badHash)
            {
                return badHash;
            }
            if (hashField.HasData)
            {
                return "octets follow the hashAlgorithm";
            }
            (HashAlgorithmName name, _, int length, string hashName) = Hashes[index];

            var mgfTag = new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true);
            if (!parameters.HasData || !parameters.PeekTag().Equals(mgfTag))
            {
                return $"the maskGenAlgorithm is left to its default, MGF1 with SHA-1 (expected MGF1 with {hashName}, the signature's hash)";
            }
            AsnReader mgfField = parameters.ReadSequence(mgfTag);
            AsnReader mgf = mgfField.ReadSequence();
            if (mgfField.HasData)
            {
                return "octets follow the maskGenAlgorithm";
            }
            if (mgf.ReadObjectIdentifier() is var mgfOid && mgfOid != Mgf1Oid)
            {
                return $"the maskGenAlgorithm is {mgfOid}, not MGF1 ({Mgf1Oid})";
            }
            if (!mgf.HasData)
            {
                return "the MGF1 hash is missing";
            }
            if (ReadHash(mgf.ReadSequence(), "MGF1 hash", out int mgfIndex) is { } badMgf)
            {
                return badMgf;
            }
            if (mgf.HasData)
            {
                return "octets follow the MGF1 hash";
            }
            if (mgfIndex != index)
            {
                return $"MGF1 uses {Hashes[mgfIndex].Name}, not the signature's hash {hashName}";
            }

            var saltTag = new Asn1Tag(TagClass.ContextSpecific, 2, isConstructed: true);
            if (!parameters.HasData || !parameters.PeekTag().Equals(saltTag))
            {
                return $"the saltLength is left to its default, 20 (expected {length}, the length of {hashName})";
            }
            AsnReader saltField = parameters.ReadSequence(saltTag);
            if (!saltField.TryReadInt32(out int salt) || saltField.HasData || salt != length)
            {
                return $"the saltLength is not {length}, the length of {hashName} (the only salt length accepted)";
            }

            // trailerField: DER leaves the default (1, 0xBC) out; an encoder that writes it anyway is accepted when it
            // says 1, since that changes nothing in the signature.
            var trailerTag = new Asn1Tag(TagClass.ContextSpecific, 3, isConstructed: true);
            if (parameters.HasData && parameters.PeekTag().Equals(trailerTag))
            {
                AsnReader trailerField = parameters.ReadSequence(trailerTag);
                if (!trailerField.TryReadInt32(out int trailer) || trailerField.HasData || trailer != 1)
                {
                    return "the trailerField is not 1 (trailerFieldBC, the only one RFC 4055 defines)";
                }
            }
            if (parameters.HasData)
            {
                Asn1Tag unknown = parameters.PeekTag();
                return $"the RSASSA-PSS-params carry an unknown field (tag {(unknown.TagClass == TagClass.ContextSpecific ? $"[{unknown.TagValue}]" : unknown.ToString())})";
            }
            hash = name;
            return null;
        }
        catch (AsnContentException)
        {
            return "the AlgorithmIdentifier is not valid DER";
        }
    }

    /// <summary>HashAlgorithm ::= AlgorithmIdentifier with SHA-2 and NULL or absent parameters (RFC 4055 §2.1).</summary>
    private static string? ReadHash(AsnReader hashAlgorithm, string field, out int index)
    {
        string oid = hashAlgorithm.ReadObjectIdentifier();
        index = Array.FindIndex(Hashes, h => h.Oid == oid);
        if (index < 0)
        {
            return oid == "1.3.14.3.2.26"
                ? $"the {field} is SHA-1 (expected SHA-256, SHA-384 or SHA-512)"
                : $"the {field} is {oid} (expected SHA-256, SHA-384 or SHA-512)";
        }
        if (hashAlgorithm.HasData && hashAlgorithm.PeekTag().Equals(Asn1Tag.Null))
        {
            hashAlgorithm.ReadNull();
        }
        return hashAlgorithm.HasData ? $"the {field}'s parameters are not NULL or absent" : null;
    }

    private static byte[] Encode(string hashOid, int saltLength)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(Oid);
            using (writer.PushSequence())
            {
                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                {
                    WriteHash(writer, hashOid);
                }
                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true)))
                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(Mgf1Oid);
                    WriteHash(writer, hashOid);
                }
                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 2, isConstructed: true)))
                {
                    writer.WriteInteger(saltLength);
                }
            }
        }
        return writer.Encode();
    }

    private static void WriteHash(AsnWriter writer, string hashOid)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(hashOid);
            writer.WriteNull();
        }
    }

    private static int IndexOf(HashAlgorithmName hash)
    {
        int index = Array.FindIndex(Hashes, h => h.Hash == hash);
        return index >= 0 ? index : throw new ArgumentException($"RSASSA-PSS in IKE AUTH uses SHA-256, SHA-384 or SHA-512, not {hash.Name}", nameof(hash));
    }
}
