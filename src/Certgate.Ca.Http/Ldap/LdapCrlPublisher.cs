using System.DirectoryServices.Protocols;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Certgate.Ca.Settings;
using Certgate.Ca.Storage;

namespace Certgate.Ca.Http.Ldap;

/// <summary>
/// Publishes the CA's CRL (and CA certificate) to an LDAP directory, as RFC 4523 / RFC 2587 relying parties read
/// them: <c>certificateRevocationList;binary</c> and <c>cACertificate;binary</c> on the CA's entry.
/// </summary>
/// <remarks>
/// Order of work for one publication: read the bind password from its file → connect and bind (LDAPv3, simple
/// bind, or anonymous when no bind DN is set) → read the entry's objectClass → either add the entry
/// (<c>applicationProcess</c> + <c>pkiCA</c>, when it is missing and its RDN is <c>cn=…</c>) or send ONE modify that
/// replaces both attributes (adding the <c>pkiCA</c> auxiliary class when the entry has neither it nor
/// <c>certificationAuthority</c>). One modify operation is atomic in LDAP (RFC 4511 §4.6: "the entire list of
/// modifications MUST be performed in the order they are listed as a single atomic operation"), so a reader never
/// sees a new CRL beside an old CA certificate, and a replace leaves exactly one value.
/// On Linux System.DirectoryServices.Protocols uses OpenLDAP's libldap (Debian: libldap-2.5-0).
/// </remarks>
public sealed class LdapCrlPublisher
{
    /// <summary>The attribute holding the DER CRL (RFC 4523 §2.2: always transferred with the ;binary option).</summary>
    public const string CrlAttribute = "certificateRevocationList;binary";

    /// <summary>The attribute holding the DER CA certificate.</summary>
    public const string CaCertificateAttribute = "cACertificate;binary";

    private readonly string _host;
    private readonly int _port;
    private readonly bool _tls;
    private readonly string? _bindDn;
    private readonly string? _passwordFile;
    private readonly byte[] _caCertificate;
    private readonly TextWriter? _log;
    // One publication at a time, so an older CRL never overwrites a newer one sent a moment later.
    private readonly SemaphoreSlim _gate = new(1, 1);
    private long _lastPublishedNumber = -1;

    /// <summary>Creates a publisher for <paramref name="settings"/>.</summary>
    /// <param name="settings">Enabled LDAP settings (URL and entry DN set).</param>
    /// <param name="caCertificate">The CA certificate, published beside the CRL.</param>
    /// <param name="baseDirectory">Directory a relative <see cref="LdapPublishSettings.PasswordFile"/> is resolved against (the CA's DIR); the current directory when null.</param>
    /// <param name="log">Where one line per publication goes (null: nowhere). The password never appears.</param>
    /// <exception cref="ArgumentNullException"><paramref name="settings"/> or <paramref name="caCertificate"/> is null.</exception>
    /// <exception cref="ArgumentException">Publishing is disabled, the URL is not <c>ldap://host[:port]</c> or
    /// <c>ldaps://host[:port]</c>, the entry DN is missing, or a bind DN is given without a password file.</exception>
    public LdapCrlPublisher(LdapPublishSettings settings, X509Certificate2 caCertificate, string? baseDirectory = null, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(caCertificate);
        if (!settings.Enabled)
        {
            throw new ArgumentException("LDAP publishing is disabled (ldap.url is not set)", nameof(settings));
        }
        if (!Uri.TryCreate(settings.Url, UriKind.Absolute, out Uri? url) || (url.Scheme != "ldap" && url.Scheme != "ldaps") ||
            string.IsNullOrEmpty(url.Host) || url.AbsolutePath.Trim('/').Length > 0)
        {
            throw new ArgumentException($"ldap.url '{settings.Url}': expected ldap://host[:port] or ldaps://host[:port]", nameof(settings));
        }
        if (string.IsNullOrWhiteSpace(settings.EntryDn))
        {
            throw new ArgumentException("ldap.entryDn is required when ldap.url is set", nameof(settings));
        }
        if (settings.BindDn is not null && settings.PasswordFile is null)
        {
            throw new ArgumentException($"ldap.bindDn '{settings.BindDn}' needs ldap.passwordFile (the file holding its password)", nameof(settings));
        }
        _tls = url.Scheme == "ldaps";
        _host = url.IdnHost;
        _port = url.IsDefaultPort || url.Port <= 0 ? (_tls ? 636 : 389) : url.Port;
        Server = $"{url.Scheme}://{url.Authority}";
        EntryDn = settings.EntryDn.Trim();
        _bindDn = settings.BindDn;
        _passwordFile = settings.PasswordFile is null ? null : Path.GetFullPath(settings.PasswordFile, baseDirectory ?? Environment.CurrentDirectory);
        _caCertificate = caCertificate.RawData;
        _log = log;
    }

