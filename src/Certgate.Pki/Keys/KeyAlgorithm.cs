namespace Certgate.Pki.Keys;

/// <summary>The key types Junos offers (<c>type rsa|ecdsa</c>); DSA is deliberately not implemented.</summary>
public enum KeyAlgorithm
{
    Rsa,
    Ecdsa,
}
