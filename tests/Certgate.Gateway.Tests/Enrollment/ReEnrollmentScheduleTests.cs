using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Certgate.Gateway.Enrollment;
using Certgate.Tests.Shared.TestPki;

namespace Certgate.Gateway.Tests.Enrollment;

/// <summary>The re-enrollment trigger (junos-reference §3.5), the capped retry delay, and the agent's state files.</summary>
public sealed class ReEnrollmentScheduleTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateTempSubdirectory("certgate-agent-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static X509Certificate2 Certificate(TimeSpan lifetime)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return TestCa.SelfSigned(key, "CN=gw1", Start, Start + lifetime);
    }

    [Theory]
    [InlineData(10, 90)]
    [InlineData(50, 50)]
    [InlineData(99, 1)]
    [InlineData(1, 99)]
    public void TriggerTime_IsThePercentageOfLifetimeLeft(int percentage, int expectedDay)
    {
        using X509Certificate2 cert = Certificate(TimeSpan.FromDays(100));
        Assert.Equal(Start + TimeSpan.FromDays(expectedDay), ReEnrollmentAgent.TriggerTime(cert, percentage));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(100)]
    public void TriggerTime_OutsideOneTo99_IsRefused(int percentage)
    {
        using X509Certificate2 cert = Certificate(TimeSpan.FromDays(1));
        Assert.Equal("percentage", Assert.ThrowsAny<ArgumentOutOfRangeException>(() => ReEnrollmentAgent.TriggerTime(cert, percentage)).ParamName);
    }

    [Fact]
    public void RetryDelay_IsTheRetryInterval_WhenMuchLifetimeIsLeft() =>
        Assert.Equal(TimeSpan.FromSeconds(900), ReEnrollmentAgent.RetryDelay(TimeSpan.FromSeconds(900), Start + TimeSpan.FromDays(3), Start));

    [Fact]
    public void RetryDelay_IsCappedToAQuarterOfTheLifetimeLeft_SoTheCaIsTriedAgainBeforeExpiry()
    {
        Assert.Equal(TimeSpan.FromSeconds(7.5), ReEnrollmentAgent.RetryDelay(TimeSpan.FromSeconds(900), Start + TimeSpan.FromSeconds(30), Start));
        // Never below the floor, however close the expiry.
        Assert.Equal(ReEnrollmentAgent.MinimumRetryDelay, ReEnrollmentAgent.RetryDelay(TimeSpan.FromSeconds(900), Start + TimeSpan.FromSeconds(4), Start));
        // retry-interval 0 (allowed by the schema) does not spin.
        Assert.Equal(ReEnrollmentAgent.MinimumRetryDelay, ReEnrollmentAgent.RetryDelay(TimeSpan.Zero, Start + TimeSpan.FromDays(1), Start));
    }

    [Fact]
    public void RetryDelay_AfterExpiry_IsTheRetryInterval() =>
        Assert.Equal(TimeSpan.FromSeconds(60), ReEnrollmentAgent.RetryDelay(TimeSpan.FromSeconds(60), Start - TimeSpan.FromSeconds(1), Start));

    [Fact]
    public void AgentState_RoundTrips_OwnerOnly_AndSkipsUnchangedWrites()
    {
        var store = new AgentStateStore(_dir);
        var status = new ReEnrollmentStatus("gw1", "Renewing", "AB", Start, Start.AddSeconds(5), 2, Start, "cannot connect", null, "T1");
        Assert.True(store.SaveStatus(status));
        Assert.False(store.SaveStatus(status));
        Assert.Equal(status, store.LoadStatus("gw1"));
        Assert.Equal(["gw1"], store.ListStatuses());
        string file = Path.Combine(_dir, "agent", "re-enrollment", "gw1.json");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(_dir, "agent")));

        var pending = new PendingEnrollment("gw2", "ca1", "T2", [0x30, 0x00], "SHA256", "Aes256Cbc", 1, 10, TimeSpan.FromSeconds(900), Start, Start);
        store.SavePending(pending);
        PendingEnrollment back = store.LoadPending("gw2")!;
        Assert.Equal(pending with { Subject = back.Subject }, back);
        Assert.Equal(pending.Subject, back.Subject);
        // A record missing a member or with one of the wrong type is no record (the poller forgets it).
        File.WriteAllText(Path.Combine(_dir, "agent", "pending", "gw2.json"), "{ \"ca-profile\": 3, \"transaction-id\": \"T2\" }");
        Assert.Null(store.LoadPending("gw2"));
        store.DeletePending("gw2");
        Assert.Null(store.LoadPending("gw2"));
        Assert.Empty(store.ListPending());

        // A damaged status is no status (the daemon rewrites it), not an exception in show.
        File.WriteAllText(file, "{ not json");
        Assert.Null(store.LoadStatus("gw1"));
        Assert.Throws<ArgumentException>(() => store.LoadStatus("../x"));
    }
}
