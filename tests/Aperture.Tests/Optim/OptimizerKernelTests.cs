using Aperture.Optim;

namespace Aperture.Tests.Optim;

/// <summary>
/// Adam's and SGD's vectorized updates give the bits of the element-by-element float32
/// formula, whatever the vector width or the thread count.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class OptimizerKernelTests
{
    /// <summary>The update written out one element at a time in float32, with the constants Adam derives in double.</summary>
    private static float[] Reference(float[] p0, float[][] grads, double lr, double b1, double b2, double eps, double wd, bool decoupled, bool folded)
    {
        var p = (float[])p0.Clone();
        var m = new float[p.Length];
        var v = new float[p.Length];
        for (int t = 1; t <= grads.Length; t++)
        {
            double bc1 = 1 - Math.Pow(b1, t), bc2 = 1 - Math.Pow(b2, t);
            float fb1 = (float)b1, fb2 = (float)b2, om1 = (float)(1 - b1), om2 = (float)(1 - b2), feps = (float)eps;
            float fwd = decoupled ? 0f : (float)wd, decay = (float)(decoupled ? 1 - lr * wd : 1);
            float step = (float)(folded ? lr * Math.Sqrt(bc2) / bc1 : lr / bc1), corr = (float)(folded ? 1 : Math.Sqrt(bc2));
            for (int i = 0; i < p.Length; i++)
            {
                if (decoupled && wd != 0) p[i] *= decay;
                float g = grads[t - 1][i];
                if (fwd != 0) g += fwd * p[i];
                float mi = fb1 * m[i] + om1 * g;
                float vi = fb2 * v[i] + om2 * g * g;
                m[i] = mi;
                v[i] = vi;
                float denom = folded ? MathF.Sqrt(vi) + feps : MathF.Sqrt(vi) / corr + feps;
                p[i] -= step * (mi / denom);
            }
        }
        return p;
    }

    [Fact]
    public void The_update_split_across_threads_is_the_elementwise_formula_on_awkward_sizes()
    {
        // Around the vector widths, the split's 1024-element blocks and the threshold for splitting (32768 elements).
        foreach (int n in new[] { 1, 3, 17, 255, 257, 1023, 1025, 32767, 32768, 65537, 70_001 })
        {
            var g = new Generator((ulong)n);
            var p0 = Tensor.Randn([n], g).ToFloatArray();
            var grads = Enumerable.Range(0, 2).Select(_ => Tensor.Randn([n], g).ToFloatArray()).ToArray();
            var expected = Reference(p0, grads, 0.01, 0.9, 0.999, 1e-8, 0.01, decoupled: false, folded: false);
            foreach (int threads in new[] { 1, 2, 3 })
                Tests.Kernels.KernelSettings.WithThreads(threads, () =>
                {
                    var p = Tensor.FromArray(p0).RequiresGrad_();
                    var adam = new Adam([p], 0.01, 0.9, 0.999, 1e-8, 0.01);
                    foreach (var grad in grads)
                    {
                        p.Grad = Tensor.FromArray(grad);
                        adam.Step();
                    }
                    var actual = p.Detach().ToFloatArray();
                    for (int i = 0; i < n; i++)
                        Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                            $"n = {n}, threads = {threads}, element {i}: expected {expected[i]:R}, got {actual[i]:R}");
                });
        }
    }

    [Theory]
    [InlineData(1, false, false, 0.0)]
    [InlineData(2, false, false, 0.0)]
    [InlineData(2, false, false, 0.05)]
    [InlineData(2, true, false, 0.05)]
    [InlineData(1, false, true, 0.0)]
    [InlineData(2, false, true, 0.01)]
    public void TheFastUpdateIsTheElementwiseFormulaBitForBit(int threads, bool decoupled, bool folded, double wd)
    {
        const int n = 100_003; // a partial vector at the end
        var g = new Generator(7);
        var p0 = Tensor.Randn([n], g).ToFloatArray();
        var grads = Enumerable.Range(0, 4).Select(_ => Tensor.Randn([n], g).ToFloatArray()).ToArray();
        double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        var expected = Reference(p0, grads, lr, b1, b2, eps, wd, decoupled, folded);

        int saved = Parallelism.Threads;
        Parallelism.Threads = threads;
        try
        {
            var p = Tensor.FromArray(p0).RequiresGrad_();
            var form = folded ? AdamForm.Folded : AdamForm.Standard;
            Optimizer adam = decoupled ? new AdamW([p], lr, b1, b2, eps, wd, form) : new Adam([p], lr, b1, b2, eps, wd, form);
            foreach (var grad in grads)
            {
                p.Grad = Tensor.FromArray(grad);
                adam.Step();
            }
            var actual = p.Detach().ToFloatArray();
            for (int i = 0; i < n; i++)
                Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                    $"element {i}: expected {expected[i]:R}, got {actual[i]:R}");
        }
        finally { Parallelism.Threads = saved; }
    }

    [Theory]
    [InlineData(0.0, 0.0, 0.0, false)]
    [InlineData(0.9, 0.0, 0.0, false)]
    [InlineData(0.9, 0.1, 1e-3, false)]
    [InlineData(0.9, 0.0, 1e-3, true)]
    public void SgdsVectorizedUpdateIsTheElementwiseFormulaBitForBit(double mu, double damp, double wd, bool nesterov)
    {
        // Sizes around the 512-bit loop's bounds (it starts at a 64-byte boundary, so every start offset of a view is
        // a different head), on every code path.
        foreach (var path in KernelPaths.Available())
        {
            using var scope = KernelPaths.Force(path);
            foreach (int n in new[] { 1, 17, 63, 64, 65, 1_003 })
                foreach (int offset in n == 1_003 ? new[] { 0, 1, 5, 15 } : new[] { 0, 3 })
                    SgdCase(mu, damp, wd, nesterov, n, offset, $"{path} n={n} offset={offset}");
        }
    }

    private static void SgdCase(double mu, double damp, double wd, bool nesterov, int n, int offset, string what)
    {
        var g = new Generator(11);
        var p0 = Tensor.Randn([n], g).ToFloatArray();
        var grads = Enumerable.Range(0, 3).Select(_ => Tensor.Randn([n], g).ToFloatArray()).ToArray();
        const double lr = 0.05;
        var expected = SgdReference(p0, grads, lr, mu, damp, wd, nesterov);

        // The parameter is a view that starts `offset` elements into its buffer.
        var p = Ops.Narrow(Tensor.FromArray(new float[offset].Concat(p0).ToArray()), 0, offset, n).Detach().RequiresGrad_();
        var sgd = new SGD([p], lr, mu, damp, wd, nesterov);
        foreach (var grad in grads)
        {
            p.Grad = Tensor.FromArray(grad);
            sgd.Step();
        }
        var actual = p.Detach().ToFloatArray();
        for (int i = 0; i < n; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"{what}, element {i}: expected {expected[i]:R}, got {actual[i]:R}");
    }

    /// <summary>PyTorch's SGD update written out element by element in float32: the parameter after each gradient in turn.</summary>
    private static float[] SgdReference(float[] p0, float[][] grads, double lr, double mu, double damp, double wd, bool nesterov)
    {
        int n = p0.Length;
        var expected = (float[])p0.Clone();
        var buf = new float[n];
        float flr = (float)lr, fmu = (float)mu, fdamp = (float)(1 - damp), fwd = (float)wd;
        for (int t = 0; t < grads.Length; t++)
            for (int i = 0; i < n; i++)
            {
                float d = grads[t][i];
                if (wd != 0) d += fwd * expected[i];
                if (mu != 0)
                {
                    float b = t == 0 ? d : fmu * buf[i] + fdamp * d;
                    buf[i] = b;
                    d = nesterov ? d + fmu * b : b;
                }
                expected[i] -= flr * d;
            }
        return expected;
    }

    /// <summary>
    /// SGD's update split across threads by whole rows of a matrix (the rows a Linear layer's products cut) or by
    /// blocks of a vector gives the elementwise formula's bits at every thread count, on sizes around the split
    /// threshold (32k elements) with rows that are not whole vectors or cache lines.
    /// </summary>
    [Theory]
    [InlineData(0.0, 0.0, 0.0, false)]
    [InlineData(0.9, 0.0, 0.0, false)]
    [InlineData(0.9, 0.1, 1e-3, false)]
    [InlineData(0.9, 0.0, 1e-3, true)]
    public void Sgds_update_split_by_rows_is_the_elementwise_formula_at_every_thread_count(double mu, double damp, double wd, bool nesterov)
    {
        int[][] shapes = [[257, 300], [3, 20_001], [255, 129], [32_767], [70_001], [2, 2, 16_385], [256, 784]];
        const double lr = 0.05;
        foreach (var shape in shapes)
        {
            int n = shape.Aggregate(1, (a, b) => a * b);
            var g = new Generator((ulong)n);
            var p0 = Tensor.Randn([n], g).ToFloatArray();
            var grads = Enumerable.Range(0, 3).Select(_ => Tensor.Randn([n], g).ToFloatArray()).ToArray();
            var expected = SgdReference(p0, grads, lr, mu, damp, wd, nesterov);
            foreach (int threads in new[] { 1, 2, 3 })
                Tests.Kernels.KernelSettings.WithThreads(threads, () =>
                {
                    var p = Tensor.FromArray(p0).Reshape(shape).Detach().RequiresGrad_();
                    var sgd = new SGD([p], lr, mu, damp, wd, nesterov);
                    foreach (var grad in grads)
                    {
                        p.Grad = Tensor.FromArray(grad).Reshape(shape);
                        sgd.Step();
                    }
                    var actual = p.Detach().ToFloatArray();
                    for (int i = 0; i < n; i++)
                        Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                            $"shape [{string.Join(", ", shape)}], threads = {threads}, element {i}: expected {expected[i]:R}, got {actual[i]:R}");
                });
        }
    }
}
