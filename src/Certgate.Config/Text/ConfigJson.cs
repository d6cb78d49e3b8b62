using System.Text;
using System.Text.Json;
using Certgate.Config.Schema;
using Certgate.Config.Tree;

namespace Certgate.Config.Text;

/// <summary>
/// A JSON rendering of a tree for scripts: containers are objects, list entries are arrays of objects with a
/// <c>name</c> member, leaf-lists are arrays, flags are <c>true</c>. Secrets stay in their <c>$9$</c> form.
/// </summary>
public static class ConfigJson
{
    public static string Write(ConfigNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            WriteObject(w, node);
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteObject(Utf8JsonWriter w, ConfigNode node)
    {
        w.WriteStartObject();
        if (node.Key is not null)
        {
            w.WriteString("name", node.Key);
        }
        foreach (IGrouping<string, ConfigNode> g in node.Children.GroupBy(c => c.Name))
        {
            ConfigNode first = g.First();
            w.WritePropertyName(g.Key);
            switch (first.Statement.Kind)
            {
                case StatementKind.Leaf:
                    w.WriteStringValue(first.Value);
                    break;
                case StatementKind.LeafList:
                    w.WriteStartArray();
                    foreach (string v in first.Values)
                    {
                        w.WriteStringValue(v);
                    }
                    w.WriteEndArray();
                    break;
                case StatementKind.Flag:
                    w.WriteBooleanValue(true);
                    break;
                case StatementKind.List:
                    w.WriteStartArray();
                    foreach (ConfigNode e in g)
                    {
                        WriteObject(w, e);
                    }
                    w.WriteEndArray();
                    break;
                default:
                    WriteObject(w, first);
                    break;
            }
        }
        w.WriteEndObject();
    }
}
