using System.Diagnostics;
using Aperture.Data;
using Aperture.NN;

namespace Aperture.Bench.Harness;

/// <summary>
/// <c>--hessian</c>: the curvature instruments' headline cost, Aperture only — the 10 largest Hessian eigenvalues of a
/// 784-256-256-10 ReLU MLP's cross-entropy (float32, PyTorch-default initialization from seed 0) over the first 5000
/// Fashion-MNIST training images (Debian's copy when installed, else the shipped subset), by Lanczos with full
/// reorthogonalization to a relative residual of 1e-3, in one batch. The operator is built here from the engine's
/// <see cref="Autodiff.Hvp(Func{Tensor}, IReadOnlyList{Tensor}, IReadOnlyList{Tensor})"/> and <see cref="Lanczos.Largest"/>
/// exactly as the lab's <c>Curvature.TopEigenvalues</c> builds it (the bench does not reference the lab, whose
/// SkiaSharp version differs from the bench's). Prints the eigenvalues, the Hessian-vector products used, the
/// seconds of one HVP and one gradient over the 5000 images, and the total; the goal is ≤ 60 s on 2 cores.
/// </summary>
public static class HessianEigenBench
{
    public static int Run(int threads)
    {
        Parallelism.Threads = threads;
        var data = FashionMnist.Load();
        var (images, labels) = data.Train.GetBatch([.. Enumerable.Range(0, 5000)]);
        var x = Ops.Reshape(images, [5000, -1]);
        var model = Models.Mlp(784, [256, 256], 10, generator: new Generator(0));
        model.Eval();
        var ps = model.Parameters().ToArray();
        int n = ps.Sum(p => p.Numel);
        Console.WriteLine($"Hessian top-10 of MLP 784-256-256-10 ({n:N0} parameters) over 5000 images of {data.Source}, {threads} thread(s)");
        Tensor Loss() => Losses.CrossEntropy(model.Forward(x), labels);
        void Hessian(ReadOnlySpan<double> v, Span<double> y)
        {
            var vs = new Tensor[ps.Length];
            int offset = 0;
            for (int i = 0; i < ps.Length; i++)
            {
                vs[i] = Tensor.FromArray(v.Slice(offset, ps[i].Numel), ps[i].ShapeArray()).To(ps[i].DType);
                offset += ps[i].Numel;
            }
            using var scope = TensorScope.Begin(); // as EmpiricalLoss.Hessian: temporaries recycled, products copied out inside
            var hvs = Autodiff.Hvp(Loss, ps, vs);
            offset = 0;
            foreach (var t in hvs)
            {
                var d = t.ToDoubleArray();
                d.CopyTo(y[offset..]);
                offset += d.Length;
            }
        }
        double Gradient()
        {
            using var scope = TensorScope.Begin();
            return Autodiff.Grad([Loss()], ps).Sum(t => t!.ToDoubleArray().Length);
        }

        var v = new double[n];
        var hv = new double[n];
        var g = new Generator(1);
        for (int i = 0; i < n; i++) v[i] = g.NextNormal();
        Hessian(v, hv); // warm-up
        Gradient();
        var sw = Stopwatch.StartNew();
        Gradient();
        double gradient = sw.Elapsed.TotalSeconds;
        sw.Restart();
        Hessian(v, hv);
        double hvp = sw.Elapsed.TotalSeconds;
        Console.WriteLine($"one gradient: {gradient:F2} s; one HVP: {hvp:F2} s ({hvp / gradient:F2} gradients)");

        sw.Restart();
        var top = Lanczos.Largest(Hessian, n, 10, new Generator(0, 1), tolerance: 1e-3);
        double total = sw.Elapsed.TotalSeconds;
        Console.WriteLine($"top 10: {string.Join(", ", top.Values.Select(e => e.ToString("G5", System.Globalization.CultureInfo.InvariantCulture)))}");
        Console.WriteLine($"max relative residual {top.Residuals.Max() / top.Values[0]:E1}, converged {top.Converged}, {top.MatrixVectorProducts} HVPs");
        Console.WriteLine($"total {total:F1} s (goal ≤ 60 s on 2 cores)");
        return 0;
    }
}
