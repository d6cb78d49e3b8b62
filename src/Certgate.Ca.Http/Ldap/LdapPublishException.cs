namespace Certgate.Ca.Http.Ldap;

/// <summary>
/// Publishing to the LDAP directory failed. The message is one line in the operator's terms (which server, which
/// entry, what went wrong: unreachable, bind refused, no such parent entry …); it never contains the password.
/// </summary>
public sealed class LdapPublishException : Exception
{
    public LdapPublishException(string message)
        : base(message)
    {
    }

    public LdapPublishException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
