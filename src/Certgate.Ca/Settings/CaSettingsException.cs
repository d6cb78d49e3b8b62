namespace Certgate.Ca.Settings;

/// <summary>The settings file is malformed or holds a value out of range; the message names the file and field.</summary>
public sealed class CaSettingsException : Exception
{
    public CaSettingsException(string message) : base(message) { }

    public CaSettingsException(string message, Exception inner) : base(message, inner) { }
}
