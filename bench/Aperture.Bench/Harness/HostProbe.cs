using System.Diagnostics;

namespace Aperture.Bench.Harness;

/// <summary>
/// What the host gives the threads an engine is about to use, seen by a fixed loop of fused multiply-adds
/// (<see cref="FmaPeak.Kernel"/>, about 0.1 ms a probe) run in a short burst on as many threads just before each
/// timing window. Another guest on the same physical core, or a hypervisor that takes a core for a moment without
/// counting it as steal time, slows the probe without showing in /proc/stat, which is all <see cref="CpuMonitor"/>
/// sees. A probe's rate over the fastest one seen is the share of a core it got.
/// </summary>
/// <remarks>
/// The probes sample the host around each window, not during it: a burst below <see cref="SlowedBelow"/> marks the
/// window that follows as disturbed, on the evidence that the slow spells that spoil a row last seconds (in a full run
/// at commit eeed9d5 a second core ran slowed through a whole row, lenet5-b64 at 2 threads, in every engine). Each
/// thread's probes are timed on that thread, so the start of the burst on another thread does not enter them.
/// </remarks>
public sealed class HostProbe : IDisposable
{
    /// <summary>Iterations of the FMA loop per probe: about 0.1 ms at one 512-bit FMA a cycle.</summary>
    public const long Iterations = 32_768;

    /// <summary>Probes per thread per burst.</summary>
    public const int BurstLength = 8;

    /// <summary>A probe below this share of the fastest counts as slowed in the summary.</summary>
    public const double SlowShare = 0.95;

    /// <summary>
    /// A burst whose slowest thread's probes averaged below this share of the fastest probe marks its window as
    /// disturbed: on a quiet core a burst's mean is within a few percent of the fastest.
    /// </summary>
    public const double SlowedBelow = 0.9;

    /// <summary>Probes run at construction to find the rate of a free core.</summary>
    private const int CalibrationProbes = 64;

    private readonly List<double> _rates = [];
    private readonly List<Helper> _helpers = [];
    private double _fastest;

    /// <summary>Calibrates the reference rate on this thread (a no-op without FMA).</summary>
    public HostProbe()
    {
        if (FmaPeak.VectorBits == 0) return;
        for (int i = 0; i < CalibrationProbes; i++) _fastest = Math.Max(_fastest, Probe());
    }

    /// <summary>Every burst's probes so far, in GFLOP/s.</summary>
    public IReadOnlyList<double> Rates => _rates;

    /// <summary>The fastest probe so far (calibration included), GFLOP/s; NaN without FMA.</summary>
    public double Fastest => _fastest > 0 ? _fastest : double.NaN;

    /// <summary>
    /// Runs <see cref="BurstLength"/> probes on each of <paramref name="threads"/> threads at once (this one and
    /// helpers); returns the lowest over the threads of their mean rate as a share of the fastest probe (NaN without
    /// FMA).
    /// </summary>
    public double Burst(int threads)
    {
        if (FmaPeak.VectorBits == 0) return double.NaN;
        threads = Math.Max(1, threads);
        while (_helpers.Count < threads - 1) _helpers.Add(new Helper());
        using var done = new CountdownEvent(threads - 1);
        for (int i = 0; i < threads - 1; i++) _helpers[i].Start(done);
        var own = new double[BurstLength];
        for (int i = 0; i < BurstLength; i++) own[i] = Probe();
        done.Wait();
        double lowest = double.PositiveInfinity;
        foreach (var rates in new[] { own }.Concat(_helpers.Take(threads - 1).Select(h => h.Rates)))
        {
            _rates.AddRange(rates);
            _fastest = Math.Max(_fastest, rates.Max());
            lowest = Math.Min(lowest, rates.Average());
        }
        return lowest / _fastest;
    }

    /// <summary>The run's probes against the fastest, or null when there were none.</summary>
    public HostSummary? Summarize()
    {
        double fastest = Fastest;
        if (_rates.Count == 0 || !double.IsFinite(fastest)) return null;
        var shares = _rates.Select(r => r / fastest).Order().ToArray();
        return new HostSummary(
            shares.Length,
            Runner.Median(shares),
            shares[(int)Math.Floor(0.1 * (shares.Length - 1))],
            (double)shares.Count(s => s < SlowShare) / shares.Length,
            shares.Average());
    }

    /// <summary>Stops the helper threads.</summary>
    public void Dispose()
    {
        foreach (var h in _helpers) h.Dispose();
        _helpers.Clear();
    }

    /// <summary>One probe on this thread, GFLOP/s.</summary>
    private static double Probe()
    {
        long t0 = Stopwatch.GetTimestamp();
        FmaPeak.Kernel(Iterations);
        double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        return Iterations * FmaPeak.FlopsPerIteration / seconds / 1e9;
    }

    /// <summary>A thread that runs one burst of probes each time it is started.</summary>
    private sealed class Helper : IDisposable
    {
        private readonly SemaphoreSlim _go = new(0);
        private readonly Thread _thread;
        private CountdownEvent? _done;
        private volatile bool _stop;

        /// <summary>The last burst's rates (read after its countdown has been signalled).</summary>
        public double[] Rates { get; } = new double[BurstLength];

        public Helper()
        {
            _thread = new Thread(Loop) { IsBackground = true, Name = "host probe" };
            _thread.Start();
        }

        public void Start(CountdownEvent done)
        {
            _done = done;
            _go.Release();
        }

        private void Loop()
        {
            while (true)
            {
                _go.Wait();
                if (_stop) return;
                for (int i = 0; i < BurstLength; i++) Rates[i] = Probe();
                _done!.Signal();
            }
        }

        public void Dispose()
        {
            _stop = true;
            _go.Release();
            _thread.Join();
            _go.Dispose();
        }
    }
}

/// <summary>
/// A run's host probes: how many, the median and 10th percentile of their rate as a share of the fastest, the
/// fraction below <see cref="HostProbe.SlowShare"/>, and the mean share (the share of a core the probes got).
/// </summary>
public sealed record HostSummary(int Probes, double MedianShare, double P10Share, double SlowedFraction, double MeanShare);
