using System.Diagnostics;
using Aperture.NN;
using Aperture.Optim;

namespace Aperture.Bench.Harness;

/// <summary>
/// <c>--profile</c>: where Aperture's time goes within one training step of the MLP and LeNet-5 workloads (each
/// stage of the forward pass as the model runs it, a layer and its ReLU fused into one; the backward pass; the
/// optimizer step) and in the convolution-shaped products of LeNet-5. Aperture
/// only, no peers; medians of 5 windows after a warm-up, on the thread count given. These are the figures behind
/// "Where Aperture is behind" in docs/benchmarks.md.
/// </summary>
public static class Profiler
{
    public static int Run(int threads)
    {
        Parallelism.Threads = threads;
        Console.WriteLine($"Aperture profile, {threads} thread(s), medians of 5 windows (µs)");
        var g = new Generator(0);
        Step("mlp-b128", Models.Mlp(784, [256, 256], 10, generator: new Generator(1)), Tensor.Randn([128, 784], g), Tensor.RandInt(0, 10, [128], g));
        Step("mlp-b32", Models.Mlp(784, [256, 256], 10, generator: new Generator(1)), Tensor.Randn([32, 784], g), Tensor.RandInt(0, 10, [32], g));
        Step("lenet5-b64", Models.LeNet5(generator: new Generator(1)), Tensor.Randn([64, 1, 28, 28], g), Tensor.RandInt(0, 10, [64], g));

        Console.WriteLine("\nproducts (the GEMMs of LeNet-5's convolutions and of batch-1 inference)");
        (string Name, int M, int K, int N, bool TransposeB)[] shapes =
        [
            ("conv1 forward: w · patches", 6, 25, 13 * 784, false),
            ("conv1 weight grad: gy · patchesᵀ", 6, 13 * 784, 25, false),
            ("conv2 forward", 16, 150, 64 * 100, false),
            ("conv2 weight grad", 16, 64 * 100, 150, false),
            ("conv2 input grad: wᵀ · gy", 150, 16, 64 * 100, false),
            ("inference b1: x · W1ᵀ", 1, 784, 256, true),
        ];
        foreach (var (name, m, k, n, transposeB) in shapes)
        {
            var a = Tensor.Randn([m, k], g);
            var b = transposeB ? Tensor.Randn([n, k], g) : Tensor.Randn([k, n], g);
            double us = Median(() =>
            {
                using var _ = TensorScope.Begin();
                Ops.MatMul(a, transposeB ? Ops.Transpose(b, 0, 1) : b);
            });
            Console.WriteLine($"  {name,-36} {m,5}×{k,-6}·{k,6}×{n,-6} {us,9:F1} µs  {2.0 * m * n * k / us / 1e3,6:F1} GFLOP/s");
        }
        return 0;
    }

    private static void Step(string name, Sequential model, Tensor x, Tensor y)
    {
        var optimizer = new SGD(model.Parameters(), lr: 0.01, momentum: 0.9);
        // The stages the model's own forward runs: a Linear or Conv2d and the ReLU after it are one op there (one
        // Sequential of the two runs them fused), every other layer alone.
        var modules = model.ToList();
        var layers = new List<Module>();
        var names = new List<string>();
        for (int i = 0; i < modules.Count; i++)
        {
            if (i + 1 < modules.Count && modules[i] is Linear or Conv2d && modules[i + 1] is ReLU)
            {
                layers.Add(new Sequential(modules[i], modules[i + 1]));
                names.Add($"[{i}-{i + 1}] {modules[i].GetType().Name} + ReLU");
                i++;
                continue;
            }
            layers.Add(modules[i]);
            names.Add($"[{i}] {modules[i].GetType().Name}");
        }
        var forward = new double[layers.Count];
        double backward = 0, step = 0, total = 0;
        int steps = 0;
        long splits = 0;
        void One(bool record)
        {
            long t0 = Stopwatch.GetTimestamp();
            long loops0 = Parallelism.SplitLoops;
            using (TensorScope.Begin())
            {
                optimizer.ZeroGrad();
                var h = x;
                for (int i = 0; i < layers.Count; i++)
                {
                    long l0 = Stopwatch.GetTimestamp();
                    h = layers[i].Forward(h);
                    if (record) forward[i] += Stopwatch.GetElapsedTime(l0).TotalMicroseconds;
                }
                var loss = Losses.CrossEntropy(h, y);
                long b0 = Stopwatch.GetTimestamp();
                loss.Backward();
                if (record) backward += Stopwatch.GetElapsedTime(b0).TotalMicroseconds;
            }
            long s0 = Stopwatch.GetTimestamp();
            optimizer.Step();
            if (record)
            {
                step += Stopwatch.GetElapsedTime(s0).TotalMicroseconds;
                total += Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
                splits += Parallelism.SplitLoops - loops0;
                steps++;
            }
        }
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 1) One(false);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < 2 || steps < 20) One(true);
        Console.WriteLine($"\n{name}: {total / steps:F1} µs per step (means over {steps} steps)");
        for (int i = 0; i < layers.Count; i++)
            Console.WriteLine($"  {"forward " + names[i],-32} {forward[i] / steps,9:F1} µs");
        Console.WriteLine($"  {"loss + backward",-32} {backward / steps,9:F1} µs");
        Console.WriteLine($"  {"optimizer step",-32} {step / steps,9:F1} µs");
        // Which loops the pool split (docs/threads.md): each is a hand-off to the other core and back.
        Console.WriteLine($"  {"loops split across threads",-32} {(double)splits / steps,9:F1} per step");
    }

    private static double Median(Action body)
    {
        var warm = Stopwatch.StartNew();
        int perWindow = 0;
        while (warm.Elapsed.TotalSeconds < 0.5) { body(); perWindow++; }
        perWindow = Math.Max(1, perWindow / 5);
        var windows = new double[5];
        for (int w = 0; w < windows.Length; w++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < perWindow; i++) body();
            windows[w] = sw.Elapsed.TotalMicroseconds / perWindow;
        }
        Array.Sort(windows);
        return windows[2];
    }
}
