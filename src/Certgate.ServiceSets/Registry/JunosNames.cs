using ConfigIpsec = Certgate.Config.Ipsec;
using Certgate.Ipsec.Registry;

namespace Certgate.ServiceSets.Registry;

/// <summary>
/// The one table from the Junos words of <c>services ipsec-vpn</c> (<c>group14</c>, <c>aes-256-gcm</c>,
/// <c>sha-256</c>, <c>hmac-sha-256-128</c>, <c>rsa-signatures</c>) to the IANA registry values of
/// <see cref="Certgate.Ipsec.Registry"/> (issue #13). Each row also names the value of the configuration's typed view
/// (Certgate.Config parses the text and checks it at commit, without knowing the registry), so the compiler looks a row
/// up by that value and the CLI's diagnostics look it up by the text: both read the same row.
/// </summary>
public static class JunosNames
{
    /// <summary>A row of one of the tables: its Junos spelling.</summary>
    public interface INamed
    {
        /// <summary>The Junos spelling.</summary>
        string Name { get; }
    }

    /// <summary>A Junos <c>encryption-algorithm</c>: the IANA Transform Type 1 id and its key length in bits.</summary>
    public sealed record Encryption(string Name, ConfigIpsec.EncryptionAlgorithm Config, EncryptionAlgorithm Id, int KeyBits) : INamed;

    /// <summary>
    /// A Junos IKE <c>authentication-algorithm</c>: the PRF, and the integrity algorithm used with a CBC cipher (with
    /// AES-GCM the hash is the PRF only, RFC 5282 §8).
    /// </summary>
    public sealed record IkeHash(string Name, ConfigIpsec.IkeHashAlgorithm Config, PseudorandomFunction Prf, IntegrityAlgorithm Integrity) : INamed;

    /// <summary>A Junos ESP <c>authentication-algorithm</c>.</summary>
    public sealed record EspIntegrity(string Name, ConfigIpsec.EspIntegrityAlgorithm Config, IntegrityAlgorithm Id) : INamed;

    /// <summary>A Junos <c>dh-group</c> / <c>perfect-forward-secrecy keys</c>: the group number is the IANA Transform Type 4 id.</summary>
    public sealed record Group(string Name, ConfigIpsec.DhGroup Config, DhGroup Id) : INamed;

    /// <summary>A Junos IKE <c>authentication-method</c>.</summary>
    public sealed record Method(string Name, ConfigIpsec.IkeAuthenticationMethod Config, AuthMethod Id) : INamed;

    /// <summary>The supported <c>encryption-algorithm</c> values, in the order they are offered by default.</summary>
    public static readonly IReadOnlyList<Encryption> Encryptions =
    [
        new("aes-128-cbc", ConfigIpsec.EncryptionAlgorithm.Aes128Cbc, EncryptionAlgorithm.ENCR_AES_CBC, 128),
        new("aes-256-cbc", ConfigIpsec.EncryptionAlgorithm.Aes256Cbc, EncryptionAlgorithm.ENCR_AES_CBC, 256),
        new("aes-128-gcm", ConfigIpsec.EncryptionAlgorithm.Aes128Gcm, EncryptionAlgorithm.ENCR_AES_GCM_16, 128),
        new("aes-256-gcm", ConfigIpsec.EncryptionAlgorithm.Aes256Gcm, EncryptionAlgorithm.ENCR_AES_GCM_16, 256),
    ];

    /// <summary>The supported IKE <c>authentication-algorithm</c> values.</summary>
    public static readonly IReadOnlyList<IkeHash> IkeHashes =
    [
        new("sha-256", ConfigIpsec.IkeHashAlgorithm.Sha256, PseudorandomFunction.PRF_HMAC_SHA2_256, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128),
        new("sha-384", ConfigIpsec.IkeHashAlgorithm.Sha384, PseudorandomFunction.PRF_HMAC_SHA2_384, IntegrityAlgorithm.AUTH_HMAC_SHA2_384_192),
        new("sha-512", ConfigIpsec.IkeHashAlgorithm.Sha512, PseudorandomFunction.PRF_HMAC_SHA2_512, IntegrityAlgorithm.AUTH_HMAC_SHA2_512_256),
    ];

