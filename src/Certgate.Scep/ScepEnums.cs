namespace Certgate.Scep;

/// <summary>SCEP messageType (RFC 8894 §3.2.1.2); the value is the decimal string on the wire.</summary>
public enum ScepMessageType
{
    CertRep = 3,
    RenewalReq = 17,
    PkcsReq = 19,
    /// <summary>CertPoll (formerly GetCertInitial): payload IssuerAndSubject.</summary>
    CertPoll = 20,
    /// <summary>GetCert: payload IssuerAndSerialNumber.</summary>
    GetCert = 21,
    /// <summary>GetCRL: payload IssuerAndSerialNumber.</summary>
    GetCrl = 22,
}

/// <summary>SCEP pkiStatus (RFC 8894 §3.2.1.3).</summary>
public enum ScepPkiStatus
{
    Success = 0,
    Failure = 2,
    Pending = 3,
}

/// <summary>SCEP failInfo (RFC 8894 §3.2.1.4).</summary>
public enum ScepFailInfo
{
    BadAlg = 0,
    BadMessageCheck = 1,
    BadRequest = 2,
    BadTime = 3,
    BadCertId = 4,
}

/// <summary>Content-encryption algorithm of a pkcsPKIEnvelope.</summary>
public enum ScepCipher
{
    Aes128Cbc,
    Aes192Cbc,
    Aes256Cbc,
    /// <summary>DES-EDE3-CBC (RFC 8894: MAY).</summary>
    TripleDesCbc,
    /// <summary>Single DES-CBC. RFC 8894 §2.9: MUST NOT be used; only accepted from legacy clients (micromdm scepclient).
    /// Offered here so tests can imitate them.</summary>
    DesCbc,
}
