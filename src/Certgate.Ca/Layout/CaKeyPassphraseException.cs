namespace Certgate.Ca.Layout;

/// <summary>
/// A CA or RA key file is encrypted (PKCS#8 PBES2) and no passphrase was given (<see cref="Missing"/>), or the one given
/// does not open it. The message names the key file, never the passphrase.
/// </summary>
public sealed class CaKeyPassphraseException(string message, string keyPath, bool missing) : Exception(message)
{
    /// <summary>The key file that could not be opened.</summary>
    public string KeyPath { get; } = keyPath;

    /// <summary>True when no passphrase was given; false when the passphrase is wrong.</summary>
    public bool Missing { get; } = missing;
}