    /// <summary>
    /// The publisher the CA's settings ask for, or null when <see cref="CaSettings.Ldap"/> is disabled. A relative
    /// password file is resolved against <paramref name="caDirectory"/>.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="ca"/> is null.</exception>
    /// <exception cref="ArgumentException">The LDAP settings are inconsistent (see the constructor).</exception>
    public static LdapCrlPublisher? FromSettings(CertificateAuthority ca, string? caDirectory = null, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(ca);
        return ca.Settings.Ldap.Enabled ? new LdapCrlPublisher(ca.Settings.Ldap, ca.Certificate, caDirectory, log) : null;
    }

    /// <summary>The number of the last CRL this publisher stored successfully (-1: none yet).</summary>
    public long LastPublishedNumber => Interlocked.Read(ref _lastPublishedNumber);

    /// <summary>
    /// Publishes the CA's current CRL (issuing one when due, as the HTTP endpoint does) unless this publisher has
    /// already stored that CRL number; called after each revocation and on the CRL schedule.
    /// </summary>
    /// <param name="ca">The authority whose CRL is published.</param>
    /// <param name="force">Publish even when the number was already published (e.g. the directory was restored).</param>
    /// <param name="cancellationToken">Cancels before the directory is contacted.</param>
    /// <returns>True when the directory was written.</returns>
    /// <exception cref="LdapPublishException">The directory could not be updated (see the message).</exception>
    public async Task<bool> PublishCurrentAsync(CertificateAuthority ca, bool force = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ca);
        CrlRecord crl = await ca.GetCurrentCrlAsync("ldap-publisher", cancellationToken).ConfigureAwait(false);
        if (!force && crl.Number == LastPublishedNumber)
        {
            return false;
        }
        await PublishAsync(crl, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>The server, as <c>ldap://host:port</c>.</summary>
    public string Server { get; }

    /// <summary>The CA's entry.</summary>
    public string EntryDn { get; }

    /// <summary>How long one LDAP operation (connect, bind, search, modify) may take.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Publishes <paramref name="crl"/> (logging its number).</summary>
    /// <exception cref="LdapPublishException">The directory could not be updated (see the message).</exception>
    public Task PublishAsync(CrlRecord crl, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(crl);
        return PublishAsync(crl.Der, crl.Number, cancellationToken);
    }

    /// <summary>Replaces the entry's CRL with <paramref name="crlDer"/> (and its CA certificate), creating the entry when missing.</summary>
    /// <param name="crlDer">The DER CRL, exactly as served over HTTP.</param>
    /// <param name="cancellationToken">Cancels before the directory is contacted; an operation in flight runs to its timeout.</param>
    /// <exception cref="ArgumentException"><paramref name="crlDer"/> is empty.</exception>
    /// <exception cref="LdapPublishException">The directory could not be updated: server unreachable, bind refused,
    /// no such parent entry, access denied, schema violation, password file unreadable, libldap missing.</exception>
    public Task PublishAsync(byte[] crlDer, CancellationToken cancellationToken = default) => PublishAsync(crlDer, null, cancellationToken);

    private async Task PublishAsync(byte[] crlDer, long? number, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(crlDer);
        if (crlDer.Length == 0)
        {
            throw new ArgumentException("the CRL is empty", nameof(crlDer));
        }
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // libldap's calls block; keep them off the caller's thread.
            string action = await Task.Run(() => Publish(crlDer), cancellationToken).ConfigureAwait(false);
            if (number is long n)
            {
                Interlocked.Exchange(ref _lastPublishedNumber, n);
            }
            string what = number is null ? "CRL" : $"CRL {number}";
            _log?.WriteLine($"ldap: {action} {what} ({crlDer.Length} bytes) on '{EntryDn}' at {Server}");
        }
        finally
        {
            _gate.Release();
        }
    }

