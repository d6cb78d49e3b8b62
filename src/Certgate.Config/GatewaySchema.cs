using Certgate.Config.Pki;
using Certgate.Config.Schema;

namespace Certgate.Config;

/// <summary>
/// The schema of the gateway's configuration: every subsystem's statements. A new hierarchy
/// (<c>services ipsec-vpn</c>, <c>services service-set</c>, <c>interfaces</c>, <c>routing-options</c>) is one more
/// <c>Declare(schema)</c> call here; the engine needs no change.
/// </summary>
public static class GatewaySchema
{
    private static readonly Lazy<ConfigSchema> Shared = new(Create);

    /// <summary>The shared, fully declared schema.</summary>
    public static ConfigSchema Instance => Shared.Value;

    /// <summary>Builds a new schema with every hierarchy declared.</summary>
    public static ConfigSchema Create()
    {
        var schema = new ConfigSchema();
        PkiSchema.Declare(schema);
        Ipsec.ServiceSetSchema.Declare(schema);
        return schema;
    }
}
