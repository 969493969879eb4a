using System.Diagnostics;

namespace Aperture.Bench.Harness;

/// <summary>
/// One timing window: the throughput it measured, how busy the rest of the machine was meanwhile, the host probes
/// run just before it (the slowest thread's mean rate as a share of the fastest probe, <see cref="HostProbe"/>), and
/// whether it was disturbed: by other processes, or by the host (<see cref="HostSlowed"/>).
/// </summary>
public readonly record struct Window(double Value, double OtherCores, bool Disturbed, double Probe, bool HostSlowed);

/// <summary>The result of one workload on one engine at one thread count.</summary>
public sealed class Measurement(Workload workload, int threads, string engine)
{
    /// <summary>The workload.</summary>
    public Workload Workload { get; } = workload;

    /// <summary>Threads the engine was allowed.</summary>
    public int Threads { get; } = threads;

    /// <summary>"aperture", "pytorch" or "torchsharp".</summary>
    public string Engine { get; } = engine;

    /// <summary>Every window run, clean or not, in order.</summary>
    public List<Window> Windows { get; } = [];

    /// <summary>The median throughput, or null when the engine did not run this workload.</summary>
    public double? Median { get; set; }

    /// <summary>How many windows the median was taken over.</summary>
    public int Repeats { get; set; }

    /// <summary>True when too few undisturbed windows could be had and the median includes disturbed ones.</summary>
    public bool Disturbed { get; set; }

    /// <summary>Why there is no figure, or a remark about it.</summary>
    public string? Note { get; set; }

    /// <summary>The check iterations' scalar (<see cref="IWorkloadRun.Check"/>), compared across engines.</summary>
    public double? Check { get; set; }

    /// <summary>A configuration the engine chose at setup, or null.</summary>
    public string? Detail { get; set; }

    /// <summary>Iterations per window.</summary>
    public int IterationsPerWindow { get; set; }

    /// <summary>The median over the windows the figure uses of other processes' CPU use, in cores.</summary>
    public double OtherCores { get; set; }

    /// <summary>
    /// The figures of the windows the median was taken over, in the order they ran: the k-th of one engine ran in
    /// the same round as the k-th of another, so their ratio is a paired one.
    /// </summary>
    public IReadOnlyList<double> Used { get; set; } = [];

    /// <summary>The median over the windows used of the host probes' share before each (NaN without probes).</summary>
    public double Probe { get; set; } = double.NaN;
}

/// <summary>
/// How long and how often to measure. A window is disturbed when other processes used more than
/// <see cref="DisturbedCores"/> of the cores the engine needs: with t threads on c cores, more than
/// (c − t) + DisturbedCores cores; or when the host probes before it ran slowed (<see cref="HostProbe.SlowedBelow"/>). Before each window the runner waits up to <see cref="QuietWaitSeconds"/> for
/// the machine to fall below that.
/// Waiting and re-running stop once the run has taken <see cref="Budget"/>, so a busy machine cannot make it endless.
/// </summary>
public sealed record RunSettings(int Repeats, double WindowSeconds, double WarmupSeconds, double DisturbedCores, double QuietWaitSeconds, TimeSpan Budget)
{
    /// <summary>A full run: 5 windows of 0.4 s after 1 s of warm-up per engine and workload.</summary>
    public static RunSettings Full { get; } = new(5, 0.4, 1.0, 0.2, 0.5, TimeSpan.FromMinutes(10));

    /// <summary>The CI smoke run: 3 windows of 0.1 s after 0.25 s of warm-up.</summary>
    public static RunSettings Quick { get; } = new(3, 0.1, 0.25, 0.2, 0.2, TimeSpan.FromMinutes(2));

    /// <summary>Other processes' CPU use, in cores, above which a window at <paramref name="threads"/> threads is disturbed.</summary>
    public double DisturbedAbove(int threads) => Math.Max(0, Environment.ProcessorCount - threads) + DisturbedCores;
}

