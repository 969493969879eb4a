using System.Diagnostics;
using System.Globalization;
using Aperture.Latent;

namespace Aperture.Bench.Harness;

/// <summary>
/// <c>--knn</c>: exact nearest-neighbour search throughput — queries per second of
/// <see cref="NearestNeighbourIndex.Search"/> (L2, blocked GEMM and a top-k per query) for q standard-normal float32
/// queries against n items of dimension d, k neighbours each, at each thread count, beside PyTorch's equivalent
/// (<c>torch.cdist</c> with the matrix-product expansion, then <c>torch.topk</c>, in blocks of 256 queries;
/// peers/knn_torch.py) at the same thread count when Debian's python3-torch is installed. Both take the best of a few
/// repeats after a warm-up. Aperture's neighbours and distances must be the same bits at every thread count (the
/// search is a pure function of its inputs); a difference is reported and fails the command. Defaults: n = 60,000
/// (Fashion-MNIST's training set), d = 64 (a last hidden layer), k = 10, q = 1000.
/// </summary>
public static class KnnBench
{
    public static int Run(IReadOnlyList<int> threads, int n = 60_000, int d = 64, int k = 10, int q = 1000, int repeats = 3)
    {
        var g = new Generator(0);
        var items = Tensor.Randn([n, d], g);
        var queries = Tensor.Randn([q, d], g);
        var index = new NearestNeighbourIndex(items);
        Console.WriteLine($"exact k-NN search: n = {n:N0} items, d = {d}, k = {k}, {q} queries, L2, float32");
        // The peer runs as the training workloads' worker does: Debian's torch with OpenBLAS (PyTorchSetup), same thread count.
        var setup = Peers.PyTorchSetup.Prepare(m => Console.WriteLine($"  pytorch: {m}"));
        long[]? firstIndices = null;
        float[]? firstDistances = null;
        int status = 0;
        foreach (int t in threads)
        {
            Parallelism.Threads = t;
            index.Search(queries, k);   // warm-up: JIT, the pool at this size and the kernels' first touch
            double best = double.PositiveInfinity;
            Neighbours? found = null;
            for (int r = 0; r < repeats; r++)
            {
                var sw = Stopwatch.StartNew();
                found = index.Search(queries, k);
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            var indices = found!.Indices.ToArray<long>();
            var distances = found.Distances.ToArray<float>();
            firstIndices ??= indices;
            firstDistances ??= distances;
            bool same = indices.AsSpan().SequenceEqual(firstIndices) && distances.AsSpan().SequenceEqual(firstDistances);
            Console.WriteLine($"{t} thread(s):");
            Console.WriteLine($"  Aperture NearestNeighbourIndex.Search: {(q / best).ToString("F1", CultureInfo.InvariantCulture)} queries/s"
                + (same ? "" : $"  DIFFERENT BITS from {threads[0]} thread(s)"));
            if (!same) status = 1;
            Console.WriteLine(Peer(setup, t, n, d, k, q, repeats));
        }
        return status;
    }

    /// <summary>PyTorch's line at <paramref name="threads"/> threads, or why it was not measured.</summary>
    private static string Peer(Peers.PyTorchSetup setup, int threads, int n, int d, int k, int q, int repeats)
    {
        if (setup.Unavailable is { } why) return $"  PyTorch: not measured ({why})";
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
        return p.ExitCode == 0 && line is not null
            ? $"  PyTorch {setup.Versions.GetValueOrDefault("torch", "?")} cdist + topk:       {line["queries_per_s=".Length..].Trim()} queries/s"
            : $"  PyTorch: not measured (exit {p.ExitCode}: {err.Result.Trim().Split('\n').LastOrDefault()})";
    }
}
