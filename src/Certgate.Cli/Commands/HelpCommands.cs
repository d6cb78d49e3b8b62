namespace Certgate.Cli.Commands;

/// <summary><c>certgate help</c>: lists every command.</summary>
internal sealed class HelpCommands : ICommandModule
{
    public void Register(CommandTable table) =>
        table.Add("help", "list the commands", (ctx, args) =>
        {
            args.EnsureAllUsed();
            WriteUsage(table, ctx.Out);
            return 0;
        });

    internal static void WriteUsage(CommandTable table, TextWriter output)
    {
        output.WriteLine("usage: certgate [--state DIR] [--json] [--yes] <command> [| display json]");
        output.WriteLine();
        foreach (CommandTable.Entry e in table.Entries.OrderBy(e => string.Join(' ', e.Path), StringComparer.Ordinal))
        {
            output.WriteLine($"  {string.Join(' ', e.Path),-58} {e.Synopsis}");
        }
    }
}
