using System.Formats.Asn1;
using System.Net.Sockets;

namespace Certgate.Gateway.Crl;

/// <summary>
/// LDAP CRL download: <c>ldap://host:port/DN?certificateRevocationList;binary</c> (RFC 4516; the attribute
/// defaults to <c>certificateRevocationList;binary</c>, the scope is base). Anonymous bind, as CDPs are read.
/// </summary>
/// <remarks>
/// The LDAP server is as untrusted as an HTTP one: its answer is read with its own small LDAPv3 client (RFC 4511:
/// anonymous simple bind, one base-scope search, unbind) so that each message's length is checked against the
/// limit before anything is buffered — the libldap behind System.DirectoryServices.Protocols reads a whole answer
/// of any size first. Flow: connect → BindRequest → BindResponse(success) → SearchRequest(base, the attribute) →
/// SearchResultEntry… SearchResultDone → UnbindRequest. The whole exchange is bounded by the timeout.
/// </remarks>
public sealed class LdapCrlDownloader : ICrlDownloader
{
    private const string DefaultAttribute = "certificateRevocationList;binary";

    // RFC 4511 §4.2 and §4.5.1 protocol operation tags ([APPLICATION n]).
    private static readonly Asn1Tag BindRequestTag = new(TagClass.Application, 0, isConstructed: true);
    private static readonly Asn1Tag BindResponseTag = new(TagClass.Application, 1, isConstructed: true);
    private static readonly Asn1Tag SearchRequestTag = new(TagClass.Application, 3, isConstructed: true);
    private static readonly Asn1Tag SearchResultEntryTag = new(TagClass.Application, 4, isConstructed: true);
    private static readonly Asn1Tag SearchResultDoneTag = new(TagClass.Application, 5, isConstructed: true);
    private static readonly Asn1Tag SearchResultReferenceTag = new(TagClass.Application, 19, isConstructed: true);

    private readonly TimeSpan _timeout;
    private readonly long _maxBytes;

