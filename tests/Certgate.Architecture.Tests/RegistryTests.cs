using System.Reflection;

namespace Certgate.Architecture.Tests;

/// <summary>
/// One place for each IANA IKEv2 registry (issue #13): the enums of <c>Certgate.Ipsec.Registry</c> are the only ones
/// in any shipped assembly that spell registry members or carry a registry enum's name. Copies had drifted (one had
/// ID_KEY_ID, another not) and were bridged with casts; these checks fail when one is added again.
/// </summary>
public sealed class RegistryTests
{
    private const string RegistryNamespace = "Certgate.Ipsec.Registry";

    /// <summary>One member of each registry, as IANA spells it: no other enum may have any of them.</summary>
    private static readonly string[] IanaMembers =
    [
        "INVALID_KE_PAYLOAD", "NO_PROPOSAL_CHOSEN", "ENCR_AES_GCM_16", "ENCR_AES_CBC", "PRF_HMAC_SHA2_256", "AUTH_HMAC_SHA2_256_128",
        "MODP_2048", "ECP_256", "ID_FQDN", "ID_KEY_ID", "ID_DER_ASN1_DN", "RSA_DIGITAL_SIGNATURE", "SHARED_KEY_MESSAGE_INTEGRITY_CODE",
        "ECDSA_SHA_256_P256", "DIGITAL_SIGNATURE", "SHA2_256",
    ];

    /// <summary>
    /// Enums outside the registry that may share a registry enum's name, with the reason. Certgate.Config parses the
    /// Junos text into its own typed view (it may depend on Certgate.Net only); ServiceSets' JunosNames maps each of
    /// those values to the registry in one table.
    /// </summary>
    private static readonly Dictionary<string, string> AllowedNamesakes = new(StringComparer.Ordinal)
    {
        ["Certgate.Config.Ipsec.EncryptionAlgorithm"] = "the Junos encryption-algorithm of the configuration view",
        ["Certgate.Config.Ipsec.DhGroup"] = "the Junos dh-group of the configuration view",
    };

    [Fact]
    public void Registry_enums_are_in_Certgate_Ipsec_Registry()
    {
        List<Type> registry = [.. Enums().Where(t => t.Namespace == RegistryNamespace)];
        string[] expected = ["ExchangeType", "PayloadType", "TransformType", "EncryptionAlgorithm", "PseudorandomFunction", "IntegrityAlgorithm",
            "DhGroup", "IdType", "AuthMethod", "SignatureHash", "NotifyType"];
        Assert.All(expected, name => Assert.Contains(registry, t => t.Name == name));
        Assert.All(registry, t => Assert.Equal("Certgate.Ipsec", t.Assembly.GetName().Name));
    }

    [Fact]
    public void No_enum_outside_the_registry_spells_an_IANA_registry_member()
    {
        var copies = Enums()
            .Where(t => t.Namespace != RegistryNamespace)
            .SelectMany(t => Enum.GetNames(t).Where(IanaMembers.Contains).Select(m => $"{t.FullName}.{m} ({t.Assembly.GetName().Name})"))
            .ToList();
        Assert.True(copies.Count == 0, $"a copy of an IANA registry enum: {string.Join(", ", copies)}; use {RegistryNamespace}");
    }

    [Fact]
    public void Each_IANA_member_is_in_exactly_one_enum()
    {
        foreach (string member in IanaMembers)
        {
            var holders = Enums().Where(t => Enum.GetNames(t).Contains(member)).Select(t => t.FullName).ToList();
            Assert.True(holders.Count == 1, $"{member} is in {holders.Count} enums ({string.Join(", ", holders)}); it belongs in {RegistryNamespace} only");
        }
    }

    [Fact]
    public void No_enum_outside_the_registry_takes_a_registry_enum_name()
    {
        var names = Enums().Where(t => t.Namespace == RegistryNamespace).Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var namesakes = Enums()
            .Where(t => t.Namespace != RegistryNamespace && names.Contains(t.Name) && !AllowedNamesakes.ContainsKey(t.FullName!))
            .Select(t => $"{t.FullName} ({t.Assembly.GetName().Name})")
            .ToList();
        Assert.True(namesakes.Count == 0, $"a second copy of a registry enum: {string.Join(", ", namesakes)}; use {RegistryNamespace}");
    }

    /// <summary>Every enum of every shipped Certgate assembly (the test assemblies excluded).</summary>
    private static IEnumerable<Type> Enums() =>
        Directory.EnumerateFiles(AppContext.BaseDirectory, "Certgate.*.dll")
            .Append(Path.Combine(AppContext.BaseDirectory, "certgate.dll"))
            .Where(f => !Path.GetFileNameWithoutExtension(f).EndsWith(".Tests", StringComparison.Ordinal))
            .Select(Assembly.LoadFrom)
            .SelectMany(Types)
            .Where(t => t.IsEnum);

    private static Type[] Types(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            return [.. e.Types.OfType<Type>()];
        }
    }
}