    private string Publish(byte[] crlDer)
    {
        string? password = ReadPassword();
        try
        {
            using LdapConnection connection = Connect(password);
            return Publish(connection, crlDer);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or PlatformNotSupportedException)
        {
            // System.DirectoryServices.Protocols looks for libldap.so.2, then libldap-2.6.so.0, -2.5.so.0, -2.4.so.2.
            throw new LdapPublishException(
                "cannot publish to LDAP: System.DirectoryServices.Protocols could not load OpenLDAP's client library " +
                $"(libldap.so.2 or libldap-2.5.so.0; on Debian install libldap2 or libldap-2.5-0): {Innermost(e).Message}", e);
        }
    }

    private string Publish(LdapConnection connection, byte[] crlDer)
    {
        try
        {
            connection.Bind();
        }
        catch (LdapException e)
        {
            throw Translate(e, "bind");
        }
        catch (DirectoryOperationException e)
        {
            throw Translate(e, "bind");
        }

        string[]? objectClasses = ReadObjectClasses(connection);
        if (objectClasses is null)
        {
            if (TryAdd(connection, crlDer))
            {
                return "created entry with";
            }
            objectClasses = ReadObjectClasses(connection) ?? throw new LdapPublishException(
                $"LDAP entry '{EntryDn}' at {Server} vanished while it was being published");
        }
        Replace(connection, crlDer, objectClasses);
        return "replaced";
    }

