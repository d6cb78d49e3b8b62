namespace Certgate.Scep;

/// <summary>SCEP messageType values (RFC 8894 §3.2.1.2).</summary>
public enum ScepMessageType
{
    CertRep = 3,
    RenewalReq = 17,
    PkcsReq = 19,
    CertPoll = 20,
    GetCert = 21,
    GetCrl = 22,
}

/// <summary>pkiStatus (RFC 8894 §3.2.1.3).</summary>
public enum PkiStatus
{
    Success = 0,
    Failure = 2,
    Pending = 3,
}

/// <summary>failInfo (RFC 8894 §3.2.1.4).</summary>
public enum FailInfo
{
    BadAlg = 0,
    BadMessageCheck = 1,
    BadRequest = 2,
    BadTime = 3,
    BadCertId = 4,
}

/// <summary>A SCEP message that cannot be used; the text says why (never contains key material).</summary>
public sealed class ScepFormatException : Exception
{
    public ScepFormatException(string message, FailInfo failInfo = FailInfo.BadRequest, Exception? inner = null)
        : base(message, inner)
    {
        FailInfo = failInfo;
    }

    /// <summary>The failInfo a server answers with when it can still reply.</summary>
    public FailInfo FailInfo { get; }
}

/// <summary>The attribute OIDs of SCEP (id-VeriSign 2.16.840.1.113733.1.9.x).</summary>
internal static class ScepOids
{
    public const string MessageType = "2.16.840.1.113733.1.9.2";
    public const string PkiStatus = "2.16.840.1.113733.1.9.3";
    public const string FailInfo = "2.16.840.1.113733.1.9.4";
    public const string SenderNonce = "2.16.840.1.113733.1.9.5";
    public const string RecipientNonce = "2.16.840.1.113733.1.9.6";
    public const string TransactionId = "2.16.840.1.113733.1.9.7";
    public const string Data = "1.2.840.113549.1.7.1";
    public const string Aes128Cbc = "2.16.840.1.101.3.4.1.2";
    public const string Aes256Cbc = "2.16.840.1.101.3.4.1.42";
    public const string DesEde3Cbc = "1.2.840.113549.3.7";
    public const string DesCbc = "1.3.14.3.2.7";
}
