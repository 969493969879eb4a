using System.Diagnostics;
using System.Globalization;
using Aperture.Latent;

namespace Aperture.Bench.Harness;

/// <summary>
/// <c>--knn</c>: exact nearest-neighbour search throughput — queries per second of
/// <see cref="NearestNeighbourIndex.Search"/> (L2, blocked GEMM and a top-k per query) for q standard-normal float32
/// queries against n items of dimension d, k neighbours each, beside PyTorch's equivalent (<c>torch.cdist</c> with the
/// matrix-product expansion, then <c>torch.topk</c>, in blocks of 256 queries; peers/knn_torch.py) when Debian's
/// python3-torch is installed. Both take the best of a few repeats after a warm-up. Defaults: n = 60,000 (Fashion-MNIST's
/// training set), d = 64 (a last hidden layer), k = 10, q = 1000.
/// </summary>
public static class KnnBench
{
    public static int Run(int threads, int n = 60_000, int d = 64, int k = 10, int q = 1000, int repeats = 3)
    {
        Parallelism.Threads = threads;
        var g = new Generator(0);
        var items = Tensor.Randn([n, d], g);
        var queries = Tensor.Randn([q, d], g);
        var index = new NearestNeighbourIndex(items);
        index.Search(queries, k);   // warm-up: JIT and the kernels' first touch
        double best = double.PositiveInfinity;
        for (int r = 0; r < repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            index.Search(queries, k);
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        string shape = $"n = {n:N0} items, d = {d}, k = {k}, {q} queries, L2, float32, {threads} thread(s)";
        Console.WriteLine($"exact k-NN search: {shape}");
        Console.WriteLine($"  Aperture NearestNeighbourIndex.Search: {(q / best).ToString("F1", CultureInfo.InvariantCulture)} queries/s");
        // The peer runs as the training workloads' worker does: Debian's torch with OpenBLAS (PyTorchSetup), same thread count.
        var setup = Peers.PyTorchSetup.Prepare(m => Console.WriteLine($"  pytorch: {m}"));
        if (setup.Unavailable is { } why)
        {
            Console.WriteLine($"  PyTorch: not measured ({why})");
            return 0;
        }
        var psi = new ProcessStartInfo(setup.Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "peers", "knn_torch.py"));
        foreach (int a in new[] { n, d, k, q, threads, repeats }) psi.ArgumentList.Add(a.ToString(CultureInfo.InvariantCulture));
        foreach (var (key, value) in setup.Environment) psi.Environment[key] = value;
        string t = threads.ToString(CultureInfo.InvariantCulture);
        psi.Environment["OMP_NUM_THREADS"] = t;
        psi.Environment["OPENBLAS_NUM_THREADS"] = t;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        string? line = output.Split('\n').FirstOrDefault(l => l.StartsWith("queries_per_s=", StringComparison.Ordinal));
        Console.WriteLine(p.ExitCode == 0 && line is not null
            ? $"  PyTorch {setup.Versions.GetValueOrDefault("torch", "?")} cdist + topk:       {line["queries_per_s=".Length..].Trim()} queries/s"
            : $"  PyTorch: not measured (exit {p.ExitCode}: {err.Result.Trim().Split('\n').LastOrDefault()})");
        return 0;
    }
}
