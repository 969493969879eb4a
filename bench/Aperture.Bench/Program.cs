using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Aperture.Bench;
using Aperture.Bench.Harness;

var quick = new Option<bool>("--quick") { Description = "A shortened set of workloads and windows, for CI (about 3 minutes)" };
var threads = new Option<string>("--threads")
{
    Description = "Comma-separated thread counts to measure at",
    DefaultValueFactory = _ => "1,2",
};
var json = new Option<string?>("--json") { Description = "Write the results as a JSON list to this path" };
var markdown = new Option<string?>("--markdown")
{
    Description = "Write the report into this markdown file between its result markers (default: docs/benchmarks.md for a full run, none for --quick)",
};
var profile = new Option<bool>("--profile")
{
    Description = "Profile Aperture alone instead: per-layer, backward and optimizer times of the training steps, and LeNet-5's convolution products, at the first thread count",
};
var only = new Option<string?>("--only")
{
    Description = "Comma-separated workload names to run (of the full set, or of --quick's with --quick), e.g. --only mlp-grad-b256,mlp-hvp-b256; writes no markdown unless --markdown is given",
};
var hessian = new Option<bool>("--hessian")
{
    Description = "Time the curvature instruments instead: the top 10 Hessian eigenvalues of a 784-256-256-10 MLP over 5000 Fashion-MNIST images, Aperture only, at the first thread count",
};
var knn = new Option<bool>("--knn")
{
    Description = "Time exact k-NN search instead: queries/s of NearestNeighbourIndex (60,000 items, d = 64, k = 10, 1000 queries) beside torch.cdist + topk, at each thread count (checks the neighbours' bits agree)",
};
var words = new Option<bool>("--words")
{
    Description = "Time word-vector training instead: skip-gram with negative sampling on the planted corpus at each thread count, Aperture only (checks the bits agree)",
};
var small = new Option<bool>("--small")
{
    Description = "Profile Aperture's small workloads instead (batch-1 inference, the SGLD step), op by op in thread CPU time (the batch-1 pass, its caller's share alone and a pool round trip in wall time), at the first thread count",
};
var root = new RootCommand("Aperture's peer benchmark: the same workloads in Aperture, PyTorch and TorchSharp, side by side.")
{
    quick, threads, json, markdown, profile, small, hessian, knn, words, only,
};
root.SetAction(parse =>
{
    var counts = new List<int>();
    foreach (var part in (parse.GetValue(threads) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
    {
        if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int t) || t < 1 || t > 256)
        {
            Console.Error.WriteLine($"--threads: '{part}' is not a thread count (expected whole numbers from 1 to 256, e.g. --threads 1,2)");
            return 2;
        }
        if (!counts.Contains(t)) counts.Add(t);
    }
    if (counts.Count == 0)
    {
        Console.Error.WriteLine("--threads: no thread count given (e.g. --threads 1,2)");
        return 2;
    }
    if (parse.GetValue(knn)) return Aperture.Bench.Harness.KnnBench.Run(counts);
    if (parse.GetValue(words)) return Aperture.Bench.Harness.WordVectorsBench.Run(counts, parse.GetValue(quick));
    if (parse.GetValue(hessian)) return Aperture.Bench.Harness.HessianEigenBench.Run(counts[0]);
    if (parse.GetValue(small)) return Aperture.Bench.Harness.SmallProfile.Run(counts[0]);
    if (parse.GetValue(profile)) return Aperture.Bench.Harness.Profiler.Run(counts[0]);
    var set = parse.GetValue(quick) ? Workload.Quick : Workload.Full;
    IReadOnlyList<string>? onlyNames = null;
    if (parse.GetValue(only) is { } o)
    {
        onlyNames = o.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var unknown = onlyNames.Where(n => set.All(w => w.Name != n)).ToList();
        if (onlyNames.Count == 0 || unknown.Count > 0)
        {
            Console.Error.WriteLine($"--only: {(unknown.Count > 0 ? $"no workload named {string.Join(", ", unknown.Select(n => $"'{n}'"))}" : "no workload named")}; expected names from: {string.Join(", ", set.Select(w => w.Name))}");
            return 2;
        }
    }
    var options = new BenchOptions(parse.GetValue(quick), counts, parse.GetValue(json), parse.GetValue(markdown),
        "dotnet run -c Release --project bench/Aperture.Bench" + (args.Length > 0 ? " -- " + string.Join(" ", args) : ""))
    { Only = onlyNames };
    return BenchRun.Execute(options);
});
return root.Parse(args).Invoke();