/// <summary>
/// Runs one workload on every engine at one thread count: each engine builds it from the same data and weights,
/// runs its check iteration, warms up (which also sizes its window), then the engines take turns window by window,
/// in an order rotated each round so that none always follows the same neighbour. Each window waits a little for
/// the machine to be quiet and runs a burst of host probes on as many threads (<see cref="HostProbe"/>); a window
/// during which other processes still took CPU the engine needed (<see cref="RunSettings.DisturbedAbove"/>), or
/// whose probes ran slowed, is flagged and run again, up to as many extra rounds as there were rounds. The median is taken over the undisturbed windows when at least
/// half the rounds' worth are.
/// </summary>
public sealed class Runner(RunSettings settings, Action<string> log) : IDisposable
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    /// <summary>The host probes run before every window of the run.</summary>
    public HostProbe Host { get; } = new();

    /// <summary>Stops the host probes' helper threads.</summary>
    public void Dispose() => Host.Dispose();

    private bool WithinBudget => _clock.Elapsed < settings.Budget;

    /// <summary>Measures <paramref name="w"/> on <paramref name="engines"/> at <paramref name="threads"/> threads.</summary>
    public List<Measurement> Measure(Workload w, int threads, IReadOnlyList<IEngine> engines, WorkloadData data)
    {
        var results = new List<Measurement>();
        var active = new List<Entry>();
        try
        {
            foreach (var e in engines)
            {
                var m = new Measurement(w, threads, e.Id);
                results.Add(m);
                m.Note = e.Unavailable is { } why ? $"{e.Id} unavailable: {why}" : e.Unsupported(w);
                if (m.Note is not null) continue;
                IWorkloadRun? run = null;
                try
                {
                    run = e.Prepare(w, data);
                    m.Detail = run.Detail;
                    m.Check = run.Check();
                    active.Add(new Entry(e, run, m));
                }
                catch (Exception ex)
                {
                    Fail(m, ex);
                    run?.Dispose();
                }
            }

            // A failure of one engine mid-run drops that engine from this workload and leaves the others running.
            void Guarded(Entry a, Action<Entry> body)
            {
                try
                {
                    body(a);
                }
                catch (Exception ex)
                {
                    Fail(a.M, ex);
                    a.M.Windows.Clear();
                    active.Remove(a);
                    a.Run.Dispose();
                }
            }

            foreach (var a in active.ToList()) Guarded(a, x => x.M.IterationsPerWindow = WarmUp(x.Run));

            for (int round = 0; round < settings.Repeats; round++)
            {
                var order = active.ToList();
                for (int i = 0; i < order.Count; i++) Guarded(order[(i + round) % order.Count], RunWindow);
            }

            for (int extra = 0; extra < settings.Repeats && WithinBudget; extra++)
            {
                var lacking = active.Where(a => a.M.Windows.Count(x => !x.Disturbed) < settings.Repeats).ToList();
                if (lacking.Count == 0) break;
                for (int i = 0; i < lacking.Count; i++) Guarded(lacking[(i + extra) % lacking.Count], RunWindow);
            }

            foreach (var a in active) Summarize(a.M);
        }
        finally
        {
            foreach (var a in active) a.Run.Dispose();
        }
        return results;
    }

    private sealed record Entry(IEngine Engine, IWorkloadRun Run, Measurement M);

    private void Fail(Measurement m, Exception ex)
    {
        m.Note = $"failed: {ex.Message.Split('\n')[0]}";
        log($"  {m.Engine} {m.Workload.Name}, {m.Threads} thread(s) failed: {ex.Message}");
    }

    /// <summary>Runs the workload for the warm-up time, doubling the iteration count, and sizes the window from the last run.</summary>
    private int WarmUp(IWorkloadRun run)
    {
        double spent = 0, perIteration = double.PositiveInfinity;
        int n = 1;
        while (spent < settings.WarmupSeconds)
        {
            double s = run.Run(n);
            spent += s;
            perIteration = s / n;
            if (s < settings.WarmupSeconds / 8 && n < 1 << 24) n *= 2;
        }
        return (int)Math.Clamp(Math.Round(settings.WindowSeconds / perIteration), 1, 1 << 28);
    }

    private void RunWindow(Entry a)
    {
        double limit = settings.DisturbedAbove(a.M.Threads);
        // Waiting also lets the previous engine's spinning threads (OpenMP, the .NET thread pool) go to sleep. The
        // whole machine's load counts here, this process's included: TorchSharp runs in process, and its OpenMP
        // threads spin on after its window, on the cores the next engine is about to time.
        var waited = Stopwatch.StartNew();
        while (WithinBudget && CpuMonitor.BusyCores(40) > limit && waited.Elapsed.TotalSeconds < settings.QuietWaitSeconds) { }
        // On as many threads as the engine is about to use: a slowed second core slows a 2-thread window.
        double probe = Host.Burst(a.M.Threads);
        bool hostSlowed = probe < HostProbe.SlowedBelow;
        var before = CpuMonitor.Sample(a.Engine.OwnProcessIds);
        double seconds = a.Run.Run(a.M.IterationsPerWindow);
        var after = CpuMonitor.Sample(a.Engine.OwnProcessIds);
        double other = CpuMonitor.OtherCores(before, after);
        double value = a.M.Workload.UnitsPerIteration * a.M.IterationsPerWindow / seconds;
        a.M.Windows.Add(new Window(value, other, other > limit || hostSlowed, probe, hostSlowed));
    }

    private void Summarize(Measurement m)
    {
        var clean = m.Windows.Where(x => !x.Disturbed).ToList();
        var used = clean.Count >= (settings.Repeats + 1) / 2 ? clean : m.Windows;
        m.Disturbed = !ReferenceEquals(used, clean);
        m.Repeats = used.Count;
        m.Median = Median(used.Select(x => x.Value));
        m.OtherCores = Median(used.Select(x => x.OtherCores));
        m.Used = used.Select(x => x.Value).ToArray();
        m.Probe = Median(used.Select(x => x.Probe).Where(double.IsFinite));
    }

    /// <summary>The median (the mean of the middle two for an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : 0.5 * (v[v.Length / 2 - 1] + v[v.Length / 2]);
    }
}
