using System.Diagnostics;

namespace Aperture.Bench.Harness;

/// <summary>
/// What the host gives the bench's thread, seen by a fixed loop of fused multiply-adds (<see cref="FmaPeak.Kernel"/>,
/// about 0.1 ms a probe) run in a short burst before each timing window. Another guest on the same physical core, or
/// a hypervisor that takes the core for a moment without counting it as steal time, slows the probe without showing
/// in /proc/stat, which is all <see cref="CpuMonitor"/> sees. A probe's rate over the fastest probe of the run is the
/// share of the core it got.
/// </summary>
/// <remarks>
/// The probes run on the bench's thread only, and only between windows: they sample the host's state around each
/// window, not during it, so they describe a run (and the rows that ran in a slow spell) rather than flag a window.
/// On the 2-core Zen 4 machine the figures in docs/benchmarks.md come from, a probe loop on both cores found one
/// probe in four or five below 95% of the fastest and some as low as a third, with no steal time counted.
/// </remarks>
public sealed class HostProbe
{
    /// <summary>Iterations of the FMA loop per probe: about 0.1 ms at one 512-bit FMA a cycle.</summary>
    public const long Iterations = 32_768;

    /// <summary>Probes per burst.</summary>
    public const int BurstLength = 8;

    /// <summary>A probe below this share of the fastest counts as slowed in the summary.</summary>
    public const double SlowShare = 0.95;

    private readonly List<double> _rates = [];

    /// <summary>Every probe's rate so far, in GFLOP/s, in order.</summary>
    public IReadOnlyList<double> Rates => _rates;

    /// <summary>The fastest probe so far (GFLOP/s), NaN before the first or on a machine without FMA.</summary>
    public double Fastest => _rates.Count == 0 ? double.NaN : _rates.Max();

    /// <summary>Runs a burst of <see cref="BurstLength"/> probes on this thread; returns their mean rate in GFLOP/s (NaN without FMA).</summary>
    public double Burst()
    {
        if (FmaPeak.VectorBits == 0) return double.NaN;
        double sum = 0;
        for (int i = 0; i < BurstLength; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            FmaPeak.Kernel(Iterations);
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            double rate = Iterations * FmaPeak.FlopsPerIteration / seconds / 1e9;
            _rates.Add(rate);
            sum += rate;
        }
        return sum / BurstLength;
    }

    /// <summary>The run's probes against the fastest, or null when there were none.</summary>
    public HostSummary? Summarize()
    {
        double fastest = Fastest;
        if (!double.IsFinite(fastest) || fastest <= 0) return null;
        var shares = _rates.Select(r => r / fastest).Order().ToArray();
        return new HostSummary(
            shares.Length,
            Runner.Median(shares),
            shares[(int)Math.Floor(0.1 * (shares.Length - 1))],
            (double)shares.Count(s => s < SlowShare) / shares.Length,
            shares.Average());
    }
}

/// <summary>
/// A run's host probes: how many, the median and 10th percentile of their rate as a share of the fastest, the
/// fraction below <see cref="HostProbe.SlowShare"/>, and the mean share (the share of the core the probes got).
/// </summary>
public sealed record HostSummary(int Probes, double MedianShare, double P10Share, double SlowedFraction, double MeanShare);
