using System.Globalization;
using System.Text;
using Aperture.Bench.Harness;

namespace Aperture.Bench.Report;

/// <summary>Everything the markdown report is written from.</summary>
public sealed record ReportInput(
    IReadOnlyList<Measurement> Results,
    IReadOnlyList<int> Threads,
    RunEnvironment Environment,
    IReadOnlyDictionary<int, double> FmaPeak,
    IReadOnlyList<(string Engine, string Detail)> Versions,
    IReadOnlyList<string> PeerNotes,
    string Command,
    DateTime StartedUtc,
    TimeSpan Duration,
    RunSettings Settings,
    bool Quick,
    HostSummary? Host);

/// <summary>
/// The human-readable result: machine, versions, the command, what the host probes saw, and per thread count a
/// table of each engine's median with Aperture's ratio against each peer (above 1 means Aperture is faster), the
/// range of the ratio to the best peer over the rounds, the orientation target and whether it is met. It replaces
/// the part of docs/benchmarks.md between the result markers.
/// </summary>
public static class MarkdownReport
{
    /// <summary>Marks the start of the generated part of docs/benchmarks.md.</summary>
    public const string BeginMarker = "<!-- bench:results:begin (written by bench/Aperture.Bench; do not edit by hand) -->";

    /// <summary>Marks the end of the generated part.</summary>
    public const string EndMarker = "<!-- bench:results:end -->";

    private static readonly string[] Engines = ["aperture", "pytorch", "torchsharp"];

    /// <summary>
    /// The targets of issue 15 ("Performance"), at every thread count: Aperture's throughput over the best peer's in
    /// the same run. GEMM 512–2048 also has ≥ 85% of the measured FMA peak at one thread (see <see cref="Target"/>);
    /// the SGLD step's ≥ 1× is the learning-coefficient workload's.
    /// </summary>
    private static readonly Dictionary<string, double> TargetVsBestPeer = new()
    {
        ["gemm-512"] = 1.0,
        ["gemm-1024"] = 1.0,
        ["gemm-2048"] = 1.0,
        ["mlp-b128"] = 1.5,
        ["mlp-b32"] = 2,
        ["wide-mlp-b256"] = 1.1,
        ["lenet5-b64"] = 1.5,
        ["mlp-infer-b1"] = 5,
        ["mlp-infer-b128"] = 1.2,
        ["tiny-mlp-b16"] = 30,
        ["adam-1m-2t"] = 2,
        ["adam-1m-200t"] = 2,
        ["sgld-dln-10k"] = 1,
    };

    /// <summary>The share of the measured one-thread FMA peak that GEMM 512–2048 should reach at one thread.</summary>
    private const double GemmPeakShare = 0.85;