    /// <param name="timeout">The whole exchange, connect to unbind (15 s by default).</param>
    /// <param name="maxBytes">The largest LDAP message accepted (64 MiB by default, as for HTTP).</param>
    public LdapCrlDownloader(TimeSpan? timeout = null, long maxBytes = 64L * 1024 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1024, nameof(maxBytes));
        _timeout = timeout ?? TimeSpan.FromSeconds(15);
        _maxBytes = maxBytes;
    }

    public bool Handles(Uri url) => url.Scheme == "ldap";

    public async Task<byte[]> DownloadAsync(Uri url, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        (string dn, string attribute) = ParseUrl(url);
        int port = url.IsDefaultPort || url.Port <= 0 ? 389 : url.Port;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_timeout);
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(url.Host, port, deadline.Token).ConfigureAwait(false);
            NetworkStream stream = client.GetStream();

            await stream.WriteAsync(BindRequest(1), deadline.Token).ConfigureAwait(false);
            (Asn1Tag bindTag, AsnReader bind) = await ReadMessageAsync(stream, 1, url, deadline.Token).ConfigureAwait(false);
            if (bindTag != BindResponseTag)
            {
                throw new CrlDownloadException($"{url}: the LDAP server answered the bind with something else");
            }
            (int bindCode, string bindWhy) = ReadResult(bind);
            if (bindCode != 0)
            {
                throw new CrlDownloadException($"{url}: the LDAP server refused an anonymous bind ({Describe(bindCode, bindWhy)})");
            }

            await stream.WriteAsync(SearchRequest(2, dn, attribute), deadline.Token).ConfigureAwait(false);
            byte[]? crl = null;
            while (true)
            {
                (Asn1Tag tag, AsnReader op) = await ReadMessageAsync(stream, 2, url, deadline.Token).ConfigureAwait(false);
                if (tag == SearchResultEntryTag)
                {
                    crl ??= ValueOf(op, attribute);
                }
                else if (tag == SearchResultDoneTag)
                {
                    (int code, string why) = ReadResult(op);
                    if (code == 32)
                    {
                        throw new CrlDownloadException($"{url}: the entry {dn} does not exist");
                    }
                    if (code != 0)
                    {
                        throw new CrlDownloadException($"{url}: the search failed ({Describe(code, why)})");
                    }
                    break;
                }
                else if (tag != SearchResultReferenceTag)
                {
                    throw new CrlDownloadException($"{url}: the LDAP server answered the search with something else");
                }
            }
            // UnbindRequest ::= [APPLICATION 2] NULL; the server closes without an answer (RFC 4511 §4.3).
            await stream.WriteAsync(new byte[] { 0x30, 0x05, 0x02, 0x01, 0x03, 0x42, 0x00 }, deadline.Token).ConfigureAwait(false);
            return crl ?? throw new CrlDownloadException($"{url}: the entry {dn} has no {attribute} value");
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CrlDownloadException($"{url}: no answer within {_timeout.TotalSeconds:0} seconds", e);
        }
        catch (SocketException e)
        {
            throw new CrlDownloadException($"{url}: cannot connect to the LDAP server ({e.SocketErrorCode})", e);
        }
        catch (IOException e)
        {
            throw new CrlDownloadException($"{url}: the LDAP connection broke ({e.Message})", e);
        }
        catch (AsnContentException e)
        {
            throw new CrlDownloadException($"{url}: the LDAP server sent a malformed message", e);
        }
    }

    /// <summary>Splits an LDAP URL into its DN and attribute.</summary>
    /// <exception cref="CrlDownloadException">No DN in the URL.</exception>
    public static (string Dn, string Attribute) ParseUrl(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        string dn = Uri.UnescapeDataString(url.AbsolutePath.TrimStart('/'));
        if (dn.Length == 0)
        {
            throw new CrlDownloadException($"{url}: the LDAP URL names no entry (expected ldap://host/DN?certificateRevocationList;binary)");
        }
        string query = Uri.UnescapeDataString(url.Query.TrimStart('?'));
        string attribute = query.Split('?')[0];
        return (dn, attribute.Length == 0 ? DefaultAttribute : attribute);
    }

    /// <summary>BindRequest ::= [APPLICATION 0] SEQUENCE { version INTEGER (3), name LDAPDN (""), simple [0] "" }.</summary>
    private static byte[] BindRequest(int messageId)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteInteger(messageId);
            using (w.PushSequence(BindRequestTag))
            {
                w.WriteInteger(3);
                w.WriteOctetString([]);
                w.WriteOctetString([], new Asn1Tag(TagClass.ContextSpecific, 0));
            }
        }
        return w.Encode();
    }

    /// <summary>
    /// SearchRequest ::= [APPLICATION 3] SEQUENCE { baseObject, scope baseObject(0), derefAliases neverDerefAliases(0),
    /// sizeLimit 1, timeLimit, typesOnly FALSE, filter present [7] "objectClass", attributes { attribute } }.
    /// </summary>
    private byte[] SearchRequest(int messageId, string dn, string attribute)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteInteger(messageId);
            using (w.PushSequence(SearchRequestTag))
            {
                w.WriteOctetString(System.Text.Encoding.UTF8.GetBytes(dn));
                w.WriteEnumeratedValue(SearchScope.BaseObject);
                w.WriteEnumeratedValue(DerefAliases.NeverDerefAliases);
                w.WriteInteger(1);
                w.WriteInteger((long)Math.Ceiling(_timeout.TotalSeconds));
                w.WriteBoolean(false);
                w.WriteOctetString("objectClass"u8, new Asn1Tag(TagClass.ContextSpecific, 7));
                using (w.PushSequence())
                {
                    w.WriteOctetString(System.Text.Encoding.UTF8.GetBytes(attribute));
                }
            }
        }
        return w.Encode();
    }

    /// <summary>
    /// Reads one LDAPMessage ::= SEQUENCE { messageID, protocolOp, controls [0] OPTIONAL }. RFC 4511 §5.1: only the
    /// definite form of length is used, so the length is known, and checked, before the body is read.
    /// </summary>
    private async Task<(Asn1Tag Tag, AsnReader Op)> ReadMessageAsync(NetworkStream stream, int messageId, Uri url, CancellationToken token)
    {
        byte[] head = new byte[2];
        await stream.ReadExactlyAsync(head, token).ConfigureAwait(false);
        if (head[0] != 0x30)
        {
            throw new CrlDownloadException($"{url}: the server does not speak LDAP");
        }
        long length = head[1];
        if ((head[1] & 0x80) != 0)
        {
            int lengthOctets = head[1] & 0x7F;
            if (lengthOctets is 0 or > 4)
            {
                throw new CrlDownloadException($"{url}: the LDAP server sent a message with an invalid length");
            }
            byte[] octets = new byte[lengthOctets];
            await stream.ReadExactlyAsync(octets, token).ConfigureAwait(false);
            length = 0;
            foreach (byte b in octets)
            {
                length = (length << 8) | b;
            }
        }
        if (length > _maxBytes)
        {
            throw new CrlDownloadException($"{url}: the LDAP answer is {length} bytes, more than the limit of {_maxBytes}");
        }
        // The SEQUENCE header is read; its contents are messageID, protocolOp and the optional controls.
        byte[] contents = new byte[length];
        await stream.ReadExactlyAsync(contents, token).ConfigureAwait(false);

        var envelope = new AsnReader(contents, AsnEncodingRules.BER);
        if (!envelope.TryReadInt32(out int id) || id != messageId)
        {
            throw new CrlDownloadException($"{url}: the LDAP server answered another message than the one sent");
        }
        Asn1Tag tag = envelope.PeekTag();
        return (tag, envelope.ReadSequence(tag));
    }

    /// <summary>LDAPResult ::= SEQUENCE { resultCode ENUMERATED, matchedDN, diagnosticMessage, referral [3] OPTIONAL }.</summary>
    private static (int Code, string Why) ReadResult(AsnReader result)
    {
        ReadOnlySpan<byte> value = result.ReadEnumeratedBytes().Span;
        if (value.Length > 4)
        {
            throw new AsnContentException("result code too long");
        }
        int code = 0;
        foreach (byte b in value)
        {
            code = (code << 8) | b;
        }
        result.ReadOctetString();
        string why = System.Text.Encoding.UTF8.GetString(result.ReadOctetString());
        return (code, why);
    }

    /// <summary>The first value of <paramref name="attribute"/> (or of its base name without options) in a SearchResultEntry.</summary>
    private static byte[]? ValueOf(AsnReader entry, string attribute)
    {
        entry.ReadOctetString();
        AsnReader attributes = entry.ReadSequence();
        string wanted = attribute.Split(';')[0];
        while (attributes.HasData)
        {
            AsnReader partial = attributes.ReadSequence();
            string type = System.Text.Encoding.UTF8.GetString(partial.ReadOctetString());
            AsnReader values = partial.ReadSetOf(skipSortOrderValidation: true);
            if ((string.Equals(type, attribute, StringComparison.OrdinalIgnoreCase)
                    || string.Equals(type.Split(';')[0], wanted, StringComparison.OrdinalIgnoreCase))
                && values.HasData)
            {
                byte[] value = values.ReadOctetString();
                if (value.Length > 0)
                {
                    return value;
                }
            }
        }
        return null;
    }

    private enum SearchScope
    {
        BaseObject = 0,
    }

    private enum DerefAliases
    {
        NeverDerefAliases = 0,
    }

    private static string Describe(int code, string why) => why.Length == 0 ? $"LDAP result {code}" : $"LDAP result {code}: {why}";
}
