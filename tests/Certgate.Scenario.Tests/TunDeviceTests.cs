using Certgate.Esp.Tun;

namespace Certgate.Scenario.Tests;

/// <summary>The TUN device itself (root, /dev/net/tun): a disposed device wakes its reader and its interface goes.</summary>
public sealed class TunDeviceTests
{
    [Fact]
    public void Dispose_WakesABlockedReader_AndRemovesTheInterface()
    {
        string name = "cgt" + Guid.NewGuid().ToString("N")[..8];
        TunDevice tun = TunDevice.Open(name);
        Assert.Contains(name, NetNamespaces.Run("ip", "link", "show", "dev", name));
        int result = -1;
        var reader = new Thread(() => result = tun.Read(new byte[2048])) { IsBackground = true };
        reader.Start();
        Thread.Sleep(300);
        Assert.True(reader.IsAlive, "Read returned although no packet was routed into the device");
        tun.Dispose();
        Assert.True(reader.Join(TimeSpan.FromSeconds(2)), "the reader stayed blocked after Dispose");
        Assert.Equal(0, result);
        InvalidOperationException gone = Assert.Throws<InvalidOperationException>(() => NetNamespaces.Run("ip", "link", "show", "dev", name));
        Assert.Contains("does not exist", gone.Message);
        Assert.Throws<ObjectDisposedException>(() => tun.Write(new byte[20]));
    }
}