    /// <summary>The generated markdown (without the markers).</summary>
    public static string Render(ReportInput r)
    {
        var sb = new StringBuilder();
        var e = r.Environment;
        int windows = r.Results.Sum(m => m.Windows.Count), disturbed = r.Results.Sum(m => m.Windows.Count(x => x.Disturbed));
        int byHost = r.Results.Sum(m => m.Windows.Count(x => x.HostSlowed));
        sb.AppendLine(CultureInfo.InvariantCulture, $"Measured {r.StartedUtc:yyyy-MM-dd HH:mm} UTC in {r.Duration.TotalMinutes:F1} min with");
        sb.AppendLine();
        sb.AppendLine("```sh");
        sb.AppendLine(r.Command);
        sb.AppendLine("```");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"{(r.Quick ? "Quick smoke run" : "Full run")}: medians of {r.Settings.Repeats} windows of {r.Settings.WindowSeconds:0.###} s per engine after {r.Settings.WarmupSeconds:0.##} s of warm-up, engines alternated window by window. A window is disturbed when other processes used more than {r.Settings.DisturbedCores:0.##} of the cores the engine's threads needed, or when the host probes just before it, on as many threads, averaged below {Percent(HostProbe.SlowedBelow)} of the fastest probe on their slowest thread; disturbed windows are run again. This run: {disturbed} of {windows} windows disturbed, {byHost} of them by the host.");
        sb.AppendLine();
        if (r.Host is { } h)
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"Host probes ({h.Probes} runs of a 0.1 ms FMA loop, {HostProbe.BurstLength} on each of the engine's threads before each window): the median ran at {Percent(h.MedianShare)} of the fastest, the 10th percentile at {Percent(h.P10Share)}; {Percent(h.SlowedFraction)} of them below {Percent(HostProbe.SlowShare)}, and on average they got {Percent(h.MeanShare)} of a core. Other guests on the host slow these without showing in `/proc/stat`.");
            sb.AppendLine();
            if (h.MeanShare < QuietHostShare)
            {
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"**Warning: the host probes got {Percent(h.MeanShare)} of a core on average (a quiet host gives {Percent(QuietHostShare)} or more). The host was busy during this run: windows spread more, and a ratio near its target may not repeat.**");
                sb.AppendLine();
            }
        }
        if (windows > 0 && disturbed > windows / 4)
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"**Warning: {100.0 * disturbed / windows:F0}% of the windows were disturbed by other processes. The figures marked `*` are rough and");
            sb.AppendLine("the ratios between them unreliable (a peer's OpenMP threads suffer more than Aperture's from a busy core):");
            sb.AppendLine("run the benchmark again on a quiet machine before drawing conclusions.**");
            sb.AppendLine();
        }
        sb.AppendLine("### Machine");
        sb.AppendLine();
        sb.AppendLine("| | |");
        sb.AppendLine("|---|---|");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| CPU | {e.Cpu}, {e.Cores} logical cores |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| Memory | {e.MemoryGiB:F1} GiB |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| OS | {e.Os} |");
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"| FMA peak fp32 (measured, {FmaPeak.VectorBits}-bit, 12 chains per thread) | {string.Join(", ", r.FmaPeak.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} thread{(kv.Key == 1 ? "" : "s")}: {kv.Value:F0} GFLOP/s"))} |");
        sb.AppendLine();
        sb.AppendLine("### Versions");
        sb.AppendLine();
        sb.AppendLine("| Engine | Version and configuration |");
        sb.AppendLine("|---|---|");
        foreach (var (engine, detail) in r.Versions) sb.AppendLine(CultureInfo.InvariantCulture, $"| {engine} | {detail} |");
        sb.AppendLine();
        if (r.PeerNotes.Count > 0)
        {
            sb.AppendLine("How the peers were set up:");
            sb.AppendLine();
            foreach (var n in r.PeerNotes) sb.AppendLine(CultureInfo.InvariantCulture, $"- {n}");
            sb.AppendLine();
        }

        foreach (int t in r.Threads.OrderDescending())
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"### {t} thread{(t == 1 ? "" : "s")}");
            sb.AppendLine();
            sb.AppendLine("| Workload | Unit | Aperture | PyTorch | TorchSharp | × PyTorch | × TorchSharp | × best peer, by round | Target | Met |");
            sb.AppendLine("|---|---|--:|--:|--:|--:|--:|--:|---|:-:|");
            foreach (var w in r.Results.Select(m => m.Workload).Distinct())
            {
                var row = Engines.Select(id => r.Results.FirstOrDefault(m => m.Workload == w && m.Threads == t && m.Engine == id)).ToArray();
                if (row.All(m => m is null)) continue;
                double? ap = Figure(row[0]), pt = Figure(row[1]), ts = Figure(row[2]);
                var rounds = RoundRatios(row[0], BestPeer(row[1], row[2]));
                var (target, met) = Target(w, t, ap, pt, ts, r.FmaPeak, rounds);
                // A verdict that rests on a disturbed figure is marked like the figure.
                if (met.Length > 0 && row.Any(m => m?.Disturbed == true)) met += "*";
                string range = rounds.Length == 0 ? "–" : $"{Fmt(rounds.Min(), "F2")}–{Fmt(rounds.Max(), "F2")}×";
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"| {w.Name} | {w.Unit} | {Cell(row[0])} | {Cell(row[1])} | {Cell(row[2])} | {Ratio(row[0], row[1])} | {Ratio(row[0], row[2])} | {range} | {target} | {met} |");
            }
            sb.AppendLine();
        }
        AppendHvpCost(sb, r);
        sb.AppendLine("Ratios are Aperture's throughput over the peer's: above 1 means Aperture is faster. `*` marks a median that");
        sb.AppendLine("had to include disturbed windows, and a ratio or verdict resting on one: read those as rough. `n/a` is a");
        sb.AppendLine("workload an engine did not run (the reason is below). \"By round\" is the lowest and highest of the ratios of");
        sb.AppendLine("Aperture's k-th window to the best peer's k-th, which ran in the same round; `?` marks a verdict that these");
        sb.AppendLine("straddle (met in some rounds and not in others), one that this run cannot settle.");
        sb.AppendLine();

        var grouped = r.Results.Where(m => m.Note is not null).GroupBy(m => (m.Engine, m.Note))
            .Select(g => $"{g.Key.Engine}: {g.Key.Note} ({string.Join(", ", g.Select(m => m.Workload.Name).Distinct())})").ToList();
        var details = r.Results.Where(m => m.Detail is not null).Select(m => $"{m.Engine}, {m.Workload.Name}, {m.Threads} thread{(m.Threads == 1 ? "" : "s")}: {m.Detail}").ToList();
        if (details.Count > 0)
        {
            sb.AppendLine("Chosen at setup:");
            sb.AppendLine();
            foreach (var d in details) sb.AppendLine(CultureInfo.InvariantCulture, $"- {d}");
            sb.AppendLine();
        }
        if (grouped.Count > 0)
        {
            sb.AppendLine("Not measured:");
            sb.AppendLine();
            foreach (var n in grouped) sb.AppendLine(CultureInfo.InvariantCulture, $"- {n}");
            sb.AppendLine();
        }

        sb.AppendLine("Same computation: from the same data and initial weights, the third step's loss for training (forward, gradients");
        sb.AppendLine("and momentum update all enter it), Σ output for inference, Σ|C| for GEMM and Σ|p| after three Adam steps,");
        sb.AppendLine("with the largest relative difference between engines:");
        sb.AppendLine();
        sb.AppendLine("| Workload | Aperture | PyTorch | TorchSharp | Max rel. diff |");
        sb.AppendLine("|---|--:|--:|--:|--:|");
        foreach (var w in r.Results.Select(m => m.Workload).Distinct())
        {
            int t0 = r.Threads.Min();
            var checks = Engines.Select(id => r.Results.FirstOrDefault(m => m.Workload == w && m.Threads == t0 && m.Engine == id)?.Check).ToArray();
            var present = checks.Where(c => c is not null).Select(c => c!.Value).ToArray();
            string diff = present.Length < 2 ? "–" : Fmt((present.Max() - present.Min()) / Math.Max(Math.Abs(present.Average()), 1e-30), "E1");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {w.Name} | {CheckCell(checks[0])} | {CheckCell(checks[1])} | {CheckCell(checks[2])} | {diff} |");
        }
        return sb.ToString();
    }

    /// <summary>Writes the report into <paramref name="path"/> between the markers, keeping the rest of the file.</summary>
    public static void WriteInto(string path, string generated)
    {
        string existing = File.Exists(path) ? File.ReadAllText(path) : "# Benchmarks\n";
        int b = existing.IndexOf(BeginMarker, StringComparison.Ordinal), end = existing.IndexOf(EndMarker, StringComparison.Ordinal);
        string block = $"{BeginMarker}\n{generated.TrimEnd()}\n{EndMarker}";
        string text = b >= 0 && end > b
            ? existing[..b] + block + existing[(end + EndMarker.Length)..]
            : existing.TrimEnd() + "\n\n## Results\n\n" + block + "\n";
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>
    /// The cost of a Hessian-vector product in gradients of the same loss (mlp-hvp-b256's time over mlp-grad-b256's)
    /// per engine and thread count, with the curvature instruments' target for Aperture: at most 4.
    /// </summary>
    private static void AppendHvpCost(StringBuilder sb, ReportInput r)
    {
        var lines = new List<string>();
        foreach (int t in r.Threads.OrderDescending())
        {
            var cells = new List<string>();
            string met = "";
            foreach (var id in Engines)
            {
                var grad = r.Results.FirstOrDefault(m => m.Workload.Name == "mlp-grad-b256" && m.Threads == t && m.Engine == id);
                var hvp = r.Results.FirstOrDefault(m => m.Workload.Name == "mlp-hvp-b256" && m.Threads == t && m.Engine == id);
                if (Figure(grad) is { } g && Figure(hvp) is { } h && h > 0)
                {
                    bool rough = grad!.Disturbed || hvp!.Disturbed;
                    cells.Add(Fmt(g / h, "F2") + (rough ? "*" : ""));
                    if (id == "aperture") met = (g / h <= 4 ? "yes" : "no") + (rough ? "*" : "");
                }
                else cells.Add("–");
            }
            if (cells.Any(c => c != "–")) lines.Add($"| {t} | {string.Join(" | ", cells)} | ≤ 4 | {met} |");
        }
        if (lines.Count == 0) return;
        sb.AppendLine("Hessian-vector product cost in gradients of the same loss (MLP 784-256-256-10, cross-entropy, batch 256;");
        sb.AppendLine("the gradient's throughput over the HVP's; Aperture forward-over-reverse, PyTorch double backward):");
        sb.AppendLine();
        sb.AppendLine("| Threads | Aperture | PyTorch | TorchSharp | Target (Aperture) | Met |");
        sb.AppendLine("|--:|--:|--:|--:|---|:-:|");
        foreach (var l in lines) sb.AppendLine(l);
        sb.AppendLine();
    }

    private static double? Figure(Measurement? m) => m?.Median is { } v && double.IsFinite(v) ? v : null;

    private static string Cell(Measurement? m) =>
        m is null ? "–" : Figure(m) is { } v ? Number(v) + (m.Disturbed ? "*" : "") : "n/a";

    private static string CheckCell(double? c) => c is { } v ? Fmt(v, "G6") : "–";

    private static string Ratio(Measurement? a, Measurement? b) =>
        Figure(a) is { } x && Figure(b) is { } y && y > 0 ? Fmt(x / y, "F2") + "×" + (a!.Disturbed || b!.Disturbed ? "*" : "") : "–";

    /// <summary>The mean host-probe share from which a run counts as quiet.</summary>
    private const double QuietHostShare = 0.95;

    /// <summary>The peer with the higher median (the one the targets are against), or null when neither has one.</summary>
    private static Measurement? BestPeer(Measurement? pt, Measurement? ts) =>
        Figure(pt) is not { } p ? (Figure(ts) is null ? null : ts) : Figure(ts) is { } t && t > p ? ts : pt;

    /// <summary>
    /// Aperture's k-th used window over the peer's k-th, for each k both have: the windows of one round ran next to
    /// each other, so a slow spell of the host that spans a round cancels in the ratio.
    /// </summary>
    private static double[] RoundRatios(Measurement? ap, Measurement? peer)
    {
        if (ap is null || peer is null) return [];
        int n = Math.Min(ap.Used.Count, peer.Used.Count);
        return Enumerable.Range(0, n).Where(k => peer.Used[k] > 0).Select(k => ap.Used[k] / peer.Used[k]).ToArray();
    }

    private static (string Target, string Met) Target(Workload w, int threads, double? ap, double? pt, double? ts, IReadOnlyDictionary<int, double> peak, double[] rounds)
    {
        if (!TargetVsBestPeer.TryGetValue(w.Name, out double want)) return ("", "");
        var parts = new List<string>();
        bool ok = true, known = ap is not null;
        if (w.Kind == WorkloadKind.Gemm && threads == 1 && peak.TryGetValue(1, out double p) && ap is { } a1)
        {
            parts.Add($"≥ {Fmt(100 * GemmPeakShare, "F0")}% FMA peak ({Fmt(100 * a1 / p, "F0")}%)");
            ok &= a1 >= GemmPeakShare * p;
        }
        double? best = pt is null ? ts : ts is null ? pt : Math.Max(pt.Value, ts.Value);
        parts.Add($"≥ {Fmt(want, "0.##")}× best peer");
        bool peakOk = ok;
        if (best is { } bp && ap is { } v) ok &= v >= want * bp;
        else known = false;
        // Unsettled: the peak share (a median against a maximum) holds, and the rounds fall on both sides of the ratio.
        bool straddles = peakOk && rounds.Length > 0 && rounds.Min() < want && rounds.Max() >= want;
        return (string.Join(", ", parts), known ? (ok ? "yes" : "no") + (straddles ? "?" : "") : "");
    }

    private static string Number(double v) => v switch
    {
        >= 1000 => Fmt(v, "N0"),
        >= 100 => Fmt(v, "F0"),
        >= 10 => Fmt(v, "F1"),
        _ => Fmt(v, "F2"),
    };

    private static string Percent(double share) => Fmt(100 * share, "F0") + "%";

    private static string Fmt(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
}