    /// <summary>The supported ESP <c>authentication-algorithm</c> values.</summary>
    public static readonly IReadOnlyList<EspIntegrity> EspIntegrities =
    [
        new("hmac-sha-256-128", ConfigIpsec.EspIntegrityAlgorithm.HmacSha256_128, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128),
        new("hmac-sha-384-192", ConfigIpsec.EspIntegrityAlgorithm.HmacSha384_192, IntegrityAlgorithm.AUTH_HMAC_SHA2_384_192),
        new("hmac-sha-512-256", ConfigIpsec.EspIntegrityAlgorithm.HmacSha512_256, IntegrityAlgorithm.AUTH_HMAC_SHA2_512_256),
    ];

    /// <summary>The supported <c>dh-group</c> values.</summary>
    public static readonly IReadOnlyList<Group> Groups =
    [
        new("group14", ConfigIpsec.DhGroup.Group14, DhGroup.MODP_2048),
        new("group19", ConfigIpsec.DhGroup.Group19, DhGroup.ECP_256),
        new("group20", ConfigIpsec.DhGroup.Group20, DhGroup.ECP_384),
        new("group21", ConfigIpsec.DhGroup.Group21, DhGroup.ECP_521),
    ];

    /// <summary>The supported IKE <c>authentication-method</c> values.</summary>
    public static readonly IReadOnlyList<Method> Methods =
    [
        new("pre-shared-keys", ConfigIpsec.IkeAuthenticationMethod.PreSharedKeys, AuthMethod.SHARED_KEY_MESSAGE_INTEGRITY_CODE),
        new("rsa-signatures", ConfigIpsec.IkeAuthenticationMethod.RsaSignatures, AuthMethod.RSA_DIGITAL_SIGNATURE),
        new("ecdsa-signatures-256", ConfigIpsec.IkeAuthenticationMethod.EcdsaSignatures256, AuthMethod.ECDSA_SHA_256_P256),
        new("ecdsa-signatures-384", ConfigIpsec.IkeAuthenticationMethod.EcdsaSignatures384, AuthMethod.ECDSA_SHA_384_P384),
    ];

    /// <summary>The row of a configured value (every value of the typed view has one: a test checks it).</summary>
    public static Encryption Of(ConfigIpsec.EncryptionAlgorithm value) => Row(Encryptions, r => r.Config == value, value);

    /// <inheritdoc cref="Of(ConfigIpsec.EncryptionAlgorithm)"/>
    public static IkeHash Of(ConfigIpsec.IkeHashAlgorithm value) => Row(IkeHashes, r => r.Config == value, value);

    /// <inheritdoc cref="Of(ConfigIpsec.EncryptionAlgorithm)"/>
    public static EspIntegrity Of(ConfigIpsec.EspIntegrityAlgorithm value) => Row(EspIntegrities, r => r.Config == value, value);

    /// <inheritdoc cref="Of(ConfigIpsec.EncryptionAlgorithm)"/>
    public static Group Of(ConfigIpsec.DhGroup value) => Row(Groups, r => r.Config == value, value);

    /// <inheritdoc cref="Of(ConfigIpsec.EncryptionAlgorithm)"/>
    public static Method Of(ConfigIpsec.IkeAuthenticationMethod value) => Row(Methods, r => r.Config == value, value);

    /// <summary>The row named <paramref name="name"/> (the Junos spelling, case-sensitive as Junos is), or null.</summary>
    public static T? Find<T>(IReadOnlyList<T> table, string name) where T : class, INamed
    {
        ArgumentNullException.ThrowIfNull(table);
        foreach (T row in table)
        {
            if (row.Name == name)
            {
                return row;
            }
        }
        return null;
    }

    /// <summary>"a, b, c or d": the names of a table, for an error that says what was expected.</summary>
    public static string Expected<T>(IReadOnlyList<T> table) where T : INamed
    {
        ArgumentNullException.ThrowIfNull(table);
        string[] names = [.. table.Select(r => r.Name)];
        return names.Length == 1 ? names[0] : $"{string.Join(", ", names[..^1])} or {names[^1]}";
    }

    private static T Row<T, TValue>(IReadOnlyList<T> table, Func<T, bool> match, TValue value) =>
        table.FirstOrDefault(match) ?? throw new InvalidOperationException($"{typeof(TValue).Name}.{value} has no row in {nameof(JunosNames)}");
}
