using System.Diagnostics;
using System.Globalization;
using System.Text;
using Aperture.Bench.Engines;
using Aperture.Bench.Harness;
using Aperture.Bench.Peers;
using Aperture.Bench.Report;

namespace Aperture.Bench;

/// <summary>What the command line asked for.</summary>
public sealed record BenchOptions(bool Quick, IReadOnlyList<int> Threads, string? JsonPath, string? MarkdownPath, string Command)
{
    /// <summary>Only these workloads (by name), or all of the set when null; a partial run writes no markdown by default.</summary>
    public IReadOnlyList<string>? Only { get; init; }
}

/// <summary>One benchmark run: set up the peers, measure the FMA peak, run every workload at every thread count, report.</summary>
public static class BenchRun
{
    /// <summary>Runs the benchmark; returns the process exit code.</summary>
    public static int Execute(BenchOptions o)
    {
        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        string repoRoot = FindRepoRoot();
        var settings = o.Quick ? RunSettings.Quick : RunSettings.Full;
        var workloads = (o.Quick ? Workload.Quick : Workload.Full).Where(w => o.Only is null || o.Only.Contains(w.Name)).ToList();
        void Log(string s) => Console.WriteLine($"[{clock.Elapsed:mm\\:ss}] {s}");

        Log("PyTorch peer: checking for python3-torch and OpenBLAS");
        var pySetup = PyTorchSetup.Prepare(Log);
        if (pySetup.Unavailable is { } why) Log($"PyTorch unavailable: {why}");
        Log("TorchSharp peer: loading libtorch from a patched private copy of libLibTorchSharp.so");
        using var torchSharp = new TorchSharpEngine();
        Log(torchSharp.Unavailable is { } tsWhy ? $"TorchSharp unavailable: {tsWhy}" : $"TorchSharp: {torchSharp.Version}; {torchSharp.LoadedFrom}");

        string workDir = Directory.CreateTempSubdirectory("aperture-bench-").FullName;
        using var pytorch = new PyTorchEngine(pySetup, workDir);
        using var aperture = new ApertureEngine();
        IEngine[] engines = [aperture, pytorch, torchSharp];

        var env = RunEnvironment.Read(repoRoot);
        var peak = new Dictionary<int, double>();
        foreach (int t in o.Threads)
        {
            peak[t] = FmaPeak.Measure(t, o.Quick ? 0.1 : 0.25, o.Quick ? 3 : 5);
            Log($"FMA peak fp32, {t} thread(s): {peak[t]:F0} GFLOP/s");
        }

        using var runner = new Runner(settings, Log);
        var results = new List<Measurement>();
        try
        {
            foreach (int t in o.Threads)
            {
                if (!o.Quick) peak[t] = Math.Max(peak[t], FmaPeak.Measure(t));
                foreach (var e in engines) e.SetThreads(t);
                if (pytorch.Hello.TryGetValue(t, out var hello))
                    Log($"PyTorch worker, {t} thread(s): torch {hello["torch"]}, BLAS {hello["blas"]} core {hello["blas_core"]}, GEMM 1024 check {hello["gemm_gflops"]!.GetValue<double>():F0} GFLOP/s");
                foreach (var w in workloads)
                {
                    var data = WorkloadData.Create(w, Seed(w.Name));
                    var ms = runner.Measure(w, t, engines, data);
                    results.AddRange(ms);
                    Log($"{t}T {w.Name,-15} " + string.Join("  ", ms.Select(m =>
                        $"{m.Engine} {(m.Median is { } v ? v.ToString("G4", CultureInfo.InvariantCulture) : "n/a")}{(m.Disturbed ? "*" : "")}")) + $"  {w.Unit}");
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                }
            }
        }
        finally
        {
            pytorch.Dispose();
            try { Directory.Delete(workDir, recursive: true); } catch (IOException) { }
        }

        // A peak is a maximum: measure again (before each thread count's workloads and at the end) and keep the best
        // reading, in case a busy spell spoilt one.
        foreach (int t in o.Threads)
        {
            double again = FmaPeak.Measure(t, o.Quick ? 0.1 : 0.25, o.Quick ? 3 : 5);
            Log($"FMA peak fp32, {t} thread(s), measured again: {again:F0} GFLOP/s");
            peak[t] = Math.Max(peak[t], again);
        }

        var input = new ReportInput(results, o.Threads, env, peak, Versions(env, pySetup, pytorch, torchSharp),
            PeerNotes(pySetup, torchSharp), o.Command, started, clock.Elapsed, settings, o.Quick, runner.Host.Summarize());
        string report = MarkdownReport.Render(input);
        Console.WriteLine();
        Console.WriteLine(report);

        if (o.JsonPath is { } jp)
        {
            ResultsJson.Write(jp, results, peak);
            Log($"wrote {Path.GetFullPath(jp)}");
        }
        string? md = o.MarkdownPath ?? (o.Quick || o.Only is not null ? null : Path.Combine(repoRoot, "docs", "benchmarks.md"));
        if (md is not null)
        {
            MarkdownReport.WriteInto(md, report);
            Log($"wrote {Path.GetFullPath(md)}");
        }
        // The run itself succeeded if Aperture produced a figure for every workload it supports.
        bool apertureOk = results.Where(m => m.Engine == "aperture" && aperture.Unsupported(m.Workload) is null).All(m => m.Median is not null);
        return apertureOk ? 0 : 1;
    }

