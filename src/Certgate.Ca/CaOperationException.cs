namespace Certgate.Ca;

/// <summary>An operator command cannot be done (no such request, not pending, no such certificate…). The message is
/// meant for the operator as is.</summary>
public sealed class CaOperationException(string message) : Exception(message);
