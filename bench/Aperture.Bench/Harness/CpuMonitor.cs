using System.Runtime.InteropServices;

namespace Aperture.Bench.Harness;

/// <summary>A reading of the machine's busy CPU time and of the bench's own, in clock ticks.</summary>
public readonly record struct CpuSample(long BusyTicks, long OwnTicks, long Timestamp);

/// <summary>
/// Measures how much CPU other processes used during a timing window: the machine's busy time from /proc/stat
/// (user, nice, system, irq, softirq and steal, the last being time the hypervisor gave to other guests) minus the
/// CPU time of this process and of the engine's worker process (/proc/PID/stat). Linux only; elsewhere the
/// figures read as zero and no window is flagged.
/// </summary>
public static partial class CpuMonitor
{
    private static readonly double s_ticksPerSecond = TicksPerSecond();

    /// <summary>Reads the counters now; <paramref name="ownPids"/> are processes besides this one that count as ours.</summary>
    public static CpuSample Sample(IEnumerable<int> ownPids)
    {
        long ts = System.Diagnostics.Stopwatch.GetTimestamp();
        if (!OperatingSystem.IsLinux()) return new(0, 0, ts);
        long own = ProcessTicks("/proc/self/stat");
        foreach (int pid in ownPids) own += ProcessTicks($"/proc/{pid}/stat");
        return new(MachineBusyTicks(), own, ts);
    }

    /// <summary>The average number of cores other processes kept busy between two samples.</summary>
    public static double OtherCores(CpuSample before, CpuSample after)
    {
        double seconds = System.Diagnostics.Stopwatch.GetElapsedTime(before.Timestamp, after.Timestamp).TotalSeconds;
        if (seconds <= 0) return 0;
        long other = (after.BusyTicks - before.BusyTicks) - (after.OwnTicks - before.OwnTicks);
        return Math.Max(0, other / s_ticksPerSecond / seconds);
    }

    /// <summary>
    /// The cores busy on the whole machine over <paramref name="milliseconds"/>, this process included: called
    /// between windows, while no engine runs, it sees the threads an in-process peer leaves spinning (OpenMP keeps
    /// them busy for a while after a parallel region), which <see cref="IdleLoad"/> counts as ours and so misses.
    /// </summary>
    public static double BusyCores(int milliseconds)
    {
        if (!OperatingSystem.IsLinux()) return 0;
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp(), b0 = MachineBusyTicks();
        Thread.Sleep(milliseconds);
        long b1 = MachineBusyTicks();
        double seconds = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds;
        return seconds <= 0 ? 0 : (b1 - b0) / s_ticksPerSecond / seconds;
    }

    /// <summary>Samples the machine for <paramref name="milliseconds"/> with nothing of ours running.</summary>
    public static double IdleLoad(IEnumerable<int> ownPids, int milliseconds = 100)
    {
        var a = Sample(ownPids);
        Thread.Sleep(milliseconds);
        return OtherCores(a, Sample(ownPids));
    }

    private static long MachineBusyTicks()
    {
        using var r = new StreamReader("/proc/stat");
        string line = r.ReadLine() ?? "";
        // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"; guest time is already in user.
        var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (f.Length < 9 || f[0] != "cpu") throw new InvalidDataException($"/proc/stat: unexpected first line '{line}'");
        long Field(int i) => long.Parse(f[i], System.Globalization.CultureInfo.InvariantCulture);
        return Field(1) + Field(2) + Field(3) + Field(6) + Field(7) + Field(8);
    }

    private static long ProcessTicks(string statPath)
    {
        string text;
        try
        {
            text = File.ReadAllText(statPath);
        }
        catch (IOException)
        {
            return 0;   // the process has exited
        }
        // The command name is in parentheses and may hold spaces: fields are counted after the last ')'.
        var f = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        // After the name: state is field 3 of the full line, utime field 14 and stime field 15.
        return long.Parse(f[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(f[12], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static double TicksPerSecond()
    {
        if (!OperatingSystem.IsLinux()) return 100;
        long hz = SysConf(2 /* _SC_CLK_TCK */);
        return hz > 0 ? hz : 100;
    }

    [LibraryImport("libc", EntryPoint = "sysconf")]
    private static partial long SysConf(int name);
}