    private static List<(string, string)> Versions(RunEnvironment env, PyTorchSetup py, PyTorchEngine pytorch, TorchSharpEngine ts)
    {
        var list = new List<(string, string)> { ("Aperture", $"commit {env.Commit}, {env.DotNet}, threads set with `Parallelism.Threads`") };
        if (py.Unavailable is not null || pytorch.Hello.Count == 0)
            list.Add(("PyTorch", $"not measured: {pytorch.Unavailable ?? py.Unavailable ?? "no worker ran"}"));
        else
        {
            var h = pytorch.Hello.OrderBy(kv => kv.Key).First().Value;
            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"torch {h["torch"]} (Debian python3-torch {py.Versions.GetValueOrDefault("python3-torch")}), Python {h["python"]}");
            if (h["capability"]?.ToString() is { Length: > 0 } cap) sb.Append(CultureInfo.InvariantCulture, $", ATen CPU capability {cap}");
            sb.Append(CultureInfo.InvariantCulture, $"; BLAS: {h["blas_config"]} (libopenblas0-openmp {py.Versions.GetValueOrDefault("libopenblas0-openmp")}), core {h["blas_core"]}");
            sb.Append("; GEMM 1024 check ");
            sb.Append(string.Join(", ", pytorch.Hello.OrderBy(kv => kv.Key).Select(kv =>
                $"{kv.Value["gemm_gflops"]!.GetValue<double>().ToString("F0", CultureInfo.InvariantCulture)} GFLOP/s at {kv.Key} thread{(kv.Key == 1 ? "" : "s")}")));
            sb.Append(" (the reference BLAS gives about 4)");
            list.Add(("PyTorch", sb.ToString()));
        }
        list.Add(("TorchSharp", ts.Unavailable is { } why ? $"not measured: {why}" : $"{ts.Version} (NuGet TorchSharp-cpu 0.107.0, MKL)"));
        return list;
    }

    private static List<string> PeerNotes(PyTorchSetup py, TorchSharpEngine ts)
    {
        var notes = new List<string>();
        notes.AddRange(py.Notes.Select(n => $"PyTorch: {n}"));
        if (py.Unavailable is null)
            notes.Add("PyTorch: one worker process per thread count with `torch.set_num_threads(t)` and OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS = t; `torch.mm(out=)` for GEMM, `torch.inference_mode()` for inference, `torch.optim.SGD` and `torch.optim.Adam` (with `foreach` set to whichever of its two implementations is faster for the workload, timed at setup), `zero_grad(set_to_none=True)`");
        if (ts.Unavailable is null)
        {
            notes.Add($"TorchSharp: {ts.LoadedFrom}");
            notes.Add("TorchSharp: in process, `torch.set_num_threads(t)`, a dispose scope per step, `addmm_` with beta = 0 into a preallocated C for GEMM (TorchSharp has no `mm(out=)`), `torch.inference_mode()` for inference, its own `optim.SGD`/`optim.Adam`");
        }
        notes.Add("Same data and initial weights in every engine: drawn once in C# from a seeded Philox generator (PyTorch's default U(±1/√fan_in) initialization), passed in process to TorchSharp and through a raw file to the PyTorch worker");
        return notes;
    }

    /// <summary>A fixed seed per workload (FNV-1a of its name), so every run draws the same data.</summary>
    private static ulong Seed(string name)
    {
        ulong h = 14695981039346656037;
        foreach (char c in name) h = (h ^ c) * 1099511628211;
        return h;
    }

    /// <summary>The repository root: the nearest directory above the working directory (or the binary) holding Aperture.slnx.</summary>
    private static string FindRepoRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Aperture.slnx"))) return d.FullName;
        return Directory.GetCurrentDirectory();
    }
}