    private LdapConnection Connect(string? password)
    {
        var identifier = new LdapDirectoryIdentifier(_host, _port, fullyQualifiedDnsHostName: true, connectionless: false);
        var connection = _bindDn is null
            ? new LdapConnection(identifier, null, AuthType.Anonymous)
            : new LdapConnection(identifier, new NetworkCredential(_bindDn, password), AuthType.Basic);
        try
        {
            connection.Timeout = OperationTimeout;
            connection.AutoBind = false;
            connection.SessionOptions.ProtocolVersion = 3;
            connection.SessionOptions.ReferralChasing = ReferralChasingOptions.None;
            if (_tls)
            {
                connection.SessionOptions.SecureSocketLayer = true;
            }
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The entry's object classes, or null when the entry does not exist.</summary>
    private string[]? ReadObjectClasses(LdapConnection connection)
    {
        var request = new SearchRequest(EntryDn, "(objectClass=*)", SearchScope.Base, "objectClass");
        try
        {
            var response = (SearchResponse)connection.SendRequest(request, OperationTimeout);
            if (response.Entries.Count == 0)
            {
                return null;
            }
            DirectoryAttribute? attribute = response.Entries[0].Attributes["objectClass"];
            return attribute is null ? [] : (string[])attribute.GetValues(typeof(string));
        }
        catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.NoSuchObject)
        {
            return null;
        }
        catch (DirectoryOperationException e)
        {
            throw Translate(e, "read");
        }
        catch (LdapException e)
        {
            throw Translate(e, "read");
        }
    }

    /// <summary>Adds the entry; false when someone else created it first.</summary>
    private bool TryAdd(LdapConnection connection, byte[] crlDer)
    {
        if (!LdapDn.TrySplitFirstRdn(EntryDn, out string type, out string value, out string parent) ||
            !type.Equals("cn", StringComparison.OrdinalIgnoreCase))
        {
            throw new LdapPublishException(
                $"LDAP entry '{EntryDn}' does not exist at {Server}, and the CA only creates entries named cn=…; " +
                "create it with an auxiliary objectClass pkiCA (or certificationAuthority)");
        }
        var request = new AddRequest(EntryDn,
            new DirectoryAttribute("objectClass", "applicationProcess", "pkiCA"),
            new DirectoryAttribute("cn", value),
            new DirectoryAttribute(CrlAttribute, crlDer),
            new DirectoryAttribute(CaCertificateAttribute, _caCertificate));
        try
        {
            connection.SendRequest(request, OperationTimeout);
            return true;
        }
        catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.EntryAlreadyExists)
        {
            return false;
        }
        catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.NoSuchObject)
        {
            throw new LdapPublishException(
                $"cannot create LDAP entry '{EntryDn}' at {Server}: its parent entry '{parent}' does not exist", e);
        }
        catch (DirectoryOperationException e)
        {
            throw Translate(e, "create");
        }
        catch (LdapException e)
        {
            throw Translate(e, "create");
        }
    }

    private void Replace(LdapConnection connection, byte[] crlDer, string[] objectClasses)
    {
        var request = new ModifyRequest { DistinguishedName = EntryDn };
        bool hasCaClass = objectClasses.Any(c =>
            c.Equals("pkiCA", StringComparison.OrdinalIgnoreCase) || c.Equals("certificationAuthority", StringComparison.OrdinalIgnoreCase) ||
            c.Equals("certificationAuthority-V2", StringComparison.OrdinalIgnoreCase));
        if (!hasCaClass)
        {
            var addClass = new DirectoryAttributeModification { Name = "objectClass", Operation = DirectoryAttributeOperation.Add };
            addClass.Add("pkiCA");
            request.Modifications.Add(addClass);
        }
        var crl = new DirectoryAttributeModification { Name = CrlAttribute, Operation = DirectoryAttributeOperation.Replace };
        crl.Add(crlDer);
        request.Modifications.Add(crl);
        var cert = new DirectoryAttributeModification { Name = CaCertificateAttribute, Operation = DirectoryAttributeOperation.Replace };
        cert.Add(_caCertificate);
        request.Modifications.Add(cert);
        try
        {
            connection.SendRequest(request, OperationTimeout);
        }
        catch (DirectoryOperationException e)
        {
            throw Translate(e, "update");
        }
        catch (LdapException e)
        {
            throw Translate(e, "update");
        }
    }

    private string? ReadPassword()
    {
        if (_passwordFile is null)
        {
            return null;
        }
        string text;
        try
        {
            text = File.ReadAllText(_passwordFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LdapPublishException($"cannot read the LDAP bind password file '{_passwordFile}': {e.Message}", e);
        }
        // A file written with `echo` ends in a newline that is not part of the password.
        string password = text.TrimEnd('\r', '\n');
        if (password.Length == 0)
        {
            throw new LdapPublishException($"the LDAP bind password file '{_passwordFile}' is empty");
        }
        return password;
    }

    // libldap result codes (RFC 4511 and ldap.h's client-side codes).
    private const int LdapInvalidCredentials = 49;
    private const int LdapServerDown = 81;
    private const int LdapTimeout = 85;
    private const int LdapConnectError = 91;

    private LdapPublishException Translate(LdapException e, string operation) => e.ErrorCode switch
    {
        LdapServerDown or LdapConnectError =>
            new LdapPublishException($"LDAP server {Server} is unreachable (connection refused or closed): {e.Message}", e),
        LdapTimeout => new LdapPublishException($"LDAP server {Server} did not answer within {OperationTimeout.TotalSeconds:0} s ({operation})", e),
        LdapInvalidCredentials => BindRefused(e),
        _ => new LdapPublishException($"LDAP {operation} of '{EntryDn}' at {Server} failed: {e.Message} (code {e.ErrorCode})", e),
    };

    private LdapPublishException Translate(DirectoryOperationException e, string operation)
    {
        ResultCode? code = e.Response?.ResultCode;
        string detail = string.IsNullOrEmpty(e.Response?.ErrorMessage) ? e.Message : e.Response!.ErrorMessage;
        return code switch
        {
            (ResultCode)LdapInvalidCredentials => BindRefused(e),
            ResultCode.InsufficientAccessRights =>
                new LdapPublishException($"LDAP server {Server} refused to {operation} '{EntryDn}' for {BindName}: insufficient access rights", e),
            ResultCode.StrongAuthRequired or ResultCode.InappropriateAuthentication when _bindDn is null =>
                new LdapPublishException($"LDAP server {Server} refused to {operation} '{EntryDn}' without a bind: set ldap.bindDn and ldap.passwordFile", e),
            ResultCode.NoSuchObject => new LdapPublishException($"LDAP entry '{EntryDn}' does not exist at {Server}", e),
            // slapd checks the certificateList / certificate syntax, so corrupt DER is refused here.
            ResultCode.InvalidAttributeSyntax =>
                new LdapPublishException($"LDAP server {Server} refused a value for '{EntryDn}' as malformed: {detail}", e),
            ResultCode.ObjectClassViolation or ResultCode.UndefinedAttributeType =>
                new LdapPublishException($"LDAP server {Server} rejected the {operation} of '{EntryDn}' ({code}): {detail}; " +
                    "the server needs the core schema (pkiCA, certificateRevocationList)", e),
            _ => new LdapPublishException($"LDAP {operation} of '{EntryDn}' at {Server} failed ({code}): {detail}", e),
        };
    }

    private string BindName => _bindDn is null ? "anonymous" : $"'{_bindDn}'";

    private LdapPublishException BindRefused(Exception e) =>
        new($"LDAP bind as {BindName} refused by {Server}: invalid credentials (check ldap.bindDn and the password file)", e);

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }
        return e;
    }
}
